// The CUDA half of sparse_backend.h: allocates on the coordinates' device and runs the kernels
// of sparse_kernels.cu on the current stream. Built with SHAPEDIFF_WITH_CUDA only.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/torch.h>

#include <stdexcept>
#include <string>

#include "networks/cuda_launch.h"
#include "networks/sparse/sparse_backend.h"
#include "networks/sparse/sparse_kernels.h"

namespace shapediff::sparse::detail::cuda {
using networks::cuda_launch::check_launch;
using networks::cuda_launch::current_stream;

int64_t hash_insert(const torch::Tensor& coords, const torch::Tensor& keys,
                    const torch::Tensor& values) {
  const c10::cuda::CUDAGuard guard(coords.device());
  auto duplicates = torch::zeros({1}, coords.options());
  check_launch(kernels::hash_insert(coords.data_ptr<int32_t>(), coords.size(0),
                                    keys.data_ptr<int64_t>(), values.data_ptr<int64_t>(),
                                    keys.size(0), duplicates.data_ptr<int32_t>(),
                                    current_stream()),
               "CoordinateHash");
  return duplicates.item<int32_t>();
}

torch::Tensor hash_lookup(const torch::Tensor& keys, const torch::Tensor& values,
                          const torch::Tensor& queries) {
  const c10::cuda::CUDAGuard guard(queries.device());
  auto out = torch::empty({queries.size(0)}, queries.options().dtype(torch::kLong));
  check_launch(kernels::hash_lookup(keys.data_ptr<int64_t>(), values.data_ptr<int64_t>(),
                                    keys.size(0), queries.data_ptr<int32_t>(), queries.size(0),
                                    out.data_ptr<int64_t>(), current_stream()),
               "CoordinateHash::lookup");
  return out;
}

torch::Tensor kernel_table(const torch::Tensor& keys, const torch::Tensor& values,
                           const torch::Tensor& out_coords, const ConvGeometry& geometry) {
  const c10::cuda::CUDAGuard guard(out_coords.device());
  const int64_t m = out_coords.size(0);
  auto table = torch::empty({geometry.volume(), m}, out_coords.options().dtype(torch::kLong));
  check_launch(kernels::kernel_map_query(keys.data_ptr<int64_t>(), values.data_ptr<int64_t>(),
                                         keys.size(0), out_coords.data_ptr<int32_t>(), m,
                                         geometry.kernel_size, geometry.stride, geometry.dilation,
                                         geometry.padding(), table.data_ptr<int64_t>(),
                                         current_stream()),
               "CoordinateHash::kernel_table");
  return table;
}

}  // namespace shapediff::sparse::detail::cuda

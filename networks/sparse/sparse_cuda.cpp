// The CUDA half of sparse_backend.h: allocates on the inputs' device and runs the kernels of
// sparse_kernels.cu and sparse_conv_kernels.cu on the current stream. Built with
// SHAPEDIFF_WITH_CUDA only.
#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/torch.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "networks/cuda_launch.h"
#include "networks/sparse/sparse_backend.h"
#include "networks/sparse/sparse_conv_kernels.h"
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

torch::Tensor gather_conv(const torch::Tensor& x, const torch::Tensor& w,
                          const torch::Tensor& table_rows, const torch::Tensor& table_order,
                          bool tf32) {
  const c10::cuda::CUDAGuard guard(x.device());
  const int64_t m = table_order.size(0);
  auto out = torch::empty({m, w.size(2)}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "sparse_gather_conv_cuda", [&] {
    check_launch(kernels::gather_conv(x.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(),
                                      table_rows.data_ptr<int32_t>(),
                                      table_order.data_ptr<int32_t>(), m, w.size(0), w.size(1),
                                      w.size(2), tf32, out.data_ptr<scalar_t>(),
                                      current_stream()),
                 "sparse_conv_features");
  });
  return out;
}

torch::Tensor conv_weight_grad(const torch::Tensor& x, const torch::Tensor& dy,
                               const torch::Tensor& in_rows, const torch::Tensor& out_rows,
                               const torch::Tensor& starts) {
  const c10::cuda::CUDAGuard guard(x.device());
  const int64_t volume = starts.size(0) - 1, cin = x.size(1), cout = dy.size(1);
  const int64_t* start = starts.data_ptr<int64_t>();
  int64_t longest = 0;
  for (int64_t k = 0; k < volume; ++k) longest = std::max(longest, start[k + 1] - start[k]);
  const auto split = kernels::weight_grad_split(longest, volume, cin, cout);
  auto partial = torch::empty({split.splits, volume, cin, cout}, x.options());
  const auto device_starts = starts.to(x.device());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "sparse_conv_weight_grad_cuda", [&] {
    check_launch(kernels::weight_grad(x.data_ptr<scalar_t>(), dy.data_ptr<scalar_t>(),
                                      in_rows.data_ptr<int64_t>(), out_rows.data_ptr<int64_t>(),
                                      device_starts.data_ptr<int64_t>(), volume, cin, cout,
                                      split.splits, split.chunk, partial.data_ptr<scalar_t>(),
                                      current_stream()),
                 "sparse_conv_features backward");
  });
  return partial.sum(0);
}

}  // namespace shapediff::sparse::detail::cuda

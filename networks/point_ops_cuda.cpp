// The CUDA half of point_ops_backend.h: allocates the results on the inputs' device and runs the
// kernels of point_ops_kernels.cu on the current stream. Built with SHAPEDIFF_WITH_CUDA only.
#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/torch.h>

#include <stdexcept>
#include <string>

#include "networks/cuda_launch.h"
#include "networks/point_ops_backend.h"
#include "networks/point_ops_kernels.h"

namespace shapediff::networks::detail::cuda {
using networks::cuda_launch::check_launch;
using networks::cuda_launch::current_stream;

torch::Tensor farthest_point_sample(const torch::Tensor& points, int64_t m) {
  const c10::cuda::CUDAGuard guard(points.device());
  const int64_t B = points.size(0), N = points.size(1);
  auto out = torch::empty({B, m}, points.options().dtype(torch::kLong));
  auto workspace = torch::empty({B, N}, points.options());
  AT_DISPATCH_FLOATING_TYPES(points.scalar_type(), "farthest_point_sample_cuda", [&] {
    check_launch(kernels::farthest_point_sample(points.data_ptr<scalar_t>(), B, N, m,
                                                workspace.data_ptr<scalar_t>(),
                                                out.data_ptr<int64_t>(), current_stream()),
                 "farthest_point_sample");
  });
  return out;
}

torch::Tensor ball_query(const torch::Tensor& centers, const torch::Tensor& points, double radius,
                         int64_t k) {
  const c10::cuda::CUDAGuard guard(centers.device());
  const int64_t B = centers.size(0), M = centers.size(1), N = points.size(1);
  auto out = torch::empty({B, M, k}, centers.options().dtype(torch::kLong));
  AT_DISPATCH_FLOATING_TYPES(centers.scalar_type(), "ball_query_cuda", [&] {
    check_launch(kernels::ball_query(centers.data_ptr<scalar_t>(), points.data_ptr<scalar_t>(), B,
                                     M, N, static_cast<scalar_t>(radius * radius), k,
                                     out.data_ptr<int64_t>(), current_stream()),
                 "ball_query");
  });
  return out;
}

torch::Tensor group_forward(const torch::Tensor& features, const torch::Tensor& idx) {
  const c10::cuda::CUDAGuard guard(features.device());
  const int64_t B = features.size(0), C = features.size(1), N = features.size(2);
  const int64_t M = idx.size(1), K = idx.size(2);
  auto out = torch::empty({B, C, M, K}, features.options());
  AT_DISPATCH_FLOATING_TYPES(features.scalar_type(), "group_forward_cuda", [&] {
    check_launch(kernels::group_forward(features.data_ptr<scalar_t>(), idx.data_ptr<int64_t>(), B,
                                        C, N, M, K, out.data_ptr<scalar_t>(), current_stream()),
                 "group");
  });
  return out;
}

torch::Tensor group_backward(const torch::Tensor& grad, const torch::Tensor& idx, int64_t n) {
  const c10::cuda::CUDAGuard guard(grad.device());
  const int64_t B = grad.size(0), C = grad.size(1), M = grad.size(2), K = grad.size(3);
  auto out = torch::zeros({B, C, n}, grad.options());
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "group_backward_cuda", [&] {
    check_launch(kernels::group_backward(grad.data_ptr<scalar_t>(), idx.data_ptr<int64_t>(), B, C,
                                         n, M, K, out.data_ptr<scalar_t>(), current_stream()),
                 "group backward");
  });
  return out;
}

std::pair<torch::Tensor, torch::Tensor> three_nn(const torch::Tensor& unknown,
                                                 const torch::Tensor& known) {
  const c10::cuda::CUDAGuard guard(unknown.device());
  const int64_t B = unknown.size(0), n = unknown.size(1), m = known.size(1);
  auto dist = torch::empty({B, n, 3}, unknown.options());
  auto idx = torch::empty({B, n, 3}, unknown.options().dtype(torch::kLong));
  AT_DISPATCH_FLOATING_TYPES(unknown.scalar_type(), "three_nn_cuda", [&] {
    check_launch(kernels::three_nn(unknown.data_ptr<scalar_t>(), known.data_ptr<scalar_t>(), B, n,
                                   m, dist.data_ptr<scalar_t>(), idx.data_ptr<int64_t>(),
                                   current_stream()),
                 "three_nn");
  });
  return {dist, idx};
}

torch::Tensor three_interpolate_forward(const torch::Tensor& features, const torch::Tensor& idx,
                                        const torch::Tensor& weight) {
  const c10::cuda::CUDAGuard guard(features.device());
  const int64_t B = features.size(0), C = features.size(1), m = features.size(2);
  const int64_t n = idx.size(1);
  auto out = torch::empty({B, C, n}, features.options());
  AT_DISPATCH_FLOATING_TYPES(features.scalar_type(), "three_interpolate_forward_cuda", [&] {
    check_launch(kernels::three_interpolate_forward(
                     features.data_ptr<scalar_t>(), idx.data_ptr<int64_t>(),
                     weight.data_ptr<scalar_t>(), B, C, m, n, out.data_ptr<scalar_t>(),
                     current_stream()),
                 "three_interpolate");
  });
  return out;
}

std::pair<torch::Tensor, torch::Tensor> three_interpolate_backward(const torch::Tensor& grad,
                                                                   const torch::Tensor& features,
                                                                   const torch::Tensor& idx,
                                                                   const torch::Tensor& weight) {
  const c10::cuda::CUDAGuard guard(grad.device());
  const int64_t B = features.size(0), C = features.size(1), m = features.size(2);
  const int64_t n = idx.size(1);
  auto grad_features = torch::zeros({B, C, m}, features.options());
  auto grad_weight = torch::empty({B, n, 3}, weight.options());
  AT_DISPATCH_FLOATING_TYPES(features.scalar_type(), "three_interpolate_backward_cuda", [&] {
    check_launch(kernels::three_interpolate_backward(
                     grad.data_ptr<scalar_t>(), features.data_ptr<scalar_t>(),
                     idx.data_ptr<int64_t>(), weight.data_ptr<scalar_t>(), B, C, m, n,
                     grad_features.data_ptr<scalar_t>(), grad_weight.data_ptr<scalar_t>(),
                     current_stream()),
                 "three_interpolate backward");
  });
  return {grad_features, grad_weight};
}

VoxelAssignment assign_voxels(const torch::Tensor& coords, int64_t r, bool normalize, double eps) {
  const c10::cuda::CUDAGuard guard(coords.device());
  const int64_t B = coords.size(0), N = coords.size(1);
  const auto ints = coords.options().dtype(torch::kInt);
  VoxelAssignment a{torch::empty({B, 3, N}, coords.options()), torch::empty({B, N}, ints),
                    torch::empty({B, N}, ints), torch::empty({B * N}, ints),
                    torch::empty({B * N}, ints)};
  size_t bytes = 0;
  check_launch(kernels::assign_voxels_workspace(B, N, r, &bytes), "avg_voxelize");
  auto workspace =
      torch::empty({static_cast<int64_t>(bytes)}, coords.options().dtype(torch::kByte));
  AT_DISPATCH_FLOATING_TYPES(coords.scalar_type(), "avg_voxelize_assign_cuda", [&] {
    check_launch(kernels::assign_voxels(coords.data_ptr<scalar_t>(), B, N, r, normalize,
                                        static_cast<scalar_t>(eps), workspace.data_ptr(), bytes,
                                        a.coords.data_ptr<scalar_t>(), a.voxel.data_ptr<int32_t>(),
                                        a.count.data_ptr<int32_t>(), a.order.data_ptr<int32_t>(),
                                        a.run.data_ptr<int32_t>(), current_stream()),
                 "avg_voxelize");
  });
  return a;
}

torch::Tensor avg_voxelize_forward(const torch::Tensor& features, const VoxelAssignment& a,
                                   int64_t r) {
  const c10::cuda::CUDAGuard guard(features.device());
  const int64_t B = features.size(0), C = features.size(1), N = features.size(2);
  auto out = torch::zeros({B, C, r * r * r}, features.options());
  AT_DISPATCH_FLOATING_TYPES(features.scalar_type(), "avg_voxelize_forward_cuda", [&] {
    check_launch(kernels::avg_voxelize_forward(
                     features.data_ptr<scalar_t>(), a.voxel.data_ptr<int32_t>(),
                     a.order.data_ptr<int32_t>(), a.run.data_ptr<int32_t>(), B, C, N, r,
                     out.data_ptr<scalar_t>(), current_stream()),
                 "avg_voxelize");
  });
  return out;
}

torch::Tensor avg_voxelize_backward(const torch::Tensor& grad, const torch::Tensor& voxel,
                                    const torch::Tensor& count) {
  const c10::cuda::CUDAGuard guard(grad.device());
  const int64_t B = grad.size(0), C = grad.size(1), voxels = grad.size(2), N = voxel.size(1);
  auto out = torch::empty({B, C, N}, grad.options());
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "avg_voxelize_backward_cuda", [&] {
    check_launch(kernels::avg_voxelize_backward(grad.data_ptr<scalar_t>(),
                                                voxel.data_ptr<int32_t>(),
                                                count.data_ptr<int32_t>(), B, C, N, voxels,
                                                out.data_ptr<scalar_t>(), current_stream()),
                 "avg_voxelize backward");
  });
  return out;
}

torch::Tensor trilinear_devoxelize_forward(const torch::Tensor& grid, const torch::Tensor& coords,
                                           int64_t r) {
  const c10::cuda::CUDAGuard guard(grid.device());
  const int64_t B = grid.size(0), C = grid.size(1), N = coords.size(2);
  auto out = torch::empty({B, C, N}, grid.options());
  AT_DISPATCH_FLOATING_TYPES(grid.scalar_type(), "trilinear_devoxelize_forward_cuda", [&] {
    check_launch(kernels::trilinear_devoxelize_forward(grid.data_ptr<scalar_t>(),
                                                       coords.data_ptr<scalar_t>(), B, C, N, r,
                                                       out.data_ptr<scalar_t>(), current_stream()),
                 "trilinear_devoxelize");
  });
  return out;
}

torch::Tensor trilinear_devoxelize_backward(const torch::Tensor& grad, const torch::Tensor& coords,
                                            int64_t r) {
  const c10::cuda::CUDAGuard guard(grad.device());
  const int64_t B = grad.size(0), C = grad.size(1), N = grad.size(2);
  auto out = torch::zeros({B, C, r * r * r}, grad.options());
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "trilinear_devoxelize_backward_cuda", [&] {
    check_launch(kernels::trilinear_devoxelize_backward(grad.data_ptr<scalar_t>(),
                                                        coords.data_ptr<scalar_t>(), B, C, N, r,
                                                        out.data_ptr<scalar_t>(),
                                                        current_stream()),
                 "trilinear_devoxelize backward");
  });
  return out;
}

}  // namespace shapediff::networks::detail::cuda

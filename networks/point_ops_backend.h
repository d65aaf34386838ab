// The per-device halves of networks/point_ops.h, internal to the networks library: the same
// functions once for the CPU (point_ops_cpu.cpp) and once for CUDA (point_ops_cuda.cpp, built
// with SHAPEDIFF_WITH_CUDA). point_ops.cpp validates the arguments, makes them contiguous and
// calls the half that matches their device, so these functions check nothing themselves.
// Shapes are those of point_ops.h; grids are flat, [B, C, r^3].
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <utility>

namespace shapediff::networks::detail {

// Where each point of avg_voxelize lands. coords [B, 3, N] float voxel coordinates, voxel
// [B, N] flat voxel index x * r^2 + y * r + z, count [B, N] points sharing that voxel (int64 on
// the CPU, int32 on CUDA). CUDA also sorts the points by (batch, voxel, index) so each voxel is
// summed by one thread in point order: order [B * N] int32 point ids b * N + n in that order and
// run [B * N] int32, at the first sorted position of each voxel its number of points, else 0.
struct VoxelAssignment {
  torch::Tensor coords;
  torch::Tensor voxel;
  torch::Tensor count;
  torch::Tensor order;
  torch::Tensor run;
};

namespace cpu {

torch::Tensor farthest_point_sample(const torch::Tensor& points, int64_t m);
torch::Tensor ball_query(const torch::Tensor& centers, const torch::Tensor& points, double radius,
                         int64_t k);
torch::Tensor group_forward(const torch::Tensor& features, const torch::Tensor& idx);
torch::Tensor group_backward(const torch::Tensor& grad, const torch::Tensor& idx, int64_t n);
std::pair<torch::Tensor, torch::Tensor> three_nn(const torch::Tensor& unknown,
                                                 const torch::Tensor& known);
torch::Tensor three_interpolate_forward(const torch::Tensor& features, const torch::Tensor& idx,
                                        const torch::Tensor& weight);
// Returns (grad features [B, C, m], grad weight [B, n, 3]).
std::pair<torch::Tensor, torch::Tensor> three_interpolate_backward(const torch::Tensor& grad,
                                                                   const torch::Tensor& features,
                                                                   const torch::Tensor& idx,
                                                                   const torch::Tensor& weight);
// coords [B, N, 3]. Throws std::invalid_argument when the coordinates collapse to NaN.
VoxelAssignment assign_voxels(const torch::Tensor& coords, int64_t r, bool normalize, double eps);
torch::Tensor avg_voxelize_forward(const torch::Tensor& features, const VoxelAssignment& a,
                                   int64_t r);
torch::Tensor avg_voxelize_backward(const torch::Tensor& grad, const torch::Tensor& voxel,
                                    const torch::Tensor& count);
// coords [B, 3, N]; grid and the backward's result flat [B, C, r^3].
torch::Tensor trilinear_devoxelize_forward(const torch::Tensor& grid, const torch::Tensor& coords,
                                           int64_t r);
torch::Tensor trilinear_devoxelize_backward(const torch::Tensor& grad, const torch::Tensor& coords,
                                            int64_t r);

}  // namespace cpu

namespace cuda {

torch::Tensor farthest_point_sample(const torch::Tensor& points, int64_t m);
torch::Tensor ball_query(const torch::Tensor& centers, const torch::Tensor& points, double radius,
                         int64_t k);
torch::Tensor group_forward(const torch::Tensor& features, const torch::Tensor& idx);
torch::Tensor group_backward(const torch::Tensor& grad, const torch::Tensor& idx, int64_t n);
std::pair<torch::Tensor, torch::Tensor> three_nn(const torch::Tensor& unknown,
                                                 const torch::Tensor& known);
torch::Tensor three_interpolate_forward(const torch::Tensor& features, const torch::Tensor& idx,
                                        const torch::Tensor& weight);
std::pair<torch::Tensor, torch::Tensor> three_interpolate_backward(const torch::Tensor& grad,
                                                                   const torch::Tensor& features,
                                                                   const torch::Tensor& idx,
                                                                   const torch::Tensor& weight);
VoxelAssignment assign_voxels(const torch::Tensor& coords, int64_t r, bool normalize, double eps);
torch::Tensor avg_voxelize_forward(const torch::Tensor& features, const VoxelAssignment& a,
                                   int64_t r);
torch::Tensor avg_voxelize_backward(const torch::Tensor& grad, const torch::Tensor& voxel,
                                    const torch::Tensor& count);
torch::Tensor trilinear_devoxelize_forward(const torch::Tensor& grid, const torch::Tensor& coords,
                                           int64_t r);
torch::Tensor trilinear_devoxelize_backward(const torch::Tensor& grad, const torch::Tensor& coords,
                                            int64_t r);

}  // namespace cuda
}  // namespace shapediff::networks::detail

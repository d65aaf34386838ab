// CUDA kernels of the point ops (networks/point_ops.h) on raw device pointers, with no torch
// headers so nvcc compiles them in every build that has it; networks/point_ops_cuda.cpp checks
// the arguments, allocates and calls these. T is float or double; every array is contiguous
// (row-major in the shape given), on the device of the current CUDA context. Each function only
// enqueues work on `stream` and returns the launch status (cudaSuccess, or the first error).
// Within one batch item sizes (N, M * k, r^3, ...) must fit in int32; B * N and B * r^3 too for
// the voxelization.
//
//   kernels::farthest_point_sample<float>(points, B, N, 512, workspace, out, stream);
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace shapediff::networks::kernels {

// points [B, N, 3] -> out [B, m] (int64). workspace [B, N] scratch, used only when a cloud
// does not fit in shared memory.
template <typename T>
cudaError_t farthest_point_sample(const T* points, int64_t batch, int64_t n, int64_t m,
                                  T* workspace, int64_t* out, cudaStream_t stream);

// centers [B, M, 3], points [B, N, 3] -> out [B, M, k] (int64), radius2 = radius^2 in T.
template <typename T>
cudaError_t ball_query(const T* centers, const T* points, int64_t batch, int64_t m, int64_t n,
                       T radius2, int64_t k, int64_t* out, cudaStream_t stream);

// features [B, C, N], idx [B, M, k] -> out [B, C, M, k].
template <typename T>
cudaError_t group_forward(const T* features, const int64_t* idx, int64_t batch, int64_t channels,
                          int64_t n, int64_t m, int64_t k, T* out, cudaStream_t stream);

// grad [B, C, M, k] is added into grad_features [B, C, N], which the caller zeroes.
template <typename T>
cudaError_t group_backward(const T* grad, const int64_t* idx, int64_t batch, int64_t channels,
                           int64_t n, int64_t m, int64_t k, T* grad_features,
                           cudaStream_t stream);

// unknown [B, n, 3], known [B, m, 3] -> dist [B, n, 3] (squared, ascending), idx [B, n, 3].
template <typename T>
cudaError_t three_nn(const T* unknown, const T* known, int64_t batch, int64_t n, int64_t m,
                     T* dist, int64_t* idx, cudaStream_t stream);

// features [B, C, m], idx and weight [B, n, 3] -> out [B, C, n].
template <typename T>
cudaError_t three_interpolate_forward(const T* features, const int64_t* idx, const T* weight,
                                      int64_t batch, int64_t channels, int64_t m, int64_t n,
                                      T* out, cudaStream_t stream);

// grad [B, C, n] -> grad_features [B, C, m] (added into; the caller zeroes it) and
// grad_weight [B, n, 3].
template <typename T>
cudaError_t three_interpolate_backward(const T* grad, const T* features, const int64_t* idx,
                                       const T* weight, int64_t batch, int64_t channels,
                                       int64_t m, int64_t n, T* grad_features, T* grad_weight,
                                       cudaStream_t stream);

// Bytes of scratch assign_voxels needs for B * N points and B * r^3 voxels (sets *bytes).
cudaError_t assign_voxels_workspace(int64_t batch, int64_t n, int64_t resolution, size_t* bytes);

// PVCNN's voxel coordinates (see avg_voxelize in point_ops.h) of coords [B, N, 3]: norm
// [B, 3, N], voxel [B, N] (flat x * r^2 + y * r + z), count [B, N] (points in that voxel), and
// the points sorted by (batch, voxel, index): order [B * N] (ids b * N + n), run [B * N] (at the
// first sorted position of each voxel its number of points, else 0).
template <typename T>
cudaError_t assign_voxels(const T* coords, int64_t batch, int64_t n, int64_t resolution,
                          bool normalize, T eps, void* workspace, size_t workspace_bytes,
                          T* norm, int32_t* voxel, int32_t* count, int32_t* order, int32_t* run,
                          cudaStream_t stream);

// Mean of each voxel's features [B, C, N] -> grid [B, C, r^3], which the caller zeroes (empty
// voxels stay 0). Each voxel is summed by one thread in point order: deterministic.
template <typename T>
cudaError_t avg_voxelize_forward(const T* features, const int32_t* voxel, const int32_t* order,
                                 const int32_t* run, int64_t batch, int64_t channels, int64_t n,
                                 int64_t resolution, T* grid, cudaStream_t stream);

// grad [B, C, voxels] (voxels = r^3) -> grad_features [B, C, N].
template <typename T>
cudaError_t avg_voxelize_backward(const T* grad, const int32_t* voxel, const int32_t* count,
                                  int64_t batch, int64_t channels, int64_t n, int64_t voxels,
                                  T* grad_features, cudaStream_t stream);

// grid [B, C, r^3] sampled at coords [B, 3, N] -> out [B, C, N].
template <typename T>
cudaError_t trilinear_devoxelize_forward(const T* grid, const T* coords, int64_t batch,
                                         int64_t channels, int64_t n, int64_t resolution, T* out,
                                         cudaStream_t stream);

// grad [B, C, N] is added into grad_grid [B, C, r^3], which the caller zeroes.
template <typename T>
cudaError_t trilinear_devoxelize_backward(const T* grad, const T* coords, int64_t batch,
                                          int64_t channels, int64_t n, int64_t resolution,
                                          T* grad_grid, cudaStream_t stream);

}  // namespace shapediff::networks::kernels

// Point-cloud operators of PointNet++ and PVCNN, batch-first, each differentiable where the
// originals are: farthest point sampling, ball query, grouping, three-nearest-neighbour
// interpolation, average voxelization and trilinear devoxelization. Coordinates are in the
// caller's units; float32 or float64 throughout, indices int64.
//
// Every op runs where its inputs live: CPU tensors on the CPU (ATen's parallel_for), CUDA
// tensors in the kernels of networks/point_ops_kernels.cu (a build without CUDA rejects them
// with "built without CUDA"). Both give the same results: the index ops (fps, ball query,
// three_nn) and avg_voxelize's forward bit for bit, the others up to rounding.
//
//   auto fps = farthest_point_sample(points, 512);          // [B,N,3] -> [B,512]
//   auto centers = torch::gather(points, 1, fps.unsqueeze(-1).expand({-1, -1, 3}));
//   auto idx = ball_query(centers, points, 0.2, 16);        // [B,M,3],[B,N,3] -> [B,M,16]
//   auto grouped = group(features, idx);                    // [B,C,N] -> [B,C,M,16]
//   auto [dist2, nn] = three_nn(unknown, known);            // [B,n,3],[B,m,3] -> [B,n,3] x2
//   auto w = 1.0 / (dist2 + 1e-8); w = w / w.sum(2, true);
//   auto up = three_interpolate(features, nn, w);           // [B,C,m] -> [B,C,n]
//   auto [grid, vc] = avg_voxelize(features, coords, 32);   // -> [B,C,32,32,32], [B,3,N]
//   auto back = trilinear_devoxelize(grid, vc, 32);         // -> [B,C,N]
//
// Errors: std::invalid_argument, one line naming the op, the argument and the value, for wrong
// ranks or sizes, mismatched batches, dtypes or devices, and bad scalars (k, m, radius,
// resolution). Checks of tensor VALUES (NaN coordinates, indices out of range, voxel
// coordinates outside the grid) run on CPU tensors only: on CUDA they would stall the stream
// on every call (and break CUDA-graph capture). The CUDA kernels stay memory-safe on such
// input instead: out-of-range indices read as zero and scatter nothing, coordinates are
// clamped into the grid.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <utility>

namespace shapediff::networks {

// Farthest point sampling per cloud (PointNet++ / PVCNN): starts at index 0, then repeatedly
// picks the point with the largest squared distance to the points picked so far (ties: the
// lowest index). points [B, N, 3], 1 <= m <= N -> int64 [B, m]. Not differentiable.
torch::Tensor farthest_point_sample(const torch::Tensor& points, int64_t m);

// Indices [B, M, k] (int64) of the first k points (in index order) with squared distance to
// each centre strictly below radius^2; slots past the last hit repeat the first hit, and a
// centre with no hit gets all zeros (PointNet++'s rule). centers [B, M, 3], points [B, N, 3].
torch::Tensor ball_query(const torch::Tensor& centers, const torch::Tensor& points, double radius,
                         int64_t k);

// Gathers features [B, C, N] at idx [B, M, k] into [B, C, M, k]. Differentiable in features
// (the backward scatter-adds); idx gets no gradient.
torch::Tensor group(const torch::Tensor& features, const torch::Tensor& idx);

// For each unknown point [B, n, 3] its three nearest known points [B, m, 3] (m >= 3): SQUARED
// distances [B, n, 3] (same dtype, ascending) and int64 indices [B, n, 3]. Ties keep the lower
// index. Not differentiable.
std::pair<torch::Tensor, torch::Tensor> three_nn(const torch::Tensor& unknown,
                                                 const torch::Tensor& known);

// out[b, c, i] = sum_j weight[b, i, j] * features[b, c, idx[b, i, j]]: features [B, C, m],
// idx [B, n, 3] (int64), weight [B, n, 3] -> [B, C, n]. Differentiable in features and weight.
torch::Tensor three_interpolate(const torch::Tensor& features, const torch::Tensor& idx,
                                const torch::Tensor& weight);

// PVCNN's Voxelization: coords [B, N, 3] are centred on their mean, then mapped to
// (c - mean) / (2 * max_n |c - mean| + eps) + 0.5 when normalize, else (c - mean + 1) / 2, scaled
// by r and clamped to [0, r - 1]; each point falls into the voxel round(coord) (half to even) and
// every voxel holds the mean of its points' features [B, C, N] (zero when empty), summed in
// point order on both devices, so the CUDA result is deterministic.
// Returns (voxel features [B, C, r, r, r] indexed [x, y, z], float voxel coords [B, 3, N]).
// Differentiable in features; coords get no gradient. On CUDA, B * r^3 must stay below 2^31.
std::pair<torch::Tensor, torch::Tensor> avg_voxelize(const torch::Tensor& features,
                                                     const torch::Tensor& coords,
                                                     int64_t resolution, bool normalize = true,
                                                     double eps = 0.0);

// PVCNN's trilinear devoxelization: samples grid [B, C, r, r, r] at float voxel coords
// [B, 3, N] (each within [0, r - 1], as avg_voxelize returns them) -> [B, C, N].
// With training the result records its backward to grid (coords get no gradient); without it
// the result is detached.
torch::Tensor trilinear_devoxelize(const torch::Tensor& grid, const torch::Tensor& coords,
                                   int64_t resolution, bool training = true);

}  // namespace shapediff::networks

// Farthest point sampling: starting from `start_index`, repeatedly pick the point whose
// distance to the points picked so far is largest (ties: the lowest index). points [N,3] (any
// floating dtype, CPU or not: computed on the CPU in double precision); returns int64 [M]
// indices into points, distinct while M does not exceed the number of distinct points.
// O(N*M) time, O(N) memory; the distance update is split across at::parallel_for threads.
//
//   auto idx = farthest_point_sampling(cloud.points, 512);   // [512] int64
//   PointCloud sub = cloud.select(idx);
#pragma once

#include <cstdint>

#include <torch/types.h>

namespace shapediff::shapes {

// Throws std::invalid_argument for wrong shapes, NaN/Inf, an empty cloud, num_samples outside
// [0, N] or start_index outside [0, N).
torch::Tensor farthest_point_sampling(const torch::Tensor& points, int64_t num_samples,
                                      int64_t start_index = 0);

}  // namespace shapediff::shapes

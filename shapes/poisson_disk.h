// Poisson-disk subsampling of a dense point cloud: picks a subset whose points are pairwise at
// least `min_distance` apart (world units), spread evenly over the input.
//  - min_distance > 0: greedy dart throwing over the points in a seeded random order (a hash
//    grid of cell size min_distance finds the conflicts); every input point ends up within
//    min_distance of a picked one. With target_count > 0 as well, a larger result is thinned
//    to target_count by weighted sample elimination (Yuksel 2015), which keeps the distance.
//  - min_distance == 0 and target_count > 0: the distance is found by bisection (the largest
//    one whose dart throwing still keeps >= target_count points), then thinned as above, so the
//    result has exactly target_count points.
// points [N,3] any floating dtype (computed on the CPU in double precision).
//
//   PoissonDiskOptions opt;  opt.target_count = 2048;  opt.seed = 3;
//   auto r = poisson_disk_subsample(cloud.points, opt);
//   PointCloud sub = cloud.select(r.indices);   // pairwise distances >= r.min_distance
#pragma once

#include <cstdint>

#include <torch/types.h>

namespace shapediff::shapes {

struct PoissonDiskOptions {
  int64_t target_count = 0;  // wanted number of points (0: as many as min_distance allows)
  double min_distance = 0;   // hard minimum distance (0: found from target_count)
  uint64_t seed = 0;         // the dart-throwing order
};

struct PoissonDiskResult {
  torch::Tensor indices;    // [M] int64 into points, ascending
  double min_distance = 0;  // every picked pair is at least this far apart
};

// Throws std::invalid_argument for wrong shapes, NaN/Inf, an empty cloud, negative or
// non-finite options, target_count > N, or neither option set.
PoissonDiskResult poisson_disk_subsample(const torch::Tensor& points,
                                         const PoissonDiskOptions& options);

}  // namespace shapediff::shapes

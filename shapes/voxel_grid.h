// VoxelGrid: a dense grid of values [X,Y,Z] float32 indexed (i,j,k) along x,y,z; voxel (i,j,k)
// has its centre at origin + voxel_size * (i,j,k). Holds occupancy (0/1) or signed distance
// (negative inside, world units).
//
//   VoxelGrid g{torch::zeros({32, 32, 32}), {-1, -1, -1}, 2.0 / 31, VoxelKind::Occupancy};
#pragma once

#include <array>
#include <string>

#include <torch/types.h>

namespace shapediff::shapes {

enum class VoxelKind { Occupancy, SignedDistance };

struct VoxelGrid {
  torch::Tensor values;                 // [X,Y,Z] float32
  std::array<double, 3> origin{0, 0, 0};  // centre of voxel (0,0,0)
  double voxel_size = 1.0;
  VoxelKind kind = VoxelKind::Occupancy;

  std::array<int64_t, 3> resolution() const;
  void validate(const std::string& context) const;
  // Centres of all voxels, [X*Y*Z, 3] in row-major (i,j,k) order.
  torch::Tensor voxel_centers() const;
};

}  // namespace shapediff::shapes

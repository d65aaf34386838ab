// GridSpec: where a dense voxel grid sits in space, without its values. Voxel (i,j,k), for
// i < resolution[0] and so on, has its centre at origin + voxel_size * (i,j,k) (world units),
// the same convention as VoxelGrid.
//
//   auto spec = GridSpec::from_bounds({-1, -1, -1}, {1, 1, 1}, 32);   // centres span [-1,1]^3
//   auto spec2 = GridSpec::of(existing_grid);                          // reuse a grid's placement
#pragma once

#include <array>
#include <string>

#include <torch/types.h>

#include "shapes/voxel_grid.h"

namespace shapediff::shapes {

struct GridSpec {
  std::array<double, 3> origin{0, 0, 0};  // centre of voxel (0,0,0)
  double voxel_size = 1.0;
  std::array<int64_t, 3> resolution{1, 1, 1};

  // A resolution^3 cube of voxels centred on the box [lo, hi] whose outer voxel centres lie on
  // the box's longest side (voxel_size = longest side / (resolution - 1)). resolution >= 2.
  static GridSpec from_bounds(const std::array<double, 3>& lo, const std::array<double, 3>& hi,
                              int64_t resolution);
  static GridSpec of(const VoxelGrid& grid);

  // Resolution >= 1 per axis, finite origin, voxel_size > 0.
  void validate(const std::string& context) const;
  int64_t num_voxels() const { return resolution[0] * resolution[1] * resolution[2]; }
  // Voxel centres [X*Y*Z, 3] in row-major (i,j,k) order, computed in double precision.
  torch::Tensor centers(torch::Dtype dtype = torch::kFloat32) const;
  // A grid with this placement; values must be [X,Y,Z] or [X*Y*Z] in row-major order.
  VoxelGrid make_grid(const torch::Tensor& values, VoxelKind kind) const;
};

}  // namespace shapediff::shapes

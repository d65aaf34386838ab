// Points <-> voxels. A point p falls in the voxel whose centre is nearest:
// (i,j,k) = floor((p - origin) / voxel_size + 0.5), the centre convention of VoxelGrid and
// SparseVoxels. Points are [N,3] (any floating dtype, world units); results are on the CPU.
//
//   VoxelGrid occ = voxelize_points(cloud.points, GridSpec::from_bounds({-1,-1,-1}, {1,1,1}, 32));
//   auto sv = voxelize_points_sparse(cloud.points, 0.02, cloud.colors);  // mean colour per cell
//   torch::Tensor shell = surface_centers(occ);                          // [K,3]
#pragma once

#include <array>

#include <torch/types.h>

#include "shapes/grid_spec.h"
#include "shapes/sparse_voxels.h"
#include "shapes/voxel_grid.h"

namespace shapediff::shapes {

// What voxelize_points does with points outside the grid.
enum class OutsidePoints { Throw, Drop };

// Occupancy grid (1 where at least one point falls, else 0) with the placement of `grid`.
// Both voxelize functions reject an empty cloud.
VoxelGrid voxelize_points(const torch::Tensor& points, const GridSpec& grid,
                          OutsidePoints outside = OutsidePoints::Throw);

struct SparseVoxelization {
  // coords [K,3] int32, ascending lexicographic order; features [K,C] float32: the mean of the
  // given per-point features in each cell, or ones [K,1] when none are given.
  SparseVoxels voxels;
  torch::Tensor counts;          // [K] int64, points per cell
  torch::Tensor point_to_voxel;  // [N] int64, row of each point's cell in voxels
};

// features: [N,C] floating, or undefined. Cell coordinates must fit in int32.
SparseVoxelization voxelize_points_sparse(const torch::Tensor& points, double voxel_size,
                                          const torch::Tensor& features = {},
                                          const std::array<double, 3>& origin = {0, 0, 0});

// Inside cells of a grid, [X,Y,Z] bool: occupancy > 0.5, or signed distance <= 0.
torch::Tensor inside_mask(const VoxelGrid& grid);
// Centres [K,3] float32 of the inside cells, in row-major (i,j,k) order.
torch::Tensor occupied_centers(const VoxelGrid& grid);
// Centres [K,3] float32 of the inside cells that have an outside 6-neighbour (cells outside the
// grid count as outside), in row-major (i,j,k) order.
torch::Tensor surface_centers(const VoxelGrid& grid);

}  // namespace shapediff::shapes

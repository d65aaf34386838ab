// Truncated signed distance grids from oriented point clouds (surface samples with outward
// normals), the dense training targets of voxel diffusion.
//
// Each voxel centre x takes its exact nearest surface point p (Euclidean, ties to the lowest
// index) and gets |x - p|, negative where dot(x - p, n_p) < 0 (behind p's surface, i.e.
// inside), clamped to [-truncation, truncation]. Values are world units and follow
// shapes/marching_cubes.h's convention for signed distance (inside is value < 0, iso 0), so
// marching_cubes(truncated_sdf_from_oriented_points(...)) meshes the sampled surface.
// The sign is only as good as the normals and the sampling: where two sheets of surface are
// closer than the sample spacing the nearest sample may lie on the wrong sheet.
//
//   auto spec = GridSpec::from_bounds({-1, -1, -1}, {1, 1, 1}, 32);
//   VoxelGrid sdf = truncated_sdf_from_oriented_points(points, normals, spec, 3 * spec.voxel_size);
//   VoxelGrid occ = occupancy_from_sdf(sdf);     // 1 inside, 0 outside
//   TriangleMesh m = marching_cubes(sdf);         // or marching_cubes(occ, {0.5, true})
#pragma once

#include <torch/types.h>

#include "shapes/grid_spec.h"
#include "shapes/voxel_grid.h"

namespace shapediff::shapes {

// points [N,3] and normals [N,3] floating point on the CPU (normals need not be unit length,
// but must not be zero), N >= 1, all finite; truncation > 0 in world units (+infinity: no
// clamping). Returns a SignedDistance grid [X,Y,Z] float32 placed by `grid`. The search runs in
// float64 on a k-d tree of the points, split over ATen's intra-op threads.
// Throws std::invalid_argument "truncated_sdf_from_oriented_points: ..." naming the bad
// argument (shape, dtype, NaN/Inf, zero normal, truncation, grid).
VoxelGrid truncated_sdf_from_oriented_points(const torch::Tensor& points,
                                             const torch::Tensor& normals, const GridSpec& grid,
                                             double truncation);

// The sign of the clamped cells (|value| >= truncation) from the grid's connectivity rather than
// from a nearest sample: a clamped cell is outside (+truncation) when a path of clamped cells
// through face neighbours links it to the grid's border, else inside (-truncation). Cells nearer
// the surface keep their values. Far from the surface the nearest sample is a poor judge of the
// side (a sample on the far side of a thin part, or on an edge), and a sign flip between two
// clamped cells is a surface in empty space for marching cubes and noise for a model trained on
// the grid. Assumes the shape stays inside the grid (its border is outside). Throws
// std::invalid_argument for a grid that is not a valid SignedDistance grid or truncation <= 0.
//
//   auto sdf = connected_far_signs(truncated_sdf_from_oriented_points(p, n, spec, t), t);
VoxelGrid connected_far_signs(const VoxelGrid& sdf, double truncation);

// 1 where sdf < 0 (inside), else 0; same placement, kind Occupancy. Throws
// std::invalid_argument when the grid is not a valid SignedDistance grid.
VoxelGrid occupancy_from_sdf(const VoxelGrid& sdf);

}  // namespace shapediff::shapes

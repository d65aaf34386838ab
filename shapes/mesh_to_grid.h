// Triangle mesh -> dense VoxelGrid, sampled at the voxel centres of a GridSpec:
//  - occupancy: 1 where the generalized winding number exceeds `inside_threshold` (0.5), else 0.
//    Robust to small holes and flipped patches, unlike ray parity.
//  - signed distance: the exact distance to the nearest triangle (world units), negative where
//    the winding number exceeds the threshold.
// signed_distance() gives the same values at arbitrary points [Q,3] (e.g. SDF training samples).
// The mesh need not be closed or manifold; its triangles should be counter-clockwise seen from
// outside (the sign of the winding number follows the orientation).
//
//   auto spec = GridSpec::from_bounds({-1, -1, -1}, {1, 1, 1}, 64);
//   VoxelGrid occ = mesh_to_occupancy(mesh, spec);
//   VoxelGrid sdf = mesh_to_sdf(mesh, GridSpec::of(occ));
#pragma once

#include <torch/types.h>

#include "shapes/grid_spec.h"
#include "shapes/triangle_mesh.h"
#include "shapes/voxel_grid.h"
#include "shapes/winding_number.h"

namespace shapediff::shapes {

struct MeshToGridOptions {
  WindingNumberOptions winding;   // how the inside test is evaluated
  double inside_threshold = 0.5;  // winding number above this is inside
};

VoxelGrid mesh_to_occupancy(const TriangleMesh& mesh, const GridSpec& grid,
                            const MeshToGridOptions& options = {});
VoxelGrid mesh_to_sdf(const TriangleMesh& mesh, const GridSpec& grid,
                      const MeshToGridOptions& options = {});
// Signed distance [Q] float32 at points [Q,3].
torch::Tensor signed_distance(const TriangleMesh& mesh, const torch::Tensor& points,
                              const MeshToGridOptions& options = {});

}  // namespace shapediff::shapes

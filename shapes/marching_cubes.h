// Iso-surface extraction from a dense scalar field (VoxelGrid values [X,Y,Z], sample (i,j,k) at
// origin + voxel_size * (i,j,k), world units) into a TriangleMesh (vertices [V,3] float32 in
// world units, faces [F,3] int64).
//
// Every grid cube is split into six tetrahedra along its main diagonal (Kuhn / Freudenthal
// split) and each tetrahedron is contoured on its own ("marching tetrahedra"). Neighbouring
// cubes split their shared face along the same diagonal, and a linear field on a tetrahedron
// has no ambiguous cases, so the surface is the exact level set of the piecewise-linear
// interpolant: closed, 2-manifold and consistently oriented whenever the inside region does not
// reach the grid border. One vertex per crossed grid edge (the 3 cube edges, 3 face diagonals
// and the body diagonal owned by each sample), shared by every triangle that uses it.
//
// `IsoSurfaceMethod::Cubes` runs classic marching cubes instead: one vertex per crossed cube
// edge (the vertex count scikit-image's marching_cubes gives), at most a few triangles per cube;
// only a surface loop that cannot be split without a diagonal across a cube face (which would
// meet the neighbour's diagonal in a non-manifold edge) gets an extra vertex at its centre. Faces a cube shares with its neighbour are resolved by the same rule
// on both sides (inside corners on an ambiguous face are always kept apart), so this surface too
// is closed, 2-manifold and consistently oriented when the inside region stays off the border;
// on an ambiguous face it may split what the tetrahedra keep joined.
//
// Inside is `value < iso` (signed distance: negative inside); samples equal to iso count as
// outside, and vertices are kept a hair (1e-4 of an edge) away from samples so no triangle
// collapses. Faces are counter-clockwise seen from outside, i.e. normals point to increasing
// field. For occupancy-like fields (inside where value > iso) set `inside_above`.
//
//   VoxelGrid g{sdf, {-1, -1, -1}, 2.0 / 63, VoxelKind::SignedDistance};
//   TriangleMesh m = marching_cubes(g);                         // level 0
//   TriangleMesh o = marching_cubes(occ, {0.5, /*inside_above=*/true});
//   TriangleMesh c = marching_cubes(g, {0.0, false, IsoSurfaceMethod::Cubes});
#pragma once

#include "shapes/triangle_mesh.h"
#include "shapes/voxel_grid.h"

namespace shapediff::shapes {

enum class IsoSurfaceMethod { Tetrahedra, Cubes };

struct MarchingCubesOptions {
  double iso = 0.0;
  // Inside is value > iso instead of value < iso (occupancy, densities); normals still point
  // out of the inside region.
  bool inside_above = false;
  IsoSurfaceMethod method = IsoSurfaceMethod::Tetrahedra;
};

// Throws std::invalid_argument when the values hold NaN/Inf, the grid is malformed or iso is not
// finite. A grid with fewer than two samples along an axis, or without a crossing, gives an
// empty mesh (vertices [0,3], faces [0,3]).
TriangleMesh marching_cubes(const VoxelGrid& grid, const MarchingCubesOptions& options = {});

}  // namespace shapediff::shapes

// Clean-up of reconstructed triangle meshes (vertices [V,3] float32, faces [F,3] int64):
// keeping the largest connected components and filling small holes. Hole filling uses CGAL's
// polygon mesh processing (triangulate, refine) and needs SHAPEDIFF_WITH_CGAL; keeping
// components works in every build.
//
//   TriangleMesh m = keep_largest_components(mesh, 1);          // drop floating debris
//   int64_t filled = 0;
//   m = fill_small_holes(m, /*max_edges=*/30, &filled);         // close small gaps
#pragma once

#include <cstdint>

#include "shapes/triangle_mesh.h"

namespace shapediff::shapes {

// The `count` components with the most faces (components join faces sharing an edge); unused
// vertices are dropped and the rest renumbered in their original order. count >= 1.
TriangleMesh keep_largest_components(const TriangleMesh& mesh, int64_t count);

// Fills every hole bounded by at most `max_edges` boundary edges with a refined triangulation
// matching the surrounding edge lengths; `filled` receives the number of holes filled. The mesh
// must be an oriented 2-manifold (std::invalid_argument otherwise); std::runtime_error without
// CGAL. Vertex normals and colors are dropped (new vertices have none).
TriangleMesh fill_small_holes(const TriangleMesh& mesh, int64_t max_edges, int64_t* filled = nullptr);

// Pairs of faces that intersect other than along shared edges or vertices (CGAL); -1 without
// CGAL. Used by mesh_quality.
int64_t count_self_intersections(const TriangleMesh& mesh);

}  // namespace shapediff::shapes

// A triangle mesh's topology report: whether it is closed, 2-manifold, self-intersecting, and
// its boundary loops and connected components. Counts come from the face index array [F,3]
// (int64) alone, so a mesh whose vertices coincide but are not shared is not closed;
// self-intersections need CGAL (shapes/mesh_repair_cgal.cpp) and are -1 in builds without it.
//
//   MeshQuality q = mesh_quality(mesh);
//   if (!q.closed) std::cout << q.boundary_loops << " holes\n";
//   std::cout << to_string(q) << "\n";   // "vertices 642 faces 1280 closed yes manifold yes ..."
#pragma once

#include <cstdint>
#include <string>

#include "shapes/triangle_mesh.h"

namespace shapediff::shapes {

struct MeshQuality {
  int64_t vertices = 0;
  int64_t faces = 0;
  int64_t components = 0;            // sets of faces joined through shared edges
  int64_t boundary_edges = 0;        // edges used by exactly one face
  int64_t boundary_loops = 0;        // closed chains of boundary edges (holes)
  int64_t non_manifold_edges = 0;    // edges used by three or more faces
  int64_t non_manifold_vertices = 0; // vertices whose faces form more than one fan
  int64_t inconsistent_edges = 0;    // edges two faces traverse in the same direction
  int64_t degenerate_faces = 0;      // a repeated vertex index, or zero area
  int64_t self_intersections = -1;   // pairs of intersecting faces; -1 when not checked
  bool manifold = false;             // no non-manifold edge or vertex, orientation consistent
  bool closed = false;               // manifold, non-empty and without boundary edges
};

// Throws std::invalid_argument for an invalid mesh. `check_self_intersections` runs CGAL's
// test (O(F log F)); without CGAL it is skipped and the count stays -1.
MeshQuality mesh_quality(const TriangleMesh& mesh, bool check_self_intersections = true);

// One line: "vertices V faces F components C closed yes|no manifold yes|no boundary_loops B
// non_manifold_edges E non_manifold_vertices W self_intersections S".
std::string to_string(const MeshQuality& quality);

}  // namespace shapediff::shapes

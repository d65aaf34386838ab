// TriangleBvh: a bounding-volume hierarchy (axis-aligned boxes, median splits along the longest
// axis) over the triangles of a TriangleMesh, answering exact closest-point and first-ray-hit
// queries. It keeps a
// double-precision copy of the triangles in tree order on the CPU; winding_number.h adds its
// cluster moments on the same tree. Queries are [Q,3] in world units, any floating dtype.
//
//   TriangleBvh bvh(mesh);
//   auto hit = bvh.closest_points(queries);   // hit.distance [Q], hit.face [Q], hit.point [Q,3]
//   double t = bvh.first_hit(origin, dir, &face);  // origin + t * dir is on `face`
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "shapes/triangle_mesh.h"

namespace shapediff::shapes {

// Closest point to p on triangle (a, b, c), written to `closest`; returns the squared distance.
// Degenerate triangles (collinear or repeated corners) are treated as their three edges.
double closest_point_on_triangle(const double p[3], const double a[3], const double b[3],
                                 const double c[3], double closest[3]);

// The parameter t > 0 where the ray origin + t * dir crosses triangle (a, b, c) (Moller-Trumbore,
// edges and corners included), or +infinity when it does not.
double ray_triangle_hit(const double origin[3], const double dir[3], const double a[3], const double b[3],
                        const double c[3]);

class TriangleBvh {
 public:
  struct Node {
    std::array<double, 3> lo{}, hi{};  // box around the node's triangles
    int32_t left = -1, right = -1;     // child node indices; -1 in a leaf
    int64_t begin = 0, end = 0;        // its triangles: [begin, end) in tree order
    bool is_leaf() const { return left < 0; }
  };
  // Corners a, b, c of one triangle.
  using Triangle = std::array<double, 9>;

  struct ClosestPoints {
    torch::Tensor distance;  // [Q] float32, unsigned
    torch::Tensor face;      // [Q] int64, index into the mesh's faces
    torch::Tensor point;     // [Q,3] float32, the closest point on that face
  };

  // Throws std::invalid_argument for an invalid mesh or one without faces.
  explicit TriangleBvh(const TriangleMesh& mesh, int64_t leaf_size = 8);

  ClosestPoints closest_points(const torch::Tensor& queries) const;
  // One query: the squared distance; face (original index) and point are written when non-null.
  double closest_point(const double q[3], int64_t* face, double point[3]) const;

  // The nearest hit of the ray origin + t * dir with t > 0 (dir need not be a unit vector):
  // returns t, or +infinity when the ray hits nothing; `face` (when non-null) gets the hit's
  // original face index. A ray in a triangle's plane, or through a degenerate one, misses it.
  double first_hit(const double origin[3], const double dir[3], int64_t* face) const;

  // Node 0 is the root; children always follow their parent.
  const std::vector<Node>& nodes() const { return nodes_; }
  // Triangles in tree order and, for each, its index in the mesh's faces.
  const std::vector<Triangle>& triangles() const { return triangles_; }
  const std::vector<int64_t>& face_index() const { return face_index_; }

 private:
  int32_t build(std::vector<int64_t>& order, const std::vector<std::array<double, 3>>& centroids,
                int64_t begin, int64_t end, int64_t leaf_size);

  std::vector<Node> nodes_;
  std::vector<Triangle> triangles_;
  std::vector<int64_t> face_index_;
};

}  // namespace shapediff::shapes

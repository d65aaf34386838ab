// TriangleMesh: vertices [V,3] float32 and triangles [F,3] int64 (counter-clockwise seen from
// outside for closed meshes), optional vertex normals [V,3] and vertex colors [V,3].
//
//   TriangleMesh m{verts, faces};
//   m.validate("chair.obj");   // index range, finiteness, shapes
#pragma once

#include <string>

#include <torch/types.h>

namespace shapediff::shapes {

struct TriangleMesh {
  torch::Tensor vertices;        // [V,3] float32
  torch::Tensor faces;           // [F,3] int64
  torch::Tensor vertex_normals;  // [V,3] float32 or undefined
  torch::Tensor vertex_colors;   // [V,3] float32 in [0,1] or undefined

  int64_t num_vertices() const { return vertices.defined() ? vertices.size(0) : 0; }
  int64_t num_faces() const { return faces.defined() ? faces.size(0) : 0; }
  bool empty() const { return num_faces() == 0; }

  // Checks shapes, dtypes, finite coordinates and face indices in [0, V).
  void validate(const std::string& context) const;

  // Per-face area [F] and unit normals [F,3] (zero for degenerate faces).
  torch::Tensor face_areas() const;
  torch::Tensor face_normals() const;
  // Area-weighted vertex normals [V,3].
  torch::Tensor compute_vertex_normals() const;
  // Axis-aligned bounds {min [3], max [3]}.
  std::pair<torch::Tensor, torch::Tensor> bounds() const;
};

}  // namespace shapediff::shapes

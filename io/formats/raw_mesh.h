// RawMesh: what every mesh and point-cloud parser in io/formats/ produces, in plain std::vector
// storage so the parsers build and fuzz without torch. Vertices are flattened xyz triples
// (float32, file units), faces flattened index triples (int64, 0-based; polygons already fanned
// into triangles). A point cloud is a RawMesh without faces.
//
//   RawMesh m = parse_ply(bytes, "chair.ply");
//   m.num_vertices();   // vertices.size() / 3
//
// Parsers guarantee the invariants checked by check_raw_mesh: sizes are multiples of 3,
// normals/colors are empty or one triple per vertex, every value is finite, every face index
// is in [0, num_vertices). Colors are in [0,1] when they come from integer fields.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace shapediff::io::formats {

struct RawMesh {
  std::vector<float> vertices;  // [V*3]
  std::vector<int64_t> faces;   // [F*3]
  std::vector<float> normals;   // [V*3] or empty
  std::vector<float> colors;    // [V*3] or empty

  size_t num_vertices() const { return vertices.size() / 3; }
  size_t num_faces() const { return faces.size() / 3; }
  bool has_normals() const { return !normals.empty(); }
  bool has_colors() const { return !colors.empty(); }
};

// Throws std::runtime_error "<name>: <problem>" when an invariant above does not hold.
void check_raw_mesh(const RawMesh& mesh, const std::string& name);

}  // namespace shapediff::io::formats

// Wavefront OBJ reading and writing on bytes (geometry only, no materials), without torch.
//
// Reads "v x y z [w]" and the common "v x y z r g b" color extension (colors in [0,1]), "vn",
// and "f" with v, v/vt, v//vn and v/vt/vn corners, 1-based or negative (relative) indices;
// polygons are fanned into triangles. Vertex normals: with exactly one "vn" per "v" and every
// corner normal naming its own vertex's index (or no corner normals), the i-th "vn" belongs to
// the i-th vertex; otherwise a vertex gets the normal its face corners name, and normals are
// kept only when every vertex gets one. Colors are kept only when every vertex has them. Other
// statements (vt, g, o, s, usemtl, mtllib, l, p, ...) and '#' comments are skipped.
//
//   RawMesh m = parse_obj(bytes, "chair.obj");
#pragma once

#include <string>
#include <string_view>

#include "io/formats/raw_mesh.h"

namespace shapediff::io::formats {

// Throws std::runtime_error "<name>: <problem>" for any malformed input.
RawMesh parse_obj(std::string_view bytes, const std::string& name);

// "v x y z [r g b]", "vn" per vertex when there are normals, "f a b c" or "f a//a b//b c//c".
std::string write_obj(const RawMesh& mesh);

}  // namespace shapediff::io::formats

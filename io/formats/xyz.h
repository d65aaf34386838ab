// XYZ point lists reading and writing on bytes, without torch: one point per line,
// "x y z" or "x y z nx ny nz" (the same column count on every line), blank lines and '#'
// comments skipped.
//
//   RawMesh cloud = parse_xyz(bytes, "scan.xyz");   // no faces
#pragma once

#include <string>
#include <string_view>

#include "io/formats/raw_mesh.h"

namespace shapediff::io::formats {

// Throws std::runtime_error "<name>: <problem>" for any malformed input.
RawMesh parse_xyz(std::string_view bytes, const std::string& name);

// Points with normals when present; faces and colors are not stored.
std::string write_xyz(const RawMesh& mesh);

}  // namespace shapediff::io::formats

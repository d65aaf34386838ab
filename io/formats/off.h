// OFF (Object File Format, Geomview) reading and writing on bytes, without torch.
//
// Reads the ascii OFF family: the header keyword [ST][C][N]OFF (C: per-vertex colors, N:
// per-vertex normals, ST: texture coordinates, skipped), counts "V F [E]" on the header line
// (also glued, as in "OFF8 6 0") or the next line, '#' comments and blank lines anywhere.
// Vertex lines hold x y z [nx ny nz] [r g b [a]]; colors written as integers are 0..255, with a
// decimal point or exponent 0..1. Face lines hold "n i1 .. in" (optional face colors after the
// indices are ignored); polygons are fanned into triangles, faces with fewer than 3 indices
// dropped. 4OFF/nOFF and "OFF BINARY" are rejected as unsupported.
//
//   RawMesh m = parse_off(bytes, "chair.off");
#pragma once

#include <string>
#include <string_view>

#include "io/formats/raw_mesh.h"

namespace shapediff::io::formats {

// Throws std::runtime_error "<name>: <problem>" for any malformed input.
RawMesh parse_off(std::string_view bytes, const std::string& name);

// Writes OFF, NOFF, COFF or CNOFF depending on the attributes present; colors as 0..255 with
// alpha 255.
std::string write_off(const RawMesh& mesh);

}  // namespace shapediff::io::formats

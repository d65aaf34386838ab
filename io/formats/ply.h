// PLY (Stanford polygon format) reading and writing on bytes, without torch.
//
// Reads ascii, binary_little_endian and binary_big_endian files. The "vertex" element gives
// x/y/z (any numeric type), optional nx/ny/nz, and optional red/green/blue (integer types are
// scaled to [0,1]: uchar by 1/255, ushort by 1/65535; float types are taken as they are). The
// "face" element's vertex_indices (or vertex_index) list may hold any number of indices:
// polygons are fanned into triangles, lists shorter than 3 are dropped. Other elements and
// properties are skipped.
//
//   RawMesh m = parse_ply(bytes, "bunny.ply");
//   std::string out = write_ply(m, PlyEncoding::kAscii);
#pragma once

#include <string>
#include <string_view>

#include "io/formats/raw_mesh.h"

namespace shapediff::io::formats {

enum class PlyEncoding { kAscii, kBinaryLittleEndian, kBinaryBigEndian };

// Throws std::runtime_error "<name>: <problem>" for any malformed input.
RawMesh parse_ply(std::string_view bytes, const std::string& name);

// Vertices as float x/y/z, normals as float nx/ny/nz, colors as uchar red/green/blue (rounded
// from [0,1]), faces as "list uchar int vertex_indices" (no face element without faces).
std::string write_ply(const RawMesh& mesh, PlyEncoding encoding);

}  // namespace shapediff::io::formats

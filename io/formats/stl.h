// STL (stereolithography) reading and writing on bytes, without torch.
//
// A file whose size is exactly 84 + 50 * (the triangle count at byte 80) is read as binary;
// otherwise a file starting with "solid" is read as ascii ("facet normal / outer loop /
// vertex x3 / endloop / endfacet", several solids allowed, loops of more than 3 vertices
// fanned). STL stores every triangle's corners separately: the reader merges corners with
// bit-identical coordinates into shared vertices, numbered in order of first use. Facet
// normals and attribute bytes are ignored.
//
//   RawMesh m = parse_stl(bytes, "part.stl");
#pragma once

#include <string>
#include <string_view>

#include "io/formats/raw_mesh.h"

namespace shapediff::io::formats {

// Throws std::runtime_error "<name>: <problem>" for any malformed input.
RawMesh parse_stl(std::string_view bytes, const std::string& name);

// Binary STL with per-facet normals computed from the corners (zero for degenerate faces).
// Vertex normals and colors are not stored.
std::string write_stl(const RawMesh& mesh);

}  // namespace shapediff::io::formats

// Checks shared by the libFuzzer targets: what a parser returns must satisfy its documented
// invariants and survive a write/parse round trip; any violation aborts so libFuzzer reports
// it. The documented failure (std::runtime_error) is swallowed by each target.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

#include "io/formats/raw_mesh.h"

namespace shapediff::fuzz {

inline void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
    std::abort();
  }
}

inline std::string_view as_bytes(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

inline void check_invariants(const io::formats::RawMesh& mesh) {
  try {
    io::formats::check_raw_mesh(mesh, "fuzz");
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    require(false, "parser output breaks the RawMesh invariants");
  }
}

// `again` is `mesh` written and parsed back: same geometry (normals too when the format keeps
// them; colors only when it keeps them exactly).
inline void check_same(const io::formats::RawMesh& mesh, const io::formats::RawMesh& again,
                       bool normals, bool exact_colors) {
  require(again.vertices == mesh.vertices, "round trip changed the vertices");
  require(again.faces == mesh.faces, "round trip changed the faces");
  if (normals) require(again.normals == mesh.normals, "round trip changed the normals");
  if (exact_colors) require(again.colors == mesh.colors, "round trip changed the colors");
}

}  // namespace shapediff::fuzz

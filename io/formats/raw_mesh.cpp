#include "io/formats/raw_mesh.h"

#include <cmath>
#include <string>

#include "io/formats/parse_util.h"

namespace shapediff::io::formats {

namespace {
void check_triples(const std::vector<float>& values, size_t rows, const char* field,
                   const std::string& name) {
  if (values.empty() && std::string(field) != "vertex") return;
  if (values.size() != rows * 3) {
    detail::fail(name, std::string(field) + " data holds " + std::to_string(values.size()) +
                           " values, expected " + std::to_string(rows * 3));
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      detail::fail(name, std::string(field) + " " + std::to_string(i / 3) +
                             " has a non-finite value (" + std::to_string(values[i]) + ")");
    }
  }
}
}  // namespace

void check_raw_mesh(const RawMesh& mesh, const std::string& name) {
  if (mesh.vertices.size() % 3 != 0) {
    detail::fail(name, "vertex data holds " + std::to_string(mesh.vertices.size()) +
                           " values, not a multiple of 3");
  }
  if (mesh.faces.size() % 3 != 0) {
    detail::fail(name, "face data holds " + std::to_string(mesh.faces.size()) +
                           " indices, not a multiple of 3");
  }
  const size_t v = mesh.num_vertices();
  check_triples(mesh.vertices, v, "vertex", name);
  check_triples(mesh.normals, v, "normal", name);
  check_triples(mesh.colors, v, "color", name);
  for (size_t i = 0; i < mesh.faces.size(); ++i) {
    const int64_t index = mesh.faces[i];
    if (index < 0 || static_cast<uint64_t>(index) >= v) {
      detail::fail(name, "face " + std::to_string(i / 3) + " refers to vertex " +
                             std::to_string(index) + " but there are " + std::to_string(v) +
                             " vertices");
    }
  }
}

}  // namespace shapediff::io::formats

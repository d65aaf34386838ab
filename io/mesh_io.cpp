#include "io/mesh_io.h"

#include <torch/torch.h>

#include <stdexcept>

#include "io/atomic_file.h"
#include "io/file_bytes.h"
#include "io/raw_mesh_tensors.h"
#include "shapes/validation.h"

namespace shapediff::io {

formats::MeshFileFormat mesh_file_format(const std::string& path) {
  const auto format = formats::mesh_format_from_path(path);
  if (!format) {
    throw std::invalid_argument(
        path + ": unknown file extension (accepted: " + formats::accepted_mesh_extensions() + ")");
  }
  return *format;
}

shapes::TriangleMesh read_mesh(const std::string& path) {
  const auto format = mesh_file_format(path);
  if (!formats::format_stores_faces(format)) {
    throw std::invalid_argument(path + ": " + formats::extension_of(format) +
                                " files hold points only, not a mesh (use read_point_cloud)");
  }
  const std::string bytes = read_file_bytes(path);
  const formats::RawMesh raw = formats::parse_mesh_bytes(format, bytes, path);
  if (raw.num_faces() == 0) {
    throw std::runtime_error(path + ": mesh has no faces (" + std::to_string(raw.num_vertices()) +
                             " vertices; use read_point_cloud for point data)");
  }
  shapes::TriangleMesh mesh;
  mesh.vertices = float_rows(raw.vertices, /*keep_empty=*/true);
  mesh.faces = index_rows(raw.faces);
  mesh.vertex_normals = float_rows(raw.normals, /*keep_empty=*/false);
  mesh.vertex_colors = float_rows(raw.colors, /*keep_empty=*/false);
  return mesh;
}

void write_mesh(const std::string& path, const shapes::TriangleMesh& mesh,
                const MeshWriteOptions& options) {
  const auto format = mesh_file_format(path);
  if (!formats::format_stores_faces(format)) {
    throw std::invalid_argument(path + ": " + formats::extension_of(format) +
                                " files hold points only, not a mesh (use write_point_cloud)");
  }
  mesh.validate(path);
  if (mesh.vertex_colors.defined())
    shapes::detail::check_finite(mesh.vertex_colors, path, "vertex_colors");
  if (mesh.empty()) throw std::invalid_argument(path + ": mesh has no faces, nothing to write");
  formats::RawMesh raw;
  raw.vertices = float_values(mesh.vertices);
  raw.faces = index_values(mesh.faces);
  if (mesh.vertex_normals.defined()) raw.normals = float_values(mesh.vertex_normals);
  if (mesh.vertex_colors.defined()) raw.colors = float_values(mesh.vertex_colors);
  write_file_atomically(path, formats::write_mesh_bytes(format, raw, options));
}

}  // namespace shapediff::io

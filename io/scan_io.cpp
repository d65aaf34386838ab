#include "io/scan_io.h"

#include <stdexcept>

#include <torch/torch.h>

#include "io/file_bytes.h"
#include "io/mesh_io.h"
#include "io/raw_mesh_tensors.h"
#include "shapes/mesh_sampling.h"

namespace shapediff::io {

ScanFile read_scan(const std::string& path, int64_t mesh_samples, uint64_t seed) {
  const auto format = mesh_file_format(path);
  const std::string bytes = read_file_bytes(path);
  const formats::RawMesh raw = formats::parse_mesh_bytes(format, bytes, path);
  if (raw.num_vertices() == 0) throw std::runtime_error(path + ": file holds no points");
  ScanFile out;
  if (raw.num_faces() > 0) {
    shapes::TriangleMesh mesh;
    mesh.vertices = float_rows(raw.vertices, /*keep_empty=*/true);
    mesh.faces = index_rows(raw.faces);
    if (!torch::isfinite(mesh.vertices).all().item<bool>()) {
      throw std::runtime_error(path + ": mesh has NaN or infinite vertex coordinates");
    }
    try {
      out.cloud = shapes::sample_surface(mesh, mesh_samples, seed);
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(path + ": " + e.what());
    }
    out.mesh_faces = static_cast<int64_t>(raw.num_faces());
    return out;
  }
  out.cloud.points = float_rows(raw.vertices, /*keep_empty=*/true);
  return out;
}

}  // namespace shapediff::io

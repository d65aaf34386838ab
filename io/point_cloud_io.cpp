#include "io/point_cloud_io.h"

#include <torch/torch.h>

#include <stdexcept>

#include "io/atomic_file.h"
#include "io/file_bytes.h"
#include "io/raw_mesh_tensors.h"

namespace shapediff::io {

shapes::PointCloud read_point_cloud(const std::string& path) {
  const auto format = mesh_file_format(path);
  const std::string bytes = read_file_bytes(path);
  const formats::RawMesh raw = formats::parse_mesh_bytes(format, bytes, path);
  if (raw.num_vertices() == 0) throw std::runtime_error(path + ": file holds no points");
  shapes::PointCloud cloud;
  cloud.points = float_rows(raw.vertices, /*keep_empty=*/true);
  cloud.normals = float_rows(raw.normals, /*keep_empty=*/false);
  cloud.colors = float_rows(raw.colors, /*keep_empty=*/false);
  return cloud;
}

void write_point_cloud(const std::string& path, const shapes::PointCloud& cloud,
                       const MeshWriteOptions& options) {
  const auto format = mesh_file_format(path);
  if (!formats::format_stores_points_only(format)) {
    throw std::invalid_argument(path + ": " + formats::extension_of(format) +
                                " files hold triangles only, not a point cloud");
  }
  cloud.validate(path);
  if (cloud.empty()) throw std::invalid_argument(path + ": point cloud is empty, nothing to write");
  formats::RawMesh raw;
  raw.vertices = float_values(cloud.points);
  if (cloud.has_normals()) raw.normals = float_values(cloud.normals);
  if (cloud.has_colors()) raw.colors = float_values(cloud.colors);
  write_file_atomically(path, formats::write_mesh_bytes(format, raw, options));
}

}  // namespace shapediff::io

// Reading a scan for completion: a point cloud file as it is, or a mesh file (a scanned mesh,
// holes and all) sampled uniformly on its surface. Any format io/mesh_io.h knows.
//
//   ScanFile s = read_scan("chair_scan.ply", /*mesh_samples=*/8192, /*seed=*/0);
//   s.cloud.points;  // [N,3] float32, the file's coordinates
#pragma once

#include <cstdint>
#include <string>

#include "shapes/point_cloud.h"

namespace shapediff::io {

struct ScanFile {
  shapes::PointCloud cloud;
  int64_t mesh_faces = 0;  // > 0 when the file was a mesh and the cloud was sampled from it
};

// Throws like read_point_cloud (unknown extension, missing, malformed or empty file). Points
// with NaN coordinates are kept: the caller decides (shapes/scan_preparation.h drops them).
ScanFile read_scan(const std::string& path, int64_t mesh_samples, uint64_t seed);

}  // namespace shapediff::io

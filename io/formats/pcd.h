// PCD (Point Cloud Library point cloud data) reading and writing on bytes, without torch.
//
// Reads "DATA ascii" and "DATA binary" (little-endian, point-major) files with any field list:
// x y z are required, normal_x normal_y normal_z and rgb / rgba (packed 0xAARRGGBB, alpha
// ignored, stored as F 4 or U 4) are used when present, every other field (curvature,
// intensity, ...) is skipped. "DATA binary_compressed" is rejected as unsupported. NaN
// coordinates (PCL's "no point" in organized clouds) are rejected like any non-finite value.
//
//   RawMesh cloud = parse_pcd(bytes, "scan.pcd");   // no faces
#pragma once

#include <string>
#include <string_view>

#include "io/formats/raw_mesh.h"

namespace shapediff::io::formats {

// Throws std::runtime_error "<name>: <problem>" for any malformed input.
RawMesh parse_pcd(std::string_view bytes, const std::string& name);

// PCD v0.7, DATA ascii, fields x y z [normal_x normal_y normal_z] [rgba as U 4, alpha 255];
// faces are not stored.
std::string write_pcd(const RawMesh& mesh);

}  // namespace shapediff::io::formats

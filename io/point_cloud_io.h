// Reading and writing point clouds, with the format chosen by the file extension
// (case-insensitive): .ply .off .obj .stl .xyz .pcd. A mesh file read as a cloud gives its
// vertices (with their normals and colors); faces are ignored. STL cannot hold a cloud.
//
//   shapes::PointCloud pc = io::read_point_cloud("scan.pcd");
//   io::write_point_cloud("scan.xyz", pc);
#pragma once

#include <string>

#include "io/mesh_io.h"
#include "shapes/point_cloud.h"

namespace shapediff::io {

// Throws std::invalid_argument for an unknown extension (listing the accepted ones),
// std::runtime_error "<path>: <problem>" for a missing, malformed or empty file.
shapes::PointCloud read_point_cloud(const std::string& path);

// Validates the cloud (std::invalid_argument naming the path and field; an empty cloud is
// rejected) and writes it atomically: on any failure nothing is left at `path`. XYZ keeps
// normals but not colors; colors are quantised to 8 bits in PLY, OFF and PCD.
void write_point_cloud(const std::string& path, const shapes::PointCloud& cloud,
                       const MeshWriteOptions& options = {});

}  // namespace shapediff::io

// Reading and writing triangle meshes, with the format chosen by the file extension
// (case-insensitive): .ply .off .obj .stl (.xyz and .pcd hold points only: see
// io/point_cloud_io.h). Parsing is done by the torch-free readers in io/formats/; see their
// headers for the supported variants of each format.
//
//   shapes::TriangleMesh m = io::read_mesh("chair.OBJ");
//   io::write_mesh("chair.ply", m);                      // binary little-endian PLY
//   io::write_mesh("chair.ply", m, {/*binary=*/false});  // ascii PLY
#pragma once

#include <string>

#include "io/formats/mesh_formats.h"
#include "shapes/triangle_mesh.h"

namespace shapediff::io {

using MeshWriteOptions = formats::MeshWriteOptions;

// Throws std::invalid_argument for an unknown extension (listing the accepted ones) or a
// points-only format, std::runtime_error "<path>: <problem>" for a missing, malformed or
// face-less file. Normals and colors are filled when the file has them.
shapes::TriangleMesh read_mesh(const std::string& path);

// Validates the mesh (std::invalid_argument naming the path and field; a mesh without faces
// is rejected) and writes it atomically: on any failure no file, not even a partial one, is
// left at `path`. Colors are quantised to 8 bits where the format stores them so.
void write_mesh(const std::string& path, const shapes::TriangleMesh& mesh,
                const MeshWriteOptions& options = {});

// The format for `path`; std::invalid_argument listing the accepted extensions otherwise.
formats::MeshFileFormat mesh_file_format(const std::string& path);

}  // namespace shapediff::io

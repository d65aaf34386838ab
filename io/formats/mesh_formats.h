// The mesh and point-cloud file formats behind one table: which format a path names (by its
// extension, case-insensitively), and parse/write by format. Torch-free; io/mesh_io.h and
// io/point_cloud_io.h build on it.
//
//   auto format = mesh_format_from_path("Chair.PLY");   // MeshFileFormat::kPly
//   RawMesh m = parse_mesh_bytes(*format, bytes, "Chair.PLY");
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "io/formats/raw_mesh.h"

namespace shapediff::io::formats {

enum class MeshFileFormat { kPly, kOff, kObj, kStl, kXyz, kPcd };

// nullopt for an unknown extension.
std::optional<MeshFileFormat> mesh_format_from_path(std::string_view path);
// ".ply .off .obj .stl .xyz .pcd", for error messages.
std::string accepted_mesh_extensions();
// The extension a format is written with (".ply", ...).
std::string extension_of(MeshFileFormat format);
// Whether a format can hold faces (XYZ and PCD hold points only).
bool format_stores_faces(MeshFileFormat format);
// Whether a format can hold points without faces (STL cannot).
bool format_stores_points_only(MeshFileFormat format);

// Throws std::runtime_error "<name>: <problem>" for any malformed input.
RawMesh parse_mesh_bytes(MeshFileFormat format, std::string_view bytes, const std::string& name);

struct MeshWriteOptions {
  bool binary = true;  // PLY: binary_little_endian (true) or ascii; STL is always binary, the
                       // other formats always text.
};

std::string write_mesh_bytes(MeshFileFormat format, const RawMesh& mesh,
                             const MeshWriteOptions& options = {});

}  // namespace shapediff::io::formats

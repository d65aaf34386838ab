#include "io/formats/mesh_formats.h"

#include "io/formats/obj.h"
#include "io/formats/off.h"
#include "io/formats/parse_util.h"
#include "io/formats/pcd.h"
#include "io/formats/ply.h"
#include "io/formats/stl.h"
#include "io/formats/xyz.h"

namespace shapediff::io::formats {

namespace {
struct FormatEntry {
  const char* extension;
  MeshFileFormat format;
};
constexpr FormatEntry kFormats[] = {{".ply", MeshFileFormat::kPly}, {".off", MeshFileFormat::kOff},
                                    {".obj", MeshFileFormat::kObj}, {".stl", MeshFileFormat::kStl},
                                    {".xyz", MeshFileFormat::kXyz}, {".pcd", MeshFileFormat::kPcd}};
}  // namespace

std::optional<MeshFileFormat> mesh_format_from_path(std::string_view path) {
  const size_t slash = path.find_last_of('/');
  const std::string_view file = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const size_t dot = file.find_last_of('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const std::string_view extension = file.substr(dot);
  for (const auto& entry : kFormats) {
    if (detail::equals_ignore_case(extension, entry.extension)) return entry.format;
  }
  return std::nullopt;
}

std::string accepted_mesh_extensions() {
  std::string out;
  for (const auto& entry : kFormats) {
    if (!out.empty()) out += ' ';
    out += entry.extension;
  }
  return out;
}

std::string extension_of(MeshFileFormat format) {
  for (const auto& entry : kFormats) {
    if (entry.format == format) return entry.extension;
  }
  return "";
}

bool format_stores_faces(MeshFileFormat format) {
  return format != MeshFileFormat::kXyz && format != MeshFileFormat::kPcd;
}

bool format_stores_points_only(MeshFileFormat format) { return format != MeshFileFormat::kStl; }

RawMesh parse_mesh_bytes(MeshFileFormat format, std::string_view bytes, const std::string& name) {
  switch (format) {
    case MeshFileFormat::kPly:
      return parse_ply(bytes, name);
    case MeshFileFormat::kOff:
      return parse_off(bytes, name);
    case MeshFileFormat::kObj:
      return parse_obj(bytes, name);
    case MeshFileFormat::kStl:
      return parse_stl(bytes, name);
    case MeshFileFormat::kXyz:
      return parse_xyz(bytes, name);
    case MeshFileFormat::kPcd:
      return parse_pcd(bytes, name);
  }
  detail::fail(name, "unknown mesh format");
}

std::string write_mesh_bytes(MeshFileFormat format, const RawMesh& mesh,
                             const MeshWriteOptions& options) {
  switch (format) {
    case MeshFileFormat::kPly:
      return write_ply(mesh,
                       options.binary ? PlyEncoding::kBinaryLittleEndian : PlyEncoding::kAscii);
    case MeshFileFormat::kOff:
      return write_off(mesh);
    case MeshFileFormat::kObj:
      return write_obj(mesh);
    case MeshFileFormat::kStl:
      return write_stl(mesh);
    case MeshFileFormat::kXyz:
      return write_xyz(mesh);
    case MeshFileFormat::kPcd:
      return write_pcd(mesh);
  }
  detail::fail("mesh output", "unknown mesh format");
}

}  // namespace shapediff::io::formats

#include "io/formats/xyz.h"

#include <cmath>
#include <vector>

#include "io/formats/parse_util.h"

namespace shapediff::io::formats {

using detail::fail;
using detail::quote_token;

RawMesh parse_xyz(std::string_view bytes, const std::string& name) {
  RawMesh mesh;
  detail::LineReader lines(bytes);
  std::string_view line;
  std::vector<std::string_view> tokens;
  size_t columns = 0;
  while (lines.next(&line)) {
    detail::split_tokens(detail::strip_comment(line, '#'), &tokens);
    if (tokens.empty()) continue;
    const std::string at = "line " + std::to_string(lines.line_number()) + ": ";
    if (tokens.size() != 3 && tokens.size() != 6) {
      fail(name, at + "expected 3 (x y z) or 6 (x y z nx ny nz) values, got " +
                     std::to_string(tokens.size()));
    }
    if (columns == 0) columns = tokens.size();
    if (tokens.size() != columns) {
      fail(name, at + std::to_string(tokens.size()) + " values where earlier lines have " +
                     std::to_string(columns));
    }
    for (size_t k = 0; k < tokens.size(); ++k) {
      double v = 0.0;
      if (detail::parse_double(tokens[k], &v) != detail::NumberStatus::kOk) {
        fail(name, at + "invalid number " + quote_token(tokens[k]));
      }
      const float f = detail::to_float(v);
      if (!std::isfinite(f)) fail(name, at + "value is not finite (" + std::to_string(v) + ")");
      (k < 3 ? mesh.vertices : mesh.normals).push_back(f);
    }
  }
  check_raw_mesh(mesh, name);
  return mesh;
}

std::string write_xyz(const RawMesh& mesh) {
  check_raw_mesh(mesh, "XYZ output");
  std::string out;
  for (size_t i = 0; i < mesh.num_vertices(); ++i) {
    for (int k = 0; k < 3; ++k) {
      if (k > 0) out += ' ';
      detail::append_float(&out, mesh.vertices[3 * i + k]);
    }
    if (mesh.has_normals()) {
      for (int k = 0; k < 3; ++k) {
        out += ' ';
        detail::append_float(&out, mesh.normals[3 * i + k]);
      }
    }
    out += '\n';
  }
  return out;
}

}  // namespace shapediff::io::formats

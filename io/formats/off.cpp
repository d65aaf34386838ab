#include "io/formats/off.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "io/formats/parse_util.h"

namespace shapediff::io::formats {

namespace {

using detail::fail;
using detail::quote_token;

class OffLines {
 public:
  explicit OffLines(std::string_view bytes) : lines_(bytes) {}

  // Next line with content, comments removed; false at the end of the file.
  bool next(std::vector<std::string_view>* tokens) {
    std::string_view line;
    while (lines_.next(&line)) {
      detail::split_tokens(detail::strip_comment(line, '#'), tokens);
      if (!tokens->empty()) return true;
    }
    return false;
  }

  std::string at() const { return "line " + std::to_string(lines_.line_number()) + ": "; }
  size_t remaining() const { return lines_.remaining(); }

 private:
  detail::LineReader lines_;
};

double number(std::string_view token, const std::string& name, const std::string& at,
              const char* what) {
  double v = 0.0;
  if (detail::parse_double(token, &v) != detail::NumberStatus::kOk) {
    fail(name, at + "invalid " + std::string(what) + " " + quote_token(token));
  }
  return v;
}

float finite(double v, const std::string& name, const std::string& at, const char* what) {
  const float f = detail::to_float(v);
  if (!std::isfinite(f))
    fail(name, at + std::string(what) + " is not finite (" + std::to_string(v) + ")");
  return f;
}

bool looks_like_float(std::string_view token) {
  return token.find_first_of(".eE") != std::string_view::npos;
}

uint64_t count(std::string_view token, const std::string& name, const std::string& at,
               const char* what) {
  uint64_t v = 0;
  if (detail::parse_uint64(token, &v) != detail::NumberStatus::kOk) {
    fail(name, at + "invalid " + std::string(what) + " " + quote_token(token));
  }
  return v;
}

}  // namespace

RawMesh parse_off(std::string_view bytes, const std::string& name) {
  OffLines lines(bytes);
  std::vector<std::string_view> tokens;
  if (!lines.next(&tokens)) fail(name, "empty file, expected an OFF header");
  std::string_view keyword = tokens[0];
  const size_t off_at = keyword.find("OFF");
  if (off_at == std::string_view::npos) {
    fail(name, "not an OFF file (header " + quote_token(keyword) + ")");
  }
  std::string_view prefix = keyword.substr(0, off_at);
  bool has_colors = false;
  bool has_normals = false;
  if (detail::starts_with(prefix, "ST")) prefix.remove_prefix(2);
  if (detail::starts_with(prefix, "C")) {
    has_colors = true;
    prefix.remove_prefix(1);
  }
  if (detail::starts_with(prefix, "N")) {
    has_normals = true;
    prefix.remove_prefix(1);
  }
  if (!prefix.empty()) {
    fail(name, "unsupported OFF variant " + quote_token(keyword) +
                   " (accepted: OFF, COFF, NOFF, CNOFF, STOFF)");
  }
  std::vector<std::string_view> counts;
  if (keyword.size() > off_at + 3) counts.push_back(keyword.substr(off_at + 3));
  counts.insert(counts.end(), tokens.begin() + 1, tokens.end());
  for (const auto& t : counts) {
    if (t == "BINARY") fail(name, "binary OFF is not supported (only ascii OFF)");
  }
  if (counts.empty()) {
    if (!lines.next(&tokens)) fail(name, "file ends before the OFF vertex/face counts");
    counts = tokens;
  }
  if (counts.size() < 2) fail(name, lines.at() + "expected 'vertices faces [edges]' counts");
  const uint64_t num_vertices = count(counts[0], name, lines.at(), "vertex count");
  const uint64_t num_faces = count(counts[1], name, lines.at(), "face count");
  uint64_t needed = 0;
  uint64_t face_bytes = 0;
  if (!detail::checked_mul(num_vertices, 6, &needed) ||
      !detail::checked_mul(num_faces, 2, &face_bytes) ||
      !detail::checked_add(needed, face_bytes, &needed) || needed > lines.remaining() + 1) {
    fail(name, "header claims " + std::to_string(num_vertices) + " vertices and " +
                   std::to_string(num_faces) + " faces, more than the remaining " +
                   std::to_string(lines.remaining()) + " bytes can hold");
  }

  RawMesh mesh;
  mesh.vertices.reserve(num_vertices * 3);
  if (has_normals) mesh.normals.reserve(num_vertices * 3);
  if (has_colors) mesh.colors.reserve(num_vertices * 3);
  const size_t needed_tokens = 3 + (has_normals ? 3 : 0) + (has_colors ? 3 : 0);
  for (uint64_t i = 0; i < num_vertices; ++i) {
    if (!lines.next(&tokens)) {
      fail(name, "file ends after " + std::to_string(i) + " of " + std::to_string(num_vertices) +
                     " vertices");
    }
    const std::string at = lines.at();
    if (tokens.size() < needed_tokens) {
      fail(name, at + "vertex " + std::to_string(i) + " has " + std::to_string(tokens.size()) +
                     " values, expected " + std::to_string(needed_tokens));
    }
    for (size_t k = 0; k < 3; ++k) {
      mesh.vertices.push_back(
          finite(number(tokens[k], name, at, "coordinate"), name, at, "vertex coordinate"));
    }
    size_t next = 3;
    if (has_normals) {
      for (size_t k = 0; k < 3; ++k) {
        mesh.normals.push_back(
            finite(number(tokens[next + k], name, at, "normal"), name, at, "vertex normal"));
      }
      next += 3;
    }
    if (has_colors) {
      bool integers = true;
      for (size_t k = 0; k < 3; ++k) integers = integers && !looks_like_float(tokens[next + k]);
      for (size_t k = 0; k < 3; ++k) {
        const double c = number(tokens[next + k], name, at, "color");
        mesh.colors.push_back(finite(integers ? c / 255.0 : c, name, at, "vertex color"));
      }
    }
  }

  mesh.faces.reserve(num_faces * 3);
  std::vector<int64_t> polygon;
  for (uint64_t f = 0; f < num_faces; ++f) {
    if (!lines.next(&tokens)) {
      fail(name,
           "file ends after " + std::to_string(f) + " of " + std::to_string(num_faces) + " faces");
    }
    const std::string at = lines.at();
    const uint64_t n = count(tokens[0], name, at, "face size");
    if (n > tokens.size() - 1) {
      fail(name, at + "face " + std::to_string(f) + " lists " + std::to_string(n) +
                     " vertices but the line holds " + std::to_string(tokens.size() - 1) +
                     " values");
    }
    polygon.clear();
    for (uint64_t k = 0; k < n; ++k) {
      int64_t index = 0;
      if (detail::parse_int64(tokens[1 + k], &index) != detail::NumberStatus::kOk) {
        fail(name, at + "invalid vertex index " + quote_token(tokens[1 + k]));
      }
      if (index < 0 || static_cast<uint64_t>(index) >= num_vertices) {
        fail(name, at + "face " + std::to_string(f) + " refers to vertex " + std::to_string(index) +
                       " but there are " + std::to_string(num_vertices) + " vertices");
      }
      polygon.push_back(index);
    }
    for (size_t k = 1; k + 1 < polygon.size(); ++k) {
      mesh.faces.push_back(polygon[0]);
      mesh.faces.push_back(polygon[k]);
      mesh.faces.push_back(polygon[k + 1]);
    }
  }
  check_raw_mesh(mesh, name);
  return mesh;
}

std::string write_off(const RawMesh& mesh) {
  check_raw_mesh(mesh, "OFF output");
  std::string out;
  if (mesh.has_colors()) out += "C";
  if (mesh.has_normals()) out += "N";
  out += "OFF\n";
  out += std::to_string(mesh.num_vertices()) + " " + std::to_string(mesh.num_faces()) + " 0\n";
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
    if (mesh.has_colors()) {
      for (int k = 0; k < 3; ++k) {
        const float c = std::min(1.0f, std::max(0.0f, mesh.colors[3 * i + k]));
        out += ' ';
        detail::append_int(&out, std::lround(c * 255.0f));
      }
      out += " 255";
    }
    out += '\n';
  }
  for (size_t f = 0; f < mesh.num_faces(); ++f) {
    out += '3';
    for (int k = 0; k < 3; ++k) {
      out += ' ';
      detail::append_int(&out, mesh.faces[3 * f + k]);
    }
    out += '\n';
  }
  return out;
}

}  // namespace shapediff::io::formats

#include "io/formats/obj.h"

#include <cmath>
#include <vector>

#include "io/formats/parse_util.h"

namespace shapediff::io::formats {

namespace {

using detail::fail;
using detail::quote_token;

class ObjParser {
 public:
  explicit ObjParser(const std::string& name) : name_(name) {}

  RawMesh parse(std::string_view bytes) {
    detail::LineReader lines(bytes);
    std::string_view line;
    std::vector<std::string_view> tokens;
    while (lines.next(&line)) {
      detail::split_tokens(detail::strip_comment(line, '#'), &tokens);
      if (tokens.empty()) continue;
      at_ = "line " + std::to_string(lines.line_number()) + ": ";
      const std::string_view key = tokens[0];
      if (key == "v") {
        vertex(tokens);
      } else if (key == "vn") {
        normal(tokens);
      } else if (key == "f") {
        face(tokens);
      }
    }
    return finish();
  }

 private:
  float value(std::string_view token, const char* what) {
    double v = 0.0;
    if (detail::parse_double(token, &v) != detail::NumberStatus::kOk) {
      fail(name_, at_ + "invalid " + std::string(what) + " " + quote_token(token));
    }
    const float f = detail::to_float(v);
    if (!std::isfinite(f)) {
      fail(name_, at_ + std::string(what) + " is not finite (" + std::to_string(v) + ")");
    }
    return f;
  }

  void vertex(const std::vector<std::string_view>& tokens) {
    if (tokens.size() < 4) {
      fail(name_, at_ + "vertex has " + std::to_string(tokens.size() - 1) +
                      " values, expected at least 3");
    }
    for (size_t k = 1; k <= 3; ++k) mesh_.vertices.push_back(value(tokens[k], "vertex coordinate"));
    if (tokens.size() == 7) {
      for (size_t k = 4; k <= 6; ++k) colors_.push_back(value(tokens[k], "vertex color"));
      ++colored_;
    } else {
      colors_.insert(colors_.end(), 3, 0.0f);
    }
    corner_normal_.push_back(-1);
  }

  void normal(const std::vector<std::string_view>& tokens) {
    if (tokens.size() < 4) {
      fail(name_, at_ + "normal has " + std::to_string(tokens.size() - 1) + " values, expected 3");
    }
    for (size_t k = 1; k <= 3; ++k) normals_.push_back(value(tokens[k], "normal"));
  }

  // A 1-based or negative OBJ index into a table of `size` entries, 0-based.
  int64_t resolve(std::string_view token, size_t size, const char* what) {
    int64_t index = 0;
    if (detail::parse_int64(token, &index) != detail::NumberStatus::kOk || index == 0) {
      fail(name_, at_ + "invalid " + std::string(what) + " index " + quote_token(token));
    }
    const auto n = static_cast<int64_t>(size);
    const int64_t resolved = index > 0 ? index - 1 : n + index;
    if (resolved < 0 || resolved >= n) {
      fail(name_, at_ + std::string(what) + " index " + std::to_string(index) +
                      " is out of range (" + std::to_string(size) + " defined so far)");
    }
    return resolved;
  }

  void face(const std::vector<std::string_view>& tokens) {
    if (tokens.size() < 4) {
      fail(name_,
           at_ + "face has " + std::to_string(tokens.size() - 1) + " corners, expected at least 3");
    }
    polygon_.clear();
    for (size_t k = 1; k < tokens.size(); ++k) {
      const std::string_view corner = tokens[k];
      const size_t slash = corner.find('/');
      const int64_t v = resolve(corner.substr(0, slash), mesh_.num_vertices(), "vertex");
      if (slash != std::string_view::npos) {
        const size_t slash2 = corner.find('/', slash + 1);
        if (slash2 != std::string_view::npos && slash2 + 1 < corner.size()) {
          corner_normal_[v] = resolve(corner.substr(slash2 + 1), normals_.size() / 3, "normal");
          any_corner_normal_ = true;
          corners_match_index_ = corners_match_index_ && corner_normal_[v] == v;
        }
      }
      polygon_.push_back(v);
    }
    for (size_t k = 1; k + 1 < polygon_.size(); ++k) {
      mesh_.faces.push_back(polygon_[0]);
      mesh_.faces.push_back(polygon_[k]);
      mesh_.faces.push_back(polygon_[k + 1]);
    }
  }

  RawMesh finish() {
    const size_t v = mesh_.num_vertices();
    if (v > 0 && normals_.size() == v * 3 && corners_match_index_) {
      mesh_.normals = std::move(normals_);
    } else if (any_corner_normal_) {
      bool all = true;
      for (const int64_t n : corner_normal_) all = all && n >= 0;
      if (all) {
        mesh_.normals.reserve(v * 3);
        for (const int64_t n : corner_normal_) {
          for (int k = 0; k < 3; ++k) mesh_.normals.push_back(normals_[3 * n + k]);
        }
      }
    }
    if (v > 0 && colored_ == v) mesh_.colors = std::move(colors_);
    check_raw_mesh(mesh_, name_);
    return std::move(mesh_);
  }

  const std::string& name_;
  std::string at_;
  RawMesh mesh_;
  std::vector<float> normals_;
  std::vector<float> colors_;
  size_t colored_ = 0;
  std::vector<int64_t> corner_normal_;
  bool any_corner_normal_ = false;
  bool corners_match_index_ = true;  // every corner normal index equals its vertex index
  std::vector<int64_t> polygon_;
};

}  // namespace

RawMesh parse_obj(std::string_view bytes, const std::string& name) {
  return ObjParser(name).parse(bytes);
}

std::string write_obj(const RawMesh& mesh) {
  check_raw_mesh(mesh, "OBJ output");
  std::string out = "# written by shapediff\n";
  for (size_t i = 0; i < mesh.num_vertices(); ++i) {
    out += 'v';
    for (int k = 0; k < 3; ++k) {
      out += ' ';
      detail::append_float(&out, mesh.vertices[3 * i + k]);
    }
    if (mesh.has_colors()) {
      for (int k = 0; k < 3; ++k) {
        out += ' ';
        detail::append_float(&out, mesh.colors[3 * i + k]);
      }
    }
    out += '\n';
  }
  if (mesh.has_normals()) {
    for (size_t i = 0; i < mesh.num_vertices(); ++i) {
      out += "vn";
      for (int k = 0; k < 3; ++k) {
        out += ' ';
        detail::append_float(&out, mesh.normals[3 * i + k]);
      }
      out += '\n';
    }
  }
  for (size_t f = 0; f < mesh.num_faces(); ++f) {
    out += 'f';
    for (int k = 0; k < 3; ++k) {
      const int64_t index = mesh.faces[3 * f + k] + 1;
      out += ' ';
      detail::append_int(&out, index);
      if (mesh.has_normals()) {
        out += "//";
        detail::append_int(&out, index);
      }
    }
    out += '\n';
  }
  return out;
}

}  // namespace shapediff::io::formats

#include "io/formats/stl.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "io/formats/parse_util.h"

namespace shapediff::io::formats {

namespace {

using detail::fail;
using detail::quote_token;

constexpr size_t kHeaderBytes = 80;
constexpr size_t kTriangleBytes = 50;

struct CornerKey {
  uint32_t bits[3];
  bool operator==(const CornerKey& o) const {
    return bits[0] == o.bits[0] && bits[1] == o.bits[1] && bits[2] == o.bits[2];
  }
};

struct CornerHash {
  size_t operator()(const CornerKey& k) const {
    uint64_t h = 1469598103934665603ull;
    for (uint32_t b : k.bits) h = (h ^ b) * 1099511628211ull;
    return static_cast<size_t>(h);
  }
};

// Merges bit-identical corners into shared vertices.
class VertexWelder {
 public:
  VertexWelder(RawMesh* mesh, const std::string& name) : mesh_(mesh), name_(name) {}

  void reserve(size_t corners) { index_.reserve(corners); }

  int64_t add(const float xyz[3], size_t triangle) {
    for (int k = 0; k < 3; ++k) {
      if (!std::isfinite(xyz[k])) {
        fail(name_, "triangle " + std::to_string(triangle) + " has a non-finite coordinate (" +
                        std::to_string(xyz[k]) + ")");
      }
    }
    CornerKey key;
    std::memcpy(key.bits, xyz, sizeof(key.bits));
    const auto next = static_cast<int64_t>(mesh_->num_vertices());
    const auto [it, inserted] = index_.emplace(key, next);
    if (inserted) mesh_->vertices.insert(mesh_->vertices.end(), xyz, xyz + 3);
    return it->second;
  }

 private:
  RawMesh* mesh_;
  const std::string& name_;
  std::unordered_map<CornerKey, int64_t, CornerHash> index_;
};

RawMesh parse_binary(std::string_view bytes, uint64_t triangles, const std::string& name) {
  RawMesh mesh;
  VertexWelder welder(&mesh, name);
  welder.reserve(triangles * 3);
  mesh.faces.reserve(triangles * 3);
  mesh.vertices.reserve(triangles * 3);
  for (uint64_t t = 0; t < triangles; ++t) {
    const char* record = bytes.data() + kHeaderBytes + 4 + t * kTriangleBytes;
    for (int c = 0; c < 3; ++c) {
      float xyz[3];
      for (int k = 0; k < 3; ++k) {
        xyz[k] = detail::load_f32(record + 12 + 12 * c + 4 * k, detail::ByteOrder::kLittle);
      }
      mesh.faces.push_back(welder.add(xyz, t));
    }
  }
  return mesh;
}

class AsciiStl {
 public:
  AsciiStl(std::string_view bytes, const std::string& name)
      : tokens_(bytes), name_(name), welder_(&mesh_, name) {}

  RawMesh parse() {
    std::string_view token;
    expect("solid");
    // The solid's name runs to the end of the line: skip tokens until a keyword.
    while (true) {
      if (!tokens_.next(&token)) fail(name_, "ascii STL ends without 'endsolid'");
      if (token == "facet") {
        facet();
      } else if (token == "endsolid") {
        skip_to_next_solid();
        if (done_) break;
      } else if (in_name_) {
        continue;
      } else {
        fail(name_, "unexpected token " + quote_token(token) + " in ascii STL");
      }
    }
    return std::move(mesh_);
  }

 private:
  void expect(std::string_view word) {
    std::string_view token;
    if (!tokens_.next(&token)) {
      fail(name_, "ascii STL ends early, expected '" + std::string(word) + "'");
    }
    if (token != word) {
      fail(name_, "expected '" + std::string(word) + "' in ascii STL, got " + quote_token(token) +
                      " (facet " + std::to_string(facets_) + ")");
    }
  }

  float number() {
    std::string_view token;
    if (!tokens_.next(&token))
      fail(name_, "ascii STL ends inside facet " + std::to_string(facets_));
    double v = 0.0;
    if (detail::parse_double(token, &v) != detail::NumberStatus::kOk) {
      fail(name_, "invalid number " + quote_token(token) + " in facet " + std::to_string(facets_));
    }
    return detail::to_float(v);
  }

  void facet() {
    in_name_ = false;
    expect("normal");
    for (int k = 0; k < 3; ++k) number();
    expect("outer");
    expect("loop");
    loop_.clear();
    std::string_view token;
    while (true) {
      if (!tokens_.next(&token))
        fail(name_, "ascii STL ends inside facet " + std::to_string(facets_));
      if (token == "endloop") break;
      if (token != "vertex") {
        fail(name_, "expected 'vertex' or 'endloop' in facet " + std::to_string(facets_) +
                        ", got " + quote_token(token));
      }
      float xyz[3];
      for (float& c : xyz) c = number();
      loop_.push_back(welder_.add(xyz, facets_));
    }
    if (loop_.size() < 3) {
      fail(name_, "facet " + std::to_string(facets_) + " has " + std::to_string(loop_.size()) +
                      " vertices, expected 3");
    }
    for (size_t k = 1; k + 1 < loop_.size(); ++k) {
      mesh_.faces.push_back(loop_[0]);
      mesh_.faces.push_back(loop_[k]);
      mesh_.faces.push_back(loop_[k + 1]);
    }
    expect("endfacet");
    ++facets_;
  }

  // After "endsolid [name]": either the end of the data or another "solid".
  void skip_to_next_solid() {
    std::string_view token;
    while (tokens_.next(&token)) {
      if (token == "solid") {
        in_name_ = true;
        return;
      }
    }
    done_ = true;
  }

  detail::TokenReader tokens_;
  const std::string& name_;
  RawMesh mesh_;
  VertexWelder welder_;
  std::vector<int64_t> loop_;
  size_t facets_ = 0;
  bool in_name_ = true;
  bool done_ = false;
};

}  // namespace

RawMesh parse_stl(std::string_view bytes, const std::string& name) {
  if (bytes.size() >= kHeaderBytes + 4) {
    const uint64_t triangles =
        detail::load_u32(bytes.data() + kHeaderBytes, detail::ByteOrder::kLittle);
    if (kHeaderBytes + 4 + triangles * kTriangleBytes == bytes.size()) {
      RawMesh mesh = parse_binary(bytes, triangles, name);
      check_raw_mesh(mesh, name);
      return mesh;
    }
  }
  if (detail::starts_with(detail::trim(bytes.substr(0, 512)), "solid")) {
    RawMesh mesh = AsciiStl(bytes, name).parse();
    check_raw_mesh(mesh, name);
    return mesh;
  }
  if (bytes.size() < kHeaderBytes + 4) {
    fail(name, "too short for a binary STL (" + std::to_string(bytes.size()) +
                   " bytes) and not an ascii STL");
  }
  const uint64_t triangles =
      detail::load_u32(bytes.data() + kHeaderBytes, detail::ByteOrder::kLittle);
  fail(name, "binary STL header claims " + std::to_string(triangles) + " triangles (" +
                 std::to_string(kHeaderBytes + 4 + triangles * kTriangleBytes) +
                 " bytes) but the file has " + std::to_string(bytes.size()) + " bytes");
}

std::string write_stl(const RawMesh& mesh) {
  check_raw_mesh(mesh, "STL output");
  if (mesh.num_faces() > std::numeric_limits<uint32_t>::max()) {
    throw std::invalid_argument("STL output: " + std::to_string(mesh.num_faces()) +
                                " triangles exceed binary STL's 32-bit count");
  }
  std::string out(kHeaderBytes, ' ');
  const char kTitle[] = "binary STL written by shapediff";
  std::memcpy(&out[0], kTitle, sizeof(kTitle) - 1);
  out.reserve(kHeaderBytes + 4 + mesh.num_faces() * kTriangleBytes);
  detail::append_u32_le(&out, static_cast<uint32_t>(mesh.num_faces()));
  for (size_t f = 0; f < mesh.num_faces(); ++f) {
    const float* p[3];
    for (int c = 0; c < 3; ++c) p[c] = &mesh.vertices[3 * mesh.faces[3 * f + c]];
    const double e1[3] = {double(p[1][0]) - p[0][0], double(p[1][1]) - p[0][1],
                          double(p[1][2]) - p[0][2]};
    const double e2[3] = {double(p[2][0]) - p[0][0], double(p[2][1]) - p[0][1],
                          double(p[2][2]) - p[0][2]};
    double n[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2],
                   e1[0] * e2[1] - e1[1] * e2[0]};
    const double len = std::sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
    for (double& c : n) c = len > 0 && std::isfinite(len) ? c / len : 0.0;
    for (double c : n) detail::append_f32_le(&out, static_cast<float>(c));
    for (int c = 0; c < 3; ++c) {
      for (int k = 0; k < 3; ++k) detail::append_f32_le(&out, p[c][k]);
    }
    detail::append_u16_le(&out, 0);
  }
  return out;
}

}  // namespace shapediff::io::formats

#include "io/formats/ply.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

#include "io/formats/parse_util.h"

namespace shapediff::io::formats {

namespace {

using detail::fail;
using detail::quote_token;

enum class PlyType { kInt8, kUInt8, kInt16, kUInt16, kInt32, kUInt32, kFloat32, kFloat64 };

struct PlyProperty {
  std::string name;
  PlyType type = PlyType::kFloat32;
  bool is_list = false;
  PlyType count_type = PlyType::kUInt8;
};

struct PlyElement {
  std::string name;
  uint64_t count = 0;
  std::vector<PlyProperty> properties;
};

bool parse_type(std::string_view s, PlyType* type) {
  struct Entry {
    const char* name;
    PlyType type;
  };
  static const Entry kTypes[] = {
      {"char", PlyType::kInt8},      {"int8", PlyType::kInt8},       {"uchar", PlyType::kUInt8},
      {"uint8", PlyType::kUInt8},    {"short", PlyType::kInt16},     {"int16", PlyType::kInt16},
      {"ushort", PlyType::kUInt16},  {"uint16", PlyType::kUInt16},   {"int", PlyType::kInt32},
      {"int32", PlyType::kInt32},    {"uint", PlyType::kUInt32},     {"uint32", PlyType::kUInt32},
      {"float", PlyType::kFloat32},  {"float32", PlyType::kFloat32}, {"double", PlyType::kFloat64},
      {"float64", PlyType::kFloat64}};
  for (const auto& e : kTypes) {
    if (s == e.name) {
      *type = e.type;
      return true;
    }
  }
  return false;
}

size_t type_size(PlyType t) {
  switch (t) {
    case PlyType::kInt8:
    case PlyType::kUInt8:
      return 1;
    case PlyType::kInt16:
    case PlyType::kUInt16:
      return 2;
    case PlyType::kInt32:
    case PlyType::kUInt32:
    case PlyType::kFloat32:
      return 4;
    case PlyType::kFloat64:
      return 8;
  }
  return 1;
}

bool is_integer(PlyType t) { return t != PlyType::kFloat32 && t != PlyType::kFloat64; }

// Range of an integer type, for ascii values.
void integer_range(PlyType t, int64_t* lo, int64_t* hi) {
  switch (t) {
    case PlyType::kInt8:
      *lo = -128;
      *hi = 127;
      return;
    case PlyType::kUInt8:
      *lo = 0;
      *hi = 255;
      return;
    case PlyType::kInt16:
      *lo = -32768;
      *hi = 32767;
      return;
    case PlyType::kUInt16:
      *lo = 0;
      *hi = 65535;
      return;
    case PlyType::kInt32:
      *lo = std::numeric_limits<int32_t>::min();
      *hi = std::numeric_limits<int32_t>::max();
      return;
    case PlyType::kUInt32:
      *lo = 0;
      *hi = std::numeric_limits<uint32_t>::max();
      return;
    default:
      *lo = 0;
      *hi = 0;
      return;
  }
}

// Divisor that maps an integer color channel to [0,1].
double color_scale(PlyType t) {
  switch (t) {
    case PlyType::kInt8:
    case PlyType::kUInt8:
      return 255.0;
    case PlyType::kInt16:
    case PlyType::kUInt16:
      return 65535.0;
    case PlyType::kInt32:
    case PlyType::kUInt32:
      return 4294967295.0;
    default:
      return 1.0;
  }
}

struct Value {
  double real = 0.0;
  int64_t integer = 0;  // valid for integer types
};

enum class ReadStatus { kOk, kEnd, kInvalid };

class BinarySource {
 public:
  BinarySource(std::string_view data, detail::ByteOrder order) : data_(data), order_(order) {}

  ReadStatus read(PlyType t, Value* v) {
    const size_t n = type_size(t);
    if (data_.size() - pos_ < n) return ReadStatus::kEnd;
    const char* p = data_.data() + pos_;
    pos_ += n;
    switch (t) {
      case PlyType::kInt8:
        v->integer = static_cast<int8_t>(p[0]);
        break;
      case PlyType::kUInt8:
        v->integer = static_cast<unsigned char>(p[0]);
        break;
      case PlyType::kInt16:
        v->integer = static_cast<int16_t>(detail::load_u16(p, order_));
        break;
      case PlyType::kUInt16:
        v->integer = detail::load_u16(p, order_);
        break;
      case PlyType::kInt32:
        v->integer = static_cast<int32_t>(detail::load_u32(p, order_));
        break;
      case PlyType::kUInt32:
        v->integer = detail::load_u32(p, order_);
        break;
      case PlyType::kFloat32:
        v->real = detail::load_f32(p, order_);
        return ReadStatus::kOk;
      case PlyType::kFloat64:
        v->real = detail::load_f64(p, order_);
        return ReadStatus::kOk;
    }
    v->real = static_cast<double>(v->integer);
    return ReadStatus::kOk;
  }

  // Skips `count` values of type t; false when the data is shorter.
  bool skip(PlyType t, uint64_t count) {
    uint64_t bytes = 0;
    if (!detail::checked_mul(count, type_size(t), &bytes) || bytes > remaining()) return false;
    pos_ += static_cast<size_t>(bytes);
    return true;
  }

  // At most how many values of type t can still follow.
  uint64_t capacity(PlyType t) const { return remaining() / type_size(t); }
  uint64_t remaining() const { return data_.size() - pos_; }
  std::string_view last_token() const { return {}; }

 private:
  std::string_view data_;
  detail::ByteOrder order_;
  size_t pos_ = 0;
};

class AsciiSource {
 public:
  explicit AsciiSource(std::string_view data) : tokens_(data) {}

  ReadStatus read(PlyType t, Value* v) {
    if (!tokens_.next(&token_)) return ReadStatus::kEnd;
    if (is_integer(t)) {
      int64_t lo = 0;
      int64_t hi = 0;
      integer_range(t, &lo, &hi);
      if (detail::parse_int64(token_, &v->integer) != detail::NumberStatus::kOk ||
          v->integer < lo || v->integer > hi) {
        return ReadStatus::kInvalid;
      }
      v->real = static_cast<double>(v->integer);
      return ReadStatus::kOk;
    }
    if (detail::parse_double(token_, &v->real) != detail::NumberStatus::kOk) {
      return ReadStatus::kInvalid;
    }
    return ReadStatus::kOk;
  }

  bool skip(PlyType, uint64_t count) {
    for (uint64_t i = 0; i < count; ++i) {
      if (!tokens_.next(&token_)) return false;
    }
    return true;
  }

  // Every ascii value takes at least one character and a separator.
  uint64_t capacity(PlyType) const { return tokens_.remaining() / 2 + 1; }
  uint64_t remaining() const { return tokens_.remaining(); }
  std::string_view last_token() const { return token_; }

 private:
  detail::TokenReader tokens_;
  std::string_view token_;
};

enum class Format { kAscii, kBinaryLittle, kBinaryBig };

struct Header {
  Format format = Format::kAscii;
  std::vector<PlyElement> elements;
  size_t body_offset = 0;
};

Header parse_header(std::string_view bytes, const std::string& name) {
  detail::LineReader lines(bytes);
  std::string_view line;
  if (!lines.next(&line) || detail::trim(line) != "ply") {
    fail(name, "not a PLY file (the first line is not 'ply')");
  }
  Header header;
  bool have_format = false;
  std::vector<std::string_view> tokens;
  while (true) {
    if (!lines.next(&line)) fail(name, "PLY header has no 'end_header' line");
    const std::string at = "header line " + std::to_string(lines.line_number()) + ": ";
    detail::split_tokens(line, &tokens);
    if (tokens.empty()) continue;
    const std::string_view key = tokens[0];
    if (key == "end_header") break;
    if (key == "comment" || key == "obj_info") continue;
    if (key == "format") {
      if (tokens.size() < 2) fail(name, at + "'format' needs an encoding");
      if (tokens[1] == "ascii") {
        header.format = Format::kAscii;
      } else if (tokens[1] == "binary_little_endian") {
        header.format = Format::kBinaryLittle;
      } else if (tokens[1] == "binary_big_endian") {
        header.format = Format::kBinaryBig;
      } else {
        fail(name, at + "unknown PLY format " + quote_token(tokens[1]) +
                       " (accepted: ascii, binary_little_endian, binary_big_endian)");
      }
      have_format = true;
    } else if (key == "element") {
      if (tokens.size() != 3) fail(name, at + "expected 'element <name> <count>'");
      PlyElement element;
      element.name = std::string(tokens[1]);
      if (detail::parse_uint64(tokens[2], &element.count) != detail::NumberStatus::kOk) {
        fail(name, at + "element " + quote_token(tokens[1]) + " has an invalid count " +
                       quote_token(tokens[2]));
      }
      header.elements.push_back(std::move(element));
    } else if (key == "property") {
      if (header.elements.empty()) fail(name, at + "'property' before any 'element'");
      PlyProperty property;
      if (tokens.size() == 5 && tokens[1] == "list") {
        property.is_list = true;
        if (!parse_type(tokens[2], &property.count_type) || !is_integer(property.count_type)) {
          fail(name, at + "list count type " + quote_token(tokens[2]) + " is not an integer type");
        }
        if (!parse_type(tokens[3], &property.type)) {
          fail(name, at + "unknown property type " + quote_token(tokens[3]));
        }
        property.name = std::string(tokens[4]);
      } else if (tokens.size() == 3) {
        if (!parse_type(tokens[1], &property.type)) {
          fail(name, at + "unknown property type " + quote_token(tokens[1]));
        }
        property.name = std::string(tokens[2]);
      } else {
        fail(name,
             at + "expected 'property <type> <name>' or 'property list <type> <type> <name>'");
      }
      header.elements.back().properties.push_back(std::move(property));
    } else {
      fail(name, at + "unknown PLY header keyword " + quote_token(key));
    }
  }
  if (!have_format) fail(name, "PLY header has no 'format' line");
  header.body_offset = lines.position();
  return header;
}

// Rejects headers whose element counts cannot fit in the bytes that follow, before anything is
// allocated for them.
void check_counts_fit(const Header& header, uint64_t available, const std::string& name) {
  uint64_t total = 0;
  for (const auto& element : header.elements) {
    uint64_t per_entry = 0;
    for (const auto& p : element.properties) {
      const size_t bytes =
          header.format == Format::kAscii ? 2 : type_size(p.is_list ? p.count_type : p.type);
      per_entry += bytes;
    }
    uint64_t needed = 0;
    if (!detail::checked_mul(element.count, per_entry, &needed) ||
        !detail::checked_add(total, needed, &total) ||
        total > available + (header.format == Format::kAscii ? 1 : 0)) {
      fail(name, "element " + quote_token(element.name) + " claims " +
                     std::to_string(element.count) + " entries, more than the " +
                     std::to_string(available) + " bytes after the header can hold");
    }
  }
}

enum Slot { kSkip = -1, kX, kY, kZ, kNx, kNy, kNz, kRed, kGreen, kBlue, kNumSlots };

int vertex_slot(const std::string& property) {
  static const char* kNames[kNumSlots] = {"x", "y", "z", "nx", "ny", "nz", "red", "green", "blue"};
  for (int i = 0; i < kNumSlots; ++i) {
    if (property == kNames[i]) return i;
  }
  if (property == "diffuse_red") return kRed;
  if (property == "diffuse_green") return kGreen;
  if (property == "diffuse_blue") return kBlue;
  return kSkip;
}

template <typename Source>
class BodyReader {
 public:
  BodyReader(Source& source, const std::string& name) : source_(source), name_(name) {}

  void read(const Header& header, RawMesh* mesh) {
    uint64_t vertex_count = 0;
    bool have_vertex = false;
    for (const auto& element : header.elements) {
      if (element.name == "vertex") {
        if (have_vertex) fail(name_, "PLY header declares two 'vertex' elements");
        have_vertex = true;
        vertex_count = element.count;
      }
    }
    if (!have_vertex) fail(name_, "PLY file has no 'vertex' element");
    for (const auto& element : header.elements) {
      if (element.properties.empty()) continue;
      if (element.name == "vertex") {
        read_vertices(element, mesh);
      } else if (element.name == "face") {
        read_faces(element, vertex_count, mesh);
      } else {
        skip_element(element);
      }
    }
  }

 private:
  [[noreturn]] void data_error(const PlyElement& element, uint64_t entry,
                               const PlyProperty& property, ReadStatus status) {
    const std::string where = "element " + quote_token(element.name) + " entry " +
                              std::to_string(entry) + " property " + quote_token(property.name);
    if (status == ReadStatus::kEnd) fail(name_, "data ends early at " + where);
    fail(name_, "invalid value " + quote_token(source_.last_token()) + " at " + where);
  }

  Value read_value(const PlyElement& element, uint64_t entry, const PlyProperty& property,
                   PlyType type) {
    Value v;
    const ReadStatus status = source_.read(type, &v);
    if (status != ReadStatus::kOk) data_error(element, entry, property, status);
    return v;
  }

  uint64_t read_list_length(const PlyElement& element, uint64_t entry,
                            const PlyProperty& property) {
    const Value v = read_value(element, entry, property, property.count_type);
    if (v.integer < 0) {
      fail(name_, "negative list length " + std::to_string(v.integer) + " at element " +
                      quote_token(element.name) + " entry " + std::to_string(entry));
    }
    const auto length = static_cast<uint64_t>(v.integer);
    if (length > source_.capacity(property.type)) {
      data_error(element, entry, property, ReadStatus::kEnd);
    }
    return length;
  }

  void read_vertices(const PlyElement& element, RawMesh* mesh) {
    std::vector<int> slots;
    bool present[kNumSlots] = {};
    std::vector<PlyType> types;
    for (const auto& p : element.properties) {
      const int slot = vertex_slot(p.name);
      if (slot != kSkip && p.is_list) {
        fail(name_, "vertex property " + quote_token(p.name) + " is a list, expected a scalar");
      }
      slots.push_back(slot);
      if (slot != kSkip) present[slot] = true;
    }
    for (int s = kX; s <= kZ; ++s) {
      if (!present[s]) {
        fail(name_, std::string("vertex element has no '") + "xyz"[s] + "' property");
      }
    }
    const bool want_normals = present[kNx] && present[kNy] && present[kNz];
    const bool want_colors = present[kRed] && present[kGreen] && present[kBlue];
    double scale[kNumSlots];
    for (int s = 0; s < kNumSlots; ++s) scale[s] = 1.0;
    for (size_t i = 0; i < slots.size(); ++i) {
      if (slots[i] >= kRed) scale[slots[i]] = color_scale(element.properties[i].type);
    }

    const size_t reserve =
        detail::reserve_count(element.count, source_.remaining(), element.properties.size());
    mesh->vertices.reserve(reserve * 3);
    if (want_normals) mesh->normals.reserve(reserve * 3);
    if (want_colors) mesh->colors.reserve(reserve * 3);

    double values[kNumSlots] = {};
    for (uint64_t entry = 0; entry < element.count; ++entry) {
      for (size_t i = 0; i < element.properties.size(); ++i) {
        const PlyProperty& p = element.properties[i];
        if (p.is_list) {
          const uint64_t length = read_list_length(element, entry, p);
          if (!source_.skip(p.type, length)) data_error(element, entry, p, ReadStatus::kEnd);
          continue;
        }
        const Value v = read_value(element, entry, p, p.type);
        if (slots[i] != kSkip) values[slots[i]] = v.real;
      }
      for (int s = kX; s <= kZ; ++s) push(&mesh->vertices, values[s], "vertex", entry);
      if (want_normals) {
        for (int s = kNx; s <= kNz; ++s) push(&mesh->normals, values[s], "normal", entry);
      }
      if (want_colors) {
        for (int s = kRed; s <= kBlue; ++s) {
          push(&mesh->colors, values[s] / scale[s], "color", entry);
        }
      }
    }
  }

  void push(std::vector<float>* out, double v, const char* what, uint64_t entry) {
    const float f = detail::to_float(v);
    if (!std::isfinite(f)) {
      fail(name_, std::string(what) + " " + std::to_string(entry) + " has a non-finite value (" +
                      std::to_string(v) + ")");
    }
    out->push_back(f);
  }

  void read_faces(const PlyElement& element, uint64_t vertex_count, RawMesh* mesh) {
    int index_property = -1;
    for (size_t i = 0; i < element.properties.size(); ++i) {
      const auto& p = element.properties[i];
      if (p.name == "vertex_indices" || p.name == "vertex_index") {
        if (!p.is_list) fail(name_, "face property " + quote_token(p.name) + " is not a list");
        if (!is_integer(p.type)) {
          fail(name_, "face property " + quote_token(p.name) + " holds non-integer indices");
        }
        index_property = static_cast<int>(i);
      }
    }
    if (index_property < 0) {
      fail(name_, "face element has no 'vertex_indices' (or 'vertex_index') list");
    }
    mesh->faces.reserve(
        detail::reserve_count(element.count, source_.remaining(), 4 * element.properties.size()) *
        3);
    std::vector<int64_t> polygon;
    for (uint64_t entry = 0; entry < element.count; ++entry) {
      for (size_t i = 0; i < element.properties.size(); ++i) {
        const PlyProperty& p = element.properties[i];
        if (!p.is_list) {
          if (!source_.skip(p.type, 1)) data_error(element, entry, p, ReadStatus::kEnd);
          continue;
        }
        const uint64_t length = read_list_length(element, entry, p);
        if (static_cast<int>(i) != index_property) {
          if (!source_.skip(p.type, length)) data_error(element, entry, p, ReadStatus::kEnd);
          continue;
        }
        polygon.clear();
        for (uint64_t k = 0; k < length; ++k) {
          const Value v = read_value(element, entry, p, p.type);
          if (v.integer < 0 || static_cast<uint64_t>(v.integer) >= vertex_count) {
            fail(name_, "face " + std::to_string(entry) + " refers to vertex " +
                            std::to_string(v.integer) + " but there are " +
                            std::to_string(vertex_count) + " vertices");
          }
          polygon.push_back(v.integer);
        }
        for (size_t k = 1; k + 1 < polygon.size(); ++k) {
          mesh->faces.push_back(polygon[0]);
          mesh->faces.push_back(polygon[k]);
          mesh->faces.push_back(polygon[k + 1]);
        }
      }
    }
  }

  void skip_element(const PlyElement& element) {
    for (uint64_t entry = 0; entry < element.count; ++entry) {
      for (const auto& p : element.properties) {
        uint64_t length = 1;
        if (p.is_list) length = read_list_length(element, entry, p);
        if (!source_.skip(p.type, length)) data_error(element, entry, p, ReadStatus::kEnd);
      }
    }
  }

  Source& source_;
  const std::string& name_;
};

void append_value(std::string* out, float v, PlyEncoding encoding) {
  if (encoding == PlyEncoding::kAscii) {
    detail::append_float(out, v);
    return;
  }
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  for (int i = 0; i < 4; ++i) {
    const int shift = encoding == PlyEncoding::kBinaryLittleEndian ? 8 * i : 8 * (3 - i);
    out->push_back(static_cast<char>((bits >> shift) & 0xff));
  }
}

void append_int32(std::string* out, int32_t v, PlyEncoding encoding) {
  if (encoding == PlyEncoding::kAscii) {
    detail::append_int(out, v);
    return;
  }
  const auto bits = static_cast<uint32_t>(v);
  for (int i = 0; i < 4; ++i) {
    const int shift = encoding == PlyEncoding::kBinaryLittleEndian ? 8 * i : 8 * (3 - i);
    out->push_back(static_cast<char>((bits >> shift) & 0xff));
  }
}

void append_uchar(std::string* out, int v, PlyEncoding encoding) {
  if (encoding == PlyEncoding::kAscii) {
    detail::append_int(out, v);
  } else {
    out->push_back(static_cast<char>(v));
  }
}

void separate(std::string* out, PlyEncoding encoding, bool end_of_entry) {
  if (encoding == PlyEncoding::kAscii) out->push_back(end_of_entry ? '\n' : ' ');
}

}  // namespace

RawMesh parse_ply(std::string_view bytes, const std::string& name) {
  const Header header = parse_header(bytes, name);
  const std::string_view body = bytes.substr(header.body_offset);
  check_counts_fit(header, body.size(), name);
  RawMesh mesh;
  if (header.format == Format::kAscii) {
    AsciiSource source(body);
    BodyReader<AsciiSource>(source, name).read(header, &mesh);
  } else {
    BinarySource source(body, header.format == Format::kBinaryLittle ? detail::ByteOrder::kLittle
                                                                     : detail::ByteOrder::kBig);
    BodyReader<BinarySource>(source, name).read(header, &mesh);
  }
  check_raw_mesh(mesh, name);
  return mesh;
}

std::string write_ply(const RawMesh& mesh, PlyEncoding encoding) {
  check_raw_mesh(mesh, "PLY output");
  if (mesh.num_vertices() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    throw std::invalid_argument("PLY output: " + std::to_string(mesh.num_vertices()) +
                                " vertices do not fit 32-bit face indices");
  }
  std::string out = "ply\nformat ";
  out += encoding == PlyEncoding::kAscii                ? "ascii"
         : encoding == PlyEncoding::kBinaryLittleEndian ? "binary_little_endian"
                                                        : "binary_big_endian";
  out += " 1.0\ncomment written by shapediff\nelement vertex ";
  out += std::to_string(mesh.num_vertices());
  out += "\nproperty float x\nproperty float y\nproperty float z\n";
  if (mesh.has_normals()) out += "property float nx\nproperty float ny\nproperty float nz\n";
  if (mesh.has_colors()) out += "property uchar red\nproperty uchar green\nproperty uchar blue\n";
  if (mesh.num_faces() > 0) {
    out += "element face " + std::to_string(mesh.num_faces()) +
           "\nproperty list uchar int vertex_indices\n";
  }
  out += "end_header\n";
  const size_t v = mesh.num_vertices();
  for (size_t i = 0; i < v; ++i) {
    const bool n = mesh.has_normals();
    const bool c = mesh.has_colors();
    for (int k = 0; k < 3; ++k) {
      append_value(&out, mesh.vertices[3 * i + k], encoding);
      separate(&out, encoding, k == 2 && !n && !c);
    }
    if (n) {
      for (int k = 0; k < 3; ++k) {
        append_value(&out, mesh.normals[3 * i + k], encoding);
        separate(&out, encoding, k == 2 && !c);
      }
    }
    if (c) {
      for (int k = 0; k < 3; ++k) {
        const float clamped = std::min(1.0f, std::max(0.0f, mesh.colors[3 * i + k]));
        append_uchar(&out, static_cast<int>(std::lround(clamped * 255.0f)), encoding);
        separate(&out, encoding, k == 2);
      }
    }
  }
  for (size_t f = 0; f < mesh.num_faces(); ++f) {
    append_uchar(&out, 3, encoding);
    separate(&out, encoding, false);
    for (int k = 0; k < 3; ++k) {
      append_int32(&out, static_cast<int32_t>(mesh.faces[3 * f + k]), encoding);
      separate(&out, encoding, k == 2);
    }
  }
  return out;
}

}  // namespace shapediff::io::formats

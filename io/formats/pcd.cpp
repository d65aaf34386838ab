#include "io/formats/pcd.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "io/formats/parse_util.h"

namespace shapediff::io::formats {

namespace {

using detail::fail;
using detail::quote_token;

struct PcdField {
  std::string name;
  char type = 'F';
  uint64_t size = 4;
  uint64_t count = 1;
  uint64_t offset = 0;  // byte offset in a binary record
  uint64_t column = 0;  // first token in an ascii line
};

enum class PcdData { kAscii, kBinary };

struct PcdHeader {
  std::vector<PcdField> fields;
  uint64_t points = 0;
  uint64_t record_bytes = 0;
  uint64_t columns = 0;
  PcdData data = PcdData::kAscii;
  size_t body_offset = 0;
};

uint64_t header_count(std::string_view token, const std::string& name, const std::string& at,
                      std::string_view key) {
  uint64_t v = 0;
  if (detail::parse_uint64(token, &v) != detail::NumberStatus::kOk) {
    fail(name, at + "invalid " + std::string(key) + " value " + quote_token(token));
  }
  return v;
}

PcdHeader parse_header(std::string_view bytes, const std::string& name) {
  detail::LineReader lines(bytes);
  std::string_view line;
  std::vector<std::string_view> tokens;
  std::vector<std::string_view> names;
  std::vector<std::string_view> sizes;
  std::vector<std::string_view> types;
  std::vector<std::string_view> counts;
  uint64_t width = 0;
  uint64_t height = 1;
  bool have_width = false;
  bool have_points = false;
  PcdHeader header;
  while (true) {
    if (!lines.next(&line)) fail(name, "PCD header has no 'DATA' line");
    detail::split_tokens(detail::strip_comment(line, '#'), &tokens);
    if (tokens.empty()) continue;
    const std::string at = "header line " + std::to_string(lines.line_number()) + ": ";
    const std::string_view key = tokens[0];
    const std::vector<std::string_view> values(tokens.begin() + 1, tokens.end());
    if (key == "VERSION" || key == "VIEWPOINT") continue;
    if (key == "FIELDS") {
      names = values;
    } else if (key == "SIZE") {
      sizes = values;
    } else if (key == "TYPE") {
      types = values;
    } else if (key == "COUNT") {
      counts = values;
    } else if (key == "WIDTH" || key == "HEIGHT" || key == "POINTS") {
      if (values.size() != 1) fail(name, at + std::string(key) + " needs one value");
      const uint64_t v = header_count(values[0], name, at, key);
      if (key == "WIDTH") {
        width = v;
        have_width = true;
      } else if (key == "HEIGHT") {
        height = v;
      } else {
        header.points = v;
        have_points = true;
      }
    } else if (key == "DATA") {
      if (values.size() != 1) fail(name, at + "DATA needs one value");
      if (values[0] == "ascii") {
        header.data = PcdData::kAscii;
      } else if (values[0] == "binary") {
        header.data = PcdData::kBinary;
      } else if (values[0] == "binary_compressed") {
        fail(name, "PCD 'DATA binary_compressed' is unsupported (accepted: ascii, binary)");
      } else {
        fail(name,
             at + "unknown PCD DATA kind " + quote_token(values[0]) + " (accepted: ascii, binary)");
      }
      break;
    } else {
      fail(name, at + "unknown PCD header keyword " + quote_token(key));
    }
  }
  header.body_offset = lines.position();
  if (names.empty()) fail(name, "PCD header has no FIELDS");
  if (sizes.size() != names.size() || types.size() != names.size()) {
    fail(name, "PCD header lists " + std::to_string(names.size()) + " FIELDS but " +
                   std::to_string(sizes.size()) + " SIZE and " + std::to_string(types.size()) +
                   " TYPE values");
  }
  if (!counts.empty() && counts.size() != names.size()) {
    fail(name, "PCD header lists " + std::to_string(names.size()) + " FIELDS but " +
                   std::to_string(counts.size()) + " COUNT values");
  }
  if (!have_points) {
    if (!have_width) fail(name, "PCD header has neither POINTS nor WIDTH");
    if (!detail::checked_mul(width, height, &header.points)) {
      fail(name, "PCD WIDTH x HEIGHT overflows");
    }
  }
  for (size_t i = 0; i < names.size(); ++i) {
    PcdField f;
    f.name = std::string(names[i]);
    const std::string what = "field " + quote_token(names[i]);
    if (types[i].size() != 1 ||
        std::string_view("FIU").find(types[i][0]) == std::string_view::npos) {
      fail(name, what + " has TYPE " + quote_token(types[i]) + " (accepted: F, I, U)");
    }
    f.type = types[i][0];
    f.size = header_count(sizes[i], name, what + ": ", "SIZE");
    const bool size_ok = f.type == 'F' ? (f.size == 4 || f.size == 8)
                                       : (f.size == 1 || f.size == 2 || f.size == 4 || f.size == 8);
    if (!size_ok) {
      fail(name, what + " has TYPE " + std::string(1, f.type) + " with unsupported SIZE " +
                     std::to_string(f.size));
    }
    if (!counts.empty()) f.count = header_count(counts[i], name, what + ": ", "COUNT");
    if (f.count == 0) fail(name, what + " has COUNT 0");
    f.offset = header.record_bytes;
    f.column = header.columns;
    uint64_t bytes_here = 0;
    if (!detail::checked_mul(f.size, f.count, &bytes_here) ||
        !detail::checked_add(header.record_bytes, bytes_here, &header.record_bytes) ||
        !detail::checked_add(header.columns, f.count, &header.columns)) {
      fail(name, "PCD point record size overflows");
    }
    header.fields.push_back(std::move(f));
  }
  return header;
}

// Field roles: x y z, normals, packed color.
struct Roles {
  int xyz[3] = {-1, -1, -1};
  int normal[3] = {-1, -1, -1};
  int color = -1;
};

Roles find_roles(const PcdHeader& header, const std::string& name) {
  Roles roles;
  static const char* kXyz[3] = {"x", "y", "z"};
  static const char* kNormal[3] = {"normal_x", "normal_y", "normal_z"};
  for (size_t i = 0; i < header.fields.size(); ++i) {
    const PcdField& f = header.fields[i];
    for (int k = 0; k < 3; ++k) {
      if (f.name == kXyz[k]) roles.xyz[k] = static_cast<int>(i);
      if (f.name == kNormal[k]) roles.normal[k] = static_cast<int>(i);
    }
    if (f.name == "rgb" || f.name == "rgba") roles.color = static_cast<int>(i);
  }
  for (int k = 0; k < 3; ++k) {
    if (roles.xyz[k] < 0) fail(name, std::string("PCD has no '") + kXyz[k] + "' field");
    if (header.fields[roles.xyz[k]].count != 1) {
      fail(name, std::string("PCD field '") + kXyz[k] + "' has COUNT " +
                     std::to_string(header.fields[roles.xyz[k]].count) + ", expected 1");
    }
  }
  for (int k = 0; k < 3; ++k) {
    if (roles.normal[k] < 0 || header.fields[roles.normal[k]].count != 1) {
      roles.normal[0] = roles.normal[1] = roles.normal[2] = -1;
      break;
    }
  }
  if (roles.color >= 0 &&
      (header.fields[roles.color].size != 4 || header.fields[roles.color].count != 1)) {
    fail(name, "PCD field '" + header.fields[roles.color].name +
                   "' must be a single 4-byte packed color");
  }
  return roles;
}

// Reads field values of one point either from a binary record or from ascii tokens.
class PointReader {
 public:
  virtual ~PointReader() = default;
  virtual double real(const PcdField& f) = 0;
  virtual uint32_t packed(const PcdField& f) = 0;
};

class BinaryPoint : public PointReader {
 public:
  void set(const char* record) { record_ = record; }
  double real(const PcdField& f) override {
    const char* p = record_ + f.offset;
    const auto le = detail::ByteOrder::kLittle;
    if (f.type == 'F') return f.size == 4 ? detail::load_f32(p, le) : detail::load_f64(p, le);
    switch (f.size) {
      case 1:
        return f.type == 'I' ? double(static_cast<int8_t>(p[0]))
                             : double(static_cast<unsigned char>(p[0]));
      case 2:
        return f.type == 'I' ? double(static_cast<int16_t>(detail::load_u16(p, le)))
                             : double(detail::load_u16(p, le));
      case 4:
        return f.type == 'I' ? double(static_cast<int32_t>(detail::load_u32(p, le)))
                             : double(detail::load_u32(p, le));
      default:
        return f.type == 'I' ? double(static_cast<int64_t>(detail::load_u64(p, le)))
                             : double(detail::load_u64(p, le));
    }
  }
  uint32_t packed(const PcdField& f) override {
    return detail::load_u32(record_ + f.offset, detail::ByteOrder::kLittle);
  }

 private:
  const char* record_ = nullptr;
};

class AsciiPoint : public PointReader {
 public:
  explicit AsciiPoint(const std::string& name) : name_(name) {}
  void set(const std::vector<std::string_view>* tokens, std::string at) {
    tokens_ = tokens;
    at_ = std::move(at);
  }
  double real(const PcdField& f) override {
    const std::string_view token = (*tokens_)[f.column];
    double v = 0.0;
    if (detail::parse_double(token, &v) != detail::NumberStatus::kOk) {
      fail(name_,
           at_ + "invalid value " + quote_token(token) + " for field " + quote_token(f.name));
    }
    return v;
  }
  uint32_t packed(const PcdField& f) override {
    const std::string_view token = (*tokens_)[f.column];
    if (f.type == 'F') {
      const float value = detail::to_float(real(f));
      uint32_t bits;
      std::memcpy(&bits, &value, sizeof(bits));
      return bits;
    }
    int64_t v = 0;
    if (detail::parse_int64(token, &v) != detail::NumberStatus::kOk) {
      fail(name_, at_ + "invalid packed color " + quote_token(token));
    }
    return static_cast<uint32_t>(static_cast<uint64_t>(v) & 0xffffffffu);
  }

 private:
  const std::string& name_;
  const std::vector<std::string_view>* tokens_ = nullptr;
  std::string at_;
};

void append_point(PointReader& reader, const PcdHeader& header, const Roles& roles, uint64_t index,
                  const std::string& name, RawMesh* mesh) {
  auto push = [&](std::vector<float>* out, const PcdField& f, const char* what) {
    const double v = reader.real(f);
    const float value = detail::to_float(v);
    if (!std::isfinite(value)) {
      fail(name, "point " + std::to_string(index) + " has a non-finite " + what + " (" +
                     std::to_string(v) + ")");
    }
    out->push_back(value);
  };
  for (int k = 0; k < 3; ++k) push(&mesh->vertices, header.fields[roles.xyz[k]], "coordinate");
  if (roles.normal[0] >= 0) {
    for (int k = 0; k < 3; ++k) push(&mesh->normals, header.fields[roles.normal[k]], "normal");
  }
  if (roles.color >= 0) {
    const uint32_t rgb = reader.packed(header.fields[roles.color]);
    mesh->colors.push_back(static_cast<float>((rgb >> 16) & 0xff) / 255.0f);
    mesh->colors.push_back(static_cast<float>((rgb >> 8) & 0xff) / 255.0f);
    mesh->colors.push_back(static_cast<float>(rgb & 0xff) / 255.0f);
  }
}

}  // namespace

RawMesh parse_pcd(std::string_view bytes, const std::string& name) {
  const PcdHeader header = parse_header(bytes, name);
  const Roles roles = find_roles(header, name);
  const std::string_view body = bytes.substr(header.body_offset);
  RawMesh mesh;
  if (header.data == PcdData::kBinary) {
    uint64_t needed = 0;
    if (!detail::checked_mul(header.points, header.record_bytes, &needed) || needed > body.size()) {
      fail(name, "PCD header claims " + std::to_string(header.points) + " points of " +
                     std::to_string(header.record_bytes) + " bytes but only " +
                     std::to_string(body.size()) + " bytes of data follow");
    }
  } else {
    uint64_t per_point = 0;
    uint64_t needed = 0;
    if (!detail::checked_mul(header.columns, 2, &per_point) ||
        !detail::checked_mul(header.points, per_point, &needed) || needed > body.size() + 1) {
      fail(name, "PCD header claims " + std::to_string(header.points) + " points but only " +
                     std::to_string(body.size()) + " bytes of data follow");
    }
  }
  const size_t points = static_cast<size_t>(header.points);
  mesh.vertices.reserve(points * 3);
  if (roles.normal[0] >= 0) mesh.normals.reserve(points * 3);
  if (roles.color >= 0) mesh.colors.reserve(points * 3);
  if (header.data == PcdData::kBinary) {
    BinaryPoint reader;
    for (uint64_t i = 0; i < header.points; ++i) {
      reader.set(body.data() + i * header.record_bytes);
      append_point(reader, header, roles, i, name, &mesh);
    }
  } else {
    detail::LineReader lines(body);
    std::string_view line;
    std::vector<std::string_view> tokens;
    AsciiPoint reader(name);
    uint64_t i = 0;
    while (i < header.points) {
      if (!lines.next(&line)) {
        fail(name, "data ends after " + std::to_string(i) + " of " + std::to_string(header.points) +
                       " points");
      }
      detail::split_tokens(detail::strip_comment(line, '#'), &tokens);
      if (tokens.empty()) continue;
      const std::string at = "data line " + std::to_string(lines.line_number()) + ": ";
      if (tokens.size() != header.columns) {
        fail(name, at + "has " + std::to_string(tokens.size()) + " values, expected " +
                       std::to_string(header.columns));
      }
      reader.set(&tokens, at);
      append_point(reader, header, roles, i, name, &mesh);
      ++i;
    }
  }
  check_raw_mesh(mesh, name);
  return mesh;
}

std::string write_pcd(const RawMesh& mesh) {
  check_raw_mesh(mesh, "PCD output");
  const bool n = mesh.has_normals();
  const bool c = mesh.has_colors();
  const std::string count = std::to_string(mesh.num_vertices());
  std::string out = "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS x y z";
  if (n) out += " normal_x normal_y normal_z";
  if (c) out += " rgba";
  out += "\nSIZE 4 4 4";
  if (n) out += " 4 4 4";
  if (c) out += " 4";
  out += "\nTYPE F F F";
  if (n) out += " F F F";
  if (c) out += " U";
  out += "\nCOUNT 1 1 1";
  if (n) out += " 1 1 1";
  if (c) out += " 1";
  out += "\nWIDTH " + count + "\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS " + count +
         "\nDATA ascii\n";
  for (size_t i = 0; i < mesh.num_vertices(); ++i) {
    for (int k = 0; k < 3; ++k) {
      if (k > 0) out += ' ';
      detail::append_float(&out, mesh.vertices[3 * i + k]);
    }
    if (n) {
      for (int k = 0; k < 3; ++k) {
        out += ' ';
        detail::append_float(&out, mesh.normals[3 * i + k]);
      }
    }
    if (c) {
      uint32_t rgba = 0xff;  // opaque, as PCL's PointXYZRGBA stores it
      for (int k = 0; k < 3; ++k) {
        const float v = std::min(1.0f, std::max(0.0f, mesh.colors[3 * i + k]));
        rgba = (rgba << 8) | static_cast<uint32_t>(std::lround(v * 255.0f));
      }
      out += ' ';
      detail::append_int(&out, rgba);
    }
    out += '\n';
  }
  return out;
}

}  // namespace shapediff::io::formats

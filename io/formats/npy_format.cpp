#include "io/formats/npy_format.h"

#include <cstring>
#include <limits>

#include "io/formats/parse_util.h"

namespace shapediff::io::formats {

namespace {

using detail::fail;
using detail::quote_token;

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicBytes = 6;

// A value of the header dictionary: a string, a bool, a tuple of integers, or a list (the
// start of a structured dtype, which is rejected).
struct PyValue {
  enum Kind { kString, kBool, kTuple, kList } kind = kString;
  std::string text;
  bool flag = false;
  std::vector<int64_t> items;
};

// Parses the Python literal numpy writes as the header: {'key': value, ...}.
class DictParser {
 public:
  DictParser(std::string_view text, const std::string& name) : text_(text), name_(name) {}

  template <typename Callback>
  void parse(Callback&& on_entry) {
    skip_space();
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = string_literal();
      skip_space();
      expect(':');
      skip_space();
      on_entry(key, value());
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      skip_space();
      if (peek() != '}') error("expected ',' or '}'");
    }
  }

 private:
  [[noreturn]] void error(const std::string& what) {
    fail(name_, "malformed .npy header at byte " + std::to_string(pos_) + ": " + what + " in " +
                    quote_token(text_));
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < text_.size() && detail::is_space(text_[pos_])) ++pos_;
  }
  void expect(char c) {
    if (peek() != c) error(std::string("expected '") + c + "'");
    ++pos_;
  }

  std::string string_literal() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') error("expected a string");
    ++pos_;
    const size_t end = text_.find(quote, pos_);
    if (end == std::string_view::npos) error("unterminated string");
    std::string s(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }

  PyValue value() {
    PyValue v;
    const char c = peek();
    if (c == '\'' || c == '"') {
      v.kind = PyValue::kString;
      v.text = string_literal();
    } else if (text_.substr(pos_, 4) == "True") {
      v.kind = PyValue::kBool;
      v.flag = true;
      pos_ += 4;
    } else if (text_.substr(pos_, 5) == "False") {
      v.kind = PyValue::kBool;
      pos_ += 5;
    } else if (c == '(') {
      v.kind = PyValue::kTuple;
      ++pos_;
      while (true) {
        skip_space();
        if (peek() == ')') {
          ++pos_;
          break;
        }
        v.items.push_back(integer());
        skip_space();
        if (peek() == ',') {
          ++pos_;
        } else if (peek() != ')') {
          error("expected ',' or ')' in shape");
        }
      }
    } else if (c == '[') {
      v.kind = PyValue::kList;
      skip_list();
    } else {
      error("unexpected value");
    }
    return v;
  }

  // Skips a (possibly nested) list; its content only matters as "structured dtype".
  void skip_list() {
    int depth = 0;
    char quote = 0;
    for (; pos_ < text_.size(); ++pos_) {
      const char c = text_[pos_];
      if (quote != 0) {
        if (c == quote) quote = 0;
      } else if (c == '\'' || c == '"') {
        quote = c;
      } else if (c == '[') {
        ++depth;
      } else if (c == ']' && --depth == 0) {
        ++pos_;
        return;
      }
    }
    error("unterminated list");
  }

  int64_t integer() {
    const size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    const std::string_view digits = text_.substr(start, pos_ - start);
    if (peek() == 'L') ++pos_;  // Python 2 long suffix
    int64_t v = 0;
    if (digits.empty() || detail::parse_int64(digits, &v) != detail::NumberStatus::kOk) {
      error("invalid dimension " + quote_token(digits));
    }
    return v;
  }

  std::string_view text_;
  const std::string& name_;
  size_t pos_ = 0;
};

bool parse_descr(const std::string& descr, NpyDtype* dtype, bool* big_endian) {
  if (descr.size() < 3) return false;
  const char order = descr[0];
  if (order != '<' && order != '>' && order != '|' && order != '=') return false;
  const std::string code = descr.substr(1);
  struct Entry {
    const char* code;
    NpyDtype dtype;
  };
  static const Entry kCodes[] = {{"f4", NpyDtype::kFloat32}, {"f8", NpyDtype::kFloat64},
                                 {"i4", NpyDtype::kInt32},   {"i8", NpyDtype::kInt64},
                                 {"u1", NpyDtype::kUInt8},   {"b1", NpyDtype::kBool}};
  for (const auto& e : kCodes) {
    if (code == e.code) {
      const bool one_byte = npy_itemsize(e.dtype) == 1;
      if (order == '|' && !one_byte) return false;
      *dtype = e.dtype;
      *big_endian = order == '>' && !one_byte;
      return true;
    }
  }
  return false;
}

const char kAccepted[] =
    "accepted: float32 '<f4', float64 '<f8', int32 '<i4', int64 '<i8', uint8 '|u1', bool '|b1', "
    "or big-endian '>f4' '>f8' '>i4' '>i8'";

}  // namespace

size_t npy_itemsize(NpyDtype dtype) {
  switch (dtype) {
    case NpyDtype::kFloat32:
      return 4;
    case NpyDtype::kFloat64:
      return 8;
    case NpyDtype::kInt32:
      return 4;
    case NpyDtype::kInt64:
      return 8;
    case NpyDtype::kUInt8:
      return 1;
    case NpyDtype::kBool:
      return 1;
  }
  return 1;
}

std::string npy_descr(NpyDtype dtype) {
  switch (dtype) {
    case NpyDtype::kFloat32:
      return "<f4";
    case NpyDtype::kFloat64:
      return "<f8";
    case NpyDtype::kInt32:
      return "<i4";
    case NpyDtype::kInt64:
      return "<i8";
    case NpyDtype::kUInt8:
      return "|u1";
    case NpyDtype::kBool:
      return "|b1";
  }
  return "";
}

NpyHeader parse_npy_header(std::string_view bytes, const std::string& name) {
  if (bytes.size() < kMagicBytes + 4 ||
      bytes.substr(0, kMagicBytes) != std::string_view(kMagic, kMagicBytes)) {
    fail(name, "not a .npy file (missing the \\x93NUMPY magic)");
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len = 0;
  size_t prefix = 0;
  if (major == 1) {
    header_len = detail::load_u16(bytes.data() + 8, detail::ByteOrder::kLittle);
    prefix = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) fail(name, ".npy file ends inside its header length");
    header_len = detail::load_u32(bytes.data() + 8, detail::ByteOrder::kLittle);
    prefix = 12;
  } else {
    fail(name, "unsupported .npy format version " + std::to_string(major) + " (accepted: 1, 2, 3)");
  }
  if (header_len > bytes.size() - prefix) {
    fail(name, ".npy header of " + std::to_string(header_len) + " bytes runs past the end of the " +
                   std::to_string(bytes.size()) + "-byte file");
  }
  const std::string_view text = bytes.substr(prefix, header_len);

  NpyHeader header;
  std::string descr;
  bool have_descr = false;
  bool have_order = false;
  bool have_shape = false;
  bool fortran = false;
  bool structured = false;
  DictParser(text, name).parse([&](const std::string& key, const PyValue& v) {
    if (key == "descr") {
      have_descr = true;
      if (v.kind == PyValue::kList) {
        structured = true;
      } else if (v.kind == PyValue::kString) {
        descr = v.text;
      } else {
        fail(name, ".npy header 'descr' is not a string");
      }
    } else if (key == "fortran_order") {
      if (v.kind != PyValue::kBool) fail(name, ".npy header 'fortran_order' is not True/False");
      have_order = true;
      fortran = v.flag;
    } else if (key == "shape") {
      if (v.kind != PyValue::kTuple) fail(name, ".npy header 'shape' is not a tuple");
      have_shape = true;
      header.shape = v.items;
    }
  });
  if (!have_descr || !have_order || !have_shape) {
    fail(name, ".npy header lacks one of 'descr', 'fortran_order', 'shape'");
  }
  if (structured)
    fail(name, "structured dtype (a field list) is unsupported; " + std::string(kAccepted));
  if (!parse_descr(descr, &header.dtype, &header.big_endian)) {
    fail(name, "unsupported dtype " + quote_token(descr) + " (" + kAccepted + ")");
  }
  if (fortran) {
    fail(name, "fortran_order=True arrays are unsupported (dtype " + quote_token(descr) +
                   "); save a C-ordered array");
  }
  // The extent ignoring zero dimensions must fit too: tensor strides are computed from it even
  // when the array is empty.
  uint64_t extent = 1;
  for (const int64_t d : header.shape) {
    if (d == 0) continue;
    if (!detail::checked_mul(extent, static_cast<uint64_t>(d), &extent) ||
        extent > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      fail(name, ".npy shape overflows 64-bit element counts");
    }
  }
  header.numel = 1;
  for (const int64_t d : header.shape) header.numel *= static_cast<uint64_t>(d);
  if (!detail::checked_mul(header.numel, npy_itemsize(header.dtype), &header.data_bytes)) {
    fail(name, ".npy data size overflows");
  }
  header.data_offset = prefix + header_len;
  const uint64_t available = bytes.size() - header.data_offset;
  if (header.data_bytes > available) {
    fail(name, "truncated .npy data: shape needs " + std::to_string(header.data_bytes) +
                   " bytes of " + quote_token(descr) + ", the file holds " +
                   std::to_string(available));
  }
  return header;
}

void copy_npy_data(const NpyHeader& header, std::string_view bytes, void* out) {
  const char* src = bytes.data() + header.data_offset;
  auto* dst = static_cast<unsigned char*>(out);
  const size_t n = static_cast<size_t>(header.data_bytes);
  if (header.big_endian) {
    const size_t item = npy_itemsize(header.dtype);
    for (size_t i = 0; i < n; i += item) {
      for (size_t k = 0; k < item; ++k)
        dst[i + k] = static_cast<unsigned char>(src[i + item - 1 - k]);
    }
  } else if (n > 0) {
    std::memcpy(dst, src, n);
  }
  if (header.dtype == NpyDtype::kBool) {
    for (size_t i = 0; i < n; ++i) dst[i] = dst[i] != 0 ? 1 : 0;
  }
}

std::string npy_header_bytes(NpyDtype dtype, const std::vector<int64_t>& shape) {
  std::string dict = "{'descr': '" + npy_descr(dtype) + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) dict += ", ";
    dict += std::to_string(shape[i]);
  }
  if (shape.size() == 1) dict += ",";
  dict += "), }";
  // Data starts on a 64-byte boundary, as numpy writes it; the header ends in '\n'.
  constexpr size_t kAlign = 64;
  auto padded_size = [&](size_t prefix) {
    return (prefix + dict.size() + 1 + kAlign - 1) / kAlign * kAlign;
  };
  size_t prefix = 10;
  if (padded_size(prefix) - prefix > std::numeric_limits<uint16_t>::max()) prefix = 12;
  dict.append(padded_size(prefix) - (prefix + dict.size() + 1), ' ');
  dict += '\n';
  std::string out(kMagic, kMagicBytes);
  out += static_cast<char>(prefix == 10 ? 1 : 2);
  out += '\0';
  if (prefix == 10) {
    detail::append_u16_le(&out, static_cast<uint16_t>(dict.size()));
  } else {
    detail::append_u32_le(&out, static_cast<uint32_t>(dict.size()));
  }
  out += dict;
  return out;
}

}  // namespace shapediff::io::formats

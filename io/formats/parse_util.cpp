#include "io/formats/parse_util.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace shapediff::io::formats::detail {

void fail(const std::string& name, const std::string& message) {
  throw std::runtime_error(name + ": " + message);
}

std::string quote_token(std::string_view token) {
  constexpr size_t kMax = 32;
  std::string out = "'";
  for (size_t i = 0; i < token.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(token[i]);
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (token.size() > kMax) out += "...";
  out += "'";
  return out;
}

bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return false;
  *out = a * b;
  return true;
}

bool checked_add(uint64_t a, uint64_t b, uint64_t* out) {
  if (b > std::numeric_limits<uint64_t>::max() - a) return false;
  *out = a + b;
  return true;
}

size_t reserve_count(uint64_t count, uint64_t available, uint64_t min_bytes) {
  const uint64_t fit = min_bytes == 0 ? available : available / min_bytes;
  return static_cast<size_t>(count < fit ? count : fit);
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::string_view strip_comment(std::string_view line, char marker) {
  const size_t pos = line.find(marker);
  return pos == std::string_view::npos ? line : line.substr(0, pos);
}

void split_tokens(std::string_view line, std::vector<std::string_view>* tokens) {
  tokens->clear();
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    const size_t start = i;
    while (i < line.size() && !is_space(line[i])) ++i;
    if (i > start) tokens->push_back(line.substr(start, i - start));
  }
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool LineReader::next(std::string_view* line) {
  if (pos_ >= text_.size()) return false;
  size_t end = text_.find('\n', pos_);
  size_t next = end == std::string_view::npos ? text_.size() : end + 1;
  if (end == std::string_view::npos) end = text_.size();
  size_t stop = end;
  if (stop > pos_ && text_[stop - 1] == '\r') --stop;
  *line = text_.substr(pos_, stop - pos_);
  pos_ = next;
  ++line_number_;
  return true;
}

bool TokenReader::next(std::string_view* token) {
  while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
  if (pos_ >= text_.size()) return false;
  const size_t start = pos_;
  while (pos_ < text_.size() && !is_space(text_[pos_])) ++pos_;
  *token = text_.substr(start, pos_ - start);
  return true;
}

namespace {
std::string_view drop_plus(std::string_view token) {
  if (token.size() > 1 && token[0] == '+' && token[1] != '-' && token[1] != '+') {
    return token.substr(1);
  }
  return token;
}
}  // namespace

NumberStatus parse_double(std::string_view token, double* out) {
  token = drop_plus(token);
  if (token.empty()) return NumberStatus::kInvalid;
  double value = 0.0;
  const char* end = token.data() + token.size();
  const auto result = std::from_chars(token.data(), end, value);
  if (result.ptr != end) return NumberStatus::kInvalid;
  if (result.ec == std::errc::result_out_of_range) {
    // Overflow or underflow: strtod gives the IEEE answer (+-inf or a denormal/zero).
    const std::string copy(token);
    *out = std::strtod(copy.c_str(), nullptr);
    return NumberStatus::kOk;
  }
  if (result.ec != std::errc()) return NumberStatus::kInvalid;
  *out = value;
  return NumberStatus::kOk;
}

NumberStatus parse_int64(std::string_view token, int64_t* out) {
  token = drop_plus(token);
  if (token.empty()) return NumberStatus::kInvalid;
  int64_t value = 0;
  const char* end = token.data() + token.size();
  const auto result = std::from_chars(token.data(), end, value);
  if (result.ptr != end) return NumberStatus::kInvalid;
  if (result.ec == std::errc::result_out_of_range) return NumberStatus::kOutOfRange;
  if (result.ec != std::errc()) return NumberStatus::kInvalid;
  *out = value;
  return NumberStatus::kOk;
}

NumberStatus parse_uint64(std::string_view token, uint64_t* out) {
  token = drop_plus(token);
  if (token.empty() || token[0] == '-') return NumberStatus::kInvalid;
  uint64_t value = 0;
  const char* end = token.data() + token.size();
  const auto result = std::from_chars(token.data(), end, value);
  if (result.ptr != end) return NumberStatus::kInvalid;
  if (result.ec == std::errc::result_out_of_range) return NumberStatus::kOutOfRange;
  if (result.ec != std::errc()) return NumberStatus::kInvalid;
  *out = value;
  return NumberStatus::kOk;
}

void append_float(std::string* out, float v) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), v);
  out->append(buffer, result.ptr);
}

void append_int(std::string* out, int64_t v) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), v);
  out->append(buffer, result.ptr);
}

namespace {
template <typename T>
T load_uint(const char* p, ByteOrder order) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    const size_t k = order == ByteOrder::kLittle ? sizeof(T) - 1 - i : i;
    v = static_cast<T>((v << 8) | static_cast<unsigned char>(p[k]));
  }
  return v;
}

template <typename T>
void append_uint_le(std::string* out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
}  // namespace

uint16_t load_u16(const char* p, ByteOrder order) { return load_uint<uint16_t>(p, order); }
uint32_t load_u32(const char* p, ByteOrder order) { return load_uint<uint32_t>(p, order); }
uint64_t load_u64(const char* p, ByteOrder order) { return load_uint<uint64_t>(p, order); }

float load_f32(const char* p, ByteOrder order) {
  const uint32_t bits = load_u32(p, order);
  float v;
  std::memcpy(&v, &bits, sizeof(v));
  return v;
}

double load_f64(const char* p, ByteOrder order) {
  const uint64_t bits = load_u64(p, order);
  double v;
  std::memcpy(&v, &bits, sizeof(v));
  return v;
}

void append_u16_le(std::string* out, uint16_t v) { append_uint_le(out, v); }
void append_u32_le(std::string* out, uint32_t v) { append_uint_le(out, v); }
void append_u64_le(std::string* out, uint64_t v) { append_uint_le(out, v); }

void append_f32_le(std::string* out, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  append_uint_le(out, bits);
}

float to_float(double v) {
  if (std::isnan(v)) return std::numeric_limits<float>::quiet_NaN();
  if (std::fabs(v) > static_cast<double>(std::numeric_limits<float>::max())) {
    return v > 0 ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
  }
  return static_cast<float>(v);
}

}  // namespace shapediff::io::formats::detail

// Shared building blocks of the io/formats parsers and writers: one-line errors, overflow-checked
// size arithmetic, line/token scanning of text formats, bounds-checked binary reads with an
// explicit byte order, and exact (shortest round-trip) number formatting.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shapediff::io::formats::detail {

// Throws std::runtime_error("<name>: <message>").
[[noreturn]] void fail(const std::string& name, const std::string& message);

// A token from a file for an error message: quoted, at most 32 characters, non-printable bytes
// as \xNN, so a garbage file still gives a one-line message.
std::string quote_token(std::string_view token);

// a*b and a+b into *out; false (and *out untouched) on overflow.
bool checked_mul(uint64_t a, uint64_t b, uint64_t* out);
bool checked_add(uint64_t a, uint64_t b, uint64_t* out);

// How many items to reserve when a header claims `count` items of at least `min_bytes` each
// but only `available` bytes remain: never more than the data can hold.
size_t reserve_count(uint64_t count, uint64_t available, uint64_t min_bytes);

// ---- text ----------------------------------------------------------------------------------

bool is_space(char c);
std::string_view trim(std::string_view s);
// The part of `line` before the first `marker` character.
std::string_view strip_comment(std::string_view line, char marker);
// Whitespace-separated tokens of `line` (replaces the contents of `tokens`).
void split_tokens(std::string_view line, std::vector<std::string_view>* tokens);
bool starts_with(std::string_view s, std::string_view prefix);
bool equals_ignore_case(std::string_view a, std::string_view b);

// Iterates the lines of a text (separated by \n; a trailing \r is dropped), counting them from 1.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {}
  bool next(std::string_view* line);
  int64_t line_number() const { return line_number_; }
  // Bytes not yet consumed.
  size_t remaining() const { return text_.size() - pos_; }
  size_t position() const { return pos_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  int64_t line_number_ = 0;
};

// Iterates whitespace-separated tokens across lines.
class TokenReader {
 public:
  explicit TokenReader(std::string_view text) : text_(text) {}
  bool next(std::string_view* token);
  size_t remaining() const { return text_.size() - pos_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

enum class NumberStatus { kOk, kInvalid, kOutOfRange };

// The whole token as a number (a leading '+' is accepted; "nan"/"inf" parse, callers check
// finiteness). Doubles that overflow become +-inf with kOk; garbage gives kInvalid.
NumberStatus parse_double(std::string_view token, double* out);
NumberStatus parse_int64(std::string_view token, int64_t* out);
NumberStatus parse_uint64(std::string_view token, uint64_t* out);

// Appends the shortest text that reads back to exactly `v`.
void append_float(std::string* out, float v);
void append_int(std::string* out, int64_t v);

// ---- binary --------------------------------------------------------------------------------

enum class ByteOrder { kLittle, kBig };

uint16_t load_u16(const char* p, ByteOrder order);
uint32_t load_u32(const char* p, ByteOrder order);
uint64_t load_u64(const char* p, ByteOrder order);
float load_f32(const char* p, ByteOrder order);
double load_f64(const char* p, ByteOrder order);

void append_u16_le(std::string* out, uint16_t v);
void append_u32_le(std::string* out, uint32_t v);
void append_u64_le(std::string* out, uint64_t v);
void append_f32_le(std::string* out, float v);

// Converts a finite double to float; values beyond float's range give +-inf (caught by the
// finiteness checks), never undefined behaviour.
float to_float(double v);

}  // namespace shapediff::io::formats::detail

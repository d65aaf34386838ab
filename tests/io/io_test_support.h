// Helpers shared by the io tests: a scratch directory per test, byte files, binary builders,
// and an assertion that a call throws the expected exception type with a one-line message
// naming the file.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace shapediff::io::test {

// A fresh directory under the system temp dir, removed with everything in it afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "shapediff-io-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  const std::filesystem::path& dir() const { return dir_; }

  // Names of the entries in the directory (to check that nothing partial was left).
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      names.push_back(e.path().filename().string());
    }
    return names;
  }

 private:
  std::filesystem::path dir_;
};

inline void write_bytes(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write test file " + path);
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline std::string from_hex(const char* hex) {
  std::string out;
  const size_t n = std::strlen(hex);
  for (size_t i = 0; i + 1 < n; i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex + i, 2), nullptr, 16)));
  }
  return out;
}

// Appends values in little- or big-endian order.
class Bytes {
 public:
  explicit Bytes(bool big_endian = false) : big_endian_(big_endian) {}

  template <typename T>
  Bytes& put(T value) {
    unsigned char raw[sizeof(T)];
    std::memcpy(raw, &value, sizeof(T));
    for (size_t i = 0; i < sizeof(T); ++i) {
      data_.push_back(static_cast<char>(raw[big_endian_ ? sizeof(T) - 1 - i : i]));
    }
    return *this;
  }
  Bytes& text(std::string_view s) {
    data_.append(s.data(), s.size());
    return *this;
  }
  const std::string& str() const { return data_; }

 private:
  bool big_endian_;
  std::string data_;
};

// fn() throws exactly E (not another type) with a one-line message that contains `name` and,
// when given, `fragment`.
template <typename E, typename F>
::testing::AssertionResult throws_naming(F&& fn, const std::string& name,
                                         const std::string& fragment = "") {
  try {
    fn();
  } catch (const E& e) {
    const std::string message = e.what();
    if (message.find(name) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "message \"" << message << "\" does not name " << name;
    }
    if (message.find('\n') != std::string::npos) {
      return ::testing::AssertionFailure() << "message is not one line: \"" << message << "\"";
    }
    if (!fragment.empty() && message.find(fragment) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "message \"" << message << "\" does not mention \"" << fragment << "\"";
    }
    return ::testing::AssertionSuccess() << message;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "wrong exception type: " << e.what();
  }
  return ::testing::AssertionFailure() << "no exception thrown";
}

// Every prefix of `bytes` shorter than `valid_from` fails to parse with a runtime_error naming
// `name`.
template <typename Parse>
void expect_truncations_fail(Parse&& parse, const std::string& bytes, const std::string& name,
                             size_t valid_from) {
  for (size_t cut = 0; cut < valid_from && cut < bytes.size(); ++cut) {
    EXPECT_TRUE(throws_naming<std::runtime_error>([&] { parse(bytes.substr(0, cut), name); }, name))
        << "truncated at byte " << cut << " of " << bytes.size();
  }
}

// CRC-32 (zip, PNG) and Adler-32 (zlib streams), for building test files by hand.
inline uint32_t crc32_of(std::string_view data, uint32_t crc = 0) {
  crc = ~crc;
  for (const char c : data) {
    crc ^= static_cast<unsigned char>(c);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

inline uint32_t adler32_of(std::string_view data) {
  uint32_t a = 1;
  uint32_t b = 0;
  for (const char c : data) {
    a = (a + static_cast<unsigned char>(c)) % 65521;
    b = (b + a) % 65521;
  }
  return (b << 16) | a;
}

// Deterministic pseudo-random bytes (xorshift).
inline std::string garbage(size_t n, uint64_t seed) {
  std::string out(n, '\0');
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& c : out) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    c = static_cast<char>(s & 0xff);
  }
  return out;
}

}  // namespace shapediff::io::test

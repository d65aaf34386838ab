#include "io/file_bytes.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace shapediff::io {

std::string read_file_bytes(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    throw std::runtime_error(path + ": cannot open: no such file");
  }
  if (!std::filesystem::is_regular_file(status)) {
    throw std::runtime_error(path + ": cannot open: not a regular file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) throw std::runtime_error(path + ": cannot determine the file size");
  in.seekg(0, std::ios::beg);
  std::string bytes(static_cast<size_t>(size), '\0');
  if (size > 0 && !in.read(&bytes[0], size)) {
    throw std::runtime_error(path + ": read failed after " + std::to_string(in.gcount()) + " of " +
                             std::to_string(size) + " bytes");
  }
  return bytes;
}

}  // namespace shapediff::io

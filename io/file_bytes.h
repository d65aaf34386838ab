// Whole-file reading for the format readers: the bytes of a regular file, or a one-line
// std::runtime_error naming the path and the reason (missing, a directory, unreadable).
#pragma once

#include <string>

namespace shapediff::io {

std::string read_file_bytes(const std::string& path);

}  // namespace shapediff::io

// PNG decoding and encoding on bytes through libpng, without torch.
//
// Decoding gives 8-bit pixels with 1 (gray), 3 (RGB) or 4 (RGBA) channels, row-major
// [height][width][channels]: palette images become RGB (RGBA with a tRNS chunk), gray+alpha
// becomes RGBA, 16-bit samples are scaled to 8 bits, low bit depths expanded, interlacing
// undone. libpng's errors come back through its error callback (longjmp inside this file
// only, no C++ object is skipped) and are rethrown as one-line std::runtime_error. Images
// whose dimensions claim more pixel data than the file could hold are rejected before any
// allocation.
//
//   RawImage img = decode_png(bytes, "frame.png");   // img.pixels.size() == H*W*C
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shapediff::io::formats {

struct RawImage {
  int64_t height = 0;
  int64_t width = 0;
  int64_t channels = 0;  // 1, 3 or 4
  std::vector<uint8_t> pixels;
};

// Throws std::runtime_error "<name>: <problem>" for a malformed or unsupported file.
RawImage decode_png(std::string_view bytes, const std::string& name);

// 8-bit gray, RGB or RGBA PNG. Throws std::invalid_argument for a bad image description and
// std::runtime_error if libpng fails.
std::string encode_png(const RawImage& image);

}  // namespace shapediff::io::formats

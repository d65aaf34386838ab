// PNG images as uint8 tensors [H, W, C] with C = 1 (gray), 3 (RGB) or 4 (RGBA), via libpng.
// Palette images read as RGB (RGBA with transparency), gray+alpha as RGBA, 16-bit samples are
// scaled to 8 bits (see io/formats/png_codec.h).
//
//   torch::Tensor img = io::read_png("frame.png");   // uint8 [480, 640, 3]
//   io::write_png("out.png", img);
#pragma once

#include <torch/types.h>

#include <string>

namespace shapediff::io {

// Throws std::runtime_error "<path>: <problem>" for a missing, malformed or truncated file.
torch::Tensor read_png(const std::string& path);

// `image`: uint8 [H, W, C] (C = 1, 3, 4) or [H, W] (gray), any device. Written atomically:
// nothing is left at `path` on failure. std::invalid_argument for another dtype or shape.
void write_png(const std::string& path, const torch::Tensor& image);

}  // namespace shapediff::io

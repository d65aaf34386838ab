// Image helpers for rendered frames (uint8 [H,W,3]): captions in a built-in 5x7 pixel font,
// and contact sheets that tile frames into a grid.
//
//   viewer::draw_text(frame, 8, 8, "step 5/25 t=801", 2);   // 2x-scaled dark text
//   auto sheet = viewer::tile_images(frames, /*columns=*/4, /*margin=*/6);
#pragma once

#include <torch/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace shapediff::viewer {

// Draws `text` with its top-left corner at (x, y), each font pixel a `scale` x `scale` block,
// clipped to the image. Covers digits, a-z (upper case is drawn as lower case), space and
// . , : ; = + - _ / ( ) % # < > [ ] |; other characters are drawn as '?'. `image` is uint8
// [H,W,3], CPU, contiguous (std::invalid_argument otherwise); it is modified in place.
void draw_text(torch::Tensor& image, int64_t x, int64_t y, const std::string& text, int64_t scale = 2,
               std::array<uint8_t, 3> colour = {40, 40, 40});

// Width and height in pixels that draw_text covers.
std::pair<int64_t, int64_t> text_size(const std::string& text, int64_t scale = 2);

// Tiles same-size images row-major into `columns` columns with `margin` pixels between and
// around them, on a `background` grey. std::invalid_argument for no images, mixed sizes or a
// non-positive column count.
torch::Tensor tile_images(const std::vector<torch::Tensor>& images, int64_t columns,
                          int64_t margin = 6, uint8_t background = 255);

}  // namespace shapediff::viewer

// Animated GIF (GIF89a) output for rendered frames: uint8 RGB images [H,W,3] of one size,
// one global 256-colour palette by median cut over all frames (colours binned to 5 bits per
// channel; images with at most 256 such bins come out exact), LZW-coded, looping forever.
//
//   io::write_gif("denoise.gif", {frame0, frame1, frame2}, /*delay_cs=*/10);  // 10 fps
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

namespace shapediff::io {

// `frames`: non-empty, each uint8 [H,W,3] with the same H, W (1..65535), any device.
// `delay_cs`: time each frame is shown in 1/100 s (0..65535). Plays in a loop forever.
// Written atomically; std::invalid_argument naming the frame and problem for bad input.
void write_gif(const std::string& path, const std::vector<torch::Tensor>& frames,
               int delay_cs = 10);

}  // namespace shapediff::io

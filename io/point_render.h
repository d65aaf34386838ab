// A small software renderer for point clouds: orthographic view from a fixed camera, each point
// a shaded disc (nearer points drawn over farther ones and slightly brighter), several clouds in
// one picture each with its own colour, and panels side by side. For reports and before/after
// pictures where no window system is wanted; the Open3D viewer is the interactive one.
//
//   RenderOptions o;                                       // 320x320, azimuth 30, elevation 20
//   auto img = render_points({{scan, {0.85, 0.25, 0.2}}, {completion, {0.2, 0.4, 0.8}}}, o);
//   write_png("after.png", hstack_images({before, img}));  // uint8 [H, W, 3]
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace shapediff::io {

struct RenderedCloud {
  torch::Tensor points;                // [N,3], y up
  std::array<double, 3> color{0.2, 0.4, 0.8};  // RGB in [0,1]
};

struct RenderOptions {
  int64_t width = 320;
  int64_t height = 320;
  double azimuth_deg = 30.0;    // rotation about +y
  double elevation_deg = 20.0;  // camera above the horizon
  double point_radius = 1.6;    // pixels
  // The view fits this radius around `center` (0: fit the union of the clouds).
  double extent = 0.0;
  std::array<double, 3> center{0, 0, 0};
};

// uint8 [H,W,3] on a white background. Throws std::invalid_argument for a cloud that is not
// [N,3] or a size below 8 pixels.
torch::Tensor render_points(const std::vector<RenderedCloud>& clouds, const RenderOptions& options = {});

// Images [H,W,3] uint8 of equal height side by side, with a `gap`-pixel white margin.
torch::Tensor hstack_images(const std::vector<torch::Tensor>& images, int64_t gap = 8);

}  // namespace shapediff::io

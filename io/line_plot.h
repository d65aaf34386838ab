// A line plot drawn straight into an RGB image, for training curves without a plotting library:
// a white canvas, light grid lines and black axes with tick marks at "nice" values (1, 2, 5 x
// 10^k; powers of ten on a log axis), numeric tick labels in a built-in 5x7 pixel font, and the
// series as polylines. Points that are not finite (or not positive on a log axis) are skipped,
// breaking the line there.
//
//   io::PlotSeries loss{steps, losses, {31, 119, 180}};
//   io::LinePlotOptions o;  o.log_y = true;
//   torch::Tensor image = io::render_line_plot({loss}, o);   // uint8 [400, 640, 3]
//   io::write_png("RUN/loss.png", image);
#pragma once

#include <torch/types.h>

#include <array>
#include <cstdint>
#include <vector>

namespace shapediff::io {

struct PlotSeries {
  std::vector<double> x, y;                      // same length
  std::array<uint8_t, 3> color{31, 119, 180};   // RGB
  int64_t thickness = 1;                          // pixels, >= 1
};

struct LinePlotOptions {
  int64_t width = 640;   // pixels, >= 160
  int64_t height = 400;  // pixels, >= 120
  bool log_y = false;    // logarithmic y axis (base 10)
};

// The plot as uint8 [height, width, 3]. Axis ranges cover every drawable point of every series
// ([0, 1] when there is none). Throws std::invalid_argument for a size below the minimum, a
// series whose x and y lengths differ, or a thickness < 1.
torch::Tensor render_line_plot(const std::vector<PlotSeries>& series,
                               const LinePlotOptions& options = {});

}  // namespace shapediff::io

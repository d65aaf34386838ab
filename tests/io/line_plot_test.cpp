#include "io/line_plot.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

#include "io/png.h"
#include "io_test_support.h"

namespace shapediff::io {
namespace {

// The mean row (top = 0) of the pixels of exactly `color` in column x, or -1 when none.
int64_t mean_row_of_color(const torch::Tensor& image, int64_t x, const std::array<uint8_t, 3>& color) {
  const auto a = image.accessor<uint8_t, 3>();
  double sum = 0;
  int64_t n = 0;
  for (int64_t y = 0; y < image.size(0); ++y) {
    if (a[y][x][0] == color[0] && a[y][x][1] == color[1] && a[y][x][2] == color[2]) {
      sum += static_cast<double>(y);
      ++n;
    }
  }
  return n ? static_cast<int64_t>(std::lround(sum / static_cast<double>(n))) : -1;
}

int64_t count_color(const torch::Tensor& image, const std::array<uint8_t, 3>& c) {
  const auto match = (image.select(2, 0) == c[0]) & (image.select(2, 1) == c[1]) & (image.select(2, 2) == c[2]);
  return match.sum().item<int64_t>();
}

TEST(LinePlot, DrawsAxesAndADecreasingCurve) {
  PlotSeries s;
  for (int i = 0; i <= 100; ++i) {
    s.x.push_back(i * 10.0);
    s.y.push_back(1.0 - 0.008 * i);  // 1.0 down to 0.2
  }
  s.color = {200, 30, 40};
  LinePlotOptions o;
  o.width = 320;
  o.height = 200;
  const auto image = render_line_plot({s}, o);
  ASSERT_EQ(image.sizes(), (c10::IntArrayRef{200, 320, 3}));
  ASSERT_EQ(image.scalar_type(), torch::kUInt8);
  // Mostly white background, some black (axes, ticks, labels) and the curve's colour.
  const auto white = count_color(image, {255, 255, 255});
  EXPECT_GT(white, 200 * 320 / 2);
  EXPECT_GT(count_color(image, {0, 0, 0}), 300);
  EXPECT_GT(count_color(image, s.color), 200);
  // The curve falls from left to right: its row grows.
  const int64_t left = mean_row_of_color(image, 80, s.color);
  const int64_t right = mean_row_of_color(image, 290, s.color);
  ASSERT_GE(left, 0);
  ASSERT_GE(right, 0);
  EXPECT_LT(left, right - 50);
  // A black frame: the bottom axis is a long horizontal black run.
  int64_t longest = 0;
  for (int64_t y = 150; y < 200; ++y) {
    const auto row = (image[y].sum(1) == 0).sum().item<int64_t>();
    longest = std::max(longest, row);
  }
  EXPECT_GT(longest, 200);
}

TEST(LinePlot, LogAxisSkipsNonPositiveAndNonFinite) {
  const std::array<uint8_t, 3> green{10, 160, 10};
  PlotSeries s{{0, 1, 2, 3, 4}, {1.0, 0.1, -1.0, std::nan(""), 0.01}, green, 1};
  LinePlotOptions o;
  o.log_y = true;
  const auto image = render_line_plot({s}, o);
  EXPECT_EQ(image.size(0), 400);
  // The columns the series touches: x = 0 at c0, x = 4 at c4.
  int64_t c0 = -1, c4 = -1;
  for (int64_t x = 0; x < image.size(1); ++x) {
    if (mean_row_of_color(image, x, green) >= 0) {
      if (c0 < 0) c0 = x;
      c4 = x;
    }
  }
  ASSERT_GT(c4, c0 + 100);
  const int64_t c1 = c0 + (c4 - c0) / 4;
  // Decades are equally spaced: 1 -> 0.1 drops as far as 0.1 -> 0.01.
  const int64_t y0 = mean_row_of_color(image, c0, green), y1 = mean_row_of_color(image, c1, green),
                y4 = mean_row_of_color(image, c4, green);
  EXPECT_NEAR(static_cast<double>(y1 - y0), static_cast<double>(y4 - y1), 3.0);
  EXPECT_GT(y1, y0 + 50);
  // -1 and NaN break the line: nothing is drawn between x = 1 and the dot at x = 4.
  for (int64_t x = c1 + 3; x < c4 - 2; ++x) EXPECT_EQ(mean_row_of_color(image, x, green), -1) << x;
}

TEST(LinePlot, EmptyAndConstantSeriesStillRender) {
  EXPECT_EQ(render_line_plot({}).size(1), 640);
  PlotSeries flat{{0, 1, 2}, {5, 5, 5}};
  const auto image = render_line_plot({flat});
  EXPECT_GT(count_color(image, flat.color), 100);
}

TEST(LinePlot, RejectsBadInput) {
  LinePlotOptions tiny;
  tiny.width = 20;
  EXPECT_THROW(render_line_plot({}, tiny), std::invalid_argument);
  PlotSeries bad{{0, 1}, {1}};
  EXPECT_THROW(render_line_plot({bad}), std::invalid_argument);
  PlotSeries thin{{0}, {1}, {0, 0, 0}, 0};
  EXPECT_THROW(render_line_plot({thin}), std::invalid_argument);
}

TEST(LinePlot, WritesAPngThatReadsBack) {
  test::TempDir tmp;
  PlotSeries s{{0, 1, 2}, {3, 1, 2}};
  const auto image = render_line_plot({s});
  write_png(tmp.path("plot.png"), image);
  EXPECT_TRUE(torch::equal(read_png(tmp.path("plot.png")), image));
}

}  // namespace
}  // namespace shapediff::io

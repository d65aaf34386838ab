#include "io/line_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>

#include <torch/torch.h>

namespace shapediff::io {
namespace {

// 5x7 glyphs, one 5-bit row pattern per line (most significant bit = leftmost pixel), for the
// characters that printf's %g produces.
struct Glyph {
  char c;
  uint8_t rows[7];
};
constexpr Glyph kFont[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}},
    {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}},
    {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}},
    {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}},
    {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}},
    {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}},
    {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
    {'+', {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}},
    {'e', {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E}},
};
constexpr int64_t kGlyphW = 5, kGlyphH = 7, kAdvance = 6;

using Rgb = std::array<uint8_t, 3>;
constexpr Rgb kBlack{0, 0, 0}, kGrid{225, 225, 225};

class Canvas {
 public:
  Canvas(int64_t w, int64_t h) : w_(w), h_(h), image_(torch::full({h, w, 3}, 255, torch::kUInt8)) {}

  void set(int64_t x, int64_t y, const Rgb& c) {
    if (x < 0 || y < 0 || x >= w_ || y >= h_) return;
    auto* p = image_.data_ptr<uint8_t>() + (y * w_ + x) * 3;
    p[0] = c[0];
    p[1] = c[1];
    p[2] = c[2];
  }
  void hline(int64_t x0, int64_t x1, int64_t y, const Rgb& c) {
    for (int64_t x = x0; x <= x1; ++x) set(x, y, c);
  }
  void vline(int64_t x, int64_t y0, int64_t y1, const Rgb& c) {
    for (int64_t y = y0; y <= y1; ++y) set(x, y, c);
  }
  // A segment stepped one pixel at a time along its longer axis, each step a square of
  // `thickness` pixels.
  void line(double x0, double y0, double x1, double y1, const Rgb& c, int64_t thickness) {
    const double steps = std::max({std::abs(x1 - x0), std::abs(y1 - y0), 1.0});
    const int64_t lo = -(thickness - 1) / 2, hi = thickness / 2;
    for (int64_t i = 0; i <= static_cast<int64_t>(steps); ++i) {
      const double f = static_cast<double>(i) / steps;
      const auto x = static_cast<int64_t>(std::lround(x0 + (x1 - x0) * f));
      const auto y = static_cast<int64_t>(std::lround(y0 + (y1 - y0) * f));
      for (int64_t dy = lo; dy <= hi; ++dy) {
        for (int64_t dx = lo; dx <= hi; ++dx) set(x + dx, y + dy, c);
      }
    }
  }
  // Text with its top-left corner at (x, y).
  void text(int64_t x, int64_t y, const std::string& s, const Rgb& c) {
    for (char ch : s) {
      for (const auto& g : kFont) {
        if (g.c != ch) continue;
        for (int64_t r = 0; r < kGlyphH; ++r) {
          for (int64_t col = 0; col < kGlyphW; ++col) {
            if (g.rows[r] & (1 << (kGlyphW - 1 - col))) set(x + col, y + r, c);
          }
        }
      }
      x += kAdvance;
    }
  }
  torch::Tensor image() const { return image_; }

 private:
  int64_t w_, h_;
  torch::Tensor image_;
};

int64_t text_width(const std::string& s) { return static_cast<int64_t>(s.size()) * kAdvance - 1; }

std::string label(double v) {
  if (std::abs(v) < 1e-12) return "0";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);  // steps print as 1500, not 1.5e+03
  return buf;
}

// Ticks at 1, 2 or 5 x 10^k, about `target` of them, covering [lo, hi].
std::vector<double> linear_ticks(double lo, double hi, int target) {
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

// Exponents (log10 values) of the ticks of a log axis spanning [lo, hi] in log10 units: powers
// of ten, plus 2x and 5x when the range spans less than two decades, and plain linear ticks of
// the values when it spans less than one.
std::vector<double> log_ticks(double lo, double hi) {
  std::vector<double> ticks;
  if (hi - lo < 1.0) {
    for (double v : linear_ticks(std::pow(10.0, lo), std::pow(10.0, hi), 5)) {
      if (v > 0 && std::log10(v) >= lo - 1e-9 && std::log10(v) <= hi + 1e-9) ticks.push_back(std::log10(v));
    }
    return ticks;
  }
  const bool dense = hi - lo < 2.0;
  for (double k = std::floor(lo); k <= std::ceil(hi); k += 1.0) {
    for (double m : {1.0, 2.0, 5.0}) {
      if (m != 1.0 && !dense) continue;
      const double v = k + std::log10(m);
      if (v >= lo - 1e-9 && v <= hi + 1e-9) ticks.push_back(v);
    }
  }
  return ticks;
}

// Widens a degenerate range so that the axis maps every value somewhere.
void widen(double& lo, double& hi) {
  if (!(lo < hi)) {
    const double pad = std::max(std::abs(lo) * 0.1, 0.5);
    lo -= pad;
    hi += pad;
  }
}

}  // namespace

torch::Tensor render_line_plot(const std::vector<PlotSeries>& series, const LinePlotOptions& o) {
  if (o.width < 160 || o.height < 120) {
    throw std::invalid_argument("render_line_plot: size must be at least 160x120, got " +
                                std::to_string(o.width) + "x" + std::to_string(o.height));
  }
  for (size_t i = 0; i < series.size(); ++i) {
    if (series[i].x.size() != series[i].y.size()) {
      throw std::invalid_argument("render_line_plot: series " + std::to_string(i) + " has " +
                                  std::to_string(series[i].x.size()) + " x values and " +
                                  std::to_string(series[i].y.size()) + " y values");
    }
    if (series[i].thickness < 1) {
      throw std::invalid_argument("render_line_plot: series " + std::to_string(i) +
                                  " thickness must be >= 1");
    }
  }
  auto drawable = [&](double x, double y) {
    return std::isfinite(x) && std::isfinite(y) && (!o.log_y || y > 0);
  };
  auto ty = [&](double y) { return o.log_y ? std::log10(y) : y; };
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo, y_lo = x_lo, y_hi = -x_lo;
  for (const auto& s : series) {
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!drawable(s.x[i], s.y[i])) continue;
      x_lo = std::min(x_lo, s.x[i]);
      x_hi = std::max(x_hi, s.x[i]);
      y_lo = std::min(y_lo, ty(s.y[i]));
      y_hi = std::max(y_hi, ty(s.y[i]));
    }
  }
  if (!std::isfinite(x_lo)) {
    x_lo = y_lo = 0;
    x_hi = y_hi = 1;
  }
  widen(x_lo, x_hi);
  widen(y_lo, y_hi);
  if (!o.log_y) {
    // Round the y range out to ticks so the curve never touches the frame.
    const auto t = linear_ticks(y_lo, y_hi, 6);
    const double step = t.size() > 1 ? t[1] - t[0] : (y_hi - y_lo);
    y_lo = std::floor(y_lo / step + 1e-9) * step;
    y_hi = std::ceil(y_hi / step - 1e-9) * step;
  }

  const auto y_ticks = o.log_y ? log_ticks(y_lo, y_hi) : linear_ticks(y_lo, y_hi, 6);
  const auto x_ticks = linear_ticks(x_lo, x_hi, 6);
  std::vector<std::string> y_labels;
  int64_t label_w = 0;
  for (double t : y_ticks) {
    y_labels.push_back(label(o.log_y ? std::pow(10.0, t) : t));
    label_w = std::max(label_w, text_width(y_labels.back()));
  }

  const int64_t left = label_w + 14, right = o.width - 16, top = 12, bottom = o.height - 24;
  auto px = [&](double x) { return left + (x - x_lo) / (x_hi - x_lo) * static_cast<double>(right - left); };
  auto py = [&](double y) { return bottom - (y - y_lo) / (y_hi - y_lo) * static_cast<double>(bottom - top); };

  Canvas canvas(o.width, o.height);
  for (size_t i = 0; i < y_ticks.size(); ++i) {
    const auto y = static_cast<int64_t>(std::lround(py(y_ticks[i])));
    canvas.hline(left + 1, right, y, kGrid);
    canvas.hline(left - 4, left - 1, y, kBlack);
    canvas.text(left - 7 - text_width(y_labels[i]), y - kGlyphH / 2, y_labels[i], kBlack);
  }
  for (double t : x_ticks) {
    const auto x = static_cast<int64_t>(std::lround(px(t)));
    canvas.vline(x, top, bottom - 1, kGrid);
    canvas.vline(x, bottom + 1, bottom + 4, kBlack);
    const auto s = label(t);
    canvas.text(x - text_width(s) / 2, bottom + 8, s, kBlack);
  }
  canvas.vline(left, top, bottom, kBlack);
  canvas.hline(left, right, bottom, kBlack);

  for (const auto& s : series) {
    bool have_prev = false;
    double prev_x = 0, prev_y = 0;
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!drawable(s.x[i], s.y[i])) {
        have_prev = false;
        continue;
      }
      const double x = px(s.x[i]), y = py(ty(s.y[i]));
      if (have_prev) {
        canvas.line(prev_x, prev_y, x, y, s.color, s.thickness);
      } else {
        canvas.line(x, y, x, y, s.color, s.thickness);
      }
      prev_x = x;
      prev_y = y;
      have_prev = true;
    }
  }
  return canvas.image();
}

}  // namespace shapediff::io

#include "io/point_render.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <torch/torch.h>

namespace shapediff::io {

torch::Tensor render_points(const std::vector<RenderedCloud>& clouds, const RenderOptions& o) {
  if (o.width < 8 || o.height < 8) {
    throw std::invalid_argument("render size " + std::to_string(o.width) + "x" + std::to_string(o.height) +
                                " is below 8 pixels");
  }
  const double az = o.azimuth_deg * M_PI / 180.0, el = o.elevation_deg * M_PI / 180.0;
  // Camera basis: right, up and towards-the-viewer vectors.
  const double rx = std::cos(az), rz = -std::sin(az);
  const double fx = std::sin(az) * std::cos(el), fy = std::sin(el), fz = std::cos(az) * std::cos(el);
  const double ux = -std::sin(az) * std::sin(el), uy = std::cos(el), uz = -std::cos(az) * std::sin(el);

  std::vector<torch::Tensor> pts;
  for (const auto& c : clouds) {
    if (!c.points.defined() || c.points.dim() != 2 || c.points.size(1) != 3) {
      throw std::invalid_argument("render_points: a cloud must be [N,3]");
    }
    pts.push_back(c.points.to(torch::kCPU, torch::kFloat64).contiguous());
  }
  std::array<double, 3> center = o.center;
  double extent = o.extent;
  if (extent <= 0) {
    double lo[3] = {1e300, 1e300, 1e300}, hi[3] = {-1e300, -1e300, -1e300};
    for (const auto& p : pts) {
      if (p.size(0) == 0) continue;
      for (int a = 0; a < 3; ++a) {
        lo[a] = std::min(lo[a], p.select(1, a).min().item<double>());
        hi[a] = std::max(hi[a], p.select(1, a).max().item<double>());
      }
    }
    extent = 0;
    for (int a = 0; a < 3; ++a) {
      center[a] = lo[a] <= hi[a] ? (lo[a] + hi[a]) / 2 : 0.0;
      extent = std::max(extent, (hi[a] - lo[a]) / 2);
    }
    extent = extent > 0 ? extent * std::sqrt(3.0) * 0.95 : 1.0;
  }
  const int64_t w = o.width, h = o.height;
  const double pixels_per_unit = 0.5 * static_cast<double>(std::min(w, h)) / extent;
  auto image = torch::full({h, w, 3}, 255, torch::kUInt8);
  std::vector<double> depth(static_cast<size_t>(w * h), -std::numeric_limits<double>::infinity());
  auto* img = image.data_ptr<uint8_t>();
  const int r = static_cast<int>(std::ceil(o.point_radius));
  for (size_t ci = 0; ci < pts.size(); ++ci) {
    const auto& p = pts[ci];
    const auto* d = p.data_ptr<double>();
    const auto& col = clouds[ci].color;
    for (int64_t i = 0; i < p.size(0); ++i) {
      const double x = d[3 * i] - center[0], y = d[3 * i + 1] - center[1], z = d[3 * i + 2] - center[2];
      const double sx = x * rx + z * rz, sy = x * ux + y * uy + z * uz, sz = x * fx + y * fy + z * fz;
      const double px = w / 2.0 + sx * pixels_per_unit, py = h / 2.0 - sy * pixels_per_unit;
      // Brighter towards the viewer: depth in [-extent, extent] -> shade in [0.55, 1.1].
      const double shade = 0.825 + 0.275 * std::clamp(sz / extent, -1.0, 1.0);
      for (int dy = -r; dy <= r; ++dy) {
        for (int dx = -r; dx <= r; ++dx) {
          const double dist2 = dx * dx + dy * dy;
          if (dist2 > o.point_radius * o.point_radius) continue;
          const auto ix = static_cast<int64_t>(std::lround(px)) + dx;
          const auto iy = static_cast<int64_t>(std::lround(py)) + dy;
          if (ix < 0 || iy < 0 || ix >= w || iy >= h) continue;
          const size_t k = static_cast<size_t>(iy * w + ix);
          if (sz <= depth[k]) continue;
          depth[k] = sz;
          // A darker rim makes neighbouring discs readable.
          const double rim = 1.0 - 0.25 * dist2 / (o.point_radius * o.point_radius + 1e-9);
          for (int c = 0; c < 3; ++c) {
            img[3 * k + c] = static_cast<uint8_t>(std::clamp(col[c] * shade * rim * 255.0, 0.0, 255.0));
          }
        }
      }
    }
  }
  return image;
}

torch::Tensor hstack_images(const std::vector<torch::Tensor>& images, int64_t gap) {
  if (images.empty()) throw std::invalid_argument("hstack_images: no images");
  const int64_t h = images[0].size(0);
  std::vector<torch::Tensor> parts;
  for (size_t i = 0; i < images.size(); ++i) {
    const auto& im = images[i];
    if (im.dim() != 3 || im.size(2) != 3 || im.scalar_type() != torch::kUInt8 || im.size(0) != h) {
      throw std::invalid_argument("hstack_images: image " + std::to_string(i) +
                                  " is not uint8 [" + std::to_string(h) + ",W,3]");
    }
    if (i > 0 && gap > 0) parts.push_back(torch::full({h, gap, 3}, 255, torch::kUInt8));
    parts.push_back(im.to(torch::kCPU));
  }
  return torch::cat(parts, 1);
}

}  // namespace shapediff::io

#include "shapes/virtual_scan.h"

#include <cmath>
#include <random>
#include <sstream>
#include <stdexcept>

#include <torch/torch.h>

#include "shapediff/config.h"
#include "shapes/camera_frame.h"

namespace shapediff::shapes {
namespace {

using Vec = camera_frame::Vec;

}  // namespace

PinholeCamera PinholeCamera::looking_at(const Vec& position, const Vec& target, const Vec& up,
                                        int64_t width, int64_t height, double fov_y_degrees) {
  if (!(fov_y_degrees > 0 && fov_y_degrees < 180)) {
    throw std::invalid_argument("camera: fov_y must be in (0, 180) degrees, got " +
                                std::to_string(fov_y_degrees));
  }
  PinholeCamera c;
  c.width = width;
  c.height = height;
  c.fy = 0.5 * static_cast<double>(height) / std::tan(fov_y_degrees * M_PI / 360.0);
  c.fx = c.fy;
  c.cx = 0.5 * static_cast<double>(width);
  c.cy = 0.5 * static_cast<double>(height);
  c.position = position;
  c.rotation = camera_frame::look_at(position, target, up, "camera");
  c.validate();
  return c;
}

torch::Tensor PinholeCamera::camera_to_world() const {
  auto m = torch::eye(4, torch::kFloat64);
  auto a = m.accessor<double, 2>();
  for (int r = 0; r < 3; ++r) {
    for (int k = 0; k < 3; ++k) a[r][k] = rotation[k][r];  // columns are the camera axes
    a[r][3] = position[r];
  }
  return m;
}

void PinholeCamera::validate() const {
  std::ostringstream err;
  if (width < 1 || height < 1 || width > 16384 || height > 16384) {
    err << "camera: image size " << width << "x" << height << " outside [1, 16384]";
  } else if (!(fx > 0) || !(fy > 0) || !std::isfinite(fx) || !std::isfinite(fy)) {
    err << "camera: focal lengths must be > 0, got fx=" << fx << " fy=" << fy;
  } else if (!std::isfinite(position[0]) || !std::isfinite(position[1]) || !std::isfinite(position[2])) {
    err << "camera: position is not finite";
  } else if (!camera_frame::orthonormal(rotation)) {
    err << "camera: rotation is not orthonormal";
  }
  if (!err.str().empty()) throw std::invalid_argument(err.str());
}

std::vector<PinholeCamera> cameras_around(int64_t views, double distance, uint64_t seed,
                                          int64_t width, int64_t height, double fov_y_degrees,
                                          double min_elevation, double max_elevation) {
  if (views < 1) throw std::invalid_argument("cameras_around: views must be >= 1, got " + std::to_string(views));
  if (!(distance > 0)) throw std::invalid_argument("cameras_around: distance must be > 0");
  if (!(min_elevation <= max_elevation) || min_elevation < -89 || max_elevation > 89) {
    throw std::invalid_argument("cameras_around: elevations must satisfy -89 <= min <= max <= 89");
  }
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 0x5CA9);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<PinholeCamera> cams;
  // Azimuths spread evenly from a random start so several views see different sides.
  const double start = unit(rng) * 2.0 * M_PI;
  for (int64_t v = 0; v < views; ++v) {
    const double az = start + 2.0 * M_PI * static_cast<double>(v) / static_cast<double>(views) +
                      (unit(rng) - 0.5) * M_PI / static_cast<double>(views);
    const double el = (min_elevation + (max_elevation - min_elevation) * unit(rng)) * M_PI / 180.0;
    const Vec pos{distance * std::cos(el) * std::sin(az), distance * std::sin(el),
                  distance * std::cos(el) * std::cos(az)};
    cams.push_back(PinholeCamera::looking_at(pos, {0, 0, 0}, {0, 1, 0}, width, height, fov_y_degrees));
  }
  return cams;
}

#if !SHAPEDIFF_WITH_CGAL
bool virtual_scan_available() { return false; }

VirtualScan scan_mesh(const TriangleMesh&, const PinholeCamera&, const ScanOptions&) {
  throw std::runtime_error("virtual scans need CGAL: this build has SHAPEDIFF_WITH_CGAL=OFF");
}

std::vector<VirtualScan> scan_mesh_views(const TriangleMesh&, const std::vector<PinholeCamera>&,
                                         const ScanOptions&) {
  throw std::runtime_error("virtual scans need CGAL: this build has SHAPEDIFF_WITH_CGAL=OFF");
}
#endif

}  // namespace shapediff::shapes

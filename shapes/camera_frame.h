// Look-at camera frames, shared by the pinhole scanner (shapes/virtual_scan.h) and the
// orthographic renderer (shapes/mesh_render.h): rows of the world-to-camera rotation are the
// camera's right, up and backward axes in world coordinates (the camera looks along -back).
//
//   auto rotation = camera_frame::look_at({0, 0, 3}, {0, 0, 0}, {0, 1, 0}, "camera");
//   bool ok = camera_frame::orthonormal(rotation);
#pragma once

#include <array>
#include <cmath>
#include <stdexcept>
#include <string>

namespace shapediff::shapes::camera_frame {

using Vec = std::array<double, 3>;
using Rotation = std::array<Vec, 3>;

inline Vec sub(const Vec& a, const Vec& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
inline Vec cross(const Vec& a, const Vec& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
inline double dot(const Vec& a, const Vec& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

// std::invalid_argument "<who>: degenerate <what>" for a zero or non-finite vector.
inline Vec normalized(const Vec& a, const std::string& who, const char* what) {
  const double n = std::sqrt(dot(a, a));
  if (!(n > 1e-12) || !std::isfinite(n)) throw std::invalid_argument(who + ": degenerate " + what);
  return {a[0] / n, a[1] / n, a[2] / n};
}

// The frame of a camera at `position` looking at `target` with `up` roughly upwards.
inline Rotation look_at(const Vec& position, const Vec& target, const Vec& up, const std::string& who) {
  const Vec back = normalized(sub(position, target), who, "view direction (position == target)");
  const Vec right = normalized(cross(up, back), who, "up vector (parallel to the view direction)");
  return {right, cross(back, right), back};
}

// Rows of unit length and pairwise orthogonal, within 1e-6.
inline bool orthonormal(const Rotation& r) {
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      if (!(std::abs(dot(r[i], r[j]) - (i == j ? 1.0 : 0.0)) <= 1e-6)) return false;
    }
  }
  return true;
}

}  // namespace shapediff::shapes::camera_frame

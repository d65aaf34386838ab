// Off-screen rendering of coloured point clouds to RGB images [H,W,3] uint8 with Open3D's
// legacy visualizer in a hidden window (needs an X display: a desktop or Xvfb, see
// viewer/display.h). The camera is fixed by aim() and kept for every later render, so frames
// of a trajectory line up; points are shaded darker with depth for a sense of 3D.
// Built only with SHAPEDIFF_WITH_OPEN3D (shapediff/config.h).
//
//   viewer::PointRenderer r(480, 480);
//   r.aim(final_points, {/*azimuth=*/30, /*elevation=*/20});
//   torch::Tensor img = r.render({{points, colours}});   // uint8 [480, 480, 3]
#pragma once

#include <torch/types.h>

#include <memory>
#include <vector>

namespace shapediff::viewer {

// A camera on a sphere around the aimed-at box: y is up, azimuth 0 looks along -z.
struct CameraView {
  double azimuth_deg = 30;
  double elevation_deg = 20;
  double zoom = 0.65;  // < 1 comes closer (Open3D's zoom: 1 fits the box)
};

struct ColouredCloud {
  torch::Tensor points;   // [N,3] float
  torch::Tensor colours;  // [N,3] float in [0,1]
};

class PointRenderer {
 public:
  // std::runtime_error when there is no display or the OpenGL window cannot be created.
  PointRenderer(int64_t width, int64_t height);
  ~PointRenderer();
  PointRenderer(const PointRenderer&) = delete;
  PointRenderer& operator=(const PointRenderer&) = delete;

  void set_point_size(double pixels);
  void set_depth_shading(bool on);
  // Points the camera at the bounding box of `points` [N,3] from `view`.
  void aim(const torch::Tensor& points, const CameraView& view);
  torch::Tensor render(const std::vector<ColouredCloud>& clouds);

  int64_t width() const { return width_; }
  int64_t height() const { return height_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int64_t width_, height_;
};

// A point size that reads well: larger for sparse clouds and big images, 1.5..8 pixels.
double auto_point_size(int64_t num_points, int64_t width, int64_t height);

}  // namespace shapediff::viewer

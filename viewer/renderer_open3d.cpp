#include <cmath>
#include <stdexcept>

#include <open3d/visualization/visualizer/Visualizer.h>
#include <torch/torch.h>

#include "viewer/display.h"
#include "viewer/convert_open3d.h"
#include "viewer/renderer.h"

namespace shapediff::viewer {

struct PointRenderer::Impl {
  open3d::visualization::Visualizer vis;
  std::vector<std::shared_ptr<open3d::geometry::PointCloud>> clouds;
  bool depth_shading = true;
  Eigen::Vector3d front{0, 0, 1};
  double near = 0, far = 1;  // depth range of the aimed-at box along -front
};

PointRenderer::PointRenderer(int64_t width, int64_t height)
    : impl_(std::make_unique<Impl>()), width_(width), height_(height) {
  if (width < 16 || height < 16 || width > 8192 || height > 8192) {
    throw std::invalid_argument("image size " + std::to_string(width) + "x" + std::to_string(height) +
                                " (each side must be 16..8192)");
  }
  require_display("rendering", /*headless=*/true);
  if (!impl_->vis.CreateVisualizerWindow("shapediff", static_cast<int>(width), static_cast<int>(height),
                                         0, 0, /*visible=*/false)) {
    throw std::runtime_error("rendering: Open3D could not open an OpenGL window on display " +
                             std::string(std::getenv("DISPLAY") ? std::getenv("DISPLAY") : "?"));
  }
  auto& opt = impl_->vis.GetRenderOption();
  opt.background_color_ = Eigen::Vector3d::Ones();
  opt.point_size_ = 3;
}

PointRenderer::~PointRenderer() { impl_->vis.DestroyVisualizerWindow(); }

void PointRenderer::set_point_size(double pixels) { impl_->vis.GetRenderOption().point_size_ = pixels; }

void PointRenderer::set_depth_shading(bool on) { impl_->depth_shading = on; }

void PointRenderer::aim(const torch::Tensor& points, const CameraView& view) {
  open3d::geometry::PointCloud box;
  box.points_ = detail::to_eigen(points);
  const auto bounds = box.GetAxisAlignedBoundingBox();
  const double az = view.azimuth_deg * M_PI / 180, el = view.elevation_deg * M_PI / 180;
  impl_->front = Eigen::Vector3d(std::cos(el) * std::sin(az), std::sin(el), std::cos(el) * std::cos(az));
  auto& ctl = impl_->vis.GetViewControl();
  ctl.ResetBoundingBox();
  ctl.FitInGeometry(box);
  ctl.SetLookat(bounds.GetCenter());
  ctl.SetFront(impl_->front);
  ctl.SetUp({0, 1, 0});
  ctl.SetZoom(view.zoom);
  const double centre = -impl_->front.dot(bounds.GetCenter());
  const double radius = std::max(bounds.GetHalfExtent().norm(), 1e-6);
  impl_->near = centre - radius;
  impl_->far = centre + radius;
}

torch::Tensor PointRenderer::render(const std::vector<ColouredCloud>& clouds) {
  auto& vis = impl_->vis;
  if (impl_->clouds.size() != clouds.size()) {
    vis.ClearGeometries();
    impl_->clouds.clear();
    for (size_t i = 0; i < clouds.size(); ++i) {
      impl_->clouds.push_back(std::make_shared<open3d::geometry::PointCloud>());
      vis.AddGeometry(impl_->clouds.back(), /*reset_bounding_box=*/false);
    }
  }
  for (size_t i = 0; i < clouds.size(); ++i) {
    auto colours = clouds[i].colours.to(torch::kCPU, torch::kFloat32);
    if (impl_->depth_shading) {
      const auto f = torch::tensor({impl_->front.x(), impl_->front.y(), impl_->front.z()}, torch::kFloat32);
      auto depth = -clouds[i].points.to(torch::kCPU, torch::kFloat32).matmul(f);
      auto t = ((depth - impl_->near) / (impl_->far - impl_->near)).clamp(0, 1);
      colours = colours * (1 - 0.45 * t).unsqueeze(1);
    }
    detail::set_cloud(*impl_->clouds[i], clouds[i].points, colours);
    vis.UpdateGeometry(impl_->clouds[i]);
  }
  auto image = vis.CaptureScreenFloatBuffer(/*do_render=*/true);
  if (!image || image->IsEmpty()) throw std::runtime_error("rendering: Open3D returned no image");
  return detail::to_tensor(*image);
}

double auto_point_size(int64_t num_points, int64_t width, int64_t height) {
  const double spacing = std::sqrt(static_cast<double>(width) * height / std::max<int64_t>(num_points, 1));
  return std::clamp(spacing * 0.4, 1.5, 8.0);
}

}  // namespace shapediff::viewer

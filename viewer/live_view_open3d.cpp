#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include <torch/torch.h>

#include "viewer/convert_open3d.h"
#include "viewer/live_view.h"
#include "viewer/renderer.h"
#include "viewer/window_open3d.h"
// After Open3D (GLEW must come before any GL header); only the key codes are needed here.
#define GLFW_INCLUDE_NONE
#include <GLFW/glfw3.h>

namespace shapediff::viewer {

struct LiveView::State {
  LiveViewOptions options;
  mutable std::mutex mutex;
  std::optional<LiveFrame> pending;  // newest frame not drawn yet
  bool finished = false;
  std::string status;
  int64_t shown = 0;
};

LiveView::LiveView(LiveViewOptions options) : state_(std::make_unique<State>()) {
  state_->options = std::move(options);
}

LiveView::~LiveView() = default;

void LiveView::push_frame(const LiveFrame& frame) {
  if (!frame.points.defined() || frame.points.dim() != 2 || frame.points.size(1) != 3 ||
      frame.points.size(0) == 0) {
    throw std::invalid_argument("LiveView::push_frame: points must be [N,3] with N > 0");
  }
  LiveFrame copy = frame;
  copy.points = frame.points.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  if (frame.x0.defined()) copy.x0 = frame.x0.detach().to(torch::kCPU, torch::kFloat32);
  if (frame.known.defined()) copy.known = frame.known.to(torch::kCPU, torch::kBool);
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->pending = std::move(copy);
}

void LiveView::finish(const std::string& status) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->finished = true;
  state_->status = status;
}

int64_t LiveView::frames_shown() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->shown;
}

void LiveView::run() {
  const auto& o = state_->options;
  detail::ShapediffVisualizer vis;
  detail::open_window(vis, o.title, o.width, o.height);
  auto cloud = std::make_shared<open3d::geometry::PointCloud>();
  std::optional<LiveFrame> current;
  ColourMode colour = ColourMode::kHeight;
  double point_size = o.point_size;
  bool added = false, aimed_final = false;
  auto draw = [&](bool reaim) {
    if (!current) return;
    const auto& f = *current;
    const auto& c = f.points;
    const auto mode = colour == ColourMode::kKnown && f.known.defined() ? ColourMode::kKnown : ColourMode::kHeight;
    detail::set_cloud(*cloud, c, point_colours(mode, c, c, f.known, colour_scale(c)));
    if (point_size <= 0) point_size = auto_point_size(c.size(0), o.width, o.height);
    vis.GetRenderOption().point_size_ = point_size;
    if (!added) {
      vis.AddGeometry(cloud, true);
      added = true;
    }
    vis.UpdateGeometry(cloud);
    if (reaim) detail::aim_window(vis, *cloud);
  };
  vis.RegisterKeyCallback(GLFW_KEY_EQUAL, [&](open3d::visualization::Visualizer*) {
    point_size = std::min(point_size + 1, 25.0);
    draw(false);
    return false;
  });
  vis.RegisterKeyCallback(GLFW_KEY_MINUS, [&](open3d::visualization::Visualizer*) {
    point_size = std::max(point_size - 1, 1.0);
    draw(false);
    return false;
  });
  vis.RegisterKeyCallback(GLFW_KEY_C, [&](open3d::visualization::Visualizer*) {
    colour = colour == ColourMode::kHeight ? ColourMode::kKnown : ColourMode::kHeight;
    draw(false);
    return false;
  });
  vis.RegisterKeyCallback(GLFW_KEY_R, [&](open3d::visualization::Visualizer*) {
    draw(true);
    return false;
  });
  vis.RegisterKeyCallback(GLFW_KEY_H, [](open3d::visualization::Visualizer*) {
    std::cout << "live view keys:\n  =, -    bigger / smaller points\n  c       colours: height / known "
                 "(partial input)\n  r       fit the camera to the current frame\n  q, esc  close\n"
                 "  mouse   drag: rotate, wheel: zoom, ctrl+drag: pan\n" << std::flush;
    return false;
  });
  while (vis.PollEvents()) {
    std::optional<LiveFrame> next;
    bool finished;
    std::string status;
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      next.swap(state_->pending);
      finished = state_->finished;
      status = state_->status;
    }
    const bool updated = next.has_value();
    if (updated) {
      const bool first = !current;
      current = std::move(next);
      draw(first);
      std::lock_guard<std::mutex> lock(state_->mutex);
      ++state_->shown;
    }
    const bool just_finished = finished && current && !aimed_final;
    if (just_finished) {
      draw(true);  // frame the finished shape
      aimed_final = true;
    }
    if (current && (updated || just_finished)) {
      std::ostringstream title;
      title << o.title << "  step " << current->step << "/" << current->num_steps << "  t="
            << std::setprecision(5) << current->timestep;
      if (current->x0.defined()) {
        title << "  noise " << std::fixed << std::setprecision(3)
              << (current->points - current->x0).square().sum(1).mean().sqrt().item<double>();
      }
      title << "  " << (finished ? status : "running") << "  (h: keys)";
      vis.set_title(title.str());
    }
    if (o.close_when_done && finished && aimed_final) {
      vis.PollEvents();
      if (!o.screenshot.empty()) detail::save_screenshot(vis, o.screenshot);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  vis.DestroyVisualizerWindow();
}

}  // namespace shapediff::viewer

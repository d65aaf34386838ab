#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <open3d/visualization/visualizer/VisualizerWithKeyCallback.h>
// After Open3D (GLEW must come before any GL header); only the GLFW API is needed here.
#define GLFW_INCLUDE_NONE
#include <GLFW/glfw3.h>
#include <torch/torch.h>

#include "io/png.h"
#include "viewer/convert_open3d.h"
#include "viewer/display.h"
#include "viewer/renderer.h"
#include "viewer/window.h"
#include "viewer/window_open3d.h"

namespace shapediff::viewer {
namespace detail {

void ShapediffVisualizer::set_title(const std::string& title) {
  if (window_ != nullptr) glfwSetWindowTitle(window_, title.c_str());
}

void open_window(ShapediffVisualizer& vis, const std::string& title, int64_t width, int64_t height) {
  require_display("shapediff view", /*headless=*/false);
  if (width < 16 || height < 16 || width > 8192 || height > 8192) {
    throw std::invalid_argument("window size " + std::to_string(width) + "x" + std::to_string(height) +
                                " (each side must be 16..8192)");
  }
  if (!vis.CreateVisualizerWindow(title, static_cast<int>(width), static_cast<int>(height))) {
    throw std::runtime_error("shapediff view: Open3D could not open an OpenGL window (is the X display usable?)");
  }
  auto& opt = vis.GetRenderOption();
  opt.background_color_ = Eigen::Vector3d::Ones();
  opt.mesh_show_back_face_ = true;
}

void aim_window(ShapediffVisualizer& vis, const open3d::geometry::PointCloud& box) {
  const CameraView cam;
  const double az = cam.azimuth_deg * M_PI / 180, el = cam.elevation_deg * M_PI / 180;
  auto& ctl = vis.GetViewControl();
  ctl.ResetBoundingBox();
  ctl.FitInGeometry(box);
  ctl.SetLookat(box.GetAxisAlignedBoundingBox().GetCenter());
  ctl.SetFront({std::cos(el) * std::sin(az), std::sin(el), std::cos(el) * std::cos(az)});
  ctl.SetUp({0, 1, 0});
  ctl.SetZoom(cam.zoom);
}

void save_screenshot(ShapediffVisualizer& vis, const std::string& path) {
  auto image = vis.CaptureScreenFloatBuffer(/*do_render=*/true);
  if (!image || image->IsEmpty()) throw std::runtime_error(path + ": Open3D returned no screen image");
  io::write_png(path, to_tensor(*image));
}

}  // namespace detail

namespace {

using detail::ShapediffVisualizer;

class TrajectoryPlayer {
 public:
  TrajectoryPlayer(const Trajectory& t, const WindowOptions& o, std::string name)
      : t_(t), o_(o), name_(std::move(name)), playing_(o.play), x0_(o.show_x0), colour_(o.colour) {
    final_points_ = t.x[t.num_frames() - 1][o.shape];
    scale_ = colour_scale(final_points_);
    if (t.has_known()) known_ = t.known[o.shape];
    point_size_ = o.point_size > 0 ? o.point_size : auto_point_size(t.num_points(), o.width, o.height);
  }

  void run() {
    detail::open_window(vis_, "shapediff view", o_.width, o_.height);
    detail::set_cloud(*cloud_, final_points_, {});
    vis_.AddGeometry(cloud_, /*reset_bounding_box=*/true);
    if (o_.scan) {
      detail::set_cloud(*scan_, o_.scan->points, torch::full_like(o_.scan->points, 0.55));
      vis_.AddGeometry(scan_, false);
    }
    if (o_.mesh) {
      mesh_ = detail::to_open3d(*o_.mesh, {0.8, 0.8, 0.78});
      vis_.AddGeometry(mesh_, false);
    }
    box_.points_ = detail::to_eigen(final_points_);
    detail::aim_window(vis_, box_);
    bind_keys();
    refresh();
    auto last = std::chrono::steady_clock::now();
    int64_t ticks = 0;
    while (vis_.PollEvents()) {
      const auto now = std::chrono::steady_clock::now();
      const bool scripted = o_.exit_after > 0;
      if (playing_ && (scripted || now - last >= std::chrono::duration<double>(1.0 / std::max(o_.fps, 0.1)))) {
        last = now;
        if (frame_ + 1 < t_.num_frames()) {
          ++frame_;
        } else {
          playing_ = false;  // stay on the finished shape
        }
        refresh();
      }
      if (scripted && ++ticks >= o_.exit_after) {
        vis_.PollEvents();
        if (!o_.screenshot.empty()) detail::save_screenshot(vis_, o_.screenshot);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(scripted ? 1 : 10));
    }
    vis_.DestroyVisualizerWindow();
  }

 private:
  void bind_keys() {
    auto key = [&](std::initializer_list<int> keys, std::function<void()> fn) {
      for (int k : keys) {
        vis_.RegisterKeyCallback(k, [this, fn](open3d::visualization::Visualizer*) {
          fn();
          refresh();
          return false;
        });
      }
    };
    key({GLFW_KEY_SPACE}, [this] {
      if (!playing_ && frame_ + 1 >= t_.num_frames()) frame_ = 0;  // replay from the start
      playing_ = !playing_;
    });
    key({GLFW_KEY_RIGHT, GLFW_KEY_N}, [this] { playing_ = false; frame_ = std::min(frame_ + 1, t_.num_frames() - 1); });
    key({GLFW_KEY_LEFT, GLFW_KEY_B}, [this] { playing_ = false; frame_ = std::max<int64_t>(frame_ - 1, 0); });
    key({GLFW_KEY_HOME}, [this] { playing_ = false; frame_ = 0; });
    key({GLFW_KEY_END}, [this] { playing_ = false; frame_ = t_.num_frames() - 1; });
    key({GLFW_KEY_X}, [this] { x0_ = !x0_; });
    key({GLFW_KEY_C}, [this] { colour_ = next_colour_mode(colour_); });
    key({GLFW_KEY_EQUAL, GLFW_KEY_KP_ADD}, [this] { point_size_ = std::min(point_size_ + 1, 25.0); });
    key({GLFW_KEY_MINUS, GLFW_KEY_KP_SUBTRACT}, [this] { point_size_ = std::max(point_size_ - 1, 1.0); });
    key({GLFW_KEY_S}, [this] { toggle(scan_, o_.scan.has_value(), scan_on_); });
    key({GLFW_KEY_M}, [this] { toggle(mesh_, o_.mesh.has_value(), mesh_on_); });
    key({GLFW_KEY_R}, [this] { detail::aim_window(vis_, box_); });
    key({GLFW_KEY_H}, [] { std::cout << "shapediff view keys:\n" << trajectory_window_keys() << std::flush; });
  }

  void toggle(const std::shared_ptr<const open3d::geometry::Geometry>& g, bool available, bool& on) {
    if (!available) return;
    if (on) {
      vis_.RemoveGeometry(g, false);
    } else {
      vis_.AddGeometry(g, false);
    }
    on = !on;
  }

  void refresh() {
    const auto points = (x0_ ? t_.x0 : t_.x)[frame_][o_.shape];
    detail::set_cloud(*cloud_, points, point_colours(colour_, points, final_points_, known_, scale_));
    vis_.GetRenderOption().point_size_ = point_size_;
    vis_.UpdateGeometry(cloud_);
    std::ostringstream title;
    title << "shapediff view  " << name_ << "  shape " << o_.shape << "  step "
          << t_.step[frame_].item<int64_t>() << "/" << t_.step[t_.num_frames() - 1].item<int64_t>()
          << " (frame " << frame_ + 1 << "/" << t_.num_frames() << ")  t=" << std::setprecision(5)
          << t_.timestep[frame_].item<double>() << "  noise " << std::fixed << std::setprecision(3)
          << noise_rms(t_, frame_, o_.shape) << "  " << (x0_ ? "x0 estimate" : "x_t") << "  colour "
          << to_string(colour_) << (playing_ ? "  playing" : "  paused") << "  (h: keys)";
    vis_.set_title(title.str());
  }

  const Trajectory& t_;
  const WindowOptions& o_;
  std::string name_;
  ShapediffVisualizer vis_;
  std::shared_ptr<open3d::geometry::PointCloud> cloud_ = std::make_shared<open3d::geometry::PointCloud>();
  std::shared_ptr<open3d::geometry::PointCloud> scan_ = std::make_shared<open3d::geometry::PointCloud>();
  std::shared_ptr<open3d::geometry::TriangleMesh> mesh_;
  open3d::geometry::PointCloud box_;
  torch::Tensor final_points_, known_;
  double scale_ = 1, point_size_ = 3;
  int64_t frame_ = 0;
  bool playing_, x0_;
  ColourMode colour_;
  bool scan_on_ = true, mesh_on_ = true;
};

// Centres `points` on its bounding box and scales the largest side to 1: [N,3].
std::pair<torch::Tensor, double> unit_box(const torch::Tensor& points, torch::Tensor& centre) {
  auto lo = std::get<0>(points.min(0)), hi = std::get<0>(points.max(0));
  centre = (lo + hi) / 2;
  const double side = (hi - lo).max().item<double>();
  const double s = side > 0 ? 1.0 / side : 1.0;
  return {(points - centre) * s, s};
}

}  // namespace

void run_trajectory_window(const Trajectory& trajectory, const WindowOptions& options,
                           const std::string& name) {
  if (options.shape < 0 || options.shape >= trajectory.num_shapes()) {
    throw std::invalid_argument("--shape " + std::to_string(options.shape) + " (the trajectory has " +
                                std::to_string(trajectory.num_shapes()) + " shapes: 0.." +
                                std::to_string(trajectory.num_shapes() - 1) + ")");
  }
  if (options.scan && options.scan->empty()) throw std::invalid_argument("--scan: the cloud is empty");
  TrajectoryPlayer player(trajectory, options, name);
  player.run();
}

void run_files_window(const std::vector<ViewItem>& items, const WindowOptions& options) {
  if (items.empty()) throw std::invalid_argument("shapediff view: nothing to show");
  std::vector<std::shared_ptr<const open3d::geometry::Geometry>> geometries;
  std::string names;
  int64_t max_points = 1;
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& item = items[i];
    const auto offset = torch::tensor({1.3f * static_cast<float>(i), 0.0f, 0.0f});
    torch::Tensor centre;
    names += (names.empty() ? "" : " | ") + item.name;
    if (item.mesh) {
      if (item.mesh->empty()) throw std::invalid_argument(item.name + ": the mesh has no faces");
      auto [v, s] = unit_box(item.mesh->vertices.to(torch::kFloat32), centre);
      shapes::TriangleMesh m = *item.mesh;
      m.vertices = v + offset;
      geometries.push_back(detail::to_open3d(m, {0.75, 0.75, 0.72}));
    } else {
      if (item.cloud.empty()) throw std::invalid_argument(item.name + ": the point cloud is empty");
      auto [p, s] = unit_box(item.cloud.points.to(torch::kFloat32), centre);
      auto colours = item.cloud.has_colors()
                         ? item.cloud.colors
                         : point_colours(ColourMode::kHeight, p, p, {}, colour_scale(p));
      auto cloud = std::make_shared<open3d::geometry::PointCloud>();
      detail::set_cloud(*cloud, p + offset, colours);
      geometries.push_back(cloud);
      max_points = std::max(max_points, item.cloud.size());
    }
  }
  ShapediffVisualizer vis;
  detail::open_window(vis, "shapediff view  " + names, options.width, options.height);
  for (const auto& g : geometries) vis.AddGeometry(g, true);
  // Open3D fits the box's diagonal into the window height; zoom in until the row of unit boxes
  // fills the window's width (or height) with a small border.
  const double row = 1.3 * static_cast<double>(items.size() - 1) + 1, diagonal = std::sqrt(row * row + 2);
  const double aspect = static_cast<double>(options.width) / static_cast<double>(options.height);
  vis.GetViewControl().SetZoom(std::clamp(1.2 * std::max(row / (diagonal * aspect), 1 / diagonal), 0.2, 1.0));
  double point_size = options.point_size > 0 ? options.point_size
                                             : auto_point_size(max_points, options.width / static_cast<int64_t>(items.size()), options.height);
  vis.GetRenderOption().point_size_ = point_size;
  vis.RegisterKeyCallback(GLFW_KEY_H, [](open3d::visualization::Visualizer*) {
    std::cout << "shapediff view keys:\n  =, -       bigger / smaller points\n  r          reset the camera\n"
                 "  q, esc     quit\n  mouse      drag: rotate, wheel: zoom, ctrl+drag: pan\n" << std::flush;
    return false;
  });
  vis.RegisterKeyCallback(GLFW_KEY_EQUAL, [&point_size](open3d::visualization::Visualizer* v) {
    v->GetRenderOption().point_size_ = point_size = std::min(point_size + 1, 25.0);
    return false;
  });
  vis.RegisterKeyCallback(GLFW_KEY_MINUS, [&point_size](open3d::visualization::Visualizer* v) {
    v->GetRenderOption().point_size_ = point_size = std::max(point_size - 1, 1.0);
    return false;
  });
  int64_t ticks = 0;
  while (vis.PollEvents()) {
    if (options.exit_after > 0 && ++ticks >= options.exit_after) {
      if (!options.screenshot.empty()) detail::save_screenshot(vis, options.screenshot);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(options.exit_after > 0 ? 1 : 10));
  }
  vis.DestroyVisualizerWindow();
}

}  // namespace shapediff::viewer

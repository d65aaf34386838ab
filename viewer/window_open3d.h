// Internal to the viewer's Open3D files: the window class and helpers the trajectory window
// and the live view share.
#pragma once

#include <string>

#include <open3d/visualization/visualizer/VisualizerWithKeyCallback.h>

namespace shapediff::viewer::detail {

// Open3D's key-callback visualizer with a settable window title (the step and noise level
// are shown there).
class ShapediffVisualizer : public open3d::visualization::VisualizerWithKeyCallback {
 public:
  void set_title(const std::string& title);
};

// A white-background window; std::runtime_error with the --headless/xvfb-run advice when there
// is no display, or when the OpenGL window fails.
void open_window(ShapediffVisualizer& vis, const std::string& title, int64_t width, int64_t height);
// The default camera (viewer/renderer.h CameraView) on the bounding box of `box`.
void aim_window(ShapediffVisualizer& vis, const open3d::geometry::PointCloud& box);
// The current view as a PNG (written atomically).
void save_screenshot(ShapediffVisualizer& vis, const std::string& path);

}  // namespace shapediff::viewer::detail

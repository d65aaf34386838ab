// Interactive Open3D windows (need a display; built only with SHAPEDIFF_WITH_OPEN3D).
//
// run_trajectory_window: plays a denoising trajectory. Keys (also trajectory_window_keys()):
//   space play/pause, right/n next frame, left/b previous, home/end first/last, x toggle x_t vs
//   the x0 estimate, c cycle colours (displacement, known, height), = and - point size, s show/
//   hide the input scan, m show/hide the mesh, r reset the camera, h print the keys, q/esc quit;
//   mouse: drag to rotate, wheel to zoom, ctrl+drag to pan. The title shows the shape, step,
//   timestep, noise level (RMS |x_t - x0|), x_t or x0, colour mode and play state.
// run_files_window: shows clouds and meshes side by side (each scaled to a unit box).
//
//   auto t = viewer::read_trajectory("run/trajectory.npz");
//   viewer::WindowOptions o;  o.shape = 3;  o.scan = io::read_point_cloud("scan.ply");
//   viewer::run_trajectory_window(t, o, "run/trajectory.npz");   // returns when closed
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "shapes/point_cloud.h"
#include "shapes/triangle_mesh.h"
#include "viewer/colouring.h"
#include "viewer/trajectory.h"

namespace shapediff::viewer {

struct WindowOptions {
  int64_t shape = 0;
  int64_t width = 960, height = 720;
  ColourMode colour = ColourMode::kDisplacement;
  bool show_x0 = false;
  double point_size = 0;  // 0: picked from the point count
  double fps = 4;         // playback speed
  std::optional<shapes::PointCloud> scan;   // overlay, drawn grey
  std::optional<shapes::TriangleMesh> mesh; // overlay, drawn light grey
  // Scripted runs (tests, screenshots): start playing; after `exit_after` > 0 loop ticks (one
  // frame each while playing, regardless of fps) save `screenshot` (PNG) if set and close.
  bool play = false;
  int64_t exit_after = 0;
  std::string screenshot;
};

// The key list printed on `h` and under `shapediff view --help`.
std::string trajectory_window_keys();

// std::invalid_argument for a shape index out of range; std::runtime_error without a display
// or OpenGL window. `name` goes in the title. Returns when the window is closed.
void run_trajectory_window(const Trajectory& trajectory, const WindowOptions& options,
                           const std::string& name);

struct ViewItem {
  std::string name;
  shapes::PointCloud cloud;                  // points (colours used when present), or
  std::optional<shapes::TriangleMesh> mesh;  // a mesh (then `cloud` is ignored)
};

// Side by side along x in the given order. std::invalid_argument for no items or an empty one.
void run_files_window(const std::vector<ViewItem>& items, const WindowOptions& options);

}  // namespace shapediff::viewer

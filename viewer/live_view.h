// A window that shows denoising as it happens: a sampler on a worker thread pushes frames, the
// window runs on the main thread (GLFW/OpenGL must) and shows the newest one, and stays open
// on the final shape until the user closes it. Built only with SHAPEDIFF_WITH_OPEN3D; needs a
// display (check viewer::has_display() before starting the work).
//
// Wiring a command (what `shapediff sample --view` does; `complete --view` works the same way,
// passing the partial-input mask as `known` so those points are drawn orange):
//
//   viewer::LiveView view({/*title=*/"shapediff sample"});
//   std::exception_ptr error;
//   std::thread worker([&] {
//     try {
//       options.on_step = [&](const diffusion::TrajectoryFrame& f, int64_t batch) {
//         if (batch == 0) view.push_frame({f.x[0], f.pred_x0[0], f.step, f.num_steps, f.timestep});
//       };
//       result = diffusion::sample_points(net, schedule, options);
//       view.finish("done");
//     } catch (...) {
//       error = std::current_exception();
//       view.finish("failed");
//     }
//   });
//   view.run();        // main thread; returns when the window is closed
//   worker.join();     // closing the window early does not stop the sampler
//   if (error) std::rethrow_exception(error);
//
// Keys: = and - point size, c colours (height / known), r fit the camera to the current
// frame, h print the keys, q/esc close. The title shows step/steps, timestep, the noise
// level (RMS |x_t - x0| when x0 is given) and "running"/the finish() status.
#pragma once

#include <torch/types.h>

#include <memory>
#include <string>

#include "viewer/colouring.h"

namespace shapediff::viewer {

struct LiveFrame {
  torch::Tensor points;  // [N,3] x_t of one shape, any device / float dtype (copied)
  torch::Tensor x0;      // [N,3] the step's clean-shape estimate, or undefined
  int64_t step = 0;      // 1-based sampler step
  int64_t num_steps = 0;
  double timestep = 0;
  torch::Tensor known;   // [N] bool: the partial input (completion), or undefined
};

struct LiveViewOptions {
  std::string title = "shapediff";
  int64_t width = 960, height = 720;
  double point_size = 0;  // 0: picked from the point count
  // Scripted runs (tests): close by itself once finish() was called and the last frame shown,
  // saving `screenshot` (PNG) first when set.
  bool close_when_done = false;
  std::string screenshot;
};

class LiveView {
 public:
  explicit LiveView(LiveViewOptions options = {});
  ~LiveView();
  LiveView(const LiveView&) = delete;
  LiveView& operator=(const LiveView&) = delete;

  // Any thread, cheap (copies to the CPU): replaces the frame waiting to be drawn.
  // std::invalid_argument for points that are not [N,3] with N > 0.
  void push_frame(const LiveFrame& frame);
  // Any thread: no more frames; `status` goes into the title.
  void finish(const std::string& status = "done");
  // Main thread only. Opens the window (std::runtime_error without a display) and returns when
  // it is closed.
  void run();
  // Frames drawn so far (for tests).
  int64_t frames_shown() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace shapediff::viewer

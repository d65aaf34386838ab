// Headless rendering of a denoising trajectory for reports: one PNG per recorded frame from
// fixed camera(s), an animated GIF of them, and a contact sheet of a few frames. Each frame is
// captioned "step S/T  t=<timestep>  noise <rms>" with x_t or x0. Needs an X display even so
// (Xvfb is enough: `xvfb-run -a shapediff view T --headless --out DIR`). Built only with
// SHAPEDIFF_WITH_OPEN3D.
//
//   auto t = viewer::read_trajectory("run/trajectory.npz");
//   viewer::HeadlessOptions o;  o.out_dir = "frames";  o.shape = 2;
//   auto out = viewer::render_trajectory_headless(t, o);
//   // out.frames: frames/frame_000.png ...; out.gif: frames/trajectory.gif;
//   // out.contact_sheet: frames/contact_sheet.png
#pragma once

#include <string>
#include <vector>

#include "viewer/colouring.h"
#include "viewer/trajectory.h"

namespace shapediff::viewer {

struct HeadlessOptions {
  std::string out_dir;                      // created when missing; files in it are replaced
  int64_t shape = 0;                        // which of the B shapes
  int64_t width = 480, height = 480;        // pixels per view
  ColourMode colour = ColourMode::kDisplacement;
  bool show_x0 = false;                     // render the x0 estimates instead of x_t
  double point_size = 0;                    // pixels; 0 picks one from N and the image size
  int64_t views = 1;                        // cameras 360/views degrees apart, side by side
  int gif_delay_cs = 15;                    // GIF frame time in 1/100 s (the last frame: 4x)
  int64_t sheet_frames = 8;                 // frames on the contact sheet, first and last included
};

struct HeadlessOutput {
  std::vector<std::string> frames;  // PNG paths, one per trajectory frame
  std::string gif;
  std::string contact_sheet;
};

// std::invalid_argument naming the option for a shape index out of range, sizes outside
// 16..8192, views outside 1..8 or sheet_frames < 1; std::runtime_error without a display.
HeadlessOutput render_trajectory_headless(const Trajectory& trajectory, const HeadlessOptions& options);

// The frame indices a contact sheet of `count` frames shows: evenly spread over [0, frames),
// first and last included, no repeats.
std::vector<int64_t> sheet_frame_indices(int64_t frames, int64_t count);

}  // namespace shapediff::viewer

// Whether an X display is there for the Open3D windows (Open3D's legacy visualizer draws with
// OpenGL through GLFW, so even off-screen rendering needs one: a desktop session or Xvfb).
//
//   if (!viewer::has_display()) ... // suggest --headless under xvfb-run
//   viewer::require_display("shapediff view");  // throws the one-line advice instead
#pragma once

#include <string>

namespace shapediff::viewer {

// True when DISPLAY (X11) or WAYLAND_DISPLAY is set and non-empty.
bool has_display();

// Throws std::runtime_error "<what>: no display (DISPLAY is not set): use --headless --out DIR
// under `xvfb-run -a`, or run from a desktop session" when has_display() is false.
void require_display(const std::string& what, bool headless);

}  // namespace shapediff::viewer

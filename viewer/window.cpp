// The key list of the trajectory window; kept out of window_open3d.cpp so that `--help` can
// print it in builds without Open3D too.
#include "viewer/window.h"

namespace shapediff::viewer {

std::string trajectory_window_keys() {
  return "  space      play / pause\n"
         "  right, n   next frame          left, b    previous frame\n"
         "  home, end  first / last frame\n"
         "  x          toggle x_t / predicted x0\n"
         "  c          cycle colours: displacement, known (partial input), height\n"
         "  =, -       bigger / smaller points\n"
         "  s          show / hide the input scan (--scan)\n"
         "  m          show / hide the mesh (--mesh)\n"
         "  r          reset the camera\n"
         "  h          print these keys\n"
         "  q, esc     quit\n"
         "  mouse      drag: rotate, wheel: zoom, ctrl+drag: pan\n";
}

}  // namespace shapediff::viewer

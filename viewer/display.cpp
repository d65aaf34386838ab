#include "viewer/display.h"

#include <cstdlib>
#include <stdexcept>

namespace shapediff::viewer {

bool has_display() {
  for (const char* name : {"DISPLAY", "WAYLAND_DISPLAY"}) {
    const char* v = std::getenv(name);
    if (v != nullptr && *v != '\0') return true;
  }
  return false;
}

void require_display(const std::string& what, bool headless) {
  if (has_display()) return;
  if (headless) {
    throw std::runtime_error(what + ": no display (DISPLAY is not set); headless rendering still needs an X server: run it as `xvfb-run -a shapediff ...`");
  }
  throw std::runtime_error(what + ": no display (DISPLAY is not set): render to files with --headless --out DIR (under `xvfb-run -a`), or run from a desktop session");
}

}  // namespace shapediff::viewer

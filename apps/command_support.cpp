#include "apps/command_support.h"

#include <filesystem>
#include <stdexcept>

#include <torch/torch.h>

#include "viewer/display.h"

namespace shapediff::apps {

namespace fs = std::filesystem;

torch::Device parse_cli_device(const std::string& name) {
  if (name != "cpu" && name != "cuda") {
    throw std::invalid_argument("--device '" + name + "' (choose from: cpu, cuda)");
  }
  if (name == "cuda" && !torch::cuda::is_available()) {
    throw std::invalid_argument("--device cuda: no CUDA device is available to this build");
  }
  return name == "cuda" ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
}

void check_output_folder(const std::string& out, bool overwrite) {
  const fs::path p(out);
  if (fs::exists(p) && !overwrite && !(fs::is_directory(p) && fs::is_empty(p))) {
    throw std::invalid_argument(out + ": exists and is not empty (pass --overwrite to replace it)");
  }
  if (p.has_parent_path() && !fs::exists(p.parent_path())) {
    throw std::invalid_argument(out + ": parent folder does not exist");
  }
}

void check_live_view_display() {
  if (SHAPEDIFF_WITH_OPEN3D && !viewer::has_display()) {
    throw std::runtime_error("--view: no display (DISPLAY is not set): record --trajectory K instead and render it "
                             "with `xvfb-run -a shapediff view OUT/trajectory.npz --headless --out DIR`");
  }
}

}  // namespace shapediff::apps

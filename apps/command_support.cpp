#include "apps/command_support.h"

#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <stdexcept>

#include <torch/torch.h>

#include "io/mesh_io.h"
#include "shapes/reconstruct.h"
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

void check_mesh_method(const std::string& method) {
  shapes::parse_reconstruct_method(method);
  if (!shapes::reconstruction_available()) {
    throw std::invalid_argument("--mesh needs CGAL: this build has SHAPEDIFF_WITH_CGAL=OFF");
  }
}

void write_mesh_beside(const std::string& ply, const shapes::PointCloud& cloud, const std::string& method) {
  const fs::path p(ply);
  const auto name = p.filename().string();
  try {
    shapes::ReconstructOptions o;
    o.method = shapes::parse_reconstruct_method(method);
    auto r = shapes::reconstruct(cloud, o);
    for (const auto& w : r.warnings) std::cerr << "shapediff: warning: " << name << ": " << w << "\n";
    io::write_mesh((p.parent_path() / (p.stem().string() + "_mesh.ply")).string(), r.mesh);
  } catch (const std::exception& e) {
    std::cerr << "shapediff: warning: " << name << ": no mesh: " << e.what() << "\n";
  }
}

void check_live_view_display() {
  if (SHAPEDIFF_WITH_OPEN3D && !viewer::has_display()) {
    throw std::runtime_error("--view: no display (DISPLAY is not set): record --trajectory K instead and render it "
                             "with `xvfb-run -a shapediff view OUT/trajectory.npz --headless --out DIR`");
  }
}

void write_folder_atomically(const std::string& out,
                             const std::function<void(const std::filesystem::path& tmp)>& write) {
  namespace fs = std::filesystem;
  const fs::path target(out);
  const fs::path tmp = target.string() + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(tmp);
  try {
    fs::create_directories(tmp);
    write(tmp);
    if (fs::exists(target)) fs::remove_all(target);
    fs::rename(tmp, target);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace shapediff::apps

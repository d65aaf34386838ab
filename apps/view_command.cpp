// `shapediff view`: the Open3D viewer. One trajectory.npz (from `shapediff sample
// --trajectory K`) plays in a window, or with --headless renders PNG frames, a GIF and a
// contact sheet; any other point-cloud / mesh files are shown side by side.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include <torch/torch.h>

#include "apps/command.h"
#include "io/mesh_io.h"
#include "io/npy.h"
#include "io/npz.h"
#include "io/point_cloud_io.h"
#include "shapediff/config.h"
#include "viewer/display.h"
#include "viewer/headless.h"
#include "viewer/trajectory.h"
#include "viewer/window.h"

namespace shapediff::apps {
namespace {

struct ViewArgs {
  std::vector<std::string> inputs;
  bool headless = false;
  std::string out;
  int64_t shape = 0;
  int64_t width = 0, height = 0;
  std::string colour = "displacement";
  bool x0 = false;
  double point_size = 0;
  int64_t views = 1;
  int64_t sheet_frames = 8;
  double fps = 4;
  std::string scan, mesh;
  bool play = false;
  int64_t exit_after = 0;
  std::string screenshot;
};

#if SHAPEDIFF_WITH_OPEN3D

std::string ext_of(const std::string& path) {
  std::string e = std::filesystem::path(path).extension().string();
  std::transform(e.begin(), e.end(), e.begin(), ::tolower);
  return e;
}

// Clouds from an array: [N,3] is one cloud, [K,N,3] is K of them ("name[k]").
void add_array_clouds(const std::string& name, const torch::Tensor& a, std::vector<viewer::ViewItem>& items) {
  if (!(a.dim() == 2 || a.dim() == 3) || a.size(-1) != 3 || !a.is_floating_point()) {
    throw std::runtime_error(name + ": expected a float [N,3] or [K,N,3] array, got " + c10::str(a.sizes()));
  }
  auto clouds = a.dim() == 2 ? a.unsqueeze(0) : a;
  for (int64_t k = 0; k < clouds.size(0); ++k) {
    shapes::PointCloud pc{clouds[k].to(torch::kFloat32).contiguous(), {}, {}};
    const std::string item = a.dim() == 2 ? name : name + "[" + std::to_string(k) + "]";
    pc.validate(item);
    if (pc.empty()) throw std::runtime_error(item + ": the point cloud is empty");
    items.push_back({item, pc, std::nullopt});
  }
}

// A voxel grid [X,Y,Z] (occupancy in [0,1], or signed distances, negative inside) is shown as the
// centres of its occupied cells: origin + (index + 0.5) * voxel_size.
void add_grid(const std::string& name, const torch::Tensor& values, const torch::Tensor& origin, double voxel_size,
              std::vector<viewer::ViewItem>& items) {
  if (values.dim() != 3 || values.numel() == 0) {
    throw std::runtime_error(name + ": expected a voxel grid [X,Y,Z], got " + c10::str(values.sizes()));
  }
  auto v = values.to(torch::kFloat32);
  if (!torch::isfinite(v).all().item<bool>()) throw std::runtime_error(name + ": the grid has NaN or infinite values");
  const bool occupancy = v.min().item<float>() >= 0.0f && v.max().item<float>() <= 1.0f;
  auto cells = torch::nonzero(occupancy ? v > 0.5 : v < 0).to(torch::kFloat32);
  if (cells.size(0) == 0) throw std::runtime_error(name + ": the grid has no occupied cells");
  auto centres = (cells + 0.5) * voxel_size;
  if (origin.defined()) centres = centres + origin.to(torch::kFloat32).reshape({1, 3});
  items.push_back({name, shapes::PointCloud{centres.contiguous(), {}, {}}, std::nullopt});
}

void add_file(const std::string& path, std::vector<viewer::ViewItem>& items) {
  const std::string e = ext_of(path);
  if (e == ".npz") {
    auto arrays = io::read_npz(path);
    if (arrays.count("points") == 0 && arrays.count("values") != 0) {
      const auto origin = arrays.count("origin") ? arrays.at("origin") : torch::Tensor();
      const double size = arrays.count("voxel_size") ? arrays.at("voxel_size").reshape({-1})[0].item<double>() : 1.0;
      add_grid(path, arrays.at("values"), origin, size, items);
      return;
    }
    if (arrays.count("points") == 0) {
      throw std::runtime_error(path + ": no array 'points' or 'values' (and not a trajectory: no 'x'/'x0')");
    }
    add_array_clouds(path, arrays.at("points"), items);
  } else if (e == ".npy") {
    auto a = io::read_npy(path);
    if (a.dim() == 3 && a.size(-1) != 3) {
      add_grid(path, a, torch::Tensor(), 1.0, items);
    } else {
      add_array_clouds(path, a, items);
    }
  } else if (e == ".ply" || e == ".off" || e == ".obj" || e == ".stl") {
    try {
      items.push_back({path, {}, io::read_mesh(path)});
    } catch (const std::runtime_error&) {
      if (e == ".stl") throw;
      items.push_back({path, io::read_point_cloud(path), std::nullopt});  // a face-less file
    }
  } else {
    auto pc = io::read_point_cloud(path);
    if (pc.empty()) throw std::runtime_error(path + ": the point cloud is empty");
    items.push_back({path, pc, std::nullopt});
  }
}

bool is_trajectory_file(const std::string& path) {
  if (ext_of(path) != ".npz") return false;
  const auto arrays = io::read_npz(path);
  return arrays.count("x") > 0 || arrays.count("x0") > 0 || arrays.count("timestep") > 0;
}

int run_view(const ViewArgs& a) {
  if (a.headless && a.out.empty()) throw std::invalid_argument("--headless needs --out DIR");
  if (!a.headless && !a.out.empty()) throw std::invalid_argument("--out goes with --headless");
  if (a.inputs.size() == 1 && is_trajectory_file(a.inputs[0])) {
    const auto t = viewer::read_trajectory(a.inputs[0]);
    const auto colour = viewer::parse_colour_mode(a.colour);
    if (a.headless) {
      viewer::HeadlessOptions o;
      o.out_dir = a.out;
      o.shape = a.shape;
      if (a.width > 0) o.width = a.width;
      if (a.height > 0) o.height = a.height;
      o.colour = colour;
      o.show_x0 = a.x0;
      o.point_size = a.point_size;
      o.views = a.views;
      o.sheet_frames = a.sheet_frames;
      const auto out = viewer::render_trajectory_headless(t, o);
      std::cout << "wrote " << out.frames.size() << " frames, " << out.gif << " and "
                << out.contact_sheet << "\n";
      return 0;
    }
    viewer::WindowOptions o;
    o.shape = a.shape;
    if (a.width > 0) o.width = a.width;
    if (a.height > 0) o.height = a.height;
    o.colour = colour;
    o.show_x0 = a.x0;
    o.point_size = a.point_size;
    o.fps = a.fps;
    if (!a.scan.empty()) {
      o.scan = io::read_point_cloud(a.scan);
      if (o.scan->empty()) throw std::runtime_error(a.scan + ": the point cloud is empty");
    }
    if (!a.mesh.empty()) o.mesh = io::read_mesh(a.mesh);
    o.play = a.play;
    o.exit_after = a.exit_after;
    o.screenshot = a.screenshot;
    viewer::require_display("shapediff view", /*headless=*/false);
    viewer::run_trajectory_window(t, o, a.inputs[0]);
    return 0;
  }
  if (a.headless) {
    throw std::invalid_argument("--headless renders a trajectory (one trajectory.npz from `shapediff sample --trajectory K`)");
  }
  if (!a.scan.empty() || !a.mesh.empty()) {
    throw std::invalid_argument("--scan and --mesh overlay a trajectory; list the files themselves to see them side by side");
  }
  std::vector<viewer::ViewItem> items;
  for (const auto& path : a.inputs) {
    if (is_trajectory_file(path)) {
      throw std::invalid_argument(path + ": a trajectory is viewed on its own (shapediff view " + path + ")");
    }
    add_file(path, items);
  }
  viewer::WindowOptions o;
  if (a.width > 0) o.width = a.width;
  if (a.height > 0) o.height = a.height;
  o.point_size = a.point_size;
  o.exit_after = a.exit_after;
  o.screenshot = a.screenshot;
  viewer::require_display("shapediff view", /*headless=*/false);
  viewer::run_files_window(items, o);
  return 0;
}

#else

int run_view(const ViewArgs&) {
  throw std::runtime_error("this shapediff was built without the viewer (SHAPEDIFF_WITH_OPEN3D=OFF); "
                           "rebuild with -DSHAPEDIFF_WITH_OPEN3D=ON (Debian: libopen3d-dev)");
}

#endif

}  // namespace

void add_view_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<ViewArgs>();
  auto* cmd = app.add_subcommand(
      "view", "Watch a denoising trajectory (window or --headless frames), or view clouds/meshes side by side");
  cmd->add_option("inputs", a->inputs,
                  "trajectory.npz, or point-cloud / mesh files (.ply .off .obj .stl .xyz .pcd .npy, "
                  "samples.npz), or voxel grids (.npy [X,Y,Z], .npz with 'values': occupied cells shown)")
      ->required();
  cmd->add_flag("--headless", a->headless, "Render to files instead of a window (needs Xvfb: xvfb-run -a)");
  cmd->add_option("--out", a->out, "Output folder for --headless: frame_NNN.png, trajectory.gif, contact_sheet.png");
  cmd->add_option("--shape", a->shape, "Which shape of the trajectory")->capture_default_str();
  cmd->add_option("--width", a->width, "Image/window width in pixels (default 480 headless, 960 window)");
  cmd->add_option("--height", a->height, "Image/window height in pixels (default 480 headless, 720 window)");
  cmd->add_option("--colour,--color", a->colour, "displacement, known (partial input vs generated) or height")
      ->capture_default_str();
  cmd->add_flag("--x0", a->x0, "Show the predicted x0 instead of x_t");
  cmd->add_option("--point-size", a->point_size, "Point size in pixels (default: from the point count)");
  cmd->add_option("--views", a->views, "Headless: cameras around the shape, side by side (1..8)")
      ->capture_default_str();
  cmd->add_option("--sheet-frames", a->sheet_frames, "Headless: frames on the contact sheet")->capture_default_str();
  cmd->add_option("--fps", a->fps, "Window: playback frames per second")->capture_default_str();
  cmd->add_option("--scan", a->scan, "Window: overlay this input scan (a point-cloud file)");
  cmd->add_option("--mesh", a->mesh, "Window: overlay this mesh (e.g. the reconstruction)");
  // Scripted window runs for tests and screenshots.
  cmd->add_flag("--play", a->play, "Start playing")->group("");
  cmd->add_option("--exit-after", a->exit_after, "Close after N loop ticks (one frame each when playing)")->group("");
  cmd->add_option("--screenshot", a->screenshot, "Save the window as PNG before --exit-after closes it")->group("");
  cmd->footer("Keys in the trajectory window:\n" + viewer::trajectory_window_keys() +
              "Without a display, render with --headless under Xvfb:\n"
              "  xvfb-run -a shapediff view out/trajectory.npz --headless --out frames");
  cmd->callback([a, &action] { action = [a] { return run_view(*a); }; });
}

}  // namespace shapediff::apps

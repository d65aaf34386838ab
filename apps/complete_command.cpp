// `shapediff complete`: complete a scanned object with a point model. The scan (a point cloud,
// or a mesh sampled to points) is cleaned (NaN points and statistical outliers dropped), brought
// into the model's frame (up axis, centre, scale), completed, and mapped back into the scan's own
// coordinates, so the output overlays the input. Sparse-voxel models (with --coarse-model, their
// stage 1) and voxel models alone complete the scan as grids: run_voxel_complete.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "apps/command.h"
#include "apps/command_support.h"
#include "apps/progress.h"
#include "diffusion/point_completion.h"
#include "diffusion/point_model.h"
#include "diffusion/sparse_voxel_completion.h"
#include "io/json_file.h"
#include "io/mesh_io.h"
#include "io/npy.h"
#include "io/npz.h"
#include "io/png.h"
#include "io/point_cloud_io.h"
#include "io/point_render.h"
#include "io/scan_io.h"
#include "shapediff/config.h"
#include "shapes/scan_preparation.h"
#include "viewer/live_view.h"

namespace shapediff::apps {
namespace {

namespace fs = std::filesystem;

struct CompleteArgs {
  std::string model;
  std::string input;
  std::string out;
  std::string strategy;  // empty: the model's default
  int64_t samples = 1;
  std::string sampler = "ddpm";
  int64_t steps = 100;
  double strength = 0.7;
  int64_t jump_length = 10;
  int64_t jump_n_sample = 3;
  int64_t known_points = 0;
  std::string class_name;
  double guidance = 1.0;
  uint64_t seed = 0;
  std::string up = "y";
  double fill = 1.0;
  int64_t outlier_k = 16;
  double outlier_std = 2.0;
  int64_t mesh_samples = 8192;
  std::string mesh;
  int64_t trajectory = 0;
  std::string device = "cpu";
  int64_t threads = 2;
  bool overwrite = false;
  bool view = false;            // --view: a live window
  std::string view_screenshot;  // hidden, for tests: save the final window and close
  std::string coarse_model;     // sparse-voxel models: the stage-1 voxel model
};

// --view: the completion runs on a worker thread and pushes the first completion of every step
// (in the scan's coordinates, the scan's points marked as known) to a window on this thread.
diffusion::PointCompletions complete_with_view(diffusion::PointModel& model, const torch::Tensor& partial,
                                               diffusion::PointCompletionOptions o, const shapes::ScanFrame& frame,
                                               const CompleteArgs& a) {
#if SHAPEDIFF_WITH_OPEN3D
  viewer::LiveViewOptions vo;
  vo.title = "shapediff complete";
  vo.close_when_done = !a.view_screenshot.empty();
  vo.screenshot = a.view_screenshot;
  viewer::LiveView view(vo);
  torch::Tensor known_mask;
  o.on_step = [&](const diffusion::TrajectoryFrame& f) {
    const int64_t n = f.x.size(1);
    if (!known_mask.defined()) {
      const int64_t k = model.config.task == diffusion::PointTask::Completion
                            ? model.config.known_points
                            : (o.known_points > 0 ? o.known_points : n / 4);
      known_mask = torch::arange(n) < k;
    }
    auto to_scan = [&](const torch::Tensor& x) { return frame.to_scan(model.to_dataset_frame(x[0].to(torch::kCPU))); };
    view.push_frame({to_scan(f.x), f.pred_x0.defined() ? to_scan(f.pred_x0) : torch::Tensor(), f.step, f.num_steps,
                     f.timestep, known_mask});
  };
  return run_beside_live_view<diffusion::PointCompletions>(
      view, [&] { return diffusion::complete_points(model, partial, o); });
#else
  (void)model, (void)partial, (void)o, (void)frame, (void)a;
  throw std::runtime_error("--view: this shapediff was built without the viewer (SHAPEDIFF_WITH_OPEN3D=OFF)");
#endif
}

std::string numbered(const std::string& stem, int64_t i, int64_t count, const std::string& suffix) {
  std::ostringstream name;
  const int width = std::max<int>(2, static_cast<int>(std::to_string(count - 1).size()));
  name << stem << std::setw(width) << std::setfill('0') << i << suffix;
  return name.str();
}

// Sparse-voxel models (diffusion/sparse_voxel_completion.h): the scan's points, with normals
// estimated from their neighbours, fix the cells near them on both grids. Writes input.ply (the
// cleaned scan), grid_NN.npy (fine [R,R,R]), coarse_NN.npy ([Gc,Gc,Gc]), completion_NN_mesh.ply
// (marching cubes of the fine grid, in the scan's coordinates), completions.npz and
// completion.json. A voxel model alone (`fine` of representation voxels, no --coarse-model) runs
// that pipeline's stage 1 (complete_voxels): grid_NN.npy is its [G,G,G] grid, and there is no
// coarse_NN.npy.
int run_voxel_complete(const CompleteArgs& a, diffusion::PointModel& fine, torch::Device device,
                       const shapes::ScanPrepOptions& scan_options) {
  const bool dense = fine.config.representation == diffusion::Representation::Voxels;
  const char* kind = dense ? "voxel" : "sparse-voxel";
  if (dense && !a.coarse_model.empty()) {
    throw std::invalid_argument("--coarse-model applies to sparse_voxels models; " + a.model + " is a model of voxels");
  }
  if (!dense && a.coarse_model.empty()) {
    throw std::invalid_argument(a.model + ": a sparse-voxel model refines a voxel model's grids: give that model "
                                "with --coarse-model");
  }
  for (const auto& [given, what] : {std::pair<bool, const char*>{a.view, "--view"}, {!a.mesh.empty(), "--mesh"},
                                    {a.trajectory > 0, "--trajectory"}, {a.known_points > 0, "--known-points"}}) {
    if (given) throw std::invalid_argument(std::string(what) + " does not apply to a " + kind + " model");
  }
  std::optional<diffusion::PointModel> coarse;
  if (!dense) {
    coarse = diffusion::load_point_model(a.coarse_model, device);
    diffusion::check_coarse_model(fine.config, coarse->config, a.coarse_model);
  }
  diffusion::SparseVoxelCompletionOptions o;
  o.count = a.samples;
  if (!a.strategy.empty()) o.strategy = diffusion::parse_completion_strategy(a.strategy);
  o.sampler = diffusion::parse_sampler_kind(a.sampler);
  o.steps = a.steps;
  if (!a.class_name.empty()) o.label = fine.class_label(a.class_name);
  o.guidance = a.guidance;
  o.seed = a.seed;
  o.device = device;

  const auto scan = io::read_scan(a.input, a.mesh_samples, a.seed);
  shapes::PreparedScan prepared;
  torch::Tensor normals;
  try {
    prepared = shapes::prepare_scan(scan.cloud.points, scan_options);
    normals = diffusion::estimate_scan_normals(prepared.points);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(a.input + ": " + e.what());
  }
  std::unique_ptr<Progress> progress;
  o.on_progress = [&](int64_t done, int64_t total) {
    if (!progress) progress = std::make_unique<Progress>("complete", total, "steps");
    progress->update(done);
  };
  const auto start = std::chrono::steady_clock::now();
  // Voxel grids span the dataset frame's [-1, 1]^3, where prepare_scan leaves the points.
  diffusion::SparseVoxelCompletion result;
  if (dense) {
    auto v = diffusion::complete_voxels(fine, prepared.points, normals, o);
    result.samples.grids = v.grids;
    result.coarse_known = v.known;
    result.coarse_mask = v.mask;
  } else {
    result = diffusion::complete_sparse_voxels(fine, *coarse, prepared.points, normals, o);
  }
  if (progress) progress->finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int64_t r = dense ? fine.config.voxels.grid : fine.config.sparse_voxels.grid;
  int64_t meshes = 0;
  write_folder_atomically(a.out, [&](const fs::path& tmp) {
    shapes::PointCloud input_cloud;
    input_cloud.points = prepared.frame.to_scan(prepared.points).contiguous();
    io::write_point_cloud((tmp / "input.ply").string(), input_cloud);
    for (int64_t i = 0; i < a.samples; ++i) {
      const auto grid = result.samples.grids[i].contiguous();
      io::write_npy((tmp / numbered("grid_", i, a.samples, ".npy")).string(), grid);
      if (!dense) {
        io::write_npy((tmp / numbered("coarse_", i, a.samples, ".npy")).string(), result.samples.coarse[i].contiguous());
      }
      auto mesh = diffusion::grid_surface(grid);
      if (mesh.faces.size(0) == 0) continue;  // no zero crossing: nothing to mesh
      mesh.vertices = prepared.frame.to_scan(mesh.vertices).contiguous();
      io::write_mesh((tmp / numbered("completion_", i, a.samples, "_mesh.ply")).string(), mesh);
      ++meshes;
    }
    // Before / after as for point models: the scan alone, then the scan (red) on the first
    // completion's surface (blue), in the grid's frame.
    {
      io::RenderOptions ro;
      ro.extent = 1.05;
      const auto surface = diffusion::grid_surface_points(result.samples.grids[0], 4096, a.seed);
      const auto before = io::render_points({{prepared.points, {0.85, 0.25, 0.2}}}, ro);
      std::vector<io::RenderedCloud> after_clouds;
      if (surface.size(0) > 0) after_clouds.push_back({surface, {0.2, 0.4, 0.8}});
      after_clouds.push_back({prepared.points, {0.85, 0.25, 0.2}});
      io::write_png((tmp / "before_after.png").string(), io::hstack_images({before, io::render_points(after_clouds, ro)}));
    }
    auto ints = [](const torch::Tensor& t) {
      return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
    };
    // What both kinds record; each adds its own grids' fields.
    nlohmann::json meta = {{"model", a.model},
                           {"representation", dense ? "voxels" : "sparse_voxels"},
                           {"input", a.input},
                           {"input_points", scan.cloud.size()},
                           {"scan_points", prepared.points.size(0)},
                           {"outliers_dropped", prepared.outliers},
                           {"strategy", diffusion::to_string(o.strategy)},
                           {"sampler", diffusion::to_string(o.sampler)},
                           {"steps", a.steps},
                           {"samples", a.samples},
                           {"seed", a.seed},
                           {"up", a.up},
                           {"grid", r},
                           {"meshes", meshes},
                           {"seconds", seconds}};
    if (dense) {
      io::write_npz((tmp / "completions.npz").string(),
                    {{"grids", result.samples.grids},
                     {"known", result.coarse_known},
                     {"mask", result.coarse_mask.to(torch::kUInt8)}});
      meta["known_cells"] = result.coarse_mask.sum().item<int64_t>();
    } else {
      io::write_npz((tmp / "completions.npz").string(),
                    {{"grids", result.samples.grids},
                     {"coarse", result.samples.coarse},
                     {"band_cells", result.samples.band_cells},
                     {"coarse_known", result.coarse_known},
                     {"coarse_mask", result.coarse_mask.to(torch::kUInt8)},
                     {"fine_known", result.fine_known},
                     {"fine_mask", result.fine_mask.to(torch::kUInt8)}});
      meta["coarse_model"] = a.coarse_model;
      meta["coarse_grid"] = fine.config.sparse_voxels.coarse_grid;
      meta["known_coarse_cells"] = result.coarse_mask.sum().item<int64_t>();
      meta["known_fine_cells"] = result.fine_mask.sum().item<int64_t>();
      meta["band_cells"] = ints(result.samples.band_cells);
      meta["band_known_cells"] = ints(result.band_known);
    }
    io::write_json((tmp / "completion.json").string(), meta);
  });
  if (dense) {
    std::cout << "completed " << a.input << " " << a.samples << " time(s) as " << r << "^3 grids ("
              << result.coarse_mask.sum().item<int64_t>() << " cells known, " << std::fixed << std::setprecision(1)
              << seconds << " s), " << meshes << " meshes -> " << a.out << "\n";
    return 0;
  }
  std::cout << "completed " << a.input << " " << a.samples << " time(s) as " << r << "^3 grids (from "
            << fine.config.sparse_voxels.coarse_grid << "^3; " << result.coarse_mask.sum().item<int64_t>()
            << " coarse and " << result.fine_mask.sum().item<int64_t>() << " fine cells known, " << std::fixed
            << std::setprecision(1) << seconds << " s), " << meshes << " meshes -> " << a.out << "\n";
  return 0;
}

int run_complete(const CompleteArgs& a) {
  if (a.threads < 1) throw std::invalid_argument("--threads = " + std::to_string(a.threads) + " (must be >= 1)");
  at::set_num_threads(static_cast<int>(a.threads));
  const torch::Device device = parse_cli_device(a.device);
  if (a.samples < 1) throw std::invalid_argument("--samples = " + std::to_string(a.samples) + " (must be >= 1)");
  if (a.mesh_samples < 10) {
    throw std::invalid_argument("--mesh-samples = " + std::to_string(a.mesh_samples) + " (must be >= 10)");
  }
  if (!a.mesh.empty()) check_mesh_method(a.mesh);
  shapes::ScanPrepOptions scan_options;
  scan_options.up = shapes::parse_up_axis(a.up);
  scan_options.fill = a.fill;
  scan_options.neighbors = a.outlier_k;
  scan_options.std_ratio = a.outlier_std;
  if (a.outlier_k < 0) throw std::invalid_argument("--outlier-k = " + std::to_string(a.outlier_k) + " (0 = off)");
  check_output_folder(a.out, a.overwrite);
  if (a.view) check_live_view_display();
  auto model = diffusion::load_point_model(a.model, device);
  if (model.config.representation == diffusion::Representation::SparseVoxels ||
      model.config.representation == diffusion::Representation::Voxels) {
    return run_voxel_complete(a, model, device, scan_options);
  }
  if (!a.coarse_model.empty()) {
    throw std::invalid_argument("--coarse-model applies to sparse_voxels models; " + a.model + " is a model of " +
                                diffusion::to_string(model.config.representation));
  }
  diffusion::PointCompletionOptions o;
  o.method = a.strategy.empty() ? diffusion::default_completion_method(model)
                                : diffusion::parse_point_completion_method(a.strategy);
  o.sampler = diffusion::parse_sampler_kind(a.sampler);
  o.sampler_options.jump_length = a.jump_length;
  o.sampler_options.jump_n_sample = a.jump_n_sample;
  o.steps = a.steps;
  o.strength = a.strength;
  o.samples = a.samples;
  o.known_points = a.known_points;
  if (!a.class_name.empty()) o.label = model.class_label(a.class_name);
  o.guidance = a.guidance;
  o.seed = a.seed;
  o.device = device;
  o.record_every = a.trajectory;

  const auto scan = io::read_scan(a.input, a.mesh_samples, a.seed);
  shapes::PreparedScan prepared;
  try {
    prepared = shapes::prepare_scan(scan.cloud.points, scan_options);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(a.input + ": " + e.what());
  }
  if (prepared.nonfinite > 0) {
    std::cerr << "shapediff: warning: " << a.input << ": dropped " << prepared.nonfinite
              << " points with NaN/Inf coordinates\n";
  }

  std::unique_ptr<Progress> progress;
  o.on_progress = [&](int64_t done, int64_t total) {
    if (!progress) progress = std::make_unique<Progress>("complete", total, "steps");
    progress->update(done);
  };
  const auto start = std::chrono::steady_clock::now();
  auto result = a.view ? complete_with_view(model, model.to_model_frame(prepared.points), o, prepared.frame, a)
                       : diffusion::complete_points(model, model.to_model_frame(prepared.points), o);
  if (progress) progress->finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // model frame -> dataset (unit) frame -> the scan's coordinates
  const auto unit = model.to_dataset_frame(result.points);
  const auto completions = prepared.frame.to_scan(unit).contiguous();
  const auto known = prepared.frame.to_scan(model.to_dataset_frame(result.known)).contiguous();
  const auto input_points = prepared.frame.to_scan(prepared.points).contiguous();
  const double tmd = diffusion::total_mutual_difference(unit);
  const int64_t k = result.known.size(0), n = result.points.size(1);

  write_folder_atomically(a.out, [&](const fs::path& tmp) {
    shapes::PointCloud input_cloud;
    input_cloud.points = input_points;
    io::write_point_cloud((tmp / "input.ply").string(), input_cloud);
    for (int64_t i = 0; i < a.samples; ++i) {
      shapes::PointCloud cloud;
      cloud.points = completions[i];
      const auto name = numbered("completion_", i, a.samples, ".ply");
      io::write_point_cloud((tmp / name).string(), cloud);
      if (!a.mesh.empty()) write_mesh_beside((tmp / name).string(), cloud, a.mesh);
    }
    io::write_npz((tmp / "completions.npz").string(),
                  {{"points", completions}, {"known", known}, {"input", input_points}});
    if (result.trajectory.defined()) {
      auto mask = torch::zeros({a.samples, n}, torch::kUInt8);
      mask.slice(1, 0, k).fill_(1);
      io::write_npz((tmp / "trajectory.npz").string(),
                    {{"x", prepared.frame.to_scan(model.to_dataset_frame(result.trajectory)).contiguous()},
                     {"x0", prepared.frame.to_scan(model.to_dataset_frame(result.trajectory_x0)).contiguous()},
                     {"step", result.trajectory_steps},
                     {"timestep", result.trajectory_timesteps},
                     {"known", mask}});
    }
    // Before / after, seen from the same camera in the unit frame: the scan alone, then the scan
    // (red) inside its first completion (blue).
    io::RenderOptions ro;
    ro.extent = 1.05;
    const auto scan_unit = prepared.points;
    const auto before = io::render_points({{scan_unit, {0.85, 0.25, 0.2}}}, ro);
    const auto after = io::render_points({{unit[0].slice(0, k), {0.2, 0.4, 0.8}}, {scan_unit, {0.85, 0.25, 0.2}}}, ro);
    io::write_png((tmp / "before_after.png").string(), io::hstack_images({before, after}));
    nlohmann::json meta = {{"model", a.model},
                           {"input", a.input},
                           {"input_points", scan.cloud.size()},
                           {"input_was_mesh", scan.mesh_faces > 0},
                           {"nonfinite_dropped", prepared.nonfinite},
                           {"outliers_dropped", prepared.outliers},
                           {"strategy", diffusion::to_string(o.method)},
                           {"sampler", diffusion::to_string(o.sampler)},
                           {"steps", a.steps},
                           {"samples", a.samples},
                           {"points", n},
                           {"known_points", k},
                           {"seed", a.seed},
                           {"up", a.up},
                           {"frame", {{"center", std::vector<double>(prepared.frame.center.data_ptr<double>(),
                                                                     prepared.frame.center.data_ptr<double>() + 3)},
                                      {"scale", prepared.frame.scale}}},
                           {"total_mutual_difference", tmd},
                           {"seconds", seconds}};
    if (o.method == diffusion::PointCompletionMethod::SDEdit) meta["strength"] = a.strength;
    if (o.method == diffusion::PointCompletionMethod::RePaint) {
      meta["jump_length"] = a.jump_length;
      meta["jump_n_sample"] = a.jump_n_sample;
    }
    io::write_json((tmp / "completion.json").string(), meta);
  });
  std::cout << "scan: " << scan.cloud.size() << " points" << (scan.mesh_faces > 0 ? " sampled from a mesh" : "")
            << ", " << prepared.outliers << " outliers removed, " << prepared.points.size(0) << " kept\n";
  std::cout << "completed " << a.input << " " << a.samples << " time(s) with " << diffusion::to_string(o.method)
            << " (" << k << " known + " << n - k << " generated points, " << std::fixed << std::setprecision(1)
            << seconds << " s";
  if (a.samples > 1) std::cout << ", total mutual difference " << std::setprecision(4) << tmd;
  std::cout << ") -> " << a.out << "\n";
  return 0;
}

}  // namespace

void add_complete_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<CompleteArgs>();
  auto* cmd = app.add_subcommand("complete", "Complete a partial scan (point cloud or mesh) with a point or voxel model");
  cmd->footer(
      "Writes to --out: input.ply (the cleaned scan), completion_NN.ply (in the scan's coordinates;\n"
      "the first known_points points are the scan's, resampled), completions.npz, completion.json,\n"
      "before_after.png, and with --trajectory a trajectory.npz (with a 'known' mask) for the viewer.\n"
      "Strategies: conditional (completion models, the default for them); replacement (default for\n"
      "generation models), repaint (ddpm/ddim only), sdedit (--strength).\n"
      "Sparse-voxel models (with --coarse-model) complete as grids, replacement only: grid_NN.npy,\n"
      "coarse_NN.npy, completion_NN_mesh.ply, completions.npz, completion.json, before_after.png. A voxel model\n"
      "alone completes as its grids the same way (that pipeline's stage 1), without coarse_NN.npy.");
  cmd->add_option("--model", a->model, "Model file (.pt), checkpoint, or training run folder")->required();
  cmd->add_option("--input", a->input, "Scan: .ply .off .obj .stl .xyz .pcd (meshes are sampled to points)")->required();
  cmd->add_option("--out", a->out, "Output folder")->required();
  cmd->add_option("--strategy", a->strategy, "conditional, replacement, repaint, sdedit (default: the model's)");
  cmd->add_option("--samples", a->samples, "Completions of the scan (diversity reported)")->capture_default_str();
  cmd->add_option("--sampler", a->sampler, "ddpm, ddim, dpmsolver_multistep, unipc, euler, euler_ancestral, heun")
      ->capture_default_str();
  cmd->add_option("--steps", a->steps, "Sampler steps")->capture_default_str();
  cmd->add_option("--strength", a->strength, "SDEdit: start at this fraction of the schedule, (0, 1]")->capture_default_str();
  cmd->add_option("--jump-length", a->jump_length, "RePaint: steps per jump")->capture_default_str();
  cmd->add_option("--jump-n-sample", a->jump_n_sample, "RePaint: resamplings per jump")->capture_default_str();
  cmd->add_option("--known-points", a->known_points,
                  "Training-free strategies: scan points kept (default: a quarter of the model's)");
  cmd->add_option("--class", a->class_name, "Class of the object (class-conditional models)");
  cmd->add_option("--guidance", a->guidance, "Classifier-free guidance scale (with --class)")->capture_default_str();
  cmd->add_option("--seed", a->seed, "Seed: the same seed gives the same files")->capture_default_str();
  cmd->add_option("--up-axis", a->up, "The scan's up axis: y, z, x, -y, -z, -x")->capture_default_str();
  cmd->add_option("--fill", a->fill, "Radius of the scan's farthest point in the model's unit frame")->capture_default_str();
  cmd->add_option("--outlier-k", a->outlier_k, "Outlier filter neighbours (0: off)")->capture_default_str();
  cmd->add_option("--outlier-std", a->outlier_std, "Outlier filter threshold in standard deviations")->capture_default_str();
  cmd->add_option("--mesh-samples", a->mesh_samples, "Points sampled from a mesh input")->capture_default_str();
  cmd->add_option("--mesh", a->mesh, "Also mesh each completion: poisson, advancing-front or scale-space");
  cmd->add_option("--trajectory", a->trajectory, "Record every K steps into trajectory.npz (0: off)")->capture_default_str();
  cmd->add_option("--device", a->device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--threads", a->threads, "CPU threads")->capture_default_str();
  cmd->add_option("--coarse-model", a->coarse_model,
                  "Sparse-voxel models: the stage-1 voxel model (file, checkpoint or run folder)");
  cmd->add_flag("--overwrite", a->overwrite, "Replace the output folder if it exists");
  cmd->add_flag("--view", a->view, "Watch the first completion form in a window (needs a display); close it to finish");
  cmd->add_option("--view-screenshot", a->view_screenshot, "With --view: save the final window as PNG and close")
      ->group("");
  cmd->callback([a, &action] { action = [a] { return run_complete(*a); }; });
}

}  // namespace shapediff::apps

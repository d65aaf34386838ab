// `shapediff sample`: generate point clouds with a trained point model (a model file or a
// training run folder) and any sampler of the core; one PLY per shape, samples.npz with all of
// them, and with --trajectory a trajectory.npz for the viewer.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "apps/command.h"
#include "apps/command_support.h"
#include "apps/progress.h"
#include "diffusion/point_model.h"
#include "diffusion/point_sampling.h"
#include "diffusion/sparse_voxel_completion.h"
#include "diffusion/sparse_voxel_sampling.h"
#include "io/image_folder.h"
#include "io/json_file.h"
#include "io/mesh_io.h"
#include "io/npy.h"
#include "io/npz.h"
#include "io/point_cloud_io.h"
#include "io/point_render.h"
#include "io/png.h"
#include "shapediff/config.h"
#include "viewer/live_view.h"

namespace shapediff::apps {
namespace {

namespace fs = std::filesystem;

struct SampleCommandArgs {
  std::string model;
  int64_t count = 16;
  std::string sampler = "ddpm";
  int64_t steps = 100;  // stochastic: deterministic samplers give blobs from CPU-trained models (RESULTS.md)
  std::string class_name;
  double guidance = 1.0;
  uint64_t seed = 0;
  int64_t trajectory = 0;
  int64_t batch_size = 16;
  int64_t points = 0;
  std::string device = "cpu";
  int64_t threads = 2;
  std::string out;
  bool overwrite = false;
  bool karras = false;
  bool view = false;             // --view: a live window (sample_with_view)
  std::string view_screenshot;   // hidden, for tests: save the final window and close
  std::string mesh;  // reconstruction method for shape_NNNN_mesh.ply; empty: no meshes
  std::string coarse_model;  // sparse-voxel models: the stage-1 voxel model
};

// --view: sampling on a worker thread pushes shape 0 of the first batch to a live window on
// this (the main) thread; the window stays open on the result until closed.
diffusion::PointSamples sample_with_view(diffusion::PointModel& model, diffusion::PointSampleOptions o,
                                         const SampleCommandArgs& a) {
#if SHAPEDIFF_WITH_OPEN3D
  viewer::LiveViewOptions vo;
  vo.title = "shapediff sample";
  vo.close_when_done = !a.view_screenshot.empty();
  vo.screenshot = a.view_screenshot;
  viewer::LiveView view(vo);
  o.on_step = [&](const diffusion::TrajectoryFrame& f, int64_t batch) {
    if (batch != 0) return;
    view.push_frame({model.to_dataset_frame(f.x.slice(0, 0, 1))[0],
                     f.pred_x0.defined() ? model.to_dataset_frame(f.pred_x0.slice(0, 0, 1))[0] : torch::Tensor(),
                     f.step, f.num_steps, f.timestep, {}});
  };
  return run_beside_live_view<diffusion::PointSamples>(
      view, [&] { return diffusion::sample_points(model.net, model.config.schedule, o); });
#else
  (void)model, (void)o, (void)a;
  throw std::runtime_error("--view: this shapediff was built without the viewer (SHAPEDIFF_WITH_OPEN3D=OFF)");
#endif
}

// samples.png: the first (up to 16) shapes as rendered points, four to a row, each panel
// 200x200 from the same camera and at the same scale (the ball around the origin that holds
// every shown point), so that sizes compare. A shape without points leaves its panel blank.
void write_shape_sheet(const fs::path& path, const std::vector<torch::Tensor>& clouds) {
  if (clouds.empty()) return;
  io::RenderOptions ro;
  ro.width = ro.height = 200;
  ro.point_radius = 1.3;
  double radius = 0;
  for (const auto& c : clouds) {
    if (c.defined() && c.size(0) > 0) radius = std::max(radius, c.norm(2, 1).max().item<double>());
  }
  ro.extent = radius > 0 && std::isfinite(radius) ? radius : 1.0;
  const size_t shown = std::min<size_t>(clouds.size(), 16), columns = std::min<size_t>(shown, 4);
  std::vector<torch::Tensor> rows;
  for (size_t r = 0; r * columns < shown; ++r) {
    std::vector<torch::Tensor> panels;
    for (size_t c = 0; c < columns; ++c) {
      const size_t k = r * columns + c;
      if (k < shown && clouds[k].defined() && clouds[k].size(0) > 0) {
        panels.push_back(io::render_points({{clouds[k].to(torch::kFloat32).contiguous(), {0.2, 0.4, 0.8}}}, ro));
      } else {
        panels.push_back(torch::full({ro.height, ro.width, 3}, 255, torch::kUInt8));
      }
    }
    rows.push_back(io::hstack_images(panels));
    rows.push_back(torch::full({8, rows.back().size(1), 3}, 255, torch::kUInt8));
  }
  rows.pop_back();
  io::write_png(path.string(), torch::cat(rows, 0).contiguous());
}

// The points a sheet shows for a signed-distance grid: 2048 on its surface (grid_surface).
torch::Tensor grid_sheet_points(const torch::Tensor& grid) { return diffusion::grid_surface_points(grid, 2048, 0); }

// Voxel models: grid_NNNN.npy (the sampled truncated signed distance, [G,G,G] in [-1, 1]),
// shape_NNNN_mesh.ply (its zero level set by marching cubes, less the crossings between
// saturated cells: diffusion::grid_surface; dataset frame), samples.npz {grids [K,G,G,G],
// labels}, samples.json, samples.png. Written into `tmp`; returns the meshes made.
int64_t write_voxel_samples(const fs::path& tmp, const diffusion::PointModel& model,
                            const diffusion::PointSamples& samples, int64_t count, nlohmann::json& meta) {
  const int64_t g = model.config.voxels.grid;
  const auto grids = samples.points.reshape({count, g, g, g}).contiguous();
  const int width = std::max<int>(4, static_cast<int>(std::to_string(count - 1).size()));
  int64_t meshes = 0;
  for (int64_t i = 0; i < count; ++i) {
    std::ostringstream stem;
    stem << std::setw(width) << std::setfill('0') << i;
    io::write_npy((tmp / ("grid_" + stem.str() + ".npy")).string(), grids[i].contiguous());
    const auto mesh = diffusion::grid_surface(grids[i]);
    if (mesh.faces.size(0) == 0) continue;  // no zero crossing: nothing to mesh
    io::write_mesh((tmp / ("shape_" + stem.str() + "_mesh.ply")).string(), mesh);
    ++meshes;
  }
  io::write_npz((tmp / "samples.npz").string(), {{"grids", grids}, {"labels", samples.labels}});
  std::vector<torch::Tensor> sheet;
  for (int64_t i = 0; i < std::min<int64_t>(count, 16); ++i) sheet.push_back(grid_sheet_points(grids[i]));
  write_shape_sheet(tmp / "samples.png", sheet);
  meta["representation"] = "voxels";
  meta["grid"] = g;
  meta["meshes"] = meshes;
  io::write_json((tmp / "samples.json").string(), meta);
  return meshes;
}

// Sparse-voxel models (two stages, diffusion/sparse_voxel_sampling.h): grid_NNNN.npy (the fine
// grid [R,R,R]), coarse_NNNN.npy (stage 1's [Gc,Gc,Gc]), shape_NNNN_mesh.ply (the fine grid's
// marching cubes, dataset frame), samples.npz {grids, coarse, labels, band_cells}, samples.json.
int run_sparse_voxel_sample(const SampleCommandArgs& a, diffusion::PointModel& fine, diffusion::PointSampleOptions o) {
  if (a.coarse_model.empty()) {
    throw std::invalid_argument(a.model + ": a sparse-voxel model refines a voxel model's grids: give that model "
                                "with --coarse-model");
  }
  for (const auto& [given, what] : {std::pair<bool, const char*>{a.view, "--view"}, {a.points > 0, "--points"},
                                    {!a.mesh.empty(), "--mesh"}, {a.trajectory > 0, "--trajectory"}}) {
    if (given) throw std::invalid_argument(std::string(what) + " does not apply to a sparse-voxel model");
  }
  auto coarse = diffusion::load_point_model(a.coarse_model, o.device);
  diffusion::check_coarse_model(fine.config, coarse.config, a.coarse_model);
  o.sampler_options.clip_sample = true;
  std::unique_ptr<Progress> progress;
  o.on_progress = [&](int64_t done, int64_t total) {
    if (!progress) progress = std::make_unique<Progress>("sample", total, "steps");
    progress->update(done);
  };
  const auto start = std::chrono::steady_clock::now();
  const auto samples = diffusion::sample_sparse_voxels(fine, coarse, o);
  if (progress) progress->finish();
  if (o.device.is_cuda()) torch::cuda::synchronize();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int64_t r = fine.config.sparse_voxels.grid;
  int64_t meshes = 0;
  write_folder_atomically(a.out, [&](const fs::path& tmp) {
    const int width = std::max<int>(4, static_cast<int>(std::to_string(a.count - 1).size()));
    for (int64_t i = 0; i < a.count; ++i) {
      std::ostringstream stem;
      stem << std::setw(width) << std::setfill('0') << i;
      const auto grid = samples.grids[i].contiguous();
      io::write_npy((tmp / ("grid_" + stem.str() + ".npy")).string(), grid);
      io::write_npy((tmp / ("coarse_" + stem.str() + ".npy")).string(), samples.coarse[i].contiguous());
      const auto mesh = diffusion::grid_surface(grid);
      if (mesh.faces.size(0) == 0) continue;  // no zero crossing: nothing to mesh
      io::write_mesh((tmp / ("shape_" + stem.str() + "_mesh.ply")).string(), mesh);
      ++meshes;
    }
    std::vector<torch::Tensor> sheet;
    for (int64_t i = 0; i < std::min<int64_t>(a.count, 16); ++i) sheet.push_back(grid_sheet_points(samples.grids[i]));
    write_shape_sheet(tmp / "samples.png", sheet);
    io::write_npz((tmp / "samples.npz").string(), {{"grids", samples.grids},
                                                   {"coarse", samples.coarse},
                                                   {"labels", samples.labels},
                                                   {"band_cells", samples.band_cells}});
    const nlohmann::json meta = {{"model", a.model},
                                 {"coarse_model", a.coarse_model},
                                 {"representation", "sparse_voxels"},
                                 {"count", a.count},
                                 {"sampler", diffusion::to_string(o.sampler)},
                                 {"steps", a.steps},
                                 {"seed", a.seed},
                                 {"batch_size", a.batch_size},
                                 {"guidance", a.guidance},
                                 {"class", a.class_name.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.class_name)},
                                 {"classes", fine.config.classes},
                                 {"grid", r},
                                 {"coarse_grid", fine.config.sparse_voxels.coarse_grid},
                                 {"band_cells", nlohmann::json(std::vector<int64_t>(
                                                    samples.band_cells.data_ptr<int64_t>(),
                                                    samples.band_cells.data_ptr<int64_t>() + a.count))},
                                 {"sampling_seconds", seconds},
                                 {"meshes", meshes}};
    io::write_json((tmp / "samples.json").string(), meta);
  });
  std::cout << "sampled in " << seconds << " s; wrote " << a.count << " grids of " << r << "^3 (from "
            << fine.config.sparse_voxels.coarse_grid << "^3) and " << meshes << " meshes to " << a.out << "\n";
  return 0;
}

int run_sample(const SampleCommandArgs& a) {
  if (a.threads < 1) throw std::invalid_argument("--threads = " + std::to_string(a.threads) + " (must be >= 1)");
  at::set_num_threads(static_cast<int>(a.threads));
  const torch::Device device = parse_cli_device(a.device);
  if (a.count < 1) throw std::invalid_argument("--count = " + std::to_string(a.count) + " (must be >= 1)");
  if (!a.mesh.empty()) {
    check_mesh_method(a.mesh);
  }
  check_output_folder(a.out, a.overwrite);
  if (a.view) check_live_view_display();
  auto model = diffusion::load_point_model(a.model, device);
  if (model.config.task == diffusion::PointTask::Completion) {
    throw std::invalid_argument(a.model + ": a completion model (it needs a partial scan): use shapediff complete");
  }
  if (model.config.task == diffusion::PointTask::SuperResolution) {
    throw std::invalid_argument(a.model + ": a super-resolution model (it needs a low-resolution image): use shapediff image upscale");
  }
  if (model.config.representation == diffusion::Representation::SparseVoxels) {
    diffusion::PointSampleOptions o;
    o.count = a.count;
    o.sampler = diffusion::parse_sampler_kind(a.sampler);
    o.sampler_options.use_karras_sigmas = a.karras;
    o.steps = a.steps;
    if (!a.class_name.empty()) o.label = model.class_label(a.class_name);
    o.guidance = a.guidance;
    o.seed = a.seed;
    o.batch_size = a.batch_size;
    o.device = device;
    return run_sparse_voxel_sample(a, model, o);
  }
  if (!a.coarse_model.empty()) {
    throw std::invalid_argument("--coarse-model applies to sparse_voxels models; " + a.model + " is a model of " +
                                diffusion::to_string(model.config.representation));
  }
  const bool voxels = model.config.representation == diffusion::Representation::Voxels;
  const bool images = model.config.representation == diffusion::Representation::Images;
  if (voxels || images) {
    const std::string kind = voxels ? "a voxel model" : "an image model";
    if (a.view) throw std::invalid_argument("--view shows point clouds; this is " + kind);
    if (a.points > 0) throw std::invalid_argument("--points applies to point models; this is " + kind);
    if (!a.mesh.empty()) {
      throw std::invalid_argument("--mesh reconstructs point clouds; this is " + kind +
                                  (voxels ? " (its samples are meshed by marching cubes anyway)" : ""));
    }
    if (a.trajectory > 0) throw std::invalid_argument("--trajectory is not available for " + kind + " yet");
  }
  diffusion::PointSampleOptions o;
  o.count = a.count;
  o.num_points = a.points > 0 ? a.points : model.config.points;
  o.sampler = diffusion::parse_sampler_kind(a.sampler);
  o.sampler_options.use_karras_sigmas = a.karras;
  // Grids live in [-1, 1] (the truncated distance over its truncation): x0 estimates are clipped
  // there, as for images; point clouds are not.
  if (voxels || images) o.sampler_options.clip_sample = true;
  o.steps = a.steps;
  if (!a.class_name.empty()) o.label = model.class_label(a.class_name);
  o.guidance = a.guidance;
  o.seed = a.seed;
  o.trajectory_every = a.trajectory;
  o.batch_size = a.batch_size;
  o.device = device;
  std::unique_ptr<Progress> progress;
  o.on_progress = [&](int64_t done, int64_t total) {
    if (!progress) progress = std::make_unique<Progress>("sample", total, "steps");
    progress->update(done);
  };
  // The sampling loop alone (model load, start-up and file writing excluded), synchronised on CUDA.
  const auto loop_start = std::chrono::steady_clock::now();
  auto samples = images ? diffusion::sample_images(model.grid_net, model.config.images.size,
                                                  model.config.images.channels, model.config.num_classes,
                                                  model.config.schedule, o)
                 : voxels ? diffusion::sample_grids(model.grid_net, model.config.voxels.grid,
                                                 model.config.num_classes, model.config.schedule, o)
                 : a.view ? sample_with_view(model, o, a)
                          : diffusion::sample_points(model.net, model.config.schedule, o);
  if (progress) progress->finish();
  if (device.is_cuda()) torch::cuda::synchronize();
  const double sampling_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - loop_start).count();
  nlohmann::json meta = {{"model", a.model},
                         {"count", a.count},
                         {"sampler", diffusion::to_string(o.sampler)},
                         {"karras", a.karras},
                         {"steps", a.steps},
                         {"seed", a.seed},
                         {"batch_size", a.batch_size},
                         {"guidance", a.guidance},
                         {"sampling_seconds", sampling_seconds},
                         {"class", a.class_name.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.class_name)},
                         {"classes", model.config.classes},
                         {"frame", "dataset (" + shapes::to_string(model.config.dataset_normalization) + ")"}};
  if (images) {
    write_folder_atomically(a.out, [&](const fs::path& tmp) {
      const int width = std::max<int>(4, static_cast<int>(std::to_string(a.count - 1).size()));
      for (int64_t i = 0; i < a.count; ++i) {
        std::ostringstream name;
        name << "image_" << std::setw(width) << std::setfill('0') << i << ".png";
        io::write_image_png((tmp / name.str()).string(), samples.points[i]);
      }
      const int64_t columns = std::min<int64_t>(8, a.count);
      io::write_image_png((tmp / "samples.png").string(), io::contact_sheet(samples.points, columns));
      io::write_npz((tmp / "samples.npz").string(), {{"images", samples.points}, {"labels", samples.labels}});
      meta["representation"] = "images";
      meta["size"] = model.config.images.size;
      meta["channels"] = model.config.images.channels;
      io::write_json((tmp / "samples.json").string(), meta);
    });
    std::cout << "sampled in " << sampling_seconds << " s; wrote " << a.count << " images of "
              << model.config.images.size << "x" << model.config.images.size << " and samples.png to " << a.out
              << "\n";
    return 0;
  }
  if (voxels) {
    int64_t meshes = 0;
    write_folder_atomically(a.out, [&](const fs::path& tmp) {
      meshes = write_voxel_samples(tmp, model, samples, a.count, meta);
    });
    std::cout << "sampled in " << sampling_seconds << " s; wrote " << a.count << " grids of "
              << model.config.voxels.grid << "^3 and " << meshes << " meshes to " << a.out << "\n";
    return 0;
  }
  write_folder_atomically(a.out, [&](const fs::path& tmp) {
    auto points = model.to_dataset_frame(samples.points).contiguous();
    const int width = std::max<int>(4, static_cast<int>(std::to_string(a.count - 1).size()));
    for (int64_t i = 0; i < a.count; ++i) {
      std::ostringstream name;
      name << "shape_" << std::setw(width) << std::setfill('0') << i << ".ply";
      shapes::PointCloud cloud;
      cloud.points = points[i];
      io::write_point_cloud((tmp / name.str()).string(), cloud);
      if (!a.mesh.empty()) write_mesh_beside((tmp / name.str()).string(), cloud, a.mesh);
    }
    io::write_npz((tmp / "samples.npz").string(), {{"points", points}, {"labels", samples.labels}});
    std::vector<torch::Tensor> sheet;
    for (int64_t i = 0; i < std::min<int64_t>(a.count, 16); ++i) sheet.push_back(points[i]);
    write_shape_sheet(tmp / "samples.png", sheet);
    if (samples.trajectory.defined()) {
      io::write_npz((tmp / "trajectory.npz").string(),
                    {{"x", model.to_dataset_frame(samples.trajectory).contiguous()},
                     {"x0", model.to_dataset_frame(samples.trajectory_x0).contiguous()},
                     {"step", samples.trajectory_steps},
                     {"timestep", samples.trajectory_timesteps}});
    }
    meta["points"] = o.num_points;
    io::write_json((tmp / "samples.json").string(), meta);
  });
  std::cout << "sampled in " << sampling_seconds << " s; wrote " << a.count << " shapes of " << o.num_points
            << " points to " << a.out
            << (samples.trajectory.defined()
                    ? " (trajectory: " + std::to_string(samples.trajectory.size(0)) + " frames)"
                    : std::string())
            << "\n";
  return 0;
}

}  // namespace

void add_sample_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<SampleCommandArgs>();
  auto* cmd = app.add_subcommand("sample", "Generate shapes with a trained model: point clouds, or signed-distance "
                                           "grids and their marching-cubes meshes (voxel models)");
  cmd->add_option("--model", a->model, "Model file (.pt), checkpoint, or training run folder")->required();
  cmd->add_option("--count", a->count, "Shapes to generate")->capture_default_str();
  cmd->add_option("--sampler", a->sampler,
                  "ddpm, ddim, dpmsolver_multistep, unipc, euler, euler_ancestral, heun")
      ->capture_default_str();
  cmd->add_option("--steps", a->steps, "Sampler steps (at most the model's training steps)")->capture_default_str();
  cmd->add_flag("--karras", a->karras, "Karras sigmas (dpmsolver_multistep, euler, heun)");
  cmd->add_option("--class", a->class_name, "Class to generate (class-conditional models)");
  cmd->add_option("--guidance", a->guidance, "Classifier-free guidance scale (with --class)")->capture_default_str();
  cmd->add_option("--seed", a->seed, "Seed: the same seed gives the same files")->capture_default_str();
  cmd->add_option("--trajectory", a->trajectory, "Record every K steps into trajectory.npz (0: off)")
      ->capture_default_str();
  cmd->add_option("--batch-size", a->batch_size, "Shapes denoised together")->capture_default_str();
  cmd->add_option("--points", a->points, "Points per shape (default: the model's)");
  cmd->add_option("--device", a->device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--threads", a->threads, "CPU threads")->capture_default_str();
  cmd->add_option("--out", a->out, "Output folder (shape_NNNN.ply, samples.npz, samples.json, samples.png: the first 16 shapes rendered)")->required();
  cmd->add_flag("--overwrite", a->overwrite, "Replace the output folder if it exists");
  cmd->add_flag("--view", a->view, "Watch shape 0 denoise in a window (needs a display); close it to finish");
  cmd->add_option("--view-screenshot", a->view_screenshot, "With --view: save the final window as PNG and close")
      ->group("");
  cmd->add_option("--coarse-model", a->coarse_model,
                  "Sparse-voxel models: the voxel model (file or run folder) whose grids they refine");
  cmd->add_option("--mesh", a->mesh, "Also write shape_NNNN_mesh.ply: poisson, advancing-front or scale-space");
  cmd->callback([a, &action] { action = [a] { return run_sample(*a); }; });
}

}  // namespace shapediff::apps

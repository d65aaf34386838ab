#include "diffusion/sparse_voxel_completion.h"

#include <algorithm>
#include <initializer_list>
#include <sstream>
#include <stdexcept>
#include <string>

#include <torch/torch.h>

#include "diffusion/noise_source.h"
#include "diffusion/number_text.h"
#include "diffusion/sparse_voxel_band.h"
#include "shapes/grid_spec.h"
#include "shapes/marching_cubes.h"
#include "shapes/mesh_sampling.h"
#include "shapes/oriented_points_sdf.h"

namespace shapediff::diffusion {
namespace {

std::string sizes_text(const torch::Tensor& t) {
  if (!t.defined()) return "undefined";
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

// The scan's normalized truncated signed distances on a grid of `grid` cells a side spanning
// [-1, 1]^3 (values in [-1, 1], as the trainers compute them) and the cells within
// known_voxels voxels of a scan point.
std::pair<torch::Tensor, torch::Tensor> known_cells(const torch::Tensor& points, const torch::Tensor& normals,
                                                    int64_t grid, double truncation_voxels, double known_voxels) {
  const auto spec = shapes::GridSpec::from_bounds({-1, -1, -1}, {1, 1, 1}, grid);
  const double truncation = truncation_voxels * spec.voxel_size;
  const auto sdf = shapes::truncated_sdf_from_oriented_points(points, normals, spec, truncation);
  const auto mask = sdf.values.abs() <= known_voxels * spec.voxel_size;
  return {(sdf.values / truncation).to(torch::kFloat32).contiguous(), mask.contiguous()};
}

}  // namespace

torch::Tensor estimate_scan_normals(const torch::Tensor& points, int64_t neighbors) {
  if (!points.defined() || points.dim() != 2 || points.size(1) != 3 || !points.is_floating_point()) {
    throw std::invalid_argument("estimate_scan_normals: points must be floating point [M,3], got " +
                                sizes_text(points));
  }
  if (neighbors < 3) {
    throw std::invalid_argument("estimate_scan_normals: neighbors = " + std::to_string(neighbors) + " (must be >= 3)");
  }
  const int64_t m = points.size(0);
  if (m <= neighbors) {
    throw std::invalid_argument("estimate_scan_normals: the scan has " + std::to_string(m) + " points; normals from " +
                                std::to_string(neighbors) + " neighbours need at least " +
                                std::to_string(neighbors + 1));
  }
  const auto p = points.to(torch::kCPU, torch::kFloat64);
  std::vector<torch::Tensor> normals;
  // Rows in chunks keep the distance matrix small for scans of many thousand points.
  constexpr int64_t kChunk = 1024;
  for (int64_t start = 0; start < m; start += kChunk) {
    const auto rows = p.slice(0, start, std::min(m, start + kChunk));
    const auto nearest = std::get<1>(torch::cdist(rows, p).topk(neighbors, 1, /*largest=*/false));  // [c,k]
    auto near = p.index_select(0, nearest.reshape({-1})).reshape({rows.size(0), neighbors, 3});
    near = near - near.mean(1, true);
    const auto cov = torch::matmul(near.transpose(1, 2), near);  // [c,3,3]
    // Eigenvalues ascend: column 0 is the direction of least variance.
    normals.push_back(std::get<1>(at::linalg_eigh(cov)).select(2, 0));
  }
  auto n = torch::cat(normals);
  const auto away = torch::where((n * p).sum(1, true) < 0, -torch::ones({m, 1}, n.options()),
                                 torch::ones({m, 1}, n.options()));
  return (n * away).to(torch::kFloat32).contiguous();
}

namespace {

// The checks both pipelines share; `schedules` are the models' (steps must fit each), `max_known`
// the smallest truncation of the grids the scan fixes, `context` names the function.
void check_completion(const SparseVoxelCompletionOptions& o, int64_t num_classes,
                      std::initializer_list<const ScheduleConfig*> schedules, double max_known,
                      const torch::Tensor& points, const torch::Tensor& normals, const std::string& context) {
  auto fail = [](const std::string& what) { throw std::invalid_argument(what); };
  if (o.strategy != CompletionStrategy::Replacement) {
    fail("strategy " + to_string(o.strategy) + ": sparse-voxel completion supports replacement only");
  }
  if (o.count < 1) fail("count = " + std::to_string(o.count) + " (must be >= 1)");
  for (const ScheduleConfig* sch : schedules) {
    if (o.steps < 1 || o.steps > sch->num_train_timesteps) {
      fail("steps = " + std::to_string(o.steps) + " (must be in [1, " + std::to_string(sch->num_train_timesteps) +
           "], the model's training steps)");
    }
  }
  if (o.label && (*o.label < 0 || *o.label >= num_classes)) {
    fail("label = " + std::to_string(*o.label) + " (the model has " + std::to_string(num_classes) + " classes)");
  }
  if (!o.label && o.guidance != 1.0) fail("guidance = " + number_text(o.guidance) + " needs a class label");
  if (!(o.known_distance > 0 && o.known_distance < max_known)) {
    fail("known_distance = " + number_text(o.known_distance) + " (must be in (0, " + number_text(max_known) +
         "), below both truncations)");
  }
  if (!points.defined() || points.dim() != 2 || points.size(1) != 3 || points.size(0) < 1) {
    fail(context + ": points must be [M,3] with M >= 1, got " + sizes_text(points));
  }
  if (!normals.defined() || normals.sizes() != points.sizes()) {
    fail(context + ": normals must be " + sizes_text(points) + " like points, got " + sizes_text(normals));
  }
}

// The labels of one batch of count completions: the class (the null label when none), and under
// guidance count more null labels for the unconditional half.
// Both stages run replacement with the grids clipped to [-1, 1].
CompletionOptions replacement_options(const SparseVoxelCompletionOptions& o) {
  CompletionOptions co;
  co.strategy = CompletionStrategy::Replacement;
  co.sampler = o.sampler;
  co.sampler_options = o.sampler_options;
  co.sampler_options.clip_sample = true;
  co.steps = o.steps;
  return co;
}

torch::Tensor batch_labels(const SparseVoxelCompletionOptions& o, int64_t num_classes) {
  const int64_t label = o.label.value_or(num_classes);
  auto labels = torch::full({o.count}, label, torch::TensorOptions().dtype(torch::kLong).device(o.device));
  if (o.label && o.guidance != 1.0) labels = torch::cat({labels, torch::full({o.count}, num_classes, labels.options())});
  return labels;
}

// Replacement over the dense mask of known cells with a voxel model (stage 1, or a voxel model
// alone): grids [count,G,G,G] float32 on o.device, drawn from o.seed.
torch::Tensor complete_dense_grids(PointModel& model, const torch::Tensor& known, const torch::Tensor& mask,
                                   const SparseVoxelCompletionOptions& o,
                                   std::function<void(int64_t, int64_t)> on_progress) {
  torch::NoGradGuard no_grad;
  auto& grid_net = model.grid_net;
  const bool training = grid_net->is_training();
  grid_net->eval();
  const int64_t k = o.count, g = model.config.voxels.grid;
  const bool guided_run = o.label && o.guidance != 1.0;
  const auto labels = batch_labels(o, model.config.num_classes);
  Denoiser denoiser = [&](const torch::Tensor& x, const torch::Tensor& t) {
    const auto xs = guided_run ? torch::cat({x, x}) : x;
    const auto tb = t.reshape({1}).expand({xs.size(0)}).to(o.device);
    // An unconditional network takes no labels at all.
    const auto eps = grid_net->forward(xs, tb, model.config.num_classes > 0 ? labels : torch::Tensor());
    if (!guided_run) return eps;
    const auto cond = eps.slice(0, 0, k), uncond = eps.slice(0, k);
    return uncond + o.guidance * (cond - uncond);
  };
  auto co = replacement_options(o);
  co.on_progress = std::move(on_progress);
  GeneratorNoise noise(o.seed);
  const auto dev_opts = torch::TensorOptions().dtype(torch::kFloat32).device(o.device);
  const auto grids = complete(denoiser, model.config.schedule, known.to(o.device).reshape({1, 1, g, g, g}),
                              mask.to(dev_opts).reshape({1, 1, g, g, g}), {k, 1, g, g, g}, noise, co)
                         .reshape({k, g, g, g});
  if (training) grid_net->train();
  return grids;
}

}  // namespace

VoxelCompletion complete_voxels(PointModel& model, const torch::Tensor& points, const torch::Tensor& normals,
                                const SparseVoxelCompletionOptions& o) {
  if (model.config.representation != Representation::Voxels) {
    throw std::invalid_argument("complete_voxels: the model is a model of " + to_string(model.config.representation) +
                                ", not voxels");
  }
  const auto& v = model.config.voxels;
  check_completion(o, model.config.num_classes, {&model.config.schedule}, v.truncation, points, normals,
                   "complete_voxels");
  VoxelCompletion out;
  std::tie(out.known, out.mask) = known_cells(points.to(torch::kCPU), normals.to(torch::kCPU), v.grid, v.truncation,
                                              o.known_distance);
  if (!out.mask.any().item<bool>()) throw std::invalid_argument("complete_voxels: the scan fixes no cell");
  out.grids = complete_dense_grids(model, out.known, out.mask, o, o.on_progress).to(torch::kCPU, torch::kFloat32);
  return out;
}

SparseVoxelCompletion complete_sparse_voxels(PointModel& fine, PointModel& coarse, const torch::Tensor& points,
                                             const torch::Tensor& normals, const SparseVoxelCompletionOptions& o) {
  check_coarse_model(fine.config, coarse.config, "coarse model");
  const auto& s = fine.config.sparse_voxels;
  const int64_t num_classes = fine.config.num_classes;
  const auto& schedule = fine.config.schedule;
  check_completion(o, num_classes, {&coarse.config.schedule, &schedule}, std::min(s.truncation, s.coarse_truncation),
                   points, normals, "complete_sparse_voxels");

  SparseVoxelCompletion out;
  const auto p = points.to(torch::kCPU), n = normals.to(torch::kCPU);
  std::tie(out.coarse_known, out.coarse_mask) = known_cells(p, n, s.coarse_grid, s.coarse_truncation, o.known_distance);
  std::tie(out.fine_known, out.fine_mask) = known_cells(p, n, s.grid, s.truncation, o.known_distance);
  if (!out.coarse_mask.any().item<bool>()) {
    throw std::invalid_argument("complete_sparse_voxels: the scan fixes no coarse cell");
  }

  auto stage_progress = [&](int64_t index) -> std::function<void(int64_t, int64_t)> {
    if (!o.on_progress) return {};
    return [&o, index](int64_t done, int64_t total) { o.on_progress(index * total + done, 2 * total); };
  };
  // Stage 1: the dense coarse grids, the known cells replaced after every step.
  const auto grids = complete_dense_grids(coarse, out.coarse_known, out.coarse_mask, o, stage_progress(0));

  torch::NoGradGuard no_grad;
  const bool fine_training = fine.sparse_net->is_training();
  fine.sparse_net->eval();
  const int64_t k = o.count, r = s.grid;
  const bool guided_run = o.label && o.guidance != 1.0;
  const bool conditional = num_classes > 0;
  const auto dev_opts = torch::TensorOptions().dtype(torch::kFloat32).device(o.device);
  const auto labels = batch_labels(o, num_classes);
  const int64_t label = o.label.value_or(num_classes);
  auto guide = [&](const torch::Tensor& both, int64_t rows) {
    const auto cond = both.slice(0, 0, rows), uncond = both.slice(0, rows);
    return uncond + o.guidance * (cond - uncond);
  };
  auto co = replacement_options(o);

  // Stage 2: the band of the completed grids; the band's rows the scan fixes are replaced.
  const auto batch = sparse_voxel_batch(grids, {}, s);
  const auto up = upsample_coarse_grid(grids, r);
  const int64_t cells = batch.cells();
  const auto xyz = batch.coords.slice(1, 1, 4).to(torch::kLong);
  const auto flat = (xyz.select(1, 0) * r + xyz.select(1, 1)) * r + xyz.select(1, 2);
  const auto row_known = out.fine_known.to(o.device).reshape({-1}).index_select(0, flat).unsqueeze(1);
  const auto row_mask = out.fine_mask.to(o.device).reshape({-1}).index_select(0, flat).unsqueeze(1);
  torch::Tensor values = torch::zeros({0, 1}, dev_opts);
  if (cells > 0) {
    auto coords = batch.coords, condition = batch.coarse;
    if (guided_run) {  // the unconditional copy's cells: batch indices shifted by k
      auto shifted = coords.clone();
      shifted.select(1, 0).add_(static_cast<int32_t>(k));
      coords = torch::cat({coords, shifted});
      condition = torch::cat({condition, condition});
    }
    const int64_t items = labels.size(0);
    // One SparseTensor for the whole loop: every step reuses its kernel maps.
    const sparse::SparseTensor sparse_cells(coords, torch::zeros({coords.size(0), 2}, dev_opts));
    Denoiser fine_denoiser = [&](const torch::Tensor& x, const torch::Tensor& t) {
      const auto tb = t.reshape({1}).expand({items}).to(o.device);
      const auto xs = guided_run ? torch::cat({x, x}) : x;
      const auto eps = fine.sparse_net
                           ->forward(sparse_cells.replace_features(torch::cat({xs.to(torch::kFloat32), condition}, 1)),
                                     tb, conditional ? labels : torch::Tensor())
                           .features();
      return guided_run ? guide(eps, cells) : eps;
    };
    co.on_progress = stage_progress(1);
    GeneratorNoise fine_noise(o.seed + 1);
    values = complete(fine_denoiser, schedule, row_known, row_mask.to(torch::kFloat32), {cells, 1}, fine_noise, co);
  }
  if (fine_training) fine.sparse_net->train();

  out.samples.grids = assemble_fine_grids(batch, values.clamp(-1, 1), up).cpu();
  out.samples.coarse = grids.to(torch::kCPU, torch::kFloat32);
  out.samples.labels = torch::full({k}, label, torch::kLong);
  out.samples.band_cells = batch.counts.cpu();
  const auto shape_of_row = batch.coords.select(1, 0).to(torch::kLong).cpu();
  out.band_known = torch::zeros({k}, torch::kLong)
                       .index_add_(0, shape_of_row, row_mask.squeeze(1).to(torch::kLong).cpu());
  return out;
}

shapes::TriangleMesh grid_surface(const torch::Tensor& grid) {
  if (!grid.defined() || grid.dim() != 3 || grid.size(0) != grid.size(1) || grid.size(0) != grid.size(2) ||
      grid.size(0) < 2) {
    throw std::invalid_argument("grid_surface: the grid must be [G,G,G] with G >= 2, got " + sizes_text(grid));
  }
  const int64_t g = grid.size(0);
  const auto values = grid.to(torch::kCPU, torch::kFloat32).contiguous();
  const auto spec = shapes::GridSpec::from_bounds({-1, -1, -1}, {1, 1, 1}, g);
  auto mesh = shapes::marching_cubes(spec.make_grid(values, shapes::VoxelKind::SignedDistance),
                                     {0.0, false, shapes::IsoSurfaceMethod::Cubes});
  if (mesh.faces.size(0) == 0) return mesh;
  // The cubes with a corner short of the clamp: only there can a crossing be surface.
  const auto near = values.abs() < kSaturatedValue;
  auto any_near = torch::zeros({g - 1, g - 1, g - 1}, torch::kBool);
  for (int64_t dx = 0; dx < 2; ++dx) {
    for (int64_t dy = 0; dy < 2; ++dy) {
      for (int64_t dz = 0; dz < 2; ++dz) {
        any_near |= near.slice(0, dx, dx + g - 1).slice(1, dy, dy + g - 1).slice(2, dz, dz + g - 1);
      }
    }
  }
  // A classic-cubes face lies inside the cube that made it, and so does its centroid.
  const auto centroids =
      mesh.vertices.index_select(0, mesh.faces.reshape({-1})).reshape({-1, 3, 3}).mean(1).to(torch::kFloat64);
  const auto cube = ((centroids + 1.0) / spec.voxel_size).floor().to(torch::kLong).clamp(0, g - 2);
  const auto keep = any_near.index({cube.select(1, 0), cube.select(1, 1), cube.select(1, 2)});
  mesh.faces = mesh.faces.index({keep}).contiguous();
  return mesh;
}

torch::Tensor grid_surface_points(const torch::Tensor& grid, int64_t count, uint64_t seed) {
  if (count < 1) throw std::invalid_argument("grid_surface_points: count = " + std::to_string(count) + " (must be >= 1)");
  const auto mesh = grid_surface(grid);
  if (mesh.faces.size(0) == 0) return torch::zeros({0, 3});
  try {
    return shapes::sample_surface(mesh, count, seed).points;
  } catch (const std::invalid_argument&) {
    return torch::zeros({0, 3});  // only degenerate faces: no area to sample
  }
}

}  // namespace shapediff::diffusion

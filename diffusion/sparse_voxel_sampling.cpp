#include "diffusion/sparse_voxel_sampling.h"

#include <sstream>
#include <stdexcept>
#include <vector>

#include <torch/torch.h>

#include "diffusion/noise_source.h"
#include "diffusion/number_text.h"
#include "diffusion/sample_loop.h"
#include "diffusion/sparse_voxel_band.h"

namespace shapediff::diffusion {

SparseVoxelSamples refine_coarse_grids(sparse::SparseUNet& net, const SparseVoxelSettings& s,
                                       int64_t num_classes, const ScheduleConfig& schedule,
                                       const torch::Tensor& coarse, const PointSampleOptions& o) {
  auto fail = [](const std::string& what) { throw std::invalid_argument(what); };
  const int64_t gc = s.coarse_grid;
  if (!coarse.defined() || coarse.dim() != 4 || coarse.size(0) != o.count || coarse.size(1) != gc ||
      coarse.size(2) != gc || coarse.size(3) != gc) {
    std::ostringstream got;
    if (coarse.defined()) got << coarse.sizes();
    fail("refine_coarse_grids: coarse must be [" + std::to_string(o.count) + "," + std::to_string(gc) + "," +
         std::to_string(gc) + "," + std::to_string(gc) + "], got " + (coarse.defined() ? got.str() : "undefined"));
  }
  if (o.batch_size < 1) fail("batch_size = " + std::to_string(o.batch_size) + " (must be >= 1)");
  if (o.steps < 1 || o.steps > schedule.num_train_timesteps) {
    fail("steps = " + std::to_string(o.steps) + " (must be in [1, " + std::to_string(schedule.num_train_timesteps) +
         "], the model's training steps)");
  }
  if (o.label && (*o.label < 0 || *o.label >= num_classes)) {
    fail("label = " + std::to_string(*o.label) + " (the model has " + std::to_string(num_classes) + " classes)");
  }
  if (!o.label && o.guidance != 1.0) fail("guidance = " + number_text(o.guidance) + " needs a class label");

  torch::NoGradGuard no_grad;
  const bool was_training = net->is_training();
  net->eval();
  const int64_t null_label = num_classes;
  const int64_t label = o.label.value_or(null_label);
  const bool guided_run = o.label && o.guidance != 1.0;
  const auto dev_opts = torch::TensorOptions().dtype(torch::kFloat32).device(o.device);
  const int64_t batches = (o.count + o.batch_size - 1) / o.batch_size;
  int64_t steps_done = 0;
  std::vector<torch::Tensor> grids, counts;
  for (int64_t j = 0; j < batches; ++j) {
    const int64_t start = j * o.batch_size;
    const int64_t b = std::min(o.batch_size, o.count - start);
    const auto coarse_j = coarse.slice(0, start, start + b).to(o.device, torch::kFloat32);
    const auto batch = sparse_voxel_batch(coarse_j, {}, s);
    const auto up = upsample_coarse_grid(coarse_j, s.grid);
    counts.push_back(batch.counts.cpu());
    const int64_t n = batch.cells();
    if (n == 0) {  // no surface anywhere: the coarse signs are the answer
      grids.push_back(assemble_fine_grids(batch, torch::zeros({0}, dev_opts), up).cpu());
      continue;
    }
    // Guided runs push the conditional and unconditional copies through one forward pass: the
    // second copy's cells are the first's with batch indices shifted by b.
    auto coords = batch.coords, condition = batch.coarse;
    auto labels = torch::full({b}, label, dev_opts.dtype(torch::kLong));
    if (guided_run) {
      auto shifted = coords.clone();
      shifted.select(1, 0).add_(static_cast<int32_t>(b));
      coords = torch::cat({coords, shifted});
      condition = torch::cat({condition, condition});
      labels = torch::cat({labels, torch::full({b}, null_label, labels.options())});
    }
    const int64_t items = labels.size(0);
    // One SparseTensor for the whole loop: every step reuses its kernel maps.
    const sparse::SparseTensor cells(coords, torch::zeros({coords.size(0), 2}, dev_opts));
    const bool conditional = num_classes > 0;
    Denoiser denoiser = [&](const torch::Tensor& x, const torch::Tensor& t) {
      const auto tb = t.reshape({1}).expand({items}).to(o.device);
      const auto xs = guided_run ? torch::cat({x, x}) : x;
      auto out = net->forward(cells.replace_features(torch::cat({xs.to(torch::kFloat32), condition}, 1)), tb,
                              conditional ? labels : torch::Tensor())
                     .features();
      if (!guided_run) return out;
      const auto cond = out.slice(0, 0, n), uncond = out.slice(0, n);
      return uncond + o.guidance * (cond - uncond);
    };
    auto sampler = make_sampler(o.sampler, schedule, o.sampler_options);
    GeneratorNoise noise(o.seed + static_cast<uint64_t>(batches + j));
    SampleLoopOptions loop;
    loop.num_inference_steps = o.steps;
    if (o.on_progress) {
      const int64_t base = steps_done;
      loop.on_progress = [&, base](int64_t done, int64_t total) { o.on_progress(base + done, total * batches); };
    }
    const auto values = sample(*sampler, denoiser, {n, 1}, dev_opts, noise, loop);
    steps_done += sampler->timesteps().size(0);
    grids.push_back(assemble_fine_grids(batch, values.clamp(-1, 1), up).cpu());
  }
  if (was_training) net->train();
  SparseVoxelSamples out;
  out.grids = torch::cat(grids);
  out.coarse = coarse.to(torch::kCPU, torch::kFloat32);
  out.labels = torch::full({o.count}, label, torch::kLong);
  out.band_cells = torch::cat(counts);
  return out;
}

void check_coarse_model(const PointModelConfig& fine, const PointModelConfig& coarse, const std::string& name) {
  if (fine.representation != Representation::SparseVoxels) {
    throw std::invalid_argument("a coarse model applies to sparse_voxels models, not to a " +
                                to_string(fine.representation) + " model");
  }
  const auto& s = fine.sparse_voxels;
  auto refuse = [&](const std::string& why) {
    throw std::invalid_argument(name + ": not the stage 1 of this sparse-voxel model (" + why + ")");
  };
  if (coarse.representation != Representation::Voxels) {
    refuse("a " + to_string(coarse.representation) + " model; stage 1 is a voxels model");
  }
  if (coarse.voxels.grid != s.coarse_grid) {
    refuse("voxels.grid " + std::to_string(coarse.voxels.grid) + ", the sparse model wants coarse_grid " +
           std::to_string(s.coarse_grid));
  }
  if (coarse.voxels.truncation != s.coarse_truncation) {
    refuse("voxels.truncation " + number_text(coarse.voxels.truncation) + ", the sparse model wants coarse_truncation " +
           number_text(s.coarse_truncation));
  }
  if (coarse.classes != fine.classes || coarse.num_classes != fine.num_classes) {
    refuse("classes " + nlohmann::json(coarse.classes).dump() + " (" + std::to_string(coarse.num_classes) +
           " labels) vs the sparse model's " + nlohmann::json(fine.classes).dump() + " (" +
           std::to_string(fine.num_classes) + ")");
  }
}

SparseVoxelSamples sample_sparse_voxels(PointModel& fine, PointModel& coarse, const PointSampleOptions& options) {
  check_coarse_model(fine.config, coarse.config, "coarse model");
  auto stage = [&](int64_t index) {
    PointSampleOptions o = options;
    if (options.on_progress) {
      o.on_progress = [&options, index](int64_t done, int64_t total) {
        options.on_progress(index * total + done, 2 * total);
      };
    }
    return o;
  };
  const auto first = sample_grids(coarse.grid_net, coarse.config.voxels.grid, coarse.config.num_classes,
                                  coarse.config.schedule, stage(0));
  const int64_t gc = coarse.config.voxels.grid;
  return refine_coarse_grids(fine.sparse_net, fine.config.sparse_voxels, fine.config.num_classes,
                             fine.config.schedule, first.points.reshape({options.count, gc, gc, gc}), stage(1));
}

}  // namespace shapediff::diffusion

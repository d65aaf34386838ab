// What a trained voxel model has learnt, shape by shape: for the first `count` training shapes
// of a dataset, the model's target grid (as the trainer builds it) is noised to several
// timesteps and the model's x0 estimate compared with it (sign agreement over all cells and
// over the cells inside the shape, mean squared error); then grids the model samples (DDPM,
// x0 clipped, as `shapediff sample` runs it) are summarised the same way as the targets
// (cells inside, mean value). A model that has learnt its data gets the signs right at low t
// and samples grids whose statistics resemble the targets'.
//
// With PNG, a picture: the targets' surfaces in the top row, the samples' below.
//
//   ./voxel_denoise_probe MODEL DATASET [count=4] [threads=2] [steps=100] [sampler=ddpm] [PNG]
#include <cstdio>
#include <cstdlib>
#include <string>

#include <torch/torch.h>

#include "diffusion/point_model.h"
#include "diffusion/point_sampling.h"
#include "diffusion/sparse_voxel_completion.h"
#include "io/png.h"
#include "io/point_render.h"
#include "io/shape_dataset.h"
#include "shapes/grid_spec.h"
#include "shapes/oriented_points_sdf.h"

int main(int argc, char** argv) {
  using namespace shapediff;
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL DATASET [count=4] [threads=2]\n", argv[0]);
    return 2;
  }
  const int64_t count = argc > 3 ? std::atoll(argv[3]) : 4;
  at::set_num_threads(argc > 4 ? std::atoi(argv[4]) : 2);
  auto model = diffusion::load_point_model(argv[1]);
  if (model.config.representation != diffusion::Representation::Voxels) {
    std::fprintf(stderr, "%s: not a voxel model\n", argv[1]);
    return 2;
  }
  const auto info = io::read_dataset_info(argv[2]);
  std::vector<io::ShapeRecord> records;
  for (const auto& shard : info.splits.at("train").shards) {
    for (auto& r : io::read_shard(std::string(argv[2]) + "/" + shard, info)) {
      if (static_cast<int64_t>(records.size()) < count) records.push_back(std::move(r));
    }
  }
  const auto& v = model.config.voxels;
  const auto spec = shapes::GridSpec::from_bounds({-1, -1, -1}, {1, 1, 1}, v.grid);
  const double truncation = v.truncation * spec.voxel_size;
  std::vector<torch::Tensor> targets;
  for (const auto& r : records) {
    const auto sdf = shapes::connected_far_signs(
        shapes::truncated_sdf_from_oriented_points(r.points, r.normals, spec, truncation), truncation);
    targets.push_back((sdf.values / truncation).to(torch::kFloat32).unsqueeze(0));
  }
  const auto x0 = torch::stack(targets);  // [B,1,G,G,G]
  const int64_t b = x0.size(0);
  const auto schedule = model.schedule();
  auto& net = model.grid_net;
  net->eval();
  torch::NoGradGuard no_grad;
  torch::Tensor labels;
  if (model.config.num_classes > 0) {
    std::vector<int64_t> l;
    for (const auto& r : records) l.push_back(r.label);
    labels = torch::tensor(l, torch::kLong);
  }
  std::printf("targets: %lld shapes, inside cells %.1f a shape, mean value %.3f, saturated (|v| >= 0.99) %.1f%%\n",
              static_cast<long long>(b), (x0 < 0).sum().item<double>() / b, x0.mean().item<double>(),
              100.0 * (x0.abs() >= 0.99).to(torch::kFloat64).mean().item<double>());
  std::printf("| t | sign agreement, all cells | inside cells | x0 MSE | eps MSE |\n|---:|---:|---:|---:|---:|\n");
  torch::manual_seed(0);
  for (int64_t t : {10, 50, 100, 250, 500, 750, 999}) {
    const auto noise = torch::randn_like(x0);
    const auto ts = torch::full({b}, t, torch::kLong);
    const auto xt = schedule.add_noise(x0, noise, ts);
    const auto out = net->forward(xt, ts, labels);
    const auto pred = schedule.to_sample(out, xt, ts, schedule.prediction()).clamp(-1, 1);
    const auto eps = schedule.to_epsilon(out, xt, ts, schedule.prediction());
    const auto inside = x0 < 0;
    const double agree = ((pred < 0) == inside).to(torch::kFloat64).mean().item<double>();
    const double agree_in = inside.any().item<bool>()
                                ? (pred < 0).masked_select(inside).to(torch::kFloat64).mean().item<double>()
                                : 0.0;
    std::printf("| %lld | %.3f | %.3f | %.4f | %.4f |\n", static_cast<long long>(t), agree, agree_in,
                (pred - x0).pow(2).mean().item<double>(), (eps - noise).pow(2).mean().item<double>());
  }
  // One sample per target, with that target's label when the model has classes.
  diffusion::PointSampleOptions o;
  o.count = 1;
  o.steps = argc > 5 ? std::atoll(argv[5]) : 100;
  if (argc > 6) o.sampler = diffusion::parse_sampler_kind(argv[6]);
  o.sampler_options.clip_sample = true;
  std::vector<torch::Tensor> drawn;
  for (int64_t k = 0; k < b; ++k) {
    if (model.config.num_classes > 0) o.label = records[static_cast<size_t>(k)].label;
    o.seed = static_cast<uint64_t>(k);
    drawn.push_back(diffusion::sample_grids(net, v.grid, model.config.num_classes, model.config.schedule, o).points);
  }
  const auto s = torch::cat(drawn);
  std::printf("samples (%s %lld steps%s, one per target): inside cells %.1f a shape, mean value %.3f, saturated %.1f%%\n",
              argc > 6 ? argv[6] : "ddpm", static_cast<long long>(o.steps), o.label ? ", each with its target's label" : "", (s < 0).sum().item<double>() / b, s.mean().item<double>(),
              100.0 * (s.abs() >= 0.99).to(torch::kFloat64).mean().item<double>());
  if (argc > 7) {
    io::RenderOptions ro;
    ro.width = ro.height = 160;
    ro.extent = 1.0;
    ro.point_radius = 1.2;
    std::vector<torch::Tensor> rows;
    for (const auto* grids : {&x0, &s}) {
      std::vector<torch::Tensor> panels;
      for (int64_t k = 0; k < std::min<int64_t>(b, 8); ++k) {
        const auto points = diffusion::grid_surface_points((*grids)[k][0], 2048, 0);
        panels.push_back(points.size(0) > 0 ? io::render_points({{points, {0.2, 0.4, 0.8}}}, ro)
                                            : torch::full({ro.height, ro.width, 3}, 255, torch::kUInt8));
      }
      rows.push_back(io::hstack_images(panels));
    }
    io::write_png(argv[7], torch::cat({rows[0], torch::full({8, rows[0].size(1), 3}, 255, torch::kUInt8), rows[1]}, 0));
    std::printf("wrote %s (targets above, samples below)\n", argv[7]);
  }
  return 0;
}

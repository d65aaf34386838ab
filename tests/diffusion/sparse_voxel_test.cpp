// The sparse-voxel pipeline (stage 2 of the two-stage voxel models): the surface band against a
// brute-force reference, the variable-size batch, the config's files, training with exact
// resume, and two-stage sampling on untrained networks.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <string>

#include "test_support.h"

#include "diffusion/point_model.h"
#include "diffusion/point_training.h"
#include "diffusion/sparse_voxel_band.h"
#include "diffusion/sparse_voxel_sampling.h"
#include "diffusion/sparse_voxel_settings.h"
#include "diffusion/sparse_voxel_training.h"
#include "diffusion/training_run.h"
#include "io/shape_dataset.h"
#include "shapes/dataset_sample.h"
#include "shapes/oriented_points_sdf.h"
#include "shapes/procedural.h"

namespace shapediff::diffusion {
namespace {

SparseVoxelSettings small_settings() {
  SparseVoxelSettings s;
  s.grid = 12;
  s.coarse_grid = 6;
  s.truncation = 2.0;
  s.coarse_truncation = 2.0;
  s.band = 1.5;
  s.dilation = 1;
  s.unet = sparse::SparseUNetPreset::Tiny;
  return s;
}

const auto message_of = testing::exception_message;

// Trilinear interpolation of g [G,G,G] at the fine cell (i, j, k) of an R^3 grid, both grids
// spanning the same cube corner to corner, in float64.
double trilinear(const torch::Tensor& g, int64_t r, int64_t i, int64_t j, int64_t k) {
  const auto a = g.accessor<float, 3>();
  const int64_t n = g.size(0);
  const double scale = static_cast<double>(n - 1) / static_cast<double>(r - 1);
  const double u[3] = {i * scale, j * scale, k * scale};
  int64_t lo[3];
  double w[3];
  for (int d = 0; d < 3; ++d) {
    lo[d] = std::min<int64_t>(static_cast<int64_t>(std::floor(u[d])), n - 2);
    w[d] = u[d] - static_cast<double>(lo[d]);
  }
  double v = 0;
  for (int dx = 0; dx < 2; ++dx)
    for (int dy = 0; dy < 2; ++dy)
      for (int dz = 0; dz < 2; ++dz) {
        const double weight = (dx ? w[0] : 1 - w[0]) * (dy ? w[1] : 1 - w[1]) * (dz ? w[2] : 1 - w[2]);
        v += weight * a[lo[0] + dx][lo[1] + dy][lo[2] + dz];
      }
  return v;
}

// The targets of a procedural chair: the truncated SDF of its oriented points with the far
// cells signed by connectivity (shapes::connected_far_signs), which here changes cells the
// nearest-sample rule gets wrong; no clamped cell outside is left negative.
TEST(SparseVoxelTraining, TargetsSignFarCellsByConnectivity) {
  shapes::DatasetSampleOptions o;
  o.scans = 0;
  const auto sample = shapes::make_dataset_sample(shapes::make_shape(shapes::ShapeFamily::Chair, 3, 0), 3, o);
  SparseVoxelSettings s;
  s.grid = 32;
  s.coarse_grid = 16;
  const auto targets = sparse_voxel_targets(sample.surface.points, sample.surface.normals, s);
  const auto spec = shapes::GridSpec::from_bounds({-1, -1, -1}, {1, 1, 1}, 32);
  const double truncation = s.truncation * spec.voxel_size;
  const auto nearest = shapes::truncated_sdf_from_oriented_points(sample.surface.points, sample.surface.normals, spec,
                                                                   truncation);
  const auto expected = shapes::connected_far_signs(nearest, truncation).values / truncation;
  EXPECT_TRUE(torch::allclose(targets.fine, expected.to(torch::kFloat32), 0, 1e-6));
  EXPECT_GT((targets.fine != (nearest.values / truncation).to(torch::kFloat32)).sum().item<int64_t>(), 0)
      << "the chair should have far cells the nearest sample signs wrongly";
  // The border is outside: every clamped cell there is +1.
  const auto border = torch::cat({targets.fine[0].flatten(), targets.fine[-1].flatten()});
  EXPECT_EQ((border < 0).sum().item<int64_t>(), 0);
}

TEST(SparseVoxelBand, UpsamplingAndBandMatchABruteForceReference) {
  torch::manual_seed(3);
  auto s = small_settings();
  // Noisy spheres of radius 0.6: a surface, saturated cells away from it, and random values.
  const auto axis = torch::linspace(-1, 1, 6);
  const auto xyz = torch::meshgrid({axis, axis, axis}, "ij");
  const auto radius = (xyz[0].square() + xyz[1].square() + xyz[2].square()).sqrt();
  const auto coarse = ((radius - 0.6) / 0.8 + 0.3 * torch::randn({2, 6, 6, 6})).clamp(-1, 1);
  const auto up = upsample_coarse_grid(coarse, s.grid);
  ASSERT_EQ(up.sizes(), (std::vector<int64_t>{2, 12, 12, 12}));
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 12; ++i)
      for (int64_t j = 0; j < 12; ++j)
        for (int64_t k = 0; k < 12; ++k)
          ASSERT_NEAR(up[b][i][j][k].item<double>(), trilinear(coarse[b], 12, i, j, k), 1e-5) << i << j << k;

  // One coarse unit is coarse_truncation coarse voxels = 2 * (2/5) / (2/11) = 4.4 fine voxels.
  const double scale = s.coarse_truncation * s.coarse_voxel_size() / s.voxel_size();
  EXPECT_NEAR(scale, 4.4, 1e-12);
  for (const int64_t dilation : {0, 1, 2}) {
    s.dilation = dilation;
    const auto band = surface_band(up, s);
    const auto u = up.accessor<float, 4>();
    const auto got = band.accessor<bool, 4>();
    int64_t active = 0;
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t i = 0; i < 12; ++i)
        for (int64_t j = 0; j < 12; ++j)
          for (int64_t k = 0; k < 12; ++k) {
            bool expected = false;
            for (int64_t x = std::max<int64_t>(0, i - dilation); x <= std::min<int64_t>(11, i + dilation); ++x)
              for (int64_t y = std::max<int64_t>(0, j - dilation); y <= std::min<int64_t>(11, j + dilation); ++y)
                for (int64_t z = std::max<int64_t>(0, k - dilation); z <= std::min<int64_t>(11, k + dilation); ++z)
                  expected = expected || std::abs(u[b][x][y][z]) * scale <= s.band;
            ASSERT_EQ(got[b][i][j][k], expected) << "dilation " << dilation << " at " << b << i << j << k;
            active += expected;
          }
    // Neither empty nor everything, so the comparison means something.
    EXPECT_GT(active, 0);
    EXPECT_LT(active, 2 * 12 * 12 * 12);
  }
}

TEST(SparseVoxelBand, BatchConcatenatesShapesAndAssemblesBack) {
  torch::manual_seed(4);
  const auto s = small_settings();
  const auto coarse = torch::rand({3, 6, 6, 6}) * 2 - 1;
  const auto fine = torch::rand({3, 12, 12, 12}) * 2 - 1;
  const auto batch = sparse_voxel_batch(coarse, fine, s);
  const auto up = upsample_coarse_grid(coarse, s.grid);
  const auto band = surface_band(up, s);
  ASSERT_EQ(batch.shapes(), 3);
  EXPECT_EQ(batch.coords.scalar_type(), torch::kInt32);
  EXPECT_EQ(batch.coords.size(1), 4);
  EXPECT_EQ(batch.coarse.sizes(), (std::vector<int64_t>{batch.cells(), 1}));
  EXPECT_EQ(batch.values.sizes(), (std::vector<int64_t>{batch.cells(), 1}));
  EXPECT_EQ(batch.counts.sum().item<int64_t>(), batch.cells());
  int64_t row = 0;
  for (int64_t b = 0; b < 3; ++b) {
    const int64_t n = band[b].sum().item<int64_t>();
    EXPECT_EQ(batch.counts[b].item<int64_t>(), n);
    // Shape b's rows are contiguous, batch column b, in row-major order, on the band.
    const auto rows = batch.coords.slice(0, row, row + n);
    EXPECT_TRUE((rows.select(1, 0) == b).all().item<bool>());
    const auto c = rows.to(torch::kLong);
    const auto linear = c.select(1, 1) * 144 + c.select(1, 2) * 12 + c.select(1, 3);
    EXPECT_TRUE((linear.slice(0, 1) > linear.slice(0, 0, -1)).all().item<bool>());
    for (int64_t r = 0; r < n; r += 7) {
      const int64_t x = c[r][1].item<int64_t>(), y = c[r][2].item<int64_t>(), z = c[r][3].item<int64_t>();
      EXPECT_TRUE(band[b][x][y][z].item<bool>());
      EXPECT_EQ(batch.values[row + r][0].item<float>(), fine[b][x][y][z].item<float>());
      EXPECT_EQ(batch.coarse[row + r][0].item<float>(), up[b][x][y][z].item<float>());
    }
    row += n;
  }

  // A data-parallel rank's share: shapes 1 and 2, renumbered 0 and 1.
  const auto part = select_shapes(batch, 1, 3);
  EXPECT_EQ(part.shapes(), 2);
  EXPECT_EQ(part.cells(), batch.counts[1].item<int64_t>() + batch.counts[2].item<int64_t>());
  EXPECT_EQ(part.coords.select(1, 0).min().item<int>(), 0);
  EXPECT_EQ(part.coords.select(1, 0).max().item<int>(), 1);
  const int64_t skip = batch.counts[0].item<int64_t>();
  EXPECT_TRUE(torch::equal(part.values, batch.values.slice(0, skip)));
  EXPECT_TRUE(torch::equal(part.coords.slice(1, 1), batch.coords.slice(0, skip).slice(1, 1)));

  // Back to dense: the fine values on the band, the coarse sign elsewhere.
  const auto dense = assemble_fine_grids(batch, batch.values, up);
  const auto sign = torch::where(up < 0, -torch::ones_like(up), torch::ones_like(up));
  EXPECT_TRUE(torch::equal(dense, torch::where(band, fine, sign)));

  // Sampling builds the batch without fine grids.
  EXPECT_FALSE(sparse_voxel_batch(coarse, {}, s).values.defined());
  // Sizes that disagree with the settings.
  EXPECT_NE(message_of([&] { sparse_voxel_batch(coarse, fine.slice(1, 0, 8), s); }).find("fine must be"),
            std::string::npos);
  EXPECT_NE(message_of([&] { sparse_voxel_batch(torch::rand({3, 8, 8, 8}), fine, s); }).find("coarse must be"),
            std::string::npos);
  EXPECT_THROW(select_shapes(batch, 2, 4), std::invalid_argument);
  EXPECT_THROW(assemble_fine_grids(batch, batch.values.slice(0, 1), up), std::invalid_argument);
}

PointModelConfig sparse_model_config() {
  PointModelConfig c;
  c.representation = Representation::SparseVoxels;
  c.sparse_voxels = small_settings();
  c.num_classes = 2;
  c.classes = {"ball", "box"};
  c.points = 128;
  c.dataset_normalization = shapes::NormalizationKind::UnitSphere;
  return c;
}

TEST(SparseVoxelModel, ConfigAndWeightsRoundTripAndBadSettingsAreNamed) {
  testing::ScratchDir tmp("sparse-voxel-model");
  const auto c = sparse_model_config();
  const auto back = PointModelConfig::from_json(c.to_json(), "test");
  EXPECT_EQ(back.representation, Representation::SparseVoxels);
  EXPECT_FALSE(config_difference(c, back)) << *config_difference(c, back);
  EXPECT_EQ(back.sparse_voxels.band, 1.5);
  EXPECT_EQ(back.sparse_voxels.unet, sparse::SparseUNetPreset::Tiny);

  auto model = make_point_model(c);
  ASSERT_TRUE(model.sparse_net);
  EXPECT_EQ(model.sparse_net->options().in_channels(), 2);
  save_point_model(model, tmp.path("m.pt"));
  const auto loaded = load_point_model(tmp.path("m.pt"));
  ASSERT_TRUE(loaded.sparse_net);
  const auto a = model.module().parameters(), b = loaded.module().parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i]));

  auto other = c;
  other.sparse_voxels.grid = 16;
  EXPECT_EQ(config_difference(c, other).value_or(""), "sparse_voxels.grid 12 vs 16");
  auto bad = c;
  bad.sparse_voxels.band = 9;  // beyond the coarse truncation's 4.4 fine voxels
  EXPECT_NE(message_of([&] { bad.validate("cfg"); }).find("sparse_voxels.band must be in (0, 4.4)"), std::string::npos)
      << message_of([&] { bad.validate("cfg"); });
  bad = c;
  bad.sparse_voxels.grid = 6;
  EXPECT_NE(message_of([&] { bad.validate("cfg"); }).find("sparse_voxels.grid must be larger"), std::string::npos);
  auto json = c.to_json();
  json["sparse_voxels"]["bands"] = 2;
  EXPECT_NE(message_of([&] { PointModelConfig::from_json(json, "f.json"); }).find("bands"), std::string::npos);

  // The training config's model section, both ways.
  const auto tc = PointTrainingConfig::from_json(
      nlohmann::json::parse(R"({"model": {"representation": "sparse_voxels", "preset": "tiny", "grid": 32,
                                          "coarse_grid": 16, "band": 2.5, "coarse_noise": 0.1},
                                "data": {"points": 256}})"),
      "t.json");
  EXPECT_EQ(tc.model.sparse_voxels.grid, 32);
  EXPECT_EQ(tc.model.sparse_voxels.band, 2.5);
  EXPECT_EQ(tc.model.sparse_voxels.dilation, 1);
  EXPECT_EQ(PointTrainingConfig::from_json(tc.to_json(), "again").to_json(), tc.to_json());
}

// 8 spheres and boxes (radius / half-side 0.6) with outward normals, 400 points each.
void make_dataset(const std::string& dir) {
  io::DatasetInfo info;
  info.categories = {"ball", "box"};
  info.points = 400;
  info.normals = true;
  info.normalization.kind = shapes::NormalizationKind::UnitSphere;
  io::DatasetWriter writer(dir, info, /*shard_size=*/4);
  torch::manual_seed(5);
  for (int i = 0; i < 8; ++i) {
    io::ShapeRecord r;
    r.id = "shape-" + std::to_string(i);
    r.label = i % 2;
    auto p = torch::randn({400, 3});
    p = p / p.norm(2, 1, true);
    torch::Tensor n = p.clone();
    if (r.label == 1) {  // project onto the cube: the axis of largest extent carries the normal
      const auto axis = p.abs().argmax(1, true);
      p = p / p.abs().amax(1, true);
      n = torch::zeros_like(p).scatter_(1, axis, torch::sign(p.gather(1, axis)));
    }
    r.points = (p * 0.6).to(torch::kFloat32).contiguous();
    r.normals = n.to(torch::kFloat32).contiguous();
    r.normalization.kind = shapes::NormalizationKind::UnitSphere;
    writer.add("train", r);
  }
  writer.finish();
}

using testing::logged_losses;

TEST(SparseVoxelTraining, TrainsOnBandCellsAndResumesExactly) {
  testing::ScratchDir tmp("sparse-voxel-training");
  make_dataset(tmp.path("data"));
  auto options = [&](const std::string& run) {
    PointTrainingOptions o;
    o.data_dir = tmp.path("data");
    o.run_dir = tmp.path(run);
    PointTrainingConfig c;
    c.model.representation = Representation::SparseVoxels;
    c.model.sparse_voxels = small_settings();
    c.model.sparse_voxels.grid = 16;
    c.model.sparse_voxels.coarse_grid = 8;
    c.model.sparse_voxels.coarse_noise = 0.05;  // the noise generator's state must resume too
    c.training.steps = 4;
    c.training.batch_size = 3;
    c.training.lr = 2e-3;
    c.training.ema_decay = 0.5;
    c.training.checkpoint_every = 2;
    c.training.log_every = 1;
    c.training.cfg_dropout = 0.3;
    c.data.points = 400;
    c.data.normalization = DataNormalization::None;
    o.config = c;
    return o;
  };
  const auto whole = train_point_model(options("whole"));
  ASSERT_TRUE(whole.completed);
  const auto losses = logged_losses(tmp.path("whole"));
  ASSERT_EQ(losses.size(), 4u);
  for (double l : losses) EXPECT_TRUE(std::isfinite(l) && l > 0) << l;
  const auto model = load_point_model(whole.model_path);
  ASSERT_TRUE(model.sparse_net);
  EXPECT_EQ(model.config.sparse_voxels.grid, 16);
  EXPECT_EQ(model.config.classes, (std::vector<std::string>{"ball", "box"}));

  auto first = options("split");
  first.on_step = [](const TrainingProgress& p) { return p.step < 2; };
  EXPECT_FALSE(train_point_model(first).completed);
  auto second = options("split");
  second.resume = true;
  second.config.reset();
  const auto rest = train_point_model(second);
  ASSERT_TRUE(rest.completed);
  EXPECT_EQ(rest.start_step, 2);
  EXPECT_EQ(losses, logged_losses(tmp.path("split")));
  const auto resumed = load_point_model(rest.model_path);
  const auto a = model.module().parameters(), b = resumed.module().parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << i;
}

TEST(SparseVoxelSampling, RefinesCoarseGridsIntoFineOnesOnTheBand) {
  torch::manual_seed(8);
  auto fine = make_point_model(sparse_model_config());
  const auto& s = fine.config.sparse_voxels;
  // Two spheres of radius 0.5 and 0.7 as coarse grids, and a grid without a surface.
  const auto axis = torch::linspace(-1, 1, s.coarse_grid);
  const auto grids = torch::meshgrid({axis, axis, axis}, "ij");
  const auto radius = (grids[0].square() + grids[1].square() + grids[2].square()).sqrt();
  const double unit = s.coarse_truncation * s.coarse_voxel_size();
  const auto coarse = torch::stack({((radius - 0.5) / unit).clamp(-1, 1), ((radius - 0.7) / unit).clamp(-1, 1),
                                    torch::ones_like(radius)});
  PointSampleOptions o;
  o.count = 3;
  o.steps = 4;
  o.sampler = SamplerKind::DDPM;
  o.sampler_options.clip_sample = true;
  o.batch_size = 2;
  o.label = 1;
  o.guidance = 2.0;
  const auto out = refine_coarse_grids(fine.sparse_net, s, 2, fine.config.schedule, coarse, o);
  ASSERT_EQ(out.grids.sizes(), (std::vector<int64_t>{3, 12, 12, 12}));
  EXPECT_EQ(out.band_cells.size(0), 3);
  EXPECT_GT(out.band_cells[0].item<int64_t>(), 0);
  EXPECT_EQ(out.band_cells[2].item<int64_t>(), 0);
  EXPECT_TRUE((out.labels == 1).all().item<bool>());
  EXPECT_LE(out.grids.abs().max().item<double>(), 1.0);
  // Outside the band: the coarse sign; the empty grid is all outside.
  const auto up = upsample_coarse_grid(coarse, s.grid);
  const auto band = surface_band(up, s);
  const auto sign = torch::where(up < 0, -torch::ones_like(up), torch::ones_like(up));
  EXPECT_TRUE(torch::equal(out.grids.masked_select(~band), sign.masked_select(~band)));
  EXPECT_TRUE(torch::equal(band.flatten(1).sum(1).to(torch::kLong), out.band_cells));
  EXPECT_TRUE(torch::equal(out.grids[2], torch::ones({12, 12, 12})));
  // The untrained network predicts zero noise: DDPM still moves the band values off the coarse sign.
  EXPECT_GT((out.grids[0].masked_select(band[0]) - sign[0].masked_select(band[0])).abs().max().item<double>(), 0.0);
  // The same seed gives the same grids.
  const auto again = refine_coarse_grids(fine.sparse_net, s, 2, fine.config.schedule, coarse, o);
  EXPECT_TRUE(torch::equal(out.grids, again.grids));

  o.count = 2;
  EXPECT_NE(message_of([&] { refine_coarse_grids(fine.sparse_net, s, 2, fine.config.schedule, coarse, o); })
                .find("coarse must be [2,6,6,6]"),
            std::string::npos);
}

TEST(SparseVoxelSampling, BothStagesRunAndAMismatchedCoarseModelIsRefused) {
  torch::manual_seed(9);
  auto fine = make_point_model(sparse_model_config());
  PointModelConfig cc;
  cc.representation = Representation::Voxels;
  cc.voxels.grid = 8;  // the tiny U-Net needs a multiple of 4; fine's coarse_grid is 6
  cc.voxels.truncation = 2.0;
  cc.voxels.unet = networks::UNetPreset::Tiny;
  cc.num_classes = 2;
  cc.classes = {"ball", "box"};
  auto coarse = make_point_model(cc);
  const auto refused = message_of([&] { check_coarse_model(fine.config, coarse.config, "coarse.pt"); });
  EXPECT_EQ(refused, "coarse.pt: not the stage 1 of this sparse-voxel model (voxels.grid 8, the sparse model "
                     "wants coarse_grid 6)");

  auto fc = sparse_model_config();
  fc.sparse_voxels.coarse_grid = 8;
  fc.sparse_voxels.grid = 16;
  fine = make_point_model(fc);
  PointSampleOptions o;
  o.count = 2;
  o.steps = 3;
  o.sampler = SamplerKind::DDIM;
  o.sampler_options.clip_sample = true;
  int64_t last = 0, total = 0;
  o.on_progress = [&](int64_t done, int64_t all) { last = done, total = all; };
  const auto out = sample_sparse_voxels(fine, coarse, o);
  EXPECT_EQ(out.grids.sizes(), (std::vector<int64_t>{2, 16, 16, 16}));
  EXPECT_EQ(out.coarse.sizes(), (std::vector<int64_t>{2, 8, 8, 8}));
  EXPECT_EQ(last, total);
  EXPECT_EQ(total, 6);

  cc.classes = {"ball", "cube"};
  EXPECT_NE(message_of([&] { check_coarse_model(fine.config, cc, "c.pt"); }).find("classes"), std::string::npos);
  auto points = cc;
  points.representation = Representation::Points;
  EXPECT_NE(message_of([&] { check_coarse_model(fine.config, points, "c.pt"); }).find("a points model"),
            std::string::npos);
  EXPECT_NE(message_of([&] { check_coarse_model(cc, cc, "c.pt"); }).find("applies to sparse_voxels models"),
            std::string::npos);
}

}  // namespace
}  // namespace shapediff::diffusion

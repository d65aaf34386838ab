#include "diffusion/point_training.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "test_support.h"
#include "tests/diffusion/data_parallel_support.h"

#include "diffusion/data_parallel.h"
#include "diffusion/ema.h"
#include "diffusion/lr_schedule.h"
#include "diffusion/point_model.h"
#include "diffusion/point_sampling.h"
#include "diffusion/training_run.h"
#include "io/module_archive.h"
#include "io/png.h"
#include "io/image_folder.h"
#include "io/shape_dataset.h"
#include "shapes/grid_spec.h"
#include "shapes/oriented_points_sdf.h"

namespace shapediff::diffusion {
namespace {

namespace fs = std::filesystem;

// ---- learning rate and EMA ----------------------------------------------------------------

TEST(LrSchedule, MatchesTheFormulas) {
  LrSchedule s;
  s.decay = LrDecay::Cosine;
  s.lr = 1e-3;
  s.warmup_steps = 10;
  s.total_steps = 110;
  s.min_lr = 1e-5;
  EXPECT_DOUBLE_EQ(s.at(0), 1e-4);       // 1e-3 * 1/10
  EXPECT_DOUBLE_EQ(s.at(4), 5e-4);
  EXPECT_DOUBLE_EQ(s.at(9), 1e-3);
  EXPECT_DOUBLE_EQ(s.at(10), 1e-3);      // cosine starts at the peak
  EXPECT_NEAR(s.at(60), 1e-5 + (1e-3 - 1e-5) * 0.5, 1e-15);  // half way: cos(pi/2) = 0
  EXPECT_NEAR(s.at(35), 1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + std::cos(M_PI * 0.25)), 1e-15);
  EXPECT_DOUBLE_EQ(s.at(110), 1e-5);
  EXPECT_DOUBLE_EQ(s.at(500), 1e-5);     // stays at the floor

  s.decay = LrDecay::Exponential;
  s.gamma = 0.99;
  s.min_lr = 0;
  EXPECT_DOUBLE_EQ(s.at(10), 1e-3);
  EXPECT_NEAR(s.at(30), 1e-3 * std::pow(0.99, 20), 1e-15);
  s.decay = LrDecay::Constant;
  EXPECT_DOUBLE_EQ(s.at(1000), 1e-3);
  s.warmup_steps = 0;
  EXPECT_DOUBLE_EQ(s.at(0), 1e-3);

  EXPECT_EQ(parse_lr_decay("cosine"), LrDecay::Cosine);
  EXPECT_THROW(parse_lr_decay("linear"), std::invalid_argument);
  s.lr = -1;
  EXPECT_THROW(s.validate(), std::invalid_argument);
}

TEST(Ema, FollowsTheUpdateRule) {
  torch::nn::Linear model(2, 1), ema(2, 1);
  {
    torch::NoGradGuard g;
    model->weight.fill_(3);
    model->bias.fill_(-1);
    ema->weight.fill_(1);
    ema->bias.fill_(1);
  }
  EmaOptions o;
  o.decay = 0.9;
  o.start_step = 2;
  EXPECT_EQ(ema_decay_at(1, o), 0.0);
  EXPECT_EQ(ema_decay_at(2, o), 0.0);
  EXPECT_EQ(ema_decay_at(3, o), 0.9);
  update_ema(*ema, *model, ema_decay_at(3, o));  // 0.9 * 1 + 0.1 * 3
  EXPECT_NEAR(ema->weight[0][0].item<double>(), 1.2, 1e-6);
  EXPECT_NEAR(ema->bias[0].item<double>(), 0.8, 1e-6);
  update_ema(*ema, *model, 0.9);  // 0.9 * 1.2 + 0.3
  EXPECT_NEAR(ema->weight[0][1].item<double>(), 1.38, 1e-6);
  update_ema(*ema, *model, 0.0);  // a copy
  EXPECT_EQ(ema->weight[0][0].item<double>(), 3.0);
  torch::nn::Linear other(3, 1);
  EXPECT_THROW(update_ema(*other, *model, 0.5), std::invalid_argument);
  EXPECT_THROW(update_ema(*ema, *model, 1.0), std::invalid_argument);
}

// ---- training runs on a small random dataset ------------------------------------------------

using testing::ScratchDir;

// 12 noisy spheres and boxes of `points` points in two categories; with `scans`, that many
// stand-in virtual scans of 40 points each (the shape's points with z > 0).
void make_dataset(const std::string& dir, int64_t points, int64_t scans = 0, bool normals = false) {
  io::DatasetInfo info;
  info.categories = {"ball", "box"};
  info.points = points;
  info.normals = normals;
  info.scans = scans;
  info.scan_points = scans > 0 ? 40 : 0;
  info.normalization.kind = shapes::NormalizationKind::UnitSphere;
  io::DatasetWriter writer(dir, info, /*shard_size=*/5);
  torch::manual_seed(5);
  for (int i = 0; i < 12; ++i) {
    io::ShapeRecord r;
    r.id = "shape-" + std::to_string(i);
    r.label = i % 2;
    auto p = torch::randn({points, 3});
    p = r.label == 0 ? p / p.norm(2, 1, true) : torch::clamp(p, -1, 1) * 0.6;
    r.points = p.to(torch::kFloat32).contiguous();
    if (normals) {
      // The sphere's radial direction; the box's axis of largest extent per point.
      auto n = r.label == 0 ? r.points.clone()
                            : torch::zeros_like(r.points).scatter_(
                                  1, r.points.abs().argmax(1, true), torch::sign(r.points.gather(1, r.points.abs().argmax(1, true))));
      r.normals = (n / n.norm(2, 1, true).clamp_min(1e-6)).contiguous();
    }
    r.normalization.kind = shapes::NormalizationKind::UnitSphere;
    if (scans > 0) {
      auto upper = r.points.index_select(0, torch::nonzero(r.points.select(1, 2) > 0).squeeze(1));
      r.partial = upper.slice(0, 0, 40).unsqueeze(0).expand({scans, 40, 3}).contiguous();
      r.cam_to_world = torch::eye(4, torch::kFloat64).expand({scans, 4, 4}).contiguous();
      r.intrinsics = torch::tensor({64.0, 64.0, 50.0, 50.0, 32.0, 32.0}, torch::kFloat64)
                         .expand({scans, 6}).contiguous();
    }
    writer.add("train", r);
  }
  writer.finish();
}

PointTrainingConfig tiny_training_config() {
  PointTrainingConfig c;
  c.model.preset = networks::PVCNNPreset::Tiny;
  c.model.overrides.dropout = 0.1;  // so that torch's default generator takes part
  auto& t = c.training;
  t.steps = 6;
  t.batch_size = 4;
  t.grad_accumulation = 2;
  t.lr = 2e-3;
  t.warmup_steps = 2;
  t.ema_decay = 0.8;
  t.ema_start = 1;
  t.cfg_dropout = 0.3;
  t.checkpoint_every = 2;
  t.keep_checkpoints = 2;
  t.log_every = 1;
  t.seed = 9;
  c.data.points = 128;
  c.data.workers = 1;
  return c;
}

std::vector<torch::Tensor> state_of(const std::string& checkpoint, const std::string& key,
                                    const PointModelConfig& config) {
  auto archive = io::read_archive_file(checkpoint);
  networks::PVCNN net(config.network());
  io::read_module_state(archive, key, *net, checkpoint);
  std::vector<torch::Tensor> out;
  for (const auto& p : net->parameters()) out.push_back(p.detach().clone());
  return out;
}

using testing::logged_losses;

const auto message_of = testing::exception_message;

class PointTrainingTest : public ::testing::Test {
 protected:
  void SetUp() override { make_dataset(data_, 128); }
  PointTrainingOptions options(const std::string& run) const {
    PointTrainingOptions o;
    o.data_dir = data_;
    o.run_dir = tmp_.path(run);
    o.config = tiny_training_config();
    return o;
  }
  ScratchDir tmp_;
  std::string data_ = tmp_.path("data");
};

TEST_F(PointTrainingTest, ResumeContinuesExactly) {
  const auto whole = train_point_model(options("whole"));
  ASSERT_TRUE(whole.completed);
  EXPECT_EQ(whole.step, 6);

  // Stop after 3 steps (mid-epoch: 12 shapes = 3 batches per epoch, 2 batches per step), then
  // resume in a fresh trainer.
  auto first = options("split");
  first.on_step = [](const TrainingProgress& p) { return p.step < 3; };
  const auto half = train_point_model(first);
  EXPECT_FALSE(half.completed);
  EXPECT_EQ(half.step, 3);
  EXPECT_TRUE(half.model_path.empty());
  EXPECT_FALSE(fs::exists(run_model_path(tmp_.path("split"))));
  // Something else draws from torch's generator in between; the resume must not care.
  torch::manual_seed(12345);
  auto second = options("split");
  second.resume = true;
  second.config.reset();
  const auto rest = train_point_model(second);
  EXPECT_TRUE(rest.completed);
  EXPECT_EQ(rest.start_step, 3);

  const auto model = load_point_model(whole.model_path);
  for (const char* key : {"weights", "ema"}) {
    const auto a = state_of(whole.checkpoint_path, key, model.config);
    const auto b = state_of(rest.checkpoint_path, key, model.config);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << key << " tensor " << i;
  }
  EXPECT_EQ(logged_losses(tmp_.path("whole")), logged_losses(tmp_.path("split")));

  // The weights moved, and the EMA differs from the raw weights.
  const auto raw = state_of(whole.checkpoint_path, "weights", model.config);
  const auto ema = state_of(whole.checkpoint_path, "ema", model.config);
  bool differs = false;
  for (size_t i = 0; i < raw.size(); ++i) differs = differs || !torch::equal(raw[i], ema[i]);
  EXPECT_TRUE(differs);
}

double max_difference(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, (a[i] - b[i]).abs().max().item<double>());
  return worst;
}

// Runs `world` data-parallel ranks as threads of this process on loopback Gloo; returns each
// rank's result (or rethrows the first rank's error). `adjust` edits each rank's options.
std::vector<PointTrainingResult> train_in_ranks(
    int world, const std::function<PointTrainingOptions(int)>& options_of,
    std::chrono::milliseconds timeout = std::chrono::seconds(60), bool overlap = true) {
  const int64_t port = shapediff::testing::free_port();
  std::vector<PointTrainingResult> results(world);
  std::vector<std::string> errors(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        DistributedEnv env;
        env.rank = r;
        env.world_size = world;
        env.master_port = port;
        DataParallelOptions dpo;
        dpo.timeout = timeout;
        dpo.overlap = overlap;
        auto o = options_of(r);
        o.parallel = std::make_shared<DataParallel>(env, dpo);
        results[r] = train_point_model(o);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < world; ++r) {
    if (!errors[r].empty()) throw std::runtime_error("rank " + std::to_string(r) + ": " + errors[r]);
  }
  return results;
}

TEST_F(PointTrainingTest, TwoDataParallelRanksFollowOneProcess) {
  if (!data_parallel_available()) GTEST_SKIP() << "built without Gloo";
  // No dropout: the ranks draw dropout masks for their own rows only.
  auto options_no_dropout = [&](const std::string& run) {
    auto o = options(run);
    o.config->model.overrides.dropout = 0.0;
    return o;
  };
  const auto single = train_point_model(options_no_dropout("single"));
  ASSERT_TRUE(single.completed);
  const auto ranks = train_in_ranks(2, [&](int) { return options_no_dropout("parallel"); });
  ASSERT_TRUE(ranks[0].completed);
  ASSERT_TRUE(ranks[1].completed);
  EXPECT_EQ(ranks[0].step, single.step);

  // Equal up to summation order, which Adam amplifies for near-zero gradients; another seed
  // (other data order and noise) lands far further away.
  auto other_seed = options_no_dropout("other");
  other_seed.config->training.seed = 10;
  const auto other = train_point_model(other_seed);
  const auto model = load_point_model(single.model_path);
  for (const char* key : {"weights", "ema"}) {
    const auto a = state_of(single.checkpoint_path, key, model.config);
    const auto b = state_of(ranks[0].checkpoint_path, key, model.config);
    ASSERT_EQ(a.size(), b.size());
    const double same = max_difference(a, b);
    const double control = max_difference(a, state_of(other.checkpoint_path, key, model.config));
    EXPECT_LT(same, 2e-4) << key;
    EXPECT_GT(control, 20 * 2e-4) << key;
  }
  const auto losses_single = logged_losses(tmp_.path("single"));
  const auto losses_parallel = logged_losses(tmp_.path("parallel"));
  ASSERT_EQ(losses_single.size(), losses_parallel.size());
  for (size_t i = 0; i < losses_single.size(); ++i) EXPECT_NEAR(losses_single[i], losses_parallel[i], 1e-5);
  EXPECT_NE(losses_single.front(), losses_single.back());
}

// The gradient all-reduce started from the backward pass (the default) and the one after it
// give the same run, gradient accumulation (2 micro-batches per step) included: with two ranks
// each element's sum is the same float addition.
TEST_F(PointTrainingTest, OverlappedAllReduceGivesTheWeightsOfTheOneAfterBackward) {
  if (!data_parallel_available()) GTEST_SKIP() << "built without Gloo";
  auto options_no_dropout = [&](const std::string& run) {
    auto o = options(run);
    o.config->model.overrides.dropout = 0.0;
    return o;
  };
  ASSERT_EQ(options_no_dropout("x").config->training.grad_accumulation, 2);
  const auto overlapped = train_in_ranks(2, [&](int) { return options_no_dropout("overlap"); });
  const auto after = train_in_ranks(
      2, [&](int) { return options_no_dropout("after"); }, std::chrono::seconds(60), false);
  ASSERT_TRUE(overlapped[0].completed);
  ASSERT_TRUE(after[0].completed);
  const auto model = load_point_model(overlapped[0].model_path);
  for (const char* key : {"weights", "ema"}) {
    const auto a = state_of(overlapped[0].checkpoint_path, key, model.config);
    const auto b = state_of(after[0].checkpoint_path, key, model.config);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_LT(max_difference(a, b), 1e-6) << key;
  }
  EXPECT_EQ(logged_losses(tmp_.path("overlap")), logged_losses(tmp_.path("after")));
}

// Voxel models under data parallel: each rank's sharded loader gives its shapes only, which it
// voxelizes; the losses follow the single process.
TEST_F(PointTrainingTest, VoxelModelsOnTwoRanksFollowOneProcess) {
  if (!data_parallel_available()) GTEST_SKIP() << "built without Gloo";
  const auto data = tmp_.path("data_normals");
  make_dataset(data, 128, 0, /*normals=*/true);
  auto voxel_options = [&](const std::string& run) {
    auto o = options(run);
    o.data_dir = data;
    o.config->model.overrides.dropout = 0.0;
    o.config->model.representation = Representation::Voxels;
    o.config->model.voxels.unet = networks::UNetPreset::Tiny;
    o.config->model.voxels.grid = 8;
    o.config->model.voxels.truncation = 2.0;
    o.config->training.steps = 2;
    return o;
  };
  ASSERT_TRUE(train_point_model(voxel_options("vox_single")).completed);
  const auto ranks = train_in_ranks(2, [&](int) { return voxel_options("vox_ranks"); });
  ASSERT_TRUE(ranks[0].completed);
  const auto single = logged_losses(tmp_.path("vox_single"));
  const auto parallel = logged_losses(tmp_.path("vox_ranks"));
  ASSERT_EQ(single.size(), 2u);
  ASSERT_EQ(parallel.size(), 2u);
  for (size_t i = 0; i < single.size(); ++i) EXPECT_NEAR(single[i], parallel[i], 1e-5) << "step " << i + 1;
}

// Data parallel on NCCL with WORLD_SIZE=1 on this GPU: a few training steps run through it.
TEST_F(PointTrainingTest, NcclRankOfOneTrainsOnTheGpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  if (!nccl_available()) GTEST_SKIP() << "built without NCCL (see cmake/ShapediffNccl.cmake)";
  auto o = options("nccl");
  o.device = "cuda:0";
  o.config->training.steps = 3;
  DistributedEnv env;
  env.master_port = shapediff::testing::free_port();
  DataParallelOptions dpo;
  dpo.device = torch::Device(torch::kCUDA, 0);
  dpo.timeout = std::chrono::seconds(60);
  o.parallel = std::make_shared<DataParallel>(env, dpo);
  ASSERT_EQ(std::string(o.parallel->backend()), "nccl");
  const auto result = train_point_model(o);
  EXPECT_TRUE(result.completed);
  EXPECT_EQ(result.step, 3);
  const auto losses = logged_losses(tmp_.path("nccl"));
  ASSERT_EQ(losses.size(), 3u);
  for (double l : losses) EXPECT_TRUE(std::isfinite(l) && l > 0) << l;
}

TEST_F(PointTrainingTest, DataParallelRunResumesWithAnotherRankCount) {
  if (!data_parallel_available()) GTEST_SKIP() << "built without Gloo";
  auto options_no_dropout = [&](const std::string& run) {
    auto o = options(run);
    o.config->model.overrides.dropout = 0.0;
    return o;
  };
  const auto whole = train_point_model(options_no_dropout("whole"));
  // Three steps on two ranks, the rest in one process.
  train_in_ranks(2, [&](int) {
    auto o = options_no_dropout("mixed");
    o.on_step = [](const TrainingProgress& p) { return p.step < 3; };
    return o;
  });
  auto rest = options_no_dropout("mixed");
  rest.resume = true;
  rest.config.reset();
  const auto done = train_point_model(rest);
  EXPECT_EQ(done.start_step, 3);
  ASSERT_TRUE(done.completed);
  const auto model = load_point_model(whole.model_path);
  EXPECT_LT(max_difference(state_of(whole.checkpoint_path, "ema", model.config),
                           state_of(done.checkpoint_path, "ema", model.config)),
            2e-4);
}

TEST_F(PointTrainingTest, TooFewShapesForTheRanksIsNamed) {
  if (!data_parallel_available()) GTEST_SKIP() << "built without Gloo";
  // Two images, batch 4: every batch holds 2 shapes, one short of 3 ranks.
  const auto folder = tmp_.path("two_images");
  io::write_image_folder(folder, torch::zeros({2, 1, 16, 16}), {"a/0", "a/1"});
  std::string message;
  try {
    train_in_ranks(3, [&](int) {
      auto o = options("too_few");
      o.data_dir = folder;
      o.config->model.representation = Representation::Images;
      o.config->model.images.size = 16;
      o.config->model.images.unet = networks::UNetPreset::Tiny;
      return o;
    }, std::chrono::seconds(20));
  } catch (const std::exception& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("batches of 2 shapes cannot feed 3 data-parallel ranks"), std::string::npos) << message;
}

TEST_F(PointTrainingTest, AStoppedRankEndsTheOthersWithAMessage) {
  if (!data_parallel_available()) GTEST_SKIP() << "built without Gloo";
  const auto start = std::chrono::steady_clock::now();
  std::string message;
  try {
    train_in_ranks(
        2,
        [&](int r) {
          auto o = options("broken");
          if (r == 1) {
            o.on_step = [](const TrainingProgress& p) -> bool {
              if (p.step == 2) throw std::runtime_error("worker failure");
              return true;
            };
          }
          return o;
        },
        std::chrono::seconds(5));
  } catch (const std::exception& e) {
    message = e.what();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Rank 0 reports the lost peer (the first error rethrown is rank 0's).
  EXPECT_NE(message.find("rank 0:"), std::string::npos) << message;
  EXPECT_NE(message.find("another worker probably stopped"), std::string::npos) << message;
  EXPECT_LT(seconds, 60.0);
}

TEST_F(PointTrainingTest, InitFromStartsAtTheModelsWeights) {
  const auto base = train_point_model(options("base"));
  ASSERT_TRUE(base.completed);
  const auto model = load_point_model(base.model_path);
  // One step at a negligible learning rate: the weights stay where they started.
  auto near_frozen = [&](const std::string& run, const std::string& init) {
    auto o = options(run);
    o.config->training.steps = 1;
    o.config->training.grad_accumulation = 1;
    o.config->training.lr = 1e-12;
    o.config->training.min_lr = 1e-13;
    o.config->training.warmup_steps = 0;
    o.init_from = init;
    const auto r = train_point_model(o);
    return state_of(r.checkpoint_path, "weights", model.config);
  };
  std::vector<torch::Tensor> shipped;
  for (const auto& p : model.net->parameters()) shipped.push_back(p.detach().clone());
  EXPECT_LT(max_difference(near_frozen("from_model", base.model_path), shipped), 1e-6);
  EXPECT_GT(max_difference(near_frozen("from_scratch", ""), shipped), 1e-3);

  // Another architecture, and a resumed run, are refused.
  auto other = options("other_preset");
  other.config->model.preset = networks::PVCNNPreset::Small;
  other.init_from = base.model_path;
  const auto refused = message_of([&] { train_point_model(other); });
  EXPECT_NE(refused.find("preset tiny vs small"), std::string::npos) << refused;
  auto resumed = options("base");
  resumed.resume = true;
  resumed.config.reset();
  resumed.init_from = base.model_path;
  EXPECT_NE(message_of([&] { train_point_model(resumed); }).find("applies to new runs"), std::string::npos);
}

TEST_F(PointTrainingTest, VoxelModelsTrainOnSignedDistanceGridsAndResumeExactly) {
  const auto data = tmp_.path("data_normals");
  make_dataset(data, 128, 0, /*normals=*/true);
  auto voxel_options = [&](const std::string& run) {
    auto o = options(run);
    o.data_dir = data;
    o.config->model.representation = Representation::Voxels;
    o.config->model.voxels.unet = networks::UNetPreset::Tiny;
    o.config->model.voxels.grid = 8;
    o.config->model.voxels.truncation = 2.0;
    o.config->training.steps = 4;
    return o;
  };
  const auto whole = train_point_model(voxel_options("vox_whole"));
  ASSERT_TRUE(whole.completed);
  const auto model = load_point_model(whole.model_path);
  ASSERT_TRUE(model.grid_net);
  EXPECT_EQ(model.config.voxels.grid, 8);
  EXPECT_EQ(model.config.normalization.kind, shapes::NormalizationKind::Identity);
  const auto losses = logged_losses(tmp_.path("vox_whole"));
  ASSERT_EQ(losses.size(), 4u);
  for (double l : losses) EXPECT_TRUE(std::isfinite(l) && l > 0);

  auto first = voxel_options("vox_split");
  first.on_step = [](const TrainingProgress& p) { return p.step < 2; };
  train_point_model(first);
  auto second = voxel_options("vox_split");
  second.resume = true;
  second.config.reset();
  const auto rest = train_point_model(second);
  ASSERT_TRUE(rest.completed);
  EXPECT_EQ(logged_losses(tmp_.path("vox_whole")), logged_losses(tmp_.path("vox_split")));

  // Without normals there is no signed distance to learn.
  auto no_normals = voxel_options("vox_bad");
  no_normals.data_dir = data_;
  EXPECT_NE(message_of([&] { train_point_model(no_normals); }).find("has no normals"), std::string::npos);
}

// A voxel model trained on one shape samples that shape. Signed-distance grids are mostly the
// constant +1 (mean ~0.8), and with epsilon prediction the x0 estimates of the noisiest steps
// are noise amplified ~150x: such a model, trained on one chair at 16^3 until its loss was low,
// sampled grids with 35x the chair's inside cells, and on this ball (600 steps) grids with up to
// 509 of 512 cells inside. Velocity prediction (what the voxel configs use) learns it.
TEST_F(PointTrainingTest, AVoxelModelTrainedOnOneShapeSamplesIt) {
  const auto data = tmp_.path("one_ball");
  {
    io::DatasetInfo info;
    info.categories = {"ball"};
    info.points = 512;
    info.normals = true;
    info.normalization.kind = shapes::NormalizationKind::UnitSphere;
    io::DatasetWriter writer(data, info, 5);
    torch::manual_seed(8);
    io::ShapeRecord r;
    r.id = "ball";
    auto d = torch::randn({512, 3});
    d = d / d.norm(2, 1, true);
    r.points = (0.6 * d).contiguous();
    r.normals = d.contiguous();
    r.normalization.kind = shapes::NormalizationKind::UnitSphere;
    writer.add("train", r);
    writer.finish();
  }
  auto o = options("one_ball_run");
  o.data_dir = data;
  auto& c = *o.config;
  c.model.representation = Representation::Voxels;
  c.model.voxels.unet = networks::UNetPreset::Tiny;
  c.model.voxels.grid = 8;
  c.model.voxels.truncation = 2.0;
  c.model.conditional = false;
  c.schedule.prediction = Prediction::Velocity;
  c.data.points = 512;
  c.training.steps = 300;
  c.training.grad_accumulation = 1;
  c.training.checkpoint_every = c.training.steps;
  c.training.log_every = 40;
  c.training.ema_decay = 0.9;
  ASSERT_TRUE(train_point_model(o).completed);
  auto model = load_point_model(tmp_.path("one_ball_run"));
  // The target grid, as the trainer builds it.
  const auto spec = shapes::GridSpec::from_bounds({-1, -1, -1}, {1, 1, 1}, 8);
  const double truncation = 2.0 * spec.voxel_size;
  const auto ball = torch::randn({4096, 3});
  const auto target =
      shapes::connected_far_signs(shapes::truncated_sdf_from_oriented_points(
                                      (0.6 * ball / ball.norm(2, 1, true)).contiguous(),
                                      (ball / ball.norm(2, 1, true)).contiguous(), spec, truncation),
                                  truncation)
          .values;
  const int64_t inside = (target < 0).sum().item<int64_t>();
  ASSERT_GT(inside, 8);
  PointSampleOptions s;
  s.count = 4;
  s.steps = 50;
  s.sampler_options.clip_sample = true;
  const auto grids = sample_grids(model.grid_net, 8, 0, model.config.schedule, s).points;
  for (int64_t k = 0; k < 4; ++k) {
    const auto g = grids[k][0];
    const double agree = ((g < 0) == (target < 0)).to(torch::kFloat64).mean().item<double>();
    EXPECT_GT(agree, 0.95) << "sample " << k;
    const int64_t n = (g < 0).sum().item<int64_t>();
    EXPECT_GT(n, inside / 2) << "sample " << k << " against " << inside;
    EXPECT_LT(n, inside * 2) << "sample " << k << " against " << inside;
  }
}

TEST_F(PointTrainingTest, ImageModelsTrainOnAPngFolderAndResumeExactlyAtAnEpochsEnd) {
  // 8 gray 16x16 images in two classes; batch 4, so step 2 ends an epoch.
  const auto folder = tmp_.path("images");
  torch::manual_seed(21);
  const auto images = torch::rand({8, 1, 16, 16}) * 2 - 1;
  std::vector<std::string> files;
  for (int i = 0; i < 8; ++i) files.push_back((i < 4 ? "a/" : "b/") + std::to_string(i));
  io::write_image_folder(folder, images, files);
  auto image_options = [&](const std::string& run) {
    auto o = options(run);
    o.data_dir = folder;
    o.config->model.representation = Representation::Images;
    o.config->model.images.size = 16;
    o.config->model.images.channels = 1;
    o.config->model.images.unet = networks::UNetPreset::Tiny;
    o.config->training.grad_accumulation = 1;
    o.config->training.steps = 5;
    return o;
  };
  const auto whole = train_point_model(image_options("img_whole"));
  ASSERT_TRUE(whole.completed);
  const auto model = load_point_model(whole.model_path);
  EXPECT_EQ(model.config.representation, Representation::Images);
  EXPECT_EQ(model.config.classes, (std::vector<std::string>{"a", "b"}));
  auto first = image_options("img_split");
  first.on_step = [](const TrainingProgress& p) { return p.step < 2; };
  train_point_model(first);
  auto second = image_options("img_split");
  second.resume = true;
  second.config.reset();
  ASSERT_TRUE(train_point_model(second).completed);
  EXPECT_EQ(logged_losses(tmp_.path("img_whole")), logged_losses(tmp_.path("img_split")));
}

TEST_F(PointTrainingTest, CompletionTaskTrainsOnScansAndResumesExactly) {
  const auto data = tmp_.path("scanned");
  make_dataset(data, 128, /*scans=*/2);
  auto opts = [&](const std::string& run) {
    auto o = options(run);
    o.data_dir = data;
    o.config->model.task = PointTask::Completion;
    return o;
  };
  const auto whole = train_point_model(opts("whole"));
  ASSERT_TRUE(whole.completed);
  const auto model = load_point_model(whole.model_path);
  EXPECT_EQ(model.config.task, PointTask::Completion);
  EXPECT_EQ(model.config.known_points, 32);  // 128 / 4

  auto first = opts("split");
  first.on_step = [](const TrainingProgress& p) { return p.step < 3; };
  train_point_model(first);
  auto second = opts("split");
  second.resume = true;
  second.config.reset();
  const auto rest = train_point_model(second);
  ASSERT_TRUE(rest.completed);
  const auto a = state_of(whole.checkpoint_path, "weights", model.config);
  const auto b = state_of(rest.checkpoint_path, "weights", model.config);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "tensor " << i;
  EXPECT_EQ(logged_losses(tmp_.path("whole")), logged_losses(tmp_.path("split")));

  // A dataset without scans cannot train completion.
  auto no_scans = options("no-scans");
  no_scans.config->model.task = PointTask::Completion;
  EXPECT_NE(message_of([&] { train_point_model(no_scans); }).find("virtual scans"), std::string::npos);
  auto bad = options("bad-known");
  bad.config->model.task = PointTask::Completion;
  bad.config->model.known_points = 128;
  bad.data_dir = data;
  EXPECT_NE(message_of([&] { train_point_model(bad); }).find("known_points"), std::string::npos);
}

TEST_F(PointTrainingTest, WritesTheRunFolder) {
  const auto o = options("run");
  const auto result = train_point_model(o);
  ASSERT_TRUE(result.completed);
  // Checkpoints at 2, 4, 6; the last two kept.
  const auto checkpoints = list_checkpoints(o.run_dir);
  ASSERT_EQ(checkpoints.size(), 2u);
  EXPECT_EQ(checkpoints[0].step, 4);
  EXPECT_EQ(checkpoints[1].step, 6);
  EXPECT_EQ(logged_losses(o.run_dir).size(), 6u);
  for (double loss : logged_losses(o.run_dir)) EXPECT_TRUE(std::isfinite(loss) && loss > 0);
  const auto plot = io::read_png(run_loss_plot_path(o.run_dir));
  EXPECT_EQ(plot.size(2), 3);
  EXPECT_TRUE(fs::exists(run_config_path(o.run_dir)));

  // The model file holds the EMA weights and the dataset's classes and normalization.
  const auto model = load_point_model(result.model_path);
  EXPECT_EQ(model.config.classes, (std::vector<std::string>{"ball", "box"}));
  EXPECT_EQ(model.config.num_classes, 2);
  EXPECT_EQ(model.config.points, 128);
  EXPECT_EQ(model.config.normalization.kind, shapes::NormalizationKind::DatasetGlobal);
  EXPECT_GT(model.config.normalization.scale, 0.2);
  EXPECT_LT(model.config.normalization.scale, 0.8);
  const auto ema = state_of(result.checkpoint_path, "ema", model.config);
  const auto params = model.net->parameters();
  for (size_t i = 0; i < ema.size(); ++i) EXPECT_TRUE(torch::equal(params[i], ema[i]));
  // The run folder loads as its latest checkpoint's EMA weights.
  const auto from_run = load_point_model(o.run_dir);
  EXPECT_TRUE(torch::equal(from_run.net->parameters()[0], params[0]));

  // Not a second time into the same folder.
  EXPECT_NE(message_of([&] { train_point_model(o); }).find("--resume"), std::string::npos);
}

TEST_F(PointTrainingTest, DivergenceStopsAndKeepsTheLastGoodCheckpoint) {
  auto o = options("nan");
  o.config->training.lr = 1e30;
  o.config->training.warmup_steps = 0;
  o.config->training.grad_clip = 0;
  o.config->training.checkpoint_every = 1;
  o.config->training.steps = 20;
  std::string msg;
  try {
    train_point_model(o);
  } catch (const std::runtime_error& e) {
    msg = e.what();
  }
  ASSERT_NE(msg.find("training diverged at step "), std::string::npos) << msg;
  EXPECT_NE(msg.find("the last good checkpoint is"), std::string::npos) << msg;
  const auto latest = latest_checkpoint(o.run_dir);
  ASSERT_TRUE(latest.has_value());
  EXPECT_NE(msg.find(latest->path), std::string::npos) << msg;
  EXPECT_NO_THROW(load_point_model(latest->path));
  EXPECT_FALSE(fs::exists(run_model_path(o.run_dir)));
}

TEST_F(PointTrainingTest, BadInputsAreNamed) {
  auto o = options("points");
  o.config->data.points = 256;
  auto msg = message_of([&] { train_point_model(o); });
  EXPECT_NE(msg.find("128 points per shape but the config's data.points is 256"), std::string::npos) << msg;

  auto r = options("nothing");
  r.resume = true;
  msg = message_of([&] { train_point_model(r); });
  EXPECT_NE(msg.find("nothing to resume"), std::string::npos) << msg;

  // A checkpoint, then a resume with another architecture or a different setting.
  auto base = options("arch");
  base.on_step = [](const TrainingProgress& p) { return p.step < 2; };
  train_point_model(base);
  auto other = options("arch");
  other.resume = true;
  other.config->model.preset = networks::PVCNNPreset::Small;
  msg = message_of([&] { train_point_model(other); });
  EXPECT_NE(msg.find("preset tiny vs small"), std::string::npos) << msg;
  other.config = tiny_training_config();
  other.config->training.lr = 0.5;
  msg = message_of([&] { train_point_model(other); });
  EXPECT_NE(msg.find("training.lr 0.002 vs 0.5"), std::string::npos) << msg;

  // A truncated checkpoint names the file.
  const auto latest = latest_checkpoint(base.run_dir)->path;
  const auto size = fs::file_size(latest);
  fs::resize_file(latest, size / 2);
  other.config.reset();
  msg = message_of([&] { train_point_model(other); });
  EXPECT_NE(msg.find(latest), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

// Sparse-voxel batches vary in size: each rank takes its shapes' band cells of the global batch
// and weights its loss by its share of the cells.
TEST_F(PointTrainingTest, SparseVoxelRanksSplitTheBatchByShape) {
  if (!data_parallel_available()) GTEST_SKIP() << "built without Gloo";
  const auto data = tmp_.path("data_normals_sparse");
  make_dataset(data, 128, 0, /*normals=*/true);
  auto sparse_options = [&](const std::string& run) {
    auto o = options(run);
    o.data_dir = data;
    o.config->model.representation = Representation::SparseVoxels;
    auto& s = o.config->model.sparse_voxels;
    s.grid = 16;
    s.coarse_grid = 8;
    s.truncation = 2.0;
    s.coarse_truncation = 2.0;
    s.band = 1.5;
    s.unet = sparse::SparseUNetPreset::Tiny;
    o.config->training.steps = 2;
    return o;
  };
  const auto single = train_point_model(sparse_options("sparse_single"));
  ASSERT_TRUE(single.completed);
  const auto ranks = train_in_ranks(2, [&](int) { return sparse_options("sparse_parallel"); });
  ASSERT_TRUE(ranks[0].completed);
  const auto a = logged_losses(tmp_.path("sparse_single")), b = logged_losses(tmp_.path("sparse_parallel"));
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5 * a[i]);
}

}  // namespace
}  // namespace shapediff::diffusion

#include "diffusion/point_sampling.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <stdexcept>
#include <string>

namespace shapediff::diffusion {
namespace {

networks::PVCNN tiny_net(int64_t classes) {
  torch::manual_seed(3);
  return networks::PVCNN(networks::pvcnn_preset(networks::PVCNNPreset::Tiny, classes));
}

PointSampleOptions small_run() {
  PointSampleOptions o;
  o.count = 3;
  o.num_points = 96;
  o.steps = 4;
  o.batch_size = 2;
  o.seed = 11;
  return o;
}

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    FAIL() << "expected an error mentioning '" << needle << "'";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(PointSampling, SameSeedSameShapesOtherSeedOtherShapes) {
  auto net = tiny_net(0);
  ScheduleConfig schedule;
  auto a = sample_points(net, schedule, small_run());
  auto b = sample_points(net, schedule, small_run());
  ASSERT_EQ(a.points.sizes(), (std::vector<int64_t>{3, 96, 3}));
  EXPECT_TRUE(torch::equal(a.points, b.points));
  auto o = small_run();
  o.seed = 12;
  EXPECT_FALSE(torch::equal(a.points, sample_points(net, schedule, o).points));
  EXPECT_TRUE(torch::isfinite(a.points).all().item<bool>());
  EXPECT_TRUE(torch::equal(a.labels, torch::zeros({3}, torch::kLong)));  // null label of 0 classes
}

TEST(PointSampling, BatchesFollowTheirOwnSeeds) {
  // Batch j draws from seed + j: the second batch of seed 11 is the first batch of seed 12.
  auto net = tiny_net(0);
  ScheduleConfig schedule;
  auto o = small_run();
  o.count = 4;
  auto all = sample_points(net, schedule, o);
  o.count = 2;
  o.seed = 12;
  auto second = sample_points(net, schedule, o);
  EXPECT_TRUE(torch::allclose(all.points.slice(0, 2, 4), second.points, 1e-6, 1e-6));
}

TEST(PointSampling, TrajectoryRecordsEveryKthStepAndTheLast) {
  auto net = tiny_net(0);
  auto o = small_run();
  o.steps = 5;
  o.trajectory_every = 2;
  auto s = sample_points(net, ScheduleConfig{}, o);
  ASSERT_TRUE(s.trajectory.defined());
  EXPECT_EQ(s.trajectory.sizes(), (std::vector<int64_t>{3, 3, 96, 3}));  // steps 2, 4, 5
  EXPECT_EQ(s.trajectory_x0.sizes(), s.trajectory.sizes());
  EXPECT_TRUE(torch::equal(s.trajectory_steps, torch::tensor({2, 4, 5}, torch::kLong)));
  EXPECT_TRUE(torch::equal(s.trajectory[2], s.points));
  EXPECT_EQ(s.trajectory_timesteps.size(0), 3);
}

TEST(PointSampling, GuidanceCombinesConditionalAndUnconditional) {
  auto net = tiny_net(3);
  ScheduleConfig schedule;
  auto o = small_run();
  o.sampler = SamplerKind::DDIM;
  o.label = 1;
  auto cond = sample_points(net, schedule, o);
  EXPECT_TRUE(torch::equal(cond.labels, torch::full({3}, 1, torch::kLong)));
  o.guidance = 3.0;
  auto guided = sample_points(net, schedule, o);
  EXPECT_GT((guided.points - cond.points).abs().max().item<double>(), 1e-6);
  // guidance 0 is the unconditional model: the same as sampling with the null label.
  o.guidance = 0.0;
  auto zero = sample_points(net, schedule, o);
  o.label.reset();
  o.guidance = 1.0;
  auto uncond = sample_points(net, schedule, o);
  EXPECT_TRUE(torch::allclose(zero.points, uncond.points, 1e-4, 1e-4));
}

TEST(PointSampling, RejectsBadOptions) {
  auto net = tiny_net(2);
  ScheduleConfig schedule;
  auto with = [&](std::function<void(PointSampleOptions&)> edit) {
    return [&, edit] {
      auto o = small_run();
      edit(o);
      sample_points(net, schedule, o);
    };
  };
  expect_error(with([](auto& o) { o.count = 0; }), "count");
  expect_error(with([](auto& o) { o.steps = 1001; }), "steps = 1001");
  expect_error(with([](auto& o) { o.label = 2; }), "label = 2");
  expect_error(with([](auto& o) { o.guidance = 2.0; }), "needs a class label");
  expect_error(with([](auto& o) { o.num_points = 10; }), "num_points");
  expect_error(with([](auto& o) { o.sampler = SamplerKind::ScoreSdeVe; }), "score_sde_ve");
  expect_error(with([](auto& o) { o.sampler = SamplerKind::RePaint; }), "repaint");
  auto uncond = tiny_net(0);
  auto o = small_run();
  o.label = 0;
  expect_error([&] { sample_points(uncond, schedule, o); }, "unconditional");
}

}  // namespace
}  // namespace shapediff::diffusion

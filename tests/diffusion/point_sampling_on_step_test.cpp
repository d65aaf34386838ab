// PointSampleOptions::on_step (the live view's feed) sees every step of every batch and leaves
// the recorded trajectory as it is without it.
#include "diffusion/point_sampling.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace shapediff::diffusion {
namespace {

TEST(PointSamplingOnStep, SeesEveryStepAndKeepsTheTrajectory) {
  torch::manual_seed(3);
  networks::PVCNN net(networks::pvcnn_preset(networks::PVCNNPreset::Tiny, 0));
  ScheduleConfig schedule;
  PointSampleOptions o;
  o.count = 3;
  o.num_points = 64;
  o.steps = 5;
  o.batch_size = 2;
  o.seed = 4;
  o.sampler = SamplerKind::DDIM;
  o.trajectory_every = 2;
  auto plain = sample_points(net, schedule, o);
  std::vector<std::pair<int64_t, int64_t>> seen;  // (batch, step)
  torch::Tensor last_x;
  o.on_step = [&](const TrajectoryFrame& f, int64_t batch) {
    seen.emplace_back(batch, f.step);
    EXPECT_EQ(f.num_steps, 5);
    EXPECT_EQ(f.x.size(0), batch == 0 ? 2 : 1);
    if (batch == 1 && f.step == 5) last_x = f.x.to(torch::kCPU);
  };
  auto watched = sample_points(net, schedule, o);
  ASSERT_EQ(seen.size(), 10u);
  for (int64_t i = 0; i < 10; ++i) {
    EXPECT_EQ(seen[i], std::make_pair(i / 5, i % 5 + 1));
  }
  EXPECT_TRUE(torch::equal(watched.points, plain.points));
  EXPECT_TRUE(torch::equal(watched.trajectory, plain.trajectory));
  EXPECT_TRUE(torch::equal(watched.trajectory_steps, plain.trajectory_steps));
  EXPECT_TRUE(torch::equal(watched.trajectory_steps, torch::tensor({2, 4, 5}, torch::kLong)));
  ASSERT_TRUE(last_x.defined());
  EXPECT_TRUE(torch::allclose(last_x[0], watched.points[2]));
  // on_step alone records no trajectory.
  o.trajectory_every = 0;
  seen.clear();
  EXPECT_FALSE(sample_points(net, schedule, o).trajectory.defined());
  EXPECT_EQ(seen.size(), 10u);
}

}  // namespace
}  // namespace shapediff::diffusion

#include "diffusion/training_loss.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace shapediff::diffusion {
namespace {

NoiseSchedule schedule_for(Prediction p) {
  ScheduleConfig c;
  c.prediction = p;
  return NoiseSchedule(c);
}

TEST(TrainingLoss, TargetsMatchDefinitions) {
  const auto s = schedule_for(Prediction::Velocity);
  GeneratorNoise noise(3);
  const auto x0 = torch::randn({4, 16, 3}, torch::kFloat64);
  const auto t = torch::tensor({0, 10, 500, 999}, torch::kLong);
  const auto batch = make_noised_batch(s, x0, noise, t);
  for (int64_t b = 0; b < 4; ++b) {
    const double a = s.alpha_cumprod(t[b].item<int64_t>());
    const auto xt = std::sqrt(a) * x0[b] + std::sqrt(1 - a) * batch.noise[b];
    EXPECT_TRUE(torch::allclose(batch.x_t[b], xt, 1e-6, 1e-6));
    const auto v = std::sqrt(a) * batch.noise[b] - std::sqrt(1 - a) * x0[b];
    EXPECT_TRUE(torch::allclose(batch.target[b], v, 1e-6, 1e-6));
  }
  EXPECT_TRUE(torch::equal(prediction_target(s, x0, batch.noise, t, Prediction::Epsilon), batch.noise));
  EXPECT_TRUE(torch::equal(prediction_target(s, x0, batch.noise, t, Prediction::Sample), x0));
}

TEST(TrainingLoss, PerfectPredictionIsZeroForEveryType) {
  for (auto p : {Prediction::Epsilon, Prediction::Sample, Prediction::Velocity}) {
    const auto s = schedule_for(p);
    GeneratorNoise noise(1);
    const auto x0 = torch::randn({2, 3, 4, 4});
    const auto batch = make_noised_batch(s, x0, noise, torch::tensor({3, 700}));
    EXPECT_NEAR(diffusion_loss(s, batch.target, batch).item<double>(), 0.0, 1e-12);
    // And an output converted from any other prediction type of the truth is also perfect.
    const auto as_eps = s.convert(batch.target, batch.x_t, batch.timesteps, p, Prediction::Epsilon);
    EXPECT_TRUE(torch::allclose(as_eps, batch.noise, 1e-3, 1e-3));
  }
}

TEST(TrainingLoss, MaskSelectsElements) {
  const auto s = schedule_for(Prediction::Epsilon);
  GeneratorNoise noise(2);
  const auto x0 = torch::zeros({2, 5, 3});
  auto batch = make_noised_batch(s, x0, noise, torch::tensor({1, 2}));
  auto out = batch.target.clone();
  // Error of 2 on point 0 of sample 0 (all 3 coordinates), perfect elsewhere.
  out[0][0] += 2.0;
  auto mask = torch::zeros({2, 5});
  mask[0][0] = 1;
  mask[1][4] = 1;
  // Masked mean: 3 coordinates with error 4, 3 with error 0 -> 2.
  EXPECT_NEAR(diffusion_loss(s, out, batch, mask).item<double>(), 2.0, 1e-6);
  // Unmasked mean: 12 / 30.
  EXPECT_NEAR(diffusion_loss(s, out, batch).item<double>(), 12.0 / 30.0, 1e-6);
  // A mask that ignores the wrong point gives zero.
  mask[0][0] = 0;
  EXPECT_NEAR(diffusion_loss(s, out, batch, mask).item<double>(), 0.0, 1e-12);
}

TEST(TrainingLoss, MinSnrWeights) {
  const auto s = schedule_for(Prediction::Epsilon);
  const auto t = torch::tensor({0, 999}, torch::kLong);
  const auto snr = s.snr();
  const auto w = min_snr_weights(s, t, Prediction::Epsilon, 5.0);
  // Low noise (huge SNR) is down-weighted to gamma/snr; high noise keeps weight 1.
  EXPECT_NEAR(w[0].item<double>(), 5.0 / snr[0].item<double>(), 1e-9);
  EXPECT_NEAR(w[1].item<double>(), 1.0, 1e-12);
  const auto wv = min_snr_weights(s, t, Prediction::Velocity, 5.0);
  EXPECT_NEAR(wv[1].item<double>(), snr[999].item<double>() / (snr[999].item<double>() + 1), 1e-9);
  const auto w0 = min_snr_weights(s, t, Prediction::Epsilon, 0.0);
  EXPECT_TRUE(torch::equal(w0, torch::ones({2}, torch::kFloat64)));

  GeneratorNoise noise(5);
  const auto x0 = torch::randn({2, 8});
  auto batch = make_noised_batch(s, x0, noise, t);
  const auto out = batch.target + 1.0;  // unit error everywhere
  LossOptions lo;
  lo.min_snr_gamma = 5.0;
  const double expected = (w[0].item<double>() + w[1].item<double>()) / 2.0;
  EXPECT_NEAR(diffusion_loss(s, out, batch, {}, lo).item<double>(), expected, 1e-5);
}

TEST(TrainingLoss, BadInputIsRejected) {
  const auto s = schedule_for(Prediction::Epsilon);
  GeneratorNoise noise(0);
  const auto x0 = torch::zeros({2, 4, 3});
  auto batch = make_noised_batch(s, x0, noise, torch::tensor({1, 2}));
  EXPECT_THROW(diffusion_loss(s, torch::zeros({2, 4, 2}), batch), std::invalid_argument);
  EXPECT_THROW(diffusion_loss(s, batch.target, batch, torch::zeros({2, 4})), std::invalid_argument);
  EXPECT_THROW(diffusion_loss(s, batch.target, batch, torch::ones({2, 3})), std::invalid_argument);
  EXPECT_THROW(diffusion_loss(s, batch.target, batch, torch::ones({2, 4, 3, 1})), std::invalid_argument);
  auto gen = at::detail::createCPUGenerator(0);
  EXPECT_THROW(random_timesteps(0, 1000, gen), std::invalid_argument);
  EXPECT_THROW(make_noised_batch(s, x0, noise, torch::tensor({1, 1000})), c10::Error);
}

TEST(TrainingLoss, RandomTimestepsAreSeededAndInRange) {
  auto g1 = at::detail::createCPUGenerator(7);
  auto g2 = at::detail::createCPUGenerator(7);
  const auto a = random_timesteps(1000, 50, g1);
  const auto b = random_timesteps(1000, 50, g2);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_GE(a.min().item<int64_t>(), 0);
  EXPECT_LT(a.max().item<int64_t>(), 50);
  EXPECT_GT(std::get<0>(at::_unique(a)).numel(), 10);
}

}  // namespace
}  // namespace shapediff::diffusion

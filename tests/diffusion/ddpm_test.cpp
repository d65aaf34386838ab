#include "diffusion/ddpm.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace shapediff::diffusion {
namespace {

// Runs `fn` and checks that it throws std::invalid_argument whose message names `field`.
template <typename Fn>
void expect_invalid(Fn fn, const std::string& field) {
  try {
    fn();
    ADD_FAILURE() << "expected std::invalid_argument naming " << field;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
  }
}

FormulaNoise ones_noise() {
  return FormulaNoise([](int64_t, const torch::Tensor& i) { return torch::ones_like(i); });
}

// The model output a perfect denoiser gives at x_t for the clean sample x0.
torch::Tensor perfect_output(const NoiseSchedule& s, const torch::Tensor& x0,
                             const torch::Tensor& x, int64_t t) {
  const double a = s.alpha_cumprod(t);
  const auto eps = (x - std::sqrt(a) * x0) / std::sqrt(1.0 - a);
  switch (s.prediction()) {
    case Prediction::Epsilon:
      return eps;
    case Prediction::Sample:
      return x0;
    case Prediction::Velocity:
      return std::sqrt(a) * eps - std::sqrt(1.0 - a) * x0;
  }
  return {};
}

TEST(DDPMSampler, TimestepsPerSpacing) {
  ScheduleConfig c;
  c.num_train_timesteps = 10;
  SamplerOptions o;
  DDPMSampler leading(c, o);
  leading.set_timesteps(3);
  EXPECT_TRUE(torch::equal(leading.timesteps(), torch::tensor({6.0, 3.0, 0.0}, torch::kFloat64)));
  EXPECT_EQ(leading.timesteps().scalar_type(), torch::kFloat64);

  o.steps_offset = 1;
  DDPMSampler offset(c, o);
  offset.set_timesteps(3);
  EXPECT_TRUE(torch::equal(offset.timesteps(), torch::tensor({7.0, 4.0, 1.0}, torch::kFloat64)));

  o.steps_offset = 0;
  o.spacing = Spacing::Trailing;
  DDPMSampler trailing(c, o);
  trailing.set_timesteps(3);
  EXPECT_TRUE(torch::equal(trailing.timesteps(), torch::tensor({9.0, 6.0, 2.0}, torch::kFloat64)));

  o.spacing = Spacing::Linspace;
  DDPMSampler linspace(c, o);
  linspace.set_timesteps(4);
  EXPECT_TRUE(torch::equal(linspace.timesteps(), torch::tensor({9.0, 6.0, 3.0, 0.0}, torch::kFloat64)));
}

TEST(DDPMSampler, RejectsBadSettings) {
  ScheduleConfig c;
  c.num_train_timesteps = 100;
  DDPMSampler ddpm(c, {});
  expect_invalid([&] { ddpm.set_timesteps(0); }, "num_inference_steps");
  expect_invalid([&] { ddpm.set_timesteps(101); }, "num_inference_steps");

  SamplerOptions o;
  o.steps_offset = 1;
  DDPMSampler offset(c, o);
  expect_invalid([&] { offset.set_timesteps(100); }, "steps_offset");
  EXPECT_NO_THROW(offset.set_timesteps(50));

  SamplerOptions bad;
  bad.clip_sample_range = 0.0;
  expect_invalid([&] { DDPMSampler(c, bad); }, "clip_sample_range");
}

TEST(DDPMSampler, RejectsBadCalls) {
  DDPMSampler ddpm(ScheduleConfig{}, {});
  GeneratorNoise noise(1);
  const auto x = torch::zeros({2, 3});
  EXPECT_THROW(ddpm.step(x, torch::tensor(10.0), x, noise), std::runtime_error);
  ddpm.set_timesteps(10);
  expect_invalid([&] { ddpm.step(torch::zeros({2, 4}), torch::tensor(900.0), x, noise); },
                 "shape");
  expect_invalid([&] { ddpm.step(x, torch::tensor(1000.0), x, noise); }, "timestep");
  expect_invalid([&] { ddpm.step(x, torch::tensor(-1.0), x, noise); }, "timestep");
  expect_invalid([&] { ddpm.step(x, torch::tensor(10.5), x, noise); }, "timestep");
}

TEST(DDPMSampler, NoiseOnlyWhileTimestepPositive) {
  for (Spacing spacing : {Spacing::Leading, Spacing::Trailing}) {
    SamplerOptions o;
    o.spacing = spacing;
    DDPMSampler ddpm(ScheduleConfig{}, o);
    ddpm.set_timesteps(25);
    GeneratorNoise noise(3);
    auto x = torch::randn({2, 8});
    for (int64_t i = 0; i < 25; ++i) {
      const auto t = ddpm.timesteps()[i];
      x = ddpm.step(0.1 * x, t, x, noise).prev_sample;
    }
    // Leading ends at t = 0 (no noise there); trailing ends at t = 39.
    EXPECT_EQ(noise.calls(), spacing == Spacing::Leading ? 24 : 25);
  }
}

TEST(DDPMSampler, VarianceTypes) {
  // x = 0 and a predicted x0 of 0 make the mean 0, so one step returns std * noise.
  const NoiseSchedule s{ScheduleConfig{}};
  const double a_t = s.alpha_cumprod(500), a_prev = s.alpha_cumprod(400);
  const double beta_step = 1.0 - a_t / a_prev;
  ScheduleConfig c;
  c.prediction = Prediction::Sample;
  for (auto type : {VarianceType::FixedSmall, VarianceType::FixedLarge}) {
    SamplerOptions o;
    o.variance_type = type;
    DDPMSampler ddpm(c, o);
    ddpm.set_timesteps(10);
    auto noise = ones_noise();
    const auto x = torch::zeros({4}, torch::kFloat64);
    const auto out = ddpm.step(x, torch::tensor(500.0), x, noise).prev_sample;
    const double expected = type == VarianceType::FixedLarge
                                ? std::sqrt(beta_step)
                                : std::sqrt((1 - a_prev) / (1 - a_t) * beta_step);
    EXPECT_NEAR(out[0].item<double>(), expected, 1e-7);
  }
}

TEST(DDPMSampler, ClipsPredictedSampleWithoutTouchingModelOutput) {
  ScheduleConfig c;
  c.prediction = Prediction::Sample;
  SamplerOptions o;
  o.clip_sample_range = 2.0;
  DDPMSampler clipped(c, o);
  clipped.set_timesteps(10);
  GeneratorNoise noise(0);
  const auto x = torch::zeros({3});
  const auto model_output = torch::full({3}, 5.0);
  const auto out = clipped.step(model_output, torch::tensor(900.0), x, noise);
  EXPECT_TRUE(torch::allclose(out.pred_original_sample, torch::full({3}, 2.0)));
  EXPECT_TRUE(torch::allclose(model_output, torch::full({3}, 5.0)));

  o.clip_sample = false;
  DDPMSampler unclipped(c, o);
  unclipped.set_timesteps(10);
  const auto raw = unclipped.step(model_output, torch::tensor(900.0), x, noise);
  EXPECT_TRUE(torch::allclose(raw.pred_original_sample, torch::full({3}, 5.0)));
}

TEST(DDPMSampler, ShapeAgnosticAndElementwise) {
  const std::vector<std::vector<int64_t>> shapes = {{2, 3, 8, 8}, {2, 64, 3}, {1, 2, 4, 4, 4}, {37, 4}};
  for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
    for (const auto& shape : shapes) {
      DDPMSampler ddpm(ScheduleConfig{}, {});
      ddpm.set_timesteps(20);
      const auto opts = torch::TensorOptions().dtype(dtype);
      const auto x = torch::randn(shape, opts);
      const auto mo = torch::randn(shape, opts);
      GeneratorNoise noise_a(7), noise_b(7);
      const auto t = ddpm.timesteps()[3];
      const auto out = ddpm.step(mo, t, x, noise_a);
      EXPECT_EQ(out.prev_sample.sizes(), x.sizes());
      EXPECT_EQ(out.prev_sample.scalar_type(), dtype);
      EXPECT_EQ(out.pred_original_sample.sizes(), x.sizes());
      EXPECT_TRUE(torch::isfinite(out.prev_sample).all().item<bool>());
      // The same step on the flattened tensor gives the same values: no axis is special.
      const auto flat = ddpm.step(mo.reshape({-1}), t, x.reshape({-1}), noise_b);
      EXPECT_TRUE(torch::allclose(flat.prev_sample, out.prev_sample.reshape({-1})));
    }
  }
}

TEST(DDPMSampler, DeterministicPerSeed) {
  auto run = [](uint64_t seed) {
    DDPMSampler ddpm(ScheduleConfig{}, {});
    ddpm.set_timesteps(10);
    GeneratorNoise noise(seed);
    auto x = noise.next({2, 16, 3}, torch::kFloat32);
    for (int64_t i = 0; i < 10; ++i) {
      x = ddpm.step(0.5 * x, ddpm.timesteps()[i], x, noise).prev_sample;
    }
    return x;
  };
  EXPECT_TRUE(torch::equal(run(11), run(11)));
  EXPECT_FALSE(torch::allclose(run(11), run(12)));
}

TEST(DDPMSampler, PerfectDenoiserRecoversSample) {
  for (auto prediction : {Prediction::Epsilon, Prediction::Sample, Prediction::Velocity}) {
    for (auto type : {VarianceType::FixedSmall, VarianceType::FixedLarge}) {
      ScheduleConfig c;
      c.prediction = prediction;
      SamplerOptions o;
      o.variance_type = type;
      DDPMSampler ddpm(c, o);
      ddpm.set_timesteps(20);
      GeneratorNoise noise(5);
      const auto x0 = torch::rand({2, 32, 3}, torch::kFloat64) * 1.6 - 0.8;
      auto x = noise.next(x0.sizes(), x0.options());
      for (int64_t i = 0; i < 20; ++i) {
        const auto t = ddpm.timesteps()[i];
        const auto out = ddpm.step(perfect_output(ddpm.schedule(), x0, x, t.item<int64_t>()), t, x, noise);
        EXPECT_LT((out.pred_original_sample - x0).abs().max().item<double>(), 1e-6);
        x = out.prev_sample;
      }
      EXPECT_LT((x - x0).abs().max().item<double>(), 1e-6) << to_string(prediction);
    }
  }
}

TEST(DDPMSampler, MatchesCpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  DDPMSampler ddpm(ScheduleConfig{}, {});
  ddpm.set_timesteps(10);
  const auto x = torch::randn({2, 64, 3});
  const auto mo = torch::randn({2, 64, 3});
  GeneratorNoise cpu_noise(9), cuda_noise(9);
  const auto t = ddpm.timesteps()[2];
  const auto cpu = ddpm.step(mo, t, x, cpu_noise).prev_sample;
  const auto cuda = ddpm.step(mo.cuda(), t, x.cuda(), cuda_noise).prev_sample;
  EXPECT_TRUE(cuda.is_cuda());
  EXPECT_TRUE(torch::allclose(cuda.cpu(), cpu, 1e-5, 1e-6));
}

}  // namespace
}  // namespace shapediff::diffusion

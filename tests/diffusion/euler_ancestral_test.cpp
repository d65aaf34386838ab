#include "diffusion/euler_ancestral.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "diffusion/euler.h"

namespace shapediff::diffusion {
namespace {

template <typename Fn>
void expect_invalid(Fn fn, const std::string& field) {
  try {
    fn();
    ADD_FAILURE() << "expected std::invalid_argument naming " << field;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
  }
}

torch::Tensor perfect_output(Prediction p, const torch::Tensor& x0, const torch::Tensor& x,
                             double sigma) {
  const auto eps = (x - x0) / sigma;
  const double a = 1.0 / std::sqrt(sigma * sigma + 1.0);
  switch (p) {
    case Prediction::Epsilon:
      return eps;
    case Prediction::Sample:
      return x0;
    case Prediction::Velocity:
      return a * eps - a * sigma * x0;
  }
  return {};
}

FormulaNoise ones_noise() {
  return FormulaNoise([](int64_t, const torch::Tensor& i) { return torch::ones_like(i); });
}

TEST(EulerAncestralSampler, SharesEulersScheduleWithoutKarras) {
  for (auto spacing : {Spacing::Linspace, Spacing::Leading, Spacing::Trailing}) {
    SamplerOptions o;
    o.spacing = spacing;
    EulerAncestralSampler ancestral(ScheduleConfig{}, o);
    EulerSampler euler(ScheduleConfig{}, o);
    ancestral.set_timesteps(17);
    euler.set_timesteps(17);
    EXPECT_TRUE(torch::equal(ancestral.timesteps(), euler.timesteps()));
    EXPECT_TRUE(torch::equal(ancestral.sigmas(), euler.sigmas()));
    EXPECT_EQ(ancestral.init_noise_sigma(), euler.init_noise_sigma());
  }
}

TEST(EulerAncestralSampler, RejectsBadSettingsAndCalls) {
  expect_invalid(
      [] {
        SamplerOptions o;
        o.use_karras_sigmas = true;
        make_sampler(SamplerKind::EulerAncestral, ScheduleConfig{}, o);
      },
      "use_karras_sigmas");
  expect_invalid([] { EulerAncestralSampler(ScheduleConfig{}, {}).set_timesteps(0); },
                 "num_inference_steps");
  EulerAncestralSampler sampler(ScheduleConfig{}, {});
  GeneratorNoise noise(1);
  const auto x = torch::zeros({4, 2});
  EXPECT_THROW(sampler.step(x, torch::tensor(999.0), x, noise), std::runtime_error);
  sampler.set_timesteps(1);
  expect_invalid([&] { sampler.step(torch::zeros({8}), sampler.timesteps()[0], x, noise); },
                 "shape");
  sampler.step(x, sampler.timesteps()[0], x, noise);
  EXPECT_THROW(sampler.step(x, sampler.timesteps()[0], x, noise), std::runtime_error);
}

TEST(EulerAncestralSampler, SplitsEachStepIntoDriftAndFreshNoise) {
  // With a zero model output (epsilon: x0 = x) the step is x + sigma_up * noise; with unit
  // noise the added amount is sigma_up = s' sqrt(s^2 - s'^2) / s.
  EulerAncestralSampler sampler(ScheduleConfig{}, {});
  sampler.set_timesteps(10);
  auto noise = ones_noise();
  const auto x = torch::zeros({3}, torch::kFloat64);
  for (int64_t i = 0; i < 10; ++i) {
    const double s = sampler.sigmas()[i].item<double>();
    const double sn = sampler.sigmas()[i + 1].item<double>();
    const auto out = sampler.step(torch::zeros_like(x), sampler.timesteps()[i], x, noise);
    EXPECT_NEAR(out.prev_sample[0].item<double>(), sn * std::sqrt(s * s - sn * sn) / s, 1e-9);
  }
  EXPECT_EQ(noise.calls(), 10);  // one draw per step, the last (sigma_up = 0) included

  // The marginal noise level is kept: sigma_down^2 + sigma_up^2 = sigma_next^2. With x0 = 0
  // the deterministic part scales x by sigma_down / sigma.
  EulerAncestralSampler second(ScheduleConfig{}, {});
  second.set_timesteps(10);
  FormulaNoise zero([](int64_t, const torch::Tensor& i) { return torch::zeros_like(i); });
  const auto y = torch::ones({3}, torch::kFloat64);
  const double s = second.sigmas()[0].item<double>();
  const double sn = second.sigmas()[1].item<double>();
  const auto out = second.step(y / s, second.timesteps()[0], y, zero);  // x0 = y - s * y / s = 0
  EXPECT_NEAR(out.prev_sample[0].item<double>(), sn * sn / (s * s), 1e-9);
}

TEST(EulerAncestralSampler, PerfectDenoiserRecoversSampleInAnyShapeAndDtype) {
  const std::vector<std::vector<int64_t>> shapes = {
      {2, 3, 8, 8}, {2, 64, 3}, {1, 2, 4, 4, 4}, {37, 4}};
  for (auto prediction : {Prediction::Epsilon, Prediction::Sample, Prediction::Velocity}) {
    for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
      for (const auto& shape : shapes) {
        ScheduleConfig c;
        c.prediction = prediction;
        EulerAncestralSampler sampler(c, {});
        sampler.set_timesteps(6);
        GeneratorNoise noise(8);
        const auto opts = torch::TensorOptions().dtype(dtype);
        const auto x0 = torch::rand(shape, opts) * 2 - 1;
        auto x = x0 + noise.next(shape, opts) * sampler.init_noise_sigma();
        for (int64_t i = 0; i < 6; ++i) {
          const auto t = sampler.timesteps()[i];
          const auto out = perfect_output(prediction, x0, x, sampler.sigmas()[i].item<double>());
          const auto step = sampler.step(out, t, x, noise);
          ASSERT_EQ(step.prev_sample.sizes(), x.sizes());
          ASSERT_EQ(step.prev_sample.scalar_type(), dtype);
          ASSERT_EQ(step.pred_original_sample.sizes(), x.sizes());
          x = step.prev_sample;
        }
        const double tol = dtype == torch::kFloat32 ? 1e-3 : 1e-9;
        EXPECT_LT((x - x0).abs().max().item<double>(), tol) << to_string(prediction);
        EXPECT_EQ(noise.calls(), 7);
      }
    }
  }
}

TEST(EulerAncestralSampler, DeterministicPerSeed) {
  auto run = [](uint64_t seed) {
    EulerAncestralSampler sampler(ScheduleConfig{}, {});
    sampler.set_timesteps(10);
    GeneratorNoise noise(seed);
    auto x = noise.next({2, 16, 3}, torch::kFloat32) * sampler.init_noise_sigma();
    for (int64_t i = 0; i < 10; ++i) {
      const auto t = sampler.timesteps()[i];
      x = sampler.step(0.5 * sampler.scale_model_input(x, t), t, x, noise).prev_sample;
    }
    return x;
  };
  EXPECT_TRUE(torch::equal(run(11), run(11)));
  EXPECT_FALSE(torch::allclose(run(11), run(12)));
}

TEST(EulerAncestralSampler, MatchesCpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  EulerAncestralSampler cpu_sampler(ScheduleConfig{}, {}), cuda_sampler(ScheduleConfig{}, {});
  cpu_sampler.set_timesteps(10);
  cuda_sampler.set_timesteps(10);
  GeneratorNoise cpu_noise(4), cuda_noise(4);
  auto x = cpu_noise.next({2, 64, 3}, torch::kFloat32) * cpu_sampler.init_noise_sigma();
  auto xc = (cuda_noise.next({2, 64, 3}, torch::kFloat32) * cuda_sampler.init_noise_sigma()).cuda();
  for (int64_t i = 0; i < 10; ++i) {
    const auto t = cpu_sampler.timesteps()[i];
    x = cpu_sampler.step(torch::tanh(cpu_sampler.scale_model_input(x, t)), t, x, cpu_noise)
            .prev_sample;
    xc = cuda_sampler.step(torch::tanh(cuda_sampler.scale_model_input(xc, t)), t, xc, cuda_noise)
             .prev_sample;
    ASSERT_TRUE(xc.is_cuda());
  }
  EXPECT_TRUE(torch::allclose(xc.cpu(), x, 1e-4, 1e-4));
}

}  // namespace
}  // namespace shapediff::diffusion

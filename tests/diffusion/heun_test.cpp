#include "diffusion/heun.h"

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

ScheduleConfig sd_config() {
  ScheduleConfig c;
  c.beta_start = 0.00085;
  c.beta_end = 0.012;
  c.beta_schedule = BetaSchedule::ScaledLinear;
  return c;
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

std::vector<double> values(const torch::Tensor& t) {
  const auto c = t.to(torch::kFloat64).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

// Runs a full sampling loop with the ideal denoiser of x0 ~ N(0, c^2) (sample prediction) and
// returns the relative error of the result against the exact probability-flow ODE solution.
double gaussian_ode_error(Sampler& sampler, double c) {
  auto x = torch::ones({1}, torch::kFloat64) * sampler.init_noise_sigma();
  GeneratorNoise noise(0);
  const int64_t n = sampler.timesteps().size(0);
  for (int64_t i = 0; i < n; ++i) {
    const double s = sampler.sigmas()[i].item<double>();
    x = sampler.step(c * c / (c * c + s * s) * x, sampler.timesteps()[i], x, noise).prev_sample;
  }
  const double s0 = sampler.init_noise_sigma();
  const double exact = s0 * c / std::sqrt(c * c + s0 * s0);
  return std::abs(x.item<double>() - exact) / exact;
}

TEST(HeunSampler, DoublesTheScheduleLikeDiffusers) {
  HeunSampler heun(ScheduleConfig{}, {});
  EXPECT_EQ(heun.order(), 2);
  heun.set_timesteps(4);
  EulerSampler euler(ScheduleConfig{}, {});
  euler.set_timesteps(4);
  const auto ts = values(heun.timesteps());
  const auto sig = values(heun.sigmas());
  const auto ets = values(euler.timesteps());
  const auto esig = values(euler.sigmas());
  ASSERT_EQ(ts.size(), 7u);
  ASSERT_EQ(sig.size(), 8u);
  EXPECT_EQ(ts, (std::vector<double>{ets[0], ets[1], ets[1], ets[2], ets[2], ets[3], ets[3]}));
  EXPECT_EQ(sig.front(), esig[0]);
  EXPECT_EQ(sig.back(), 0.0);
  for (size_t k = 1; k < 4; ++k) {
    EXPECT_NEAR(sig[2 * k - 1], esig[k], 1e-6 * esig[k]);
    EXPECT_EQ(sig[2 * k - 1], sig[2 * k]);
  }
  EXPECT_EQ(heun.init_noise_sigma(), sig.front());
}

TEST(HeunSampler, KeepsTheFirstStageBetweenTheTwoCalls) {
  HeunSampler heun(ScheduleConfig{}, {});
  heun.set_timesteps(3);
  GeneratorNoise noise(1);
  auto x = torch::ones({2, 5});
  std::vector<bool> second;
  for (int64_t i = 0; i < heun.timesteps().size(0); ++i) {
    const auto t = heun.timesteps()[i];
    x = heun.step(0.1 * heun.scale_model_input(x, t), t, x, noise).prev_sample;
    second.push_back(heun.in_second_stage());
  }
  // After calls 0, 2 a second stage is pending; the final call (to sigma 0) has none.
  EXPECT_EQ(second, (std::vector<bool>{true, false, true, false, false}));
  EXPECT_EQ(noise.calls(), 0);
  EXPECT_THROW(heun.step(x, heun.timesteps()[4], x, noise), std::runtime_error);
  heun.set_timesteps(3);
  EXPECT_FALSE(heun.in_second_stage());
}

TEST(HeunSampler, SecondOrderBeatsEulerOnTheGaussianOde) {
  const double c = 2.0;
  for (bool karras : {false, true}) {
    auto cfg = sd_config();
    cfg.prediction = Prediction::Sample;
    SamplerOptions o;
    o.use_karras_sigmas = karras;
    auto error = [&](SamplerKind kind, int64_t steps) {
      auto sampler = make_sampler(kind, cfg, o);
      sampler->set_timesteps(steps);
      return gaussian_ode_error(*sampler, c);
    };
    // Halving the step size cuts Heun's error about fourfold (second order) and Euler's about
    // twofold; at equal model calls Heun is well ahead.
    const double heun_20 = error(SamplerKind::Heun, 20);
    const double heun_40 = error(SamplerKind::Heun, 40);
    const double euler_39 = error(SamplerKind::Euler, 39);
    const double euler_79 = error(SamplerKind::Euler, 79);
    EXPECT_GT(heun_20 / heun_40, 3.5) << "karras " << karras;
    EXPECT_LT(euler_39 / euler_79, 2.5) << "karras " << karras;
    EXPECT_LT(heun_20, 0.5 * euler_39) << "karras " << karras;
  }
}

TEST(HeunSampler, RejectsBadSettingsAndCalls) {
  expect_invalid([] { HeunSampler(ScheduleConfig{}, {}).set_timesteps(0); },
                 "num_inference_steps");
  expect_invalid(
      [] {
        SamplerOptions o;
        o.steps_offset = -2;
        make_sampler(SamplerKind::Heun, ScheduleConfig{}, o);
      },
      "steps_offset");
  HeunSampler heun(ScheduleConfig{}, {});
  GeneratorNoise noise(1);
  const auto x = torch::zeros({2, 3});
  EXPECT_THROW(heun.step(x, torch::tensor(999.0), x, noise), std::runtime_error);
  heun.set_timesteps(2);
  expect_invalid([&] { heun.step(torch::zeros({2, 3, 1}), heun.timesteps()[0], x, noise); },
                 "shape");
}

TEST(HeunSampler, PerfectDenoiserRecoversSampleInAnyShapeAndDtype) {
  const std::vector<std::vector<int64_t>> shapes = {
      {2, 3, 8, 8}, {2, 64, 3}, {1, 2, 4, 4, 4}, {37, 4}};
  for (auto prediction : {Prediction::Epsilon, Prediction::Sample, Prediction::Velocity}) {
    for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
      for (const auto& shape : shapes) {
        auto c = sd_config();
        c.prediction = prediction;
        SamplerOptions o;
        o.spacing = Spacing::Trailing;
        HeunSampler heun(c, o);
        heun.set_timesteps(5);
        GeneratorNoise noise(2);
        const auto opts = torch::TensorOptions().dtype(dtype);
        const auto x0 = torch::rand(shape, opts) * 2 - 1;
        auto x = x0 + noise.next(shape, opts) * heun.init_noise_sigma();
        for (int64_t i = 0; i < heun.timesteps().size(0); ++i) {
          const auto t = heun.timesteps()[i];
          const auto out = perfect_output(prediction, x0, x, heun.sigmas()[i].item<double>());
          const auto step = heun.step(out, t, x, noise);
          ASSERT_EQ(step.prev_sample.sizes(), x.sizes());
          ASSERT_EQ(step.prev_sample.scalar_type(), dtype);
          x = step.prev_sample;
        }
        const double tol = dtype == torch::kFloat32 ? 1e-4 : 1e-9;
        EXPECT_LT((x - x0).abs().max().item<double>(), tol) << to_string(prediction);
      }
    }
  }
}

TEST(HeunSampler, DeterministicAcrossRuns) {
  HeunSampler heun(sd_config(), {});
  auto run = [&] {
    heun.set_timesteps(6);
    GeneratorNoise noise(5);
    auto x = noise.next({3, 7}, torch::kFloat32) * heun.init_noise_sigma();
    for (int64_t i = 0; i < heun.timesteps().size(0); ++i) {
      const auto t = heun.timesteps()[i];
      x = heun.step(torch::sin(heun.scale_model_input(x, t)), t, x, noise).prev_sample;
    }
    return x;
  };
  const auto first = run();
  EXPECT_TRUE(torch::equal(first, run()));  // set_timesteps resets every piece of state
}

TEST(HeunSampler, MatchesCpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  SamplerOptions o;
  o.use_karras_sigmas = true;
  HeunSampler cpu_sampler(sd_config(), o), cuda_sampler(sd_config(), o);
  cpu_sampler.set_timesteps(8);
  cuda_sampler.set_timesteps(8);
  GeneratorNoise noise(4);
  auto x = noise.next({2, 64, 3}, torch::kFloat32) * cpu_sampler.init_noise_sigma();
  auto xc = x.cuda();
  for (int64_t i = 0; i < cpu_sampler.timesteps().size(0); ++i) {
    const auto t = cpu_sampler.timesteps()[i];
    x = cpu_sampler.step(torch::sin(cpu_sampler.scale_model_input(x, t)), t, x, noise)
            .prev_sample;
    xc = cuda_sampler.step(torch::sin(cuda_sampler.scale_model_input(xc, t)), t, xc, noise)
             .prev_sample;
    ASSERT_TRUE(xc.is_cuda());
  }
  EXPECT_TRUE(torch::allclose(xc.cpu(), x, 1e-4, 1e-5));
}

}  // namespace
}  // namespace shapediff::diffusion

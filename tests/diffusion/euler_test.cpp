#include "diffusion/euler.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

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

// What a perfect denoiser returns for clean sample x0 at x = x0 + sigma * eps.
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

TEST(EulerSampler, LinspaceTimestepsAreFloat32AndSigmasEndInZero) {
  EulerSampler euler(sd_config(), {});
  euler.set_timesteps(30);
  const auto ts = values(euler.timesteps());
  const auto sig = values(euler.sigmas());
  ASSERT_EQ(ts.size(), 30u);
  ASSERT_EQ(sig.size(), 31u);
  EXPECT_EQ(ts.front(), 999.0);
  EXPECT_EQ(ts.back(), 0.0);
  EXPECT_EQ(sig.back(), 0.0);
  for (size_t i = 0; i < ts.size(); ++i) {
    EXPECT_EQ(ts[i], static_cast<double>(static_cast<float>(ts[i])));
    EXPECT_EQ(sig[i], static_cast<double>(static_cast<float>(sig[i])));
    if (i > 0) EXPECT_LT(sig[i], sig[i - 1]);
  }
  // At integer timesteps the sigma is the table value itself.
  const auto table = training_sigmas(euler.schedule());
  EXPECT_EQ(sig.front(), static_cast<double>(table.back()));
  EXPECT_EQ(sig[29], static_cast<double>(table.front()));
  // Linspace keeps the largest sigma as the initial noise level.
  EXPECT_EQ(euler.init_noise_sigma(), sig.front());
}

TEST(EulerSampler, LeadingAndTrailingSpacing) {
  SamplerOptions o;
  o.spacing = Spacing::Leading;
  o.steps_offset = 1;
  EulerSampler leading(sd_config(), o);
  leading.set_timesteps(10);
  EXPECT_EQ(values(leading.timesteps()),
            (std::vector<double>{901, 801, 701, 601, 501, 401, 301, 201, 101, 1}));
  // Leading scales the initial noise to unit variance at sigma_max: sqrt(sigma^2 + 1).
  const double max_sigma = leading.sigmas()[0].item<double>();
  EXPECT_NEAR(leading.init_noise_sigma(), std::sqrt(max_sigma * max_sigma + 1.0), 1e-5);

  o.spacing = Spacing::Trailing;
  o.steps_offset = 0;
  EulerSampler trailing(sd_config(), o);
  trailing.set_timesteps(4);
  EXPECT_EQ(values(trailing.timesteps()), (std::vector<double>{999, 749, 499, 249}));
  EXPECT_EQ(trailing.init_noise_sigma(), trailing.sigmas()[0].item<double>());
}

TEST(EulerSampler, KarrasSigmasFollowTheRhoRampAndMapBackToTimesteps) {
  SamplerOptions o;
  o.use_karras_sigmas = true;
  EulerSampler euler(sd_config(), o);
  euler.set_timesteps(12);
  const auto sig = values(euler.sigmas());
  const auto ts = values(euler.timesteps());
  ASSERT_EQ(sig.size(), 13u);
  const auto table = training_sigmas(euler.schedule());
  EXPECT_NEAR(sig.front(), table.back(), 1e-5);
  EXPECT_NEAR(sig[11], table.front(), 1e-6);
  // sigma^(1/7) is linear in the step index.
  const double d0 = std::pow(sig[1], 1 / 7.0) - std::pow(sig[0], 1 / 7.0);
  for (size_t i = 1; i + 1 < 12; ++i) {
    EXPECT_NEAR(std::pow(sig[i + 1], 1 / 7.0) - std::pow(sig[i], 1 / 7.0), d0, 1e-5);
  }
  // Each fractional timestep interpolates (in log sigma) back to its sigma.
  EXPECT_NEAR(ts.front(), 999.0, 1e-3);
  EXPECT_NEAR(ts[11], 0.0, 1e-3);
  for (size_t i = 0; i < 12; ++i) {
    const auto lo = static_cast<size_t>(std::floor(ts[i]));
    const size_t hi = std::min(lo + 1, table.size() - 1);
    const double w = ts[i] - static_cast<double>(lo);
    const double log_sigma = (1 - w) * std::log(table[lo]) + w * std::log(table[hi]);
    EXPECT_NEAR(std::exp(log_sigma), sig[i], 1e-4 * sig[i]) << i;
  }
}

TEST(EulerSampler, ZeroTerminalSnrKeepsTheFirstSigmaFinite) {
  auto c = sd_config();
  c.zero_terminal_snr = true;
  EulerSampler euler(c, {});
  euler.set_timesteps(10);
  // a_T is set to 2^-24, so sigma_max = sqrt((1 - 2^-24) / 2^-24) ~ 4096.
  EXPECT_NEAR(euler.sigmas()[0].item<double>(), 4096.0, 0.01);
  EXPECT_TRUE(std::isfinite(euler.init_noise_sigma()));
}

TEST(EulerSampler, ScaleModelInputUsesTheCurrentSigma) {
  EulerSampler euler(sd_config(), {});
  euler.set_timesteps(5);
  const auto x = torch::ones({2, 3});
  GeneratorNoise noise(1);
  for (int64_t i = 0; i < 5; ++i) {
    const double sigma = euler.sigmas()[i].item<double>();
    const auto scaled = euler.scale_model_input(x, euler.timesteps()[i]);
    EXPECT_NEAR(scaled[0][0].item<double>(), 1.0 / std::sqrt(sigma * sigma + 1.0), 1e-6);
    euler.step(torch::zeros_like(x), euler.timesteps()[i], x, noise);
  }
}

TEST(EulerSampler, RejectsBadSettingsAndCalls) {
  expect_invalid([] { EulerSampler(ScheduleConfig{}, {}).set_timesteps(0); },
                 "num_inference_steps");
  expect_invalid([] { EulerSampler(ScheduleConfig{}, {}).set_timesteps(1001); },
                 "num_inference_steps");
  expect_invalid(
      [] {
        SamplerOptions o;
        o.steps_offset = -1;
        make_sampler(SamplerKind::Euler, ScheduleConfig{}, o);
      },
      "steps_offset");

  EulerSampler euler(ScheduleConfig{}, {});
  GeneratorNoise noise(1);
  const auto x = torch::zeros({2, 3});
  EXPECT_THROW(euler.step(x, torch::tensor(999.0), x, noise), std::runtime_error);
  euler.set_timesteps(2);
  expect_invalid([&] { euler.step(torch::zeros({3, 2}), euler.timesteps()[0], x, noise); },
                 "shape");
  expect_invalid([&] { euler.step(x, torch::tensor(123.25), x, noise); }, "timestep");
  euler.step(x, euler.timesteps()[0], x, noise);
  euler.step(x, euler.timesteps()[1], x, noise);
  EXPECT_THROW(euler.step(x, euler.timesteps()[1], x, noise), std::runtime_error);
}

TEST(EulerSampler, PerfectDenoiserRecoversSampleInAnyShapeAndDtype) {
  const std::vector<std::vector<int64_t>> shapes = {
      {2, 3, 8, 8}, {2, 64, 3}, {1, 2, 4, 4, 4}, {37, 4}};
  for (auto prediction : {Prediction::Epsilon, Prediction::Sample, Prediction::Velocity}) {
    for (bool karras : {false, true}) {
      for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
        for (const auto& shape : shapes) {
          auto c = sd_config();
          c.prediction = prediction;
          SamplerOptions o;
          o.use_karras_sigmas = karras;
          EulerSampler euler(c, o);
          euler.set_timesteps(8);
          GeneratorNoise noise(3);
          const auto opts = torch::TensorOptions().dtype(dtype);
          const auto x0 = torch::rand(shape, opts) * 2 - 1;
          auto x = x0 + noise.next(shape, opts) * euler.init_noise_sigma();
          for (int64_t i = 0; i < 8; ++i) {
            const auto t = euler.timesteps()[i];
            const auto out = perfect_output(prediction, x0, x, euler.sigmas()[i].item<double>());
            const auto step = euler.step(out, t, x, noise);
            ASSERT_EQ(step.prev_sample.sizes(), x.sizes());
            ASSERT_EQ(step.prev_sample.scalar_type(), dtype);
            x = step.prev_sample;
          }
          const double tol = dtype == torch::kFloat32 ? 1e-4 : 1e-9;
          EXPECT_LT((x - x0).abs().max().item<double>(), tol)
              << to_string(prediction) << " karras " << karras;
          EXPECT_EQ(noise.calls(), 1);  // only the initial sample: Euler draws none
        }
      }
    }
  }
}

TEST(EulerSampler, FollowsTheExactOdeOfGaussianData) {
  // For x0 ~ N(0, c^2) the ideal denoiser is c^2 / (c^2 + sigma^2) x and the probability-flow
  // ODE maps x(sigma) to x(0) = x c / sqrt(c^2 + sigma^2). Euler converges to it with steps.
  const double c = 0.5;
  auto run = [&](int64_t steps) {
    SamplerOptions o;
    o.use_karras_sigmas = true;
    auto cfg = sd_config();
    cfg.prediction = Prediction::Sample;
    EulerSampler euler(cfg, o);
    euler.set_timesteps(steps);
    auto x = torch::ones({1}, torch::kFloat64) * euler.init_noise_sigma();
    GeneratorNoise noise(0);
    for (int64_t i = 0; i < steps; ++i) {
      const double s = euler.sigmas()[i].item<double>();
      x = euler.step(c * c / (c * c + s * s) * x, euler.timesteps()[i], x, noise).prev_sample;
    }
    const double s0 = euler.init_noise_sigma();
    const double exact = s0 * c / std::sqrt(c * c + s0 * s0);
    return std::abs(x.item<double>() - exact) / exact;
  };
  const double coarse = run(10);
  const double fine = run(40);
  EXPECT_LT(fine, coarse);
  EXPECT_LT(fine, 0.05);
}

TEST(EulerSampler, MatchesCpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  SamplerOptions o;
  o.use_karras_sigmas = true;
  EulerSampler cpu_sampler(sd_config(), o), cuda_sampler(sd_config(), o);
  cpu_sampler.set_timesteps(10);
  cuda_sampler.set_timesteps(10);
  GeneratorNoise noise(4);
  auto x = noise.next({2, 64, 3}, torch::kFloat32) * cpu_sampler.init_noise_sigma();
  auto xc = x.cuda();
  for (int64_t i = 0; i < 10; ++i) {
    const auto t = cpu_sampler.timesteps()[i];
    const double tv = t.item<double>() / 1000.0;
    x = cpu_sampler.step(torch::sin(cpu_sampler.scale_model_input(x, t) + tv), t, x, noise)
            .prev_sample;
    xc = cuda_sampler.step(torch::sin(cuda_sampler.scale_model_input(xc, t) + tv), t, xc, noise)
             .prev_sample;
    ASSERT_TRUE(xc.is_cuda());
  }
  EXPECT_TRUE(torch::allclose(xc.cpu(), x, 1e-4, 1e-5));
}

}  // namespace
}  // namespace shapediff::diffusion

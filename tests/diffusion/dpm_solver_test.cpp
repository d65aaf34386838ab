#include "diffusion/dpm_solver.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "diffusion/reference_replay.h"
#include "io/json_file.h"
#include "test_support.h"

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

SamplerOptions dpm_options(int64_t order, DpmAlgorithm algorithm = DpmAlgorithm::DpmSolverPP) {
  SamplerOptions o;
  o.solver_order = order;
  o.algorithm = algorithm;
  return o;
}

// The exact denoiser for data x0 ~ N(0, s^2 I) at noise level sigma (x = alpha (x0 + sigma eps),
// alpha = 1 / sqrt(1 + sigma^2)), as the model output for `prediction`.
torch::Tensor gaussian_denoiser(const torch::Tensor& x, double sigma, double s, Prediction p) {
  const double alpha = 1.0 / std::sqrt(1.0 + sigma * sigma);
  const double sigma_t = sigma * alpha;
  const auto x0 = x * (s * s / (s * s + sigma * sigma) / alpha);
  switch (p) {
    case Prediction::Sample:
      return x0;
    case Prediction::Epsilon:
      return (x - alpha * x0) / sigma_t;
    case Prediction::Velocity:
      return alpha * (x - alpha * x0) / sigma_t - sigma_t * x0;
  }
  return {};
}

// Its probability-flow ODE keeps x / (alpha sqrt(s^2 + sigma^2)) constant: the exact solution
// at noise level `to` of x at noise level `from`.
torch::Tensor gaussian_flow(const torch::Tensor& x, double from, double to, double s) {
  auto scale = [s](double sigma) { return std::sqrt((s * s + sigma * sigma) / (1.0 + sigma * sigma)); };
  return x * (scale(to) / scale(from));
}

// Error of the first S-1 steps (the last one jumps to sigma 0, where every order returns the
// denoised estimate) against the exact flow, for data scale s.
double gaussian_error(Sampler& sampler, Prediction prediction, double s) {
  FormulaNoise noise([](int64_t, const torch::Tensor& i) { return torch::zeros_like(i); });
  const auto x_start = torch::linspace(-2.0, 2.0, 30, torch::kFloat64).reshape({10, 3});
  const auto& sigmas = sampler.sigmas();
  const int64_t S = sampler.timesteps().size(0);
  auto x = x_start;
  for (int64_t i = 0; i + 1 < S; ++i) {
    const auto out = gaussian_denoiser(x, sigmas[i].item<double>(), s, prediction);
    x = sampler.step(out, sampler.timesteps()[i], x, noise).prev_sample;
  }
  const auto exact =
      gaussian_flow(x_start, sigmas[0].item<double>(), sigmas[S - 1].item<double>(), s);
  return (x - exact).abs().max().item<double>();
}

torch::Tensor toy_model(const torch::Tensor& x, double t) {
  return 0.8 * x + 0.05 * torch::sin(3.0 * x + t / 1000.0);
}

TEST(DPMSolverSampler, RejectsSdeThirdOrder) {
  expect_invalid([] { DPMSolverSampler(ScheduleConfig{}, dpm_options(3, DpmAlgorithm::SdeDpmSolverPP)); },
                 "solver_order");
  expect_invalid(
      [] {
        make_sampler(SamplerKind::DPMSolverMultistep, ScheduleConfig{},
                     dpm_options(3, DpmAlgorithm::SdeDpmSolverPP));
      },
      "sde-dpmsolver++");
  EXPECT_NO_THROW(DPMSolverSampler(ScheduleConfig{}, dpm_options(2, DpmAlgorithm::SdeDpmSolverPP)));
}

TEST(DPMSolverSampler, RejectsBadSettings) {
  expect_invalid([] { DPMSolverSampler(ScheduleConfig{}, dpm_options(4)); }, "solver_order");
  expect_invalid([] { DPMSolverSampler(ScheduleConfig{}, dpm_options(0)); }, "solver_order");
  ScheduleConfig c;
  c.num_train_timesteps = 100;
  DPMSolverSampler dpm(c, {});
  expect_invalid([&] { dpm.set_timesteps(0); }, "num_inference_steps");
  expect_invalid([&] { dpm.set_timesteps(101); }, "num_inference_steps");
  SamplerOptions o;
  o.spacing = Spacing::Leading;
  o.steps_offset = 1;
  DPMSolverSampler offset(c, o);
  expect_invalid([&] { offset.set_timesteps(99); }, "steps_offset");
  EXPECT_NO_THROW(offset.set_timesteps(10));
}

TEST(DPMSolverSampler, StepNeedsTimestepsAndStopsAtTheEnd) {
  DPMSolverSampler dpm(ScheduleConfig{}, {});
  FormulaNoise noise([](int64_t, const torch::Tensor& i) { return torch::zeros_like(i); });
  const auto x = torch::zeros({2, 3});
  EXPECT_ANY_THROW(dpm.step(x, torch::tensor(999.0), x, noise));
  dpm.set_timesteps(2);
  auto y = dpm.step(x, dpm.timesteps()[0], x, noise).prev_sample;
  y = dpm.step(y, dpm.timesteps()[1], y, noise).prev_sample;
  EXPECT_ANY_THROW(dpm.step(y, dpm.timesteps()[1], y, noise));
}

TEST(DPMSolverSampler, TimestepsPerSpacing) {
  ScheduleConfig c;
  DPMSolverSampler linspace(c, {});
  linspace.set_timesteps(4);
  // np.linspace(0, 999, 5).round()[::-1][:-1]: 749.25 -> 749, 499.5 -> 500 (ties to even).
  EXPECT_TRUE(torch::equal(linspace.timesteps(),
                           torch::tensor({999.0, 749.0, 500.0, 250.0}, torch::kFloat64)));

  SamplerOptions o;
  o.spacing = Spacing::Leading;
  o.steps_offset = 1;
  DPMSolverSampler leading(c, o);
  leading.set_timesteps(4);  // 1000 // 5 = 200
  EXPECT_TRUE(torch::equal(leading.timesteps(),
                           torch::tensor({801.0, 601.0, 401.0, 201.0}, torch::kFloat64)));

  o.spacing = Spacing::Trailing;
  o.steps_offset = 0;
  DPMSolverSampler trailing(c, o);
  trailing.set_timesteps(3);  // arange(1000, 0, -333.33).round() - 1
  EXPECT_TRUE(torch::equal(trailing.timesteps(),
                           torch::tensor({999.0, 666.0, 332.0}, torch::kFloat64)));
  // 1000 / (1000 / 61) rounds above 61: still 61 steps, none below 0.
  trailing.set_timesteps(61);
  EXPECT_EQ(trailing.timesteps().size(0), 61);
  EXPECT_GE(trailing.timesteps().min().item<double>(), 0.0);
  EXPECT_EQ(trailing.num_inference_steps(), 61);
}

TEST(DPMSolverSampler, SigmasEndInZeroAndFollowTheTable) {
  ScheduleConfig c;
  DPMSolverSampler dpm(c, {});
  dpm.set_timesteps(7);
  const auto& sig = dpm.sigmas();
  ASSERT_EQ(sig.size(0), 8);
  EXPECT_EQ(sig.scalar_type(), torch::kFloat64);
  EXPECT_EQ(sig[-1].item<double>(), 0.0);
  const auto table = dpm.schedule().sigmas();
  for (int64_t i = 0; i < 7; ++i) {
    const auto t = static_cast<int64_t>(dpm.timesteps()[i].item<double>());
    EXPECT_EQ(sig[i].item<double>(), static_cast<double>(table[t].item<float>()));
  }
}

TEST(DPMSolverSampler, KarrasSigmasSpanTheSchedule) {
  ScheduleConfig c;
  c.beta_schedule = BetaSchedule::ScaledLinear;
  c.beta_start = 0.00085;
  c.beta_end = 0.012;
  SamplerOptions o;
  o.use_karras_sigmas = true;
  DPMSolverSampler dpm(c, o);
  dpm.set_timesteps(10);
  const auto table = dpm.schedule().sigmas();
  const auto& sig = dpm.sigmas();
  ASSERT_EQ(sig.size(0), 11);
  EXPECT_NEAR(sig[0].item<double>(), table[-1].item<float>(), 1e-5);
  EXPECT_NEAR(sig[9].item<double>(), table[0].item<float>(), 1e-6);
  EXPECT_EQ(sig[10].item<double>(), 0.0);
  EXPECT_TRUE((sig.slice(0, 1) < sig.slice(0, 0, -1)).all().item<bool>());
  EXPECT_EQ(dpm.timesteps()[0].item<double>(), 999.0);
  EXPECT_EQ(dpm.timesteps()[-1].item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(dpm.timesteps(), dpm.timesteps().round()));
}

TEST(DPMSolverSampler, ZeroTerminalSnrKeepsTheFirstSigmaFinite) {
  ScheduleConfig c;
  c.zero_terminal_snr = true;
  DPMSolverSampler dpm(c, {});
  dpm.set_timesteps(10);
  EXPECT_NEAR(dpm.sigmas()[0].item<double>(), 4096.0, 1e-2);  // sqrt((1 - 2^-24) / 2^-24)
  auto x = torch::randn({2, 5}, torch::kFloat64);
  FormulaNoise noise([](int64_t, const torch::Tensor& i) { return torch::zeros_like(i); });
  for (int64_t i = 0; i < 10; ++i) {
    x = dpm.step(toy_model(x, 0.0), dpm.timesteps()[i], x, noise).prev_sample;
  }
  EXPECT_TRUE(torch::isfinite(x).all().item<bool>());
}

TEST(DPMSolverSampler, AnyShapeAndDtype) {
  const std::vector<std::vector<int64_t>> shapes = {{2, 3, 8, 8}, {2, 64, 3}, {1, 2, 4, 4, 4}, {37, 4}};
  for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
    for (const auto& shape : shapes) {
      for (auto [order, algorithm] : {std::pair{1, DpmAlgorithm::DpmSolverPP},
                                      std::pair{3, DpmAlgorithm::DpmSolverPP},
                                      std::pair{2, DpmAlgorithm::SdeDpmSolverPP}}) {
        DPMSolverSampler dpm(ScheduleConfig{}, dpm_options(order, algorithm));
        dpm.set_timesteps(6);
        GeneratorNoise noise(3);
        auto x = torch::randn(shape, torch::TensorOptions().dtype(dtype));
        for (int64_t i = 0; i < 6; ++i) {
          const auto t = dpm.timesteps()[i];
          const auto out = dpm.step(toy_model(x, t.item<double>()), t, x, noise);
          ASSERT_EQ(out.prev_sample.sizes(), x.sizes());
          ASSERT_EQ(out.prev_sample.scalar_type(), dtype);
          ASSERT_TRUE(out.pred_original_sample.defined());
          ASSERT_EQ(out.pred_original_sample.sizes(), x.sizes());
          x = out.prev_sample;
        }
        EXPECT_TRUE(torch::isfinite(x).all().item<bool>());
        EXPECT_EQ(noise.calls(), algorithm == DpmAlgorithm::SdeDpmSolverPP ? 6 : 0);
      }
    }
  }
}

TEST(DPMSolverSampler, SdeIsDeterministicPerSeed) {
  auto run = [](uint64_t seed) {
    DPMSolverSampler dpm(ScheduleConfig{}, dpm_options(2, DpmAlgorithm::SdeDpmSolverPP));
    dpm.set_timesteps(8);
    GeneratorNoise noise(seed);
    auto x = torch::ones({2, 16, 3});
    for (int64_t i = 0; i < 8; ++i) {
      const auto t = dpm.timesteps()[i];
      x = dpm.step(toy_model(x, t.item<double>()), t, x, noise).prev_sample;
    }
    return x;
  };
  EXPECT_TRUE(torch::equal(run(7), run(7)));
  EXPECT_FALSE(torch::allclose(run(7), run(8)));
}

TEST(DPMSolverSampler, SetTimestepsRestartsTheRun) {
  DPMSolverSampler dpm(ScheduleConfig{}, dpm_options(3));
  FormulaNoise noise([](int64_t, const torch::Tensor& i) { return torch::zeros_like(i); });
  auto run = [&] {
    dpm.set_timesteps(9);
    auto x = torch::full({4, 3}, 0.5);
    for (int64_t i = 0; i < 9; ++i) {
      const auto t = dpm.timesteps()[i];
      x = dpm.step(toy_model(x, t.item<double>()), t, x, noise).prev_sample;
    }
    return x;
  };
  const auto first = run();
  EXPECT_TRUE(torch::equal(first, run()));
}

TEST(DPMSolverSampler, PerfectDenoiserRecoversTheSample) {
  // Data is the single point x0: the exact denoiser returns x0 at every noise level.
  const auto x0 = torch::linspace(-1.0, 1.0, 24, torch::kFloat64).reshape({2, 4, 3});
  for (auto prediction : {Prediction::Epsilon, Prediction::Sample, Prediction::Velocity}) {
    for (int64_t order = 1; order <= 3; ++order) {
      ScheduleConfig c;
      c.prediction = prediction;
      DPMSolverSampler dpm(c, dpm_options(order));
      dpm.set_timesteps(12);
      FormulaNoise noise([](int64_t, const torch::Tensor& i) { return torch::zeros_like(i); });
      auto x = torch::randn({2, 4, 3}, torch::kFloat64);
      for (int64_t i = 0; i < 12; ++i) {
        const auto t = dpm.timesteps()[i];
        const auto ti = static_cast<int64_t>(t.item<double>());
        const double a = dpm.schedule().alpha_cumprod(ti);
        const auto eps = (x - std::sqrt(a) * x0) / std::sqrt(1.0 - a);
        torch::Tensor out = prediction == Prediction::Epsilon ? eps
                            : prediction == Prediction::Sample
                                ? x0
                                : std::sqrt(a) * eps - std::sqrt(1.0 - a) * x0;
        const auto step = dpm.step(out, t, x, noise);
        EXPECT_TRUE(torch::allclose(step.pred_original_sample, x0, 1e-5, 1e-5))
            << to_string(prediction) << " order " << order << " step " << i;
        x = step.prev_sample;
      }
      EXPECT_TRUE(torch::allclose(x, x0, 1e-6, 1e-6)) << to_string(prediction) << " order " << order;
    }
  }
}

TEST(DPMSolverSampler, HigherOrdersSolveTheGaussianOdeBetter) {
  for (auto prediction : {Prediction::Epsilon, Prediction::Velocity}) {
    std::vector<double> errors;
    for (int64_t order = 1; order <= 3; ++order) {
      ScheduleConfig c;
      c.prediction = prediction;
      DPMSolverSampler dpm(c, dpm_options(order));
      dpm.set_timesteps(15);
      errors.push_back(gaussian_error(dpm, prediction, 0.5));
    }
    EXPECT_LT(errors[0], 0.2) << to_string(prediction);
    EXPECT_LT(errors[1], errors[0] / 4.0) << to_string(prediction);
    EXPECT_LT(errors[2], errors[0] / 4.0) << to_string(prediction);
  }
}

TEST(DPMSolverSampler, ReferenceCasesAlsoMatchInFloat64) {
  const auto doc = io::read_json(testing::diffusers_reference());
  ReplayOptions opt;
  opt.dtype = torch::kFloat64;
  opt.filter = "dpm";
  const auto results = replay_reference(doc, opt);
  ASSERT_GE(results.size(), 6u);
  for (const auto& r : results) EXPECT_TRUE(r.passed) << r.name << ": " << r.failure;
}

TEST(DPMSolverSampler, CudaMatchesCpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  for (auto algorithm : {DpmAlgorithm::DpmSolverPP, DpmAlgorithm::SdeDpmSolverPP}) {
    auto run = [&](torch::Device device) {
      DPMSolverSampler dpm(ScheduleConfig{}, dpm_options(2, algorithm));
      dpm.set_timesteps(10);
      GeneratorNoise noise(11);
      auto x = torch::linspace(-1.0, 1.0, 2 * 64 * 3).reshape({2, 64, 3}).to(device);
      for (int64_t i = 0; i < 10; ++i) {
        const auto t = dpm.timesteps()[i];
        x = dpm.step(toy_model(x, t.item<double>()), t, x, noise).prev_sample;
        EXPECT_EQ(x.device().type(), device.type());
      }
      return x.cpu();
    };
    EXPECT_TRUE(torch::allclose(run(torch::kCPU), run(torch::kCUDA), 1e-4, 1e-4));
  }
}

}  // namespace
}  // namespace shapediff::diffusion

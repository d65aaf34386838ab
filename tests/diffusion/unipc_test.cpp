#include "diffusion/unipc.h"

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

SamplerOptions unipc_options(int64_t order, bool lower_order_final = true) {
  SamplerOptions o;
  o.solver_order = order;
  o.lower_order_final = lower_order_final;
  return o;
}

FormulaNoise no_noise() {
  return FormulaNoise([](int64_t, const torch::Tensor& i) { return torch::zeros_like(i); });
}

torch::Tensor toy_model(const torch::Tensor& x, double t) {
  return 0.8 * x + 0.05 * torch::sin(3.0 * x + t / 1000.0);
}

torch::Tensor run_toy(UniPCSampler& sampler, torch::Tensor x, int64_t first_step = 0) {
  auto noise = no_noise();
  for (int64_t i = first_step; i < sampler.timesteps().size(0); ++i) {
    const auto t = sampler.timesteps()[i];
    x = sampler.step(toy_model(x, t.item<double>()), t, x, noise).prev_sample;
  }
  return x;
}

TEST(UniPCSampler, RejectsBadSettings) {
  expect_invalid([] { UniPCSampler(ScheduleConfig{}, unipc_options(4)); }, "solver_order");
  expect_invalid([] { UniPCSampler(ScheduleConfig{}, unipc_options(0)); }, "solver_order");
  expect_invalid([] { make_sampler(SamplerKind::UniPC, ScheduleConfig{}, unipc_options(5)); },
                 "solver_order");
  ScheduleConfig c;
  c.num_train_timesteps = 50;
  UniPCSampler unipc(c, {});
  expect_invalid([&] { unipc.set_timesteps(0); }, "num_inference_steps");
  expect_invalid([&] { unipc.set_timesteps(51); }, "num_inference_steps");
  auto noise = no_noise();
  const auto x = torch::zeros({3});
  EXPECT_ANY_THROW(unipc.step(x, torch::tensor(49.0), x, noise));
}

TEST(UniPCSampler, ScheduleMatchesDiffusersDefaults) {
  UniPCSampler unipc(ScheduleConfig{}, {});
  unipc.set_timesteps(4);
  EXPECT_TRUE(torch::equal(unipc.timesteps(),
                           torch::tensor({999.0, 749.0, 500.0, 250.0}, torch::kFloat64)));
  ASSERT_EQ(unipc.sigmas().size(0), 5);
  EXPECT_EQ(unipc.sigmas()[-1].item<double>(), 0.0);
  EXPECT_EQ(unipc.sigmas()[0].item<double>(),
            static_cast<double>(unipc.schedule().sigmas()[999].item<float>()));
  EXPECT_EQ(unipc.init_noise_sigma(), 1.0);
  EXPECT_EQ(unipc.order(), 1);

  SamplerOptions o;
  o.spacing = Spacing::Trailing;
  UniPCSampler trailing(ScheduleConfig{}, o);
  trailing.set_timesteps(4);
  EXPECT_TRUE(torch::equal(trailing.timesteps(),
                           torch::tensor({999.0, 749.0, 499.0, 249.0}, torch::kFloat64)));
}

TEST(UniPCSampler, AnyShapeAndDtype) {
  const std::vector<std::vector<int64_t>> shapes = {{2, 3, 8, 8}, {2, 64, 3}, {1, 2, 4, 4, 4}, {37, 4}};
  for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
    for (const auto& shape : shapes) {
      for (int64_t order = 1; order <= 3; ++order) {
        UniPCSampler unipc(ScheduleConfig{}, unipc_options(order));
        unipc.set_timesteps(6);
        auto noise = no_noise();
        auto x = torch::randn(shape, torch::TensorOptions().dtype(dtype));
        for (int64_t i = 0; i < 6; ++i) {
          const auto t = unipc.timesteps()[i];
          const auto out = unipc.step(toy_model(x, t.item<double>()), t, x, noise);
          ASSERT_EQ(out.prev_sample.sizes(), x.sizes());
          ASSERT_EQ(out.prev_sample.scalar_type(), dtype);
          ASSERT_TRUE(out.pred_original_sample.defined());
          ASSERT_EQ(out.pred_original_sample.sizes(), x.sizes());
          x = out.prev_sample;
        }
        EXPECT_TRUE(torch::isfinite(x).all().item<bool>());
        EXPECT_EQ(noise.calls(), 0);
      }
    }
  }
}

TEST(UniPCSampler, DeterministicAndRestartable) {
  UniPCSampler unipc(ScheduleConfig{}, unipc_options(3));
  torch::manual_seed(5);
  const auto x = torch::randn({2, 16, 3});
  unipc.set_timesteps(9);
  const auto first = run_toy(unipc, x);
  unipc.set_timesteps(9);
  EXPECT_TRUE(torch::equal(first, run_toy(unipc, x)));
}

TEST(UniPCSampler, FirstOrderStepsByHand) {
  // UniPC-1: the predictor is DDIM in data-prediction form; from the second step on, the
  // previous prediction is first corrected with the new data prediction (weight 1/2).
  auto x = torch::linspace(-1.0, 1.0, 12, torch::kFloat64).reshape({4, 3});
  UniPCSampler unipc(ScheduleConfig{}, unipc_options(1));
  unipc.set_timesteps(3);
  auto noise = no_noise();
  std::vector<double> sigma, alpha, sigma_t, lambda;
  for (int64_t i = 0; i < 3; ++i) {
    sigma.push_back(unipc.sigmas()[i].item<double>());
    alpha.push_back(1.0 / std::sqrt(1.0 + sigma[i] * sigma[i]));
    sigma_t.push_back(sigma[i] * alpha[i]);
    lambda.push_back(-std::log(sigma[i]));
  }
  auto x0_at = [&](const torch::Tensor& sample, int64_t i) {
    const double t = unipc.timesteps()[i].item<double>();
    return (sample - sigma_t[i] * toy_model(sample, t)) / alpha[i];
  };
  // x_{i+1} = sigma_t[i+1] / sigma_t[i] x - alpha[i+1] (e^{-h} - 1) m, h = lambda[i+1] - lambda[i].
  auto ddim = [&](const torch::Tensor& sample, const torch::Tensor& m, int64_t i) {
    const double em1 = std::expm1(-(lambda[i + 1] - lambda[i]));
    return sigma_t[i + 1] / sigma_t[i] * sample - alpha[i + 1] * em1 * m;
  };

  const auto t0 = unipc.timesteps()[0];
  const auto m0 = x0_at(x, 0);
  const auto x1 = unipc.step(toy_model(x, t0.item<double>()), t0, x, noise).prev_sample;
  EXPECT_TRUE(torch::allclose(x1, ddim(x, m0, 0), 1e-9, 1e-9));

  const auto t1 = unipc.timesteps()[1];
  const auto m1 = x0_at(x1, 1);
  const double em1 = std::expm1(-(lambda[1] - lambda[0]));
  const auto corrected = ddim(x, m0, 0) - alpha[1] * em1 * 0.5 * (m1 - m0);
  const auto out = unipc.step(toy_model(x1, t1.item<double>()), t1, x1, noise);
  EXPECT_TRUE(torch::allclose(out.pred_original_sample, m1, 1e-9, 1e-9));
  EXPECT_TRUE(torch::allclose(out.prev_sample, ddim(corrected, m1, 1), 1e-9, 1e-9));
  EXPECT_FALSE(torch::allclose(out.prev_sample, ddim(x1, m1, 1), 1e-6, 1e-6));
}

TEST(UniPCSampler, StartsMidScheduleWithoutCorrector) {
  UniPCSampler unipc(ScheduleConfig{}, unipc_options(2));
  unipc.set_timesteps(10);
  const auto x = torch::linspace(-1.0, 1.0, 12).reshape({4, 3});
  const auto y = run_toy(unipc, x, 4);
  EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  EXPECT_FALSE(torch::allclose(y, x));
}

TEST(UniPCSampler, FinalStepIsFiniteWithoutLowerOrderFinal) {
  for (int64_t order = 2; order <= 3; ++order) {
    UniPCSampler unipc(ScheduleConfig{}, unipc_options(order, /*lower_order_final=*/false));
    unipc.set_timesteps(8);
    const auto y = run_toy(unipc, torch::linspace(-1.0, 1.0, 12).reshape({4, 3}));
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>()) << "order " << order;
  }
}

TEST(UniPCSampler, PerfectDenoiserRecoversTheSample) {
  const auto x0 = torch::linspace(-1.0, 1.0, 24, torch::kFloat64).reshape({2, 4, 3});
  for (auto prediction : {Prediction::Epsilon, Prediction::Sample, Prediction::Velocity}) {
    for (int64_t order = 1; order <= 3; ++order) {
      ScheduleConfig c;
      c.prediction = prediction;
      UniPCSampler unipc(c, unipc_options(order));
      unipc.set_timesteps(12);
      auto noise = no_noise();
      auto x = torch::randn({2, 4, 3}, torch::kFloat64);
      for (int64_t i = 0; i < 12; ++i) {
        const auto t = unipc.timesteps()[i];
        const double a = unipc.schedule().alpha_cumprod(static_cast<int64_t>(t.item<double>()));
        const auto eps = (x - std::sqrt(a) * x0) / std::sqrt(1.0 - a);
        torch::Tensor out = prediction == Prediction::Epsilon ? eps
                            : prediction == Prediction::Sample
                                ? x0
                                : std::sqrt(a) * eps - std::sqrt(1.0 - a) * x0;
        const auto step = unipc.step(out, t, x, noise);
        EXPECT_TRUE(torch::allclose(step.pred_original_sample, x0, 1e-5, 1e-5))
            << to_string(prediction) << " order " << order << " step " << i;
        x = step.prev_sample;
      }
      EXPECT_TRUE(torch::allclose(x, x0, 1e-6, 1e-6)) << to_string(prediction) << " order " << order;
    }
  }
}

TEST(UniPCSampler, HigherOrdersSolveTheGaussianOdeBetter) {
  // Data x0 ~ N(0, s^2): the exact denoiser is linear and its probability-flow ODE keeps
  // x / (alpha sqrt(s^2 + sigma^2)) constant. Compared before the final jump to sigma 0.
  const double s = 0.5;
  const auto x_start = torch::linspace(-2.0, 2.0, 30, torch::kFloat64).reshape({10, 3});
  auto scale = [s](double sigma) { return std::sqrt((s * s + sigma * sigma) / (1.0 + sigma * sigma)); };
  std::vector<double> errors;
  for (int64_t order = 1; order <= 3; ++order) {
    ScheduleConfig c;
    c.prediction = Prediction::Sample;
    UniPCSampler unipc(c, unipc_options(order));
    unipc.set_timesteps(15);
    auto noise = no_noise();
    auto x = x_start;
    for (int64_t i = 0; i + 1 < 15; ++i) {
      const double sigma = unipc.sigmas()[i].item<double>();
      const double alpha = 1.0 / std::sqrt(1.0 + sigma * sigma);
      const auto denoised = x * (s * s / (s * s + sigma * sigma) / alpha);
      x = unipc.step(denoised, unipc.timesteps()[i], x, noise).prev_sample;
    }
    const auto exact = x_start * (scale(unipc.sigmas()[14].item<double>()) /
                                  scale(unipc.sigmas()[0].item<double>()));
    errors.push_back((x - exact).abs().max().item<double>());
  }
  EXPECT_LT(errors[0], 0.2);
  EXPECT_LT(errors[1], errors[0] / 4.0);
  EXPECT_LT(errors[2], errors[0] / 4.0);
}

TEST(UniPCSampler, ReferenceCaseAlsoMatchesInFloat64) {
  const auto doc = io::read_json(testing::diffusers_reference());
  ReplayOptions opt;
  opt.dtype = torch::kFloat64;
  opt.filter = "unipc";
  const auto results = replay_reference(doc, opt);
  ASSERT_GE(results.size(), 1u);
  for (const auto& r : results) EXPECT_TRUE(r.passed) << r.name << ": " << r.failure;
}

TEST(UniPCSampler, CudaMatchesCpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto run = [](torch::Device device) {
    UniPCSampler unipc(ScheduleConfig{}, unipc_options(3));
    unipc.set_timesteps(10);
    auto x = torch::linspace(-1.0, 1.0, 2 * 64 * 3).reshape({2, 64, 3}).to(device);
    x = run_toy(unipc, x);
    EXPECT_EQ(x.device().type(), device.type());
    return x.cpu();
  };
  EXPECT_TRUE(torch::allclose(run(torch::kCPU), run(torch::kCUDA), 1e-4, 1e-4));
}

}  // namespace
}  // namespace shapediff::diffusion

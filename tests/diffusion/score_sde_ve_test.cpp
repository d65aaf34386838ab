#include "diffusion/score_sde_ve.h"

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

SamplerOptions ve_options(double sigma_max = 50.0) {
  SamplerOptions o;
  o.sigma_min = 0.01;
  o.sigma_max = sigma_max;
  return o;
}

// The flat-index noise sin(1.3 i + 0.5 k + 0.2) of the k-th request.
FormulaNoise formula_noise() {
  return FormulaNoise([](int64_t k, const torch::Tensor& i) {
    return torch::sin(1.3 * i + 0.5 * static_cast<double>(k) + 0.2);
  });
}

TEST(ScoreSdeVeSampler, ScheduleIsGeometricInContinuousTime) {
  ScoreSdeVeSampler sde(ScheduleConfig{}, ve_options());
  sde.set_timesteps(11);
  ASSERT_EQ(sde.timesteps().size(0), 11);
  ASSERT_EQ(sde.sigmas().size(0), 11);
  ASSERT_EQ(sde.discrete_sigmas().size(), 11u);
  EXPECT_EQ(sde.timesteps()[0].item<double>(), 1.0);
  EXPECT_EQ(sde.timesteps()[10].item<double>(), static_cast<double>(1e-5f));
  for (int64_t i = 0; i < 11; ++i) {
    const double t = sde.timesteps()[i].item<double>();
    EXPECT_EQ(t, static_cast<double>(static_cast<float>(t)));
    EXPECT_NEAR(sde.sigmas()[i].item<double>(), 0.01 * std::pow(5000.0, t),
                2e-6 * 0.01 * std::pow(5000.0, t));
  }
  EXPECT_NEAR(sde.discrete_sigmas().front(), 0.01, 1e-8);
  EXPECT_NEAR(sde.discrete_sigmas().back(), 50.0, 1e-4);
  EXPECT_EQ(sde.init_noise_sigma(), 50.0);
}

TEST(ScoreSdeVeSampler, AcceptsAnyPositiveStepCount) {
  ScheduleConfig c;
  c.num_train_timesteps = 10;
  ScoreSdeVeSampler sde(c, ve_options());
  sde.set_timesteps(25);  // more than the (unused) training steps
  EXPECT_EQ(sde.timesteps().size(0), 25);
  sde.set_timesteps(1);
  EXPECT_EQ(sde.timesteps()[0].item<double>(), 1.0);
  GeneratorNoise noise(1);
  const auto x = torch::ones({2, 3}, torch::kFloat64);
  // One step: the rung is sigma_min with nothing below it, so g = sigma_min.
  const auto out = sde.step_pred(torch::zeros_like(x), sde.timesteps()[0], x, noise);
  EXPECT_TRUE(torch::equal(out.prev_sample_mean, x));
  expect_invalid([&] { sde.set_timesteps(0); }, "num_inference_steps");
}

TEST(ScoreSdeVeSampler, PredictorFollowsTheDiscreteLadder) {
  ScoreSdeVeSampler sde(ScheduleConfig{}, ve_options());
  sde.set_timesteps(30);
  auto noise = formula_noise();
  const auto x = torch::linspace(-1, 1, 24, torch::kFloat64).reshape({2, 4, 3});
  const auto score = torch::cos(x);
  const auto& ladder = sde.discrete_sigmas();
  for (int64_t i : {0, 1, 17, 29}) {
    const int64_t k = 29 - i;  // t_i (S - 1) truncates to S - 1 - i
    const double below = k == 0 ? 0.0 : ladder[static_cast<size_t>(k - 1)];
    const double rung = ladder[static_cast<size_t>(k)];
    const double g2 = rung * rung - below * below;
    const int64_t calls = noise.calls();
    const auto out = sde.step_pred(score, sde.timesteps()[i], x, noise);
    EXPECT_EQ(noise.calls(), calls + 1);
    const auto z = torch::sin(1.3 * torch::arange(24, torch::kFloat64) + 0.5 * calls + 0.2)
                       .reshape({2, 4, 3});
    const auto mean = x + g2 * score;
    EXPECT_TRUE(torch::allclose(out.prev_sample_mean, mean, 1e-5, 1e-6)) << i;
    EXPECT_TRUE(torch::allclose(out.prev_sample, mean + std::sqrt(g2) * z, 1e-5, 1e-6)) << i;
    // step() is the predictor.
    FormulaNoise again([&](int64_t, const torch::Tensor& idx) {
      return torch::sin(1.3 * idx + 0.5 * static_cast<double>(calls) + 0.2);
    });
    EXPECT_TRUE(torch::allclose(sde.step(score, sde.timesteps()[i], x, again).prev_sample,
                                out.prev_sample));
  }
}

TEST(ScoreSdeVeSampler, CorrectorStepSizeComesFromTheSnr) {
  SamplerOptions o = ve_options();
  o.snr = 0.2;
  ScoreSdeVeSampler sde(ScheduleConfig{}, o);
  sde.set_timesteps(5);
  auto noise = formula_noise();
  const auto x = torch::linspace(-2, 2, 24, torch::kFloat64).reshape({3, 8});
  const auto score = -x + 0.1;
  const auto corrected = sde.step_correct(score, x, noise);
  EXPECT_EQ(noise.calls(), 1);
  const auto z = torch::sin(1.3 * torch::arange(24, torch::kFloat64) + 0.2).reshape({3, 8});
  // Norms per batch entry (first dimension), averaged over the batch.
  const double grad_norm = score.norm(2, {1}).mean().item<double>();
  const double noise_norm = z.norm(2, {1}).mean().item<double>();
  const double e = 2.0 * std::pow(0.2 * noise_norm / grad_norm, 2);
  EXPECT_TRUE(torch::allclose(corrected, x + e * score + std::sqrt(2 * e) * z, 1e-9, 1e-9));
}

TEST(ScoreSdeVeSampler, RejectsBadSettingsAndCalls) {
  expect_invalid([] { make_sampler(SamplerKind::ScoreSdeVe, ScheduleConfig{}, ve_options(0.005)); },
                 "sigma_max");
  expect_invalid(
      [] {
        SamplerOptions o = ve_options();
        o.snr = 0;
        make_sampler(SamplerKind::ScoreSdeVe, ScheduleConfig{}, o);
      },
      "snr");
  expect_invalid(
      [] {
        SamplerOptions o = ve_options();
        o.sampling_eps = 1.0;
        ScoreSdeVeSampler(ScheduleConfig{}, o);
      },
      "sampling_eps");
  ScoreSdeVeSampler sde(ScheduleConfig{}, ve_options());
  GeneratorNoise noise(1);
  const auto x = torch::zeros({2, 3});
  EXPECT_THROW(sde.step_correct(x, x, noise), std::runtime_error);
  EXPECT_THROW(sde.step_pred(x, torch::tensor(1.0), x, noise), std::runtime_error);
  sde.set_timesteps(4);
  expect_invalid([&] { sde.step_pred(torch::zeros({3, 2}), sde.timesteps()[0], x, noise); },
                 "shape");
  expect_invalid([&] { sde.step_correct(torch::zeros({6}), x, noise); }, "shape");
  expect_invalid([&] { sde.step_pred(x, torch::tensor(1.5), x, noise); }, "timestep");
  expect_invalid([&] { sde.step_correct(torch::zeros({}), torch::zeros({}), noise); }, "batch");
}

TEST(ScoreSdeVeSampler, SamplesAGaussianFromItsExactScore) {
  // Data N(0, c^2) perturbed to N(0, c^2 + sigma^2) has score -x / (c^2 + sigma^2); the
  // predictor-corrector chain started from N(0, sigma_max^2) must end with standard deviation c.
  const double c = 0.7;
  ScoreSdeVeSampler sde(ScheduleConfig{}, ve_options(20.0));
  sde.set_timesteps(200);
  GeneratorNoise noise(21);
  auto x = noise.next({64, 256}, torch::kFloat64) * sde.init_noise_sigma();
  torch::Tensor mean;
  for (int64_t i = 0; i < 200; ++i) {
    const double s = sde.sigmas()[i].item<double>();
    x = sde.step_correct(-x / (c * c + s * s), x, noise);
    const auto out = sde.step_pred(-x / (c * c + s * s), sde.timesteps()[i], x, noise);
    x = out.prev_sample;
    mean = out.prev_sample_mean;
  }
  EXPECT_EQ(noise.calls(), 401);
  EXPECT_NEAR(mean.std().item<double>(), c, 0.05 * c);
  EXPECT_NEAR(mean.mean().item<double>(), 0.0, 0.05);
}

TEST(ScoreSdeVeSampler, AnyShapeAndDtypeAndDeterministicPerSeed) {
  const std::vector<std::vector<int64_t>> shapes = {
      {2, 3, 8, 8}, {2, 64, 3}, {1, 2, 4, 4, 4}, {37, 4}};
  for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
    for (const auto& shape : shapes) {
      auto run = [&](uint64_t seed) {
        ScoreSdeVeSampler sde(ScheduleConfig{}, ve_options(10.0));
        sde.set_timesteps(5);
        GeneratorNoise noise(seed);
        auto x = noise.next(shape, torch::TensorOptions().dtype(dtype)) * sde.init_noise_sigma();
        for (int64_t i = 0; i < 5; ++i) {
          const double s = sde.sigmas()[i].item<double>();
          x = sde.step_correct(-x / (1 + s * s), x, noise);
          x = sde.step(-x / (1 + s * s), sde.timesteps()[i], x, noise).prev_sample;
        }
        return x;
      };
      const auto a = run(3);
      EXPECT_EQ(a.sizes(), torch::IntArrayRef(shape));
      EXPECT_EQ(a.scalar_type(), dtype);
      EXPECT_TRUE(torch::isfinite(a).all().item<bool>());
      EXPECT_TRUE(torch::equal(a, run(3)));
      EXPECT_FALSE(torch::allclose(a, run(4)));
    }
  }
}

TEST(ScoreSdeVeSampler, MatchesCpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  ScoreSdeVeSampler sde(ScheduleConfig{}, ve_options(10.0));
  sde.set_timesteps(6);
  GeneratorNoise cpu_noise(9), cuda_noise(9);
  auto x = cpu_noise.next({2, 64, 3}, torch::kFloat64) * sde.init_noise_sigma();
  auto xc = (cuda_noise.next({2, 64, 3}, torch::kFloat64) * sde.init_noise_sigma()).cuda();
  for (int64_t i = 0; i < 6; ++i) {
    const double s = sde.sigmas()[i].item<double>();
    x = sde.step_correct(-x / (1 + s * s), x, cpu_noise);
    xc = sde.step_correct(-xc / (1 + s * s), xc, cuda_noise);
    x = sde.step_pred(-x / (1 + s * s), sde.timesteps()[i], x, cpu_noise).prev_sample;
    xc = sde.step_pred(-xc / (1 + s * s), sde.timesteps()[i], xc, cuda_noise).prev_sample;
    ASSERT_TRUE(xc.is_cuda());
  }
  EXPECT_TRUE(torch::allclose(xc.cpu(), x, 1e-6, 1e-6));
}

}  // namespace
}  // namespace shapediff::diffusion

#include "diffusion/ddim.h"

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

TEST(DDIMSampler, RejectsBadSettings) {
  ScheduleConfig c;
  c.num_train_timesteps = 100;
  DDIMSampler ddim(c, {});
  expect_invalid([&] { ddim.set_timesteps(0); }, "num_inference_steps");
  expect_invalid([&] { ddim.set_timesteps(101); }, "num_inference_steps");

  SamplerOptions o;
  o.steps_offset = 1;
  DDIMSampler offset(c, o);
  expect_invalid([&] { offset.set_timesteps(100); }, "steps_offset");
  offset.set_timesteps(20);
  EXPECT_EQ(offset.timesteps()[0].item<double>(), 96.0);

  SamplerOptions eta;
  eta.eta = 1.5;
  expect_invalid([&] { DDIMSampler(c, eta); }, "eta");
  eta.eta = -0.1;
  expect_invalid([&] { DDIMSampler(c, eta); }, "eta");
}

TEST(DDIMSampler, RejectsBadCalls) {
  DDIMSampler ddim(ScheduleConfig{}, {});
  GeneratorNoise noise(1);
  const auto x = torch::zeros({2, 3});
  EXPECT_THROW(ddim.step(x, torch::tensor(10.0), x, noise), std::runtime_error);
  ddim.set_timesteps(10);
  expect_invalid([&] { ddim.step(torch::zeros({3, 2}), torch::tensor(900.0), x, noise); },
                 "shape");
  expect_invalid([&] { ddim.step(x, torch::tensor(1000.0), x, noise); }, "timestep");
}

TEST(DDIMSampler, NoiseOnlyWithPositiveEta) {
  for (double eta : {0.0, 0.5}) {
    SamplerOptions o;
    o.eta = eta;
    DDIMSampler ddim(ScheduleConfig{}, o);
    ddim.set_timesteps(10);
    GeneratorNoise noise(3);
    auto x = torch::randn({2, 8});
    for (int64_t i = 0; i < 10; ++i) {
      x = ddim.step(0.1 * x, ddim.timesteps()[i], x, noise).prev_sample;
    }
    EXPECT_EQ(noise.calls(), eta > 0 ? 10 : 0);
  }
}

TEST(DDIMSampler, FinalAlpha) {
  // At t = 0 the previous alpha is 1 (set_alpha_to_one) or alpha_cumprod[0].
  const auto x0 = torch::full({4}, 0.3, torch::kFloat64);
  const auto x = torch::full({4}, 0.2, torch::kFloat64);
  ScheduleConfig c;
  c.prediction = Prediction::Sample;
  for (bool to_one : {true, false}) {
    SamplerOptions o;
    o.set_alpha_to_one = to_one;
    DDIMSampler ddim(c, o);
    ddim.set_timesteps(10);
    GeneratorNoise noise(0);
    const auto out = ddim.step(x0, torch::tensor(0.0), x, noise).prev_sample;
    const double a0 = ddim.schedule().alpha_cumprod(0);
    const double eps = (0.2 - std::sqrt(a0) * 0.3) / std::sqrt(1.0 - a0);
    const double expected = to_one ? 0.3 : std::sqrt(a0) * 0.3 + std::sqrt(1.0 - a0) * eps;
    EXPECT_NEAR(out[0].item<double>(), expected, 1e-9) << to_one;
  }
}

TEST(DDIMSampler, DeterministicStepsStayOnTheForwardPath) {
  // eta = 0 with a perfect denoiser moves x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps to exactly
  // sqrt(a_prev) x0 + sqrt(1 - a_prev) eps, for the same eps.
  DDIMSampler ddim(ScheduleConfig{}, {});
  ddim.set_timesteps(25);
  const auto& s = ddim.schedule();
  const auto x0 = torch::rand({2, 16, 3}, torch::kFloat64) - 0.5;
  const auto eps = torch::randn({2, 16, 3}, torch::kFloat64);
  auto at = [&](int64_t t) {
    const double a = s.alpha_cumprod(t);
    return std::sqrt(a) * x0 + std::sqrt(1.0 - a) * eps;
  };
  GeneratorNoise noise(0);
  for (int64_t i = 0; i + 1 < 25; ++i) {
    const auto t = ddim.timesteps()[i].item<int64_t>();
    const auto next = ddim.timesteps()[i + 1].item<int64_t>();
    const auto out = ddim.step(eps, ddim.timesteps()[i], at(t), noise).prev_sample;
    EXPECT_LT((out - at(next)).abs().max().item<double>(), 1e-9) << t;
  }
}

TEST(DDIMSampler, PerfectDenoiserRecoversSample) {
  for (auto prediction : {Prediction::Epsilon, Prediction::Sample, Prediction::Velocity}) {
    for (double eta : {0.0, 1.0}) {
      ScheduleConfig c;
      c.prediction = prediction;
      SamplerOptions o;
      o.eta = eta;
      o.spacing = Spacing::Linspace;
      DDIMSampler ddim(c, o);
      ddim.set_timesteps(15);
      GeneratorNoise noise(5);
      const auto x0 = torch::rand({2, 32, 3}, torch::kFloat64) * 1.6 - 0.8;
      auto x = noise.next(x0.sizes(), x0.options());
      for (int64_t i = 0; i < 15; ++i) {
        const auto t = ddim.timesteps()[i];
        x = ddim.step(perfect_output(ddim.schedule(), x0, x, t.item<int64_t>()), t, x, noise)
                .prev_sample;
      }
      EXPECT_LT((x - x0).abs().max().item<double>(), 1e-6) << to_string(prediction) << eta;
    }
  }
}

TEST(DDIMSampler, ZeroTerminalSnrVelocityIsFinite) {
  ScheduleConfig c;
  c.prediction = Prediction::Velocity;
  c.zero_terminal_snr = true;
  SamplerOptions o;
  o.spacing = Spacing::Trailing;
  o.clip_sample = false;
  DDIMSampler ddim(c, o);
  ddim.set_timesteps(10);
  EXPECT_EQ(ddim.timesteps()[0].item<double>(), 999.0);
  GeneratorNoise noise(2);
  const auto x = torch::randn({2, 8});
  const auto v = torch::randn({2, 8});
  const auto out = ddim.step(v, ddim.timesteps()[0], x, noise);
  // Signal is zero at t = 999: x0 is -v and x itself is the noise.
  EXPECT_TRUE(torch::allclose(out.pred_original_sample, -v));
  EXPECT_TRUE(torch::isfinite(out.prev_sample).all().item<bool>());
}

TEST(DDIMSampler, ShapeAgnosticAndElementwise) {
  const std::vector<std::vector<int64_t>> shapes = {{2, 3, 8, 8}, {2, 64, 3}, {1, 2, 4, 4, 4}, {37, 4}};
  for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
    for (auto prediction : {Prediction::Epsilon, Prediction::Sample, Prediction::Velocity}) {
      for (const auto& shape : shapes) {
        ScheduleConfig c;
        c.prediction = prediction;
        SamplerOptions o;
        o.eta = 0.7;
        DDIMSampler ddim(c, o);
        ddim.set_timesteps(20);
        const auto opts = torch::TensorOptions().dtype(dtype);
        const auto x = torch::randn(shape, opts);
        const auto mo = torch::randn(shape, opts);
        GeneratorNoise noise_a(7), noise_b(7);
        const auto t = ddim.timesteps()[3];
        const auto out = ddim.step(mo, t, x, noise_a);
        EXPECT_EQ(out.prev_sample.sizes(), x.sizes());
        EXPECT_EQ(out.prev_sample.scalar_type(), dtype);
        EXPECT_TRUE(torch::isfinite(out.prev_sample).all().item<bool>());
        const auto flat = ddim.step(mo.reshape({-1}), t, x.reshape({-1}), noise_b);
        EXPECT_TRUE(torch::allclose(flat.prev_sample, out.prev_sample.reshape({-1})));
      }
    }
  }
}

TEST(DDIMSampler, DeterministicPerSeed) {
  auto run = [](uint64_t seed) {
    SamplerOptions o;
    o.eta = 1.0;
    DDIMSampler ddim(ScheduleConfig{}, o);
    ddim.set_timesteps(10);
    GeneratorNoise noise(seed);
    auto x = noise.next({2, 16, 3}, torch::kFloat32);
    for (int64_t i = 0; i < 10; ++i) {
      x = ddim.step(0.5 * x, ddim.timesteps()[i], x, noise).prev_sample;
    }
    return x;
  };
  EXPECT_TRUE(torch::equal(run(11), run(11)));
  EXPECT_FALSE(torch::allclose(run(11), run(12)));
}

TEST(DDIMSampler, MatchesCpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  SamplerOptions o;
  o.eta = 1.0;
  DDIMSampler ddim(ScheduleConfig{}, o);
  ddim.set_timesteps(10);
  const auto x = torch::randn({2, 64, 3});
  const auto mo = torch::randn({2, 64, 3});
  GeneratorNoise cpu_noise(9), cuda_noise(9);
  const auto t = ddim.timesteps()[2];
  const auto cpu = ddim.step(mo, t, x, cpu_noise).prev_sample;
  const auto cuda = ddim.step(mo.cuda(), t, x.cuda(), cuda_noise).prev_sample;
  EXPECT_TRUE(cuda.is_cuda());
  EXPECT_TRUE(torch::allclose(cuda.cpu(), cpu, 1e-5, 1e-6));
}

}  // namespace
}  // namespace shapediff::diffusion

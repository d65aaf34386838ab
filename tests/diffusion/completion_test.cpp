// Training-free completion against an exact denoiser: data drawn from two fixed vectors d1, d2
// (equal odds). The optimal epsilon prediction of such a mixture is known in closed form, so
// every strategy on every sampler must keep the known region exactly and fill the rest with
// the mode the known region belongs to. (Most of each sample is known: with a small known
// region, plain replacement lets the free part commit to a mode before the known part is
// informative, the weakness RePaint's resampling exists to fix.)
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include <torch/torch.h>

#include "diffusion/completion.h"
#include "diffusion/euler.h"
#include "diffusion/noise_schedule.h"

namespace sd = shapediff::diffusion;

namespace {

constexpr int64_t kDim = 24;  // per sample
constexpr int64_t kKnown = 16;  // the first kKnown values are known

struct Mixture {
  torch::Tensor d;  // [2, kDim]
};

Mixture make_mixture() {
  auto g = at::make_generator<at::CPUGeneratorImpl>(3);
  Mixture m;
  m.d = torch::randn({2, kDim}, g, torch::kFloat64).clamp(-1.5, 1.5);
  return m;
}

// The exact epsilon of the two-point mixture at x_t (VP frame), timestep t (rounded: the sigma
// samplers pass fractional timesteps, and the mode choice does not need more precision).
sd::Denoiser exact_denoiser(const Mixture& m, const sd::NoiseSchedule& schedule) {
  return [&m, &schedule](const torch::Tensor& x, const torch::Tensor& t) {
    const double a = schedule.alpha_cumprod(static_cast<int64_t>(std::llround(sd::timestep_value(t))));
    auto diff = x.unsqueeze(1) - std::sqrt(a) * m.d.unsqueeze(0);  // [B,2,D]
    auto logits = -diff.pow(2).sum(-1) / (2.0 * (1.0 - a));     // [B,2]
    auto w = torch::softmax(logits, 1);
    auto x0 = torch::matmul(w, m.d);                             // [B,D]
    return (x - std::sqrt(a) * x0) / std::sqrt(1.0 - a);
  };
}

struct Case {
  sd::CompletionStrategy strategy;
  sd::SamplerKind sampler;
  int64_t steps;
};

void expect_completes(const Case& c) {
  const auto m = make_mixture();
  sd::ScheduleConfig config;
  const sd::NoiseSchedule schedule(config);
  const auto denoiser = exact_denoiser(m, schedule);
  auto mask = torch::zeros({1, kDim}, torch::kFloat64);
  mask.slice(1, 0, kKnown).fill_(1.0);
  // Two samples: the first knows mode 0's values, the second mode 1's.
  auto known = torch::stack({m.d[0], m.d[1]}) * mask;
  sd::CompletionOptions o;
  o.strategy = c.strategy;
  o.sampler = c.sampler;
  o.steps = c.steps;
  o.sampler_options.clip_sample = false;
  o.sampler_options.jump_length = 5;
  o.sampler_options.jump_n_sample = 2;
  o.strength = 1.0;
  sd::GeneratorNoise noise(11);
  auto x = sd::complete(denoiser, config, known, mask, {2, kDim}, noise, o);
  const std::string what = sd::to_string(c.strategy) + " on " + sd::to_string(c.sampler);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{2, kDim})) << what;
  EXPECT_TRUE(torch::equal(x.slice(1, 0, kKnown), known.slice(1, 0, kKnown))) << what;
  for (int64_t b = 0; b < 2; ++b) {
    const double err = (x[b].slice(0, kKnown) - m.d[b].slice(0, kKnown)).abs().max().item<double>();
    const double other = (x[b].slice(0, kKnown) - m.d[1 - b].slice(0, kKnown)).abs().max().item<double>();
    EXPECT_LT(err, 0.05) << what << ": sample " << b << " did not follow its known region";
    EXPECT_GT(other, 0.2) << what;
  }
}

}  // namespace

TEST(Completion, ReplacementFollowsTheKnownRegionOnEverySampler) {
  for (auto s : {sd::SamplerKind::DDPM, sd::SamplerKind::DDIM, sd::SamplerKind::DPMSolverMultistep,
                 sd::SamplerKind::UniPC, sd::SamplerKind::Euler, sd::SamplerKind::EulerAncestral,
                 sd::SamplerKind::Heun}) {
    expect_completes({sd::CompletionStrategy::Replacement, s, 40});
  }
}

TEST(Completion, RePaintFollowsTheKnownRegion) {
  expect_completes({sd::CompletionStrategy::RePaint, sd::SamplerKind::DDIM, 30});
  expect_completes({sd::CompletionStrategy::RePaint, sd::SamplerKind::DDPM, 30});
}

TEST(Completion, SDEditAtFullStrengthFollowsTheKnownRegion) {
  for (auto s : {sd::SamplerKind::DDIM, sd::SamplerKind::DPMSolverMultistep, sd::SamplerKind::Heun}) {
    expect_completes({sd::CompletionStrategy::SDEdit, s, 40});
  }
}

TEST(Completion, SDEditAtLowStrengthStaysNearItsStart) {
  const auto m = make_mixture();
  sd::ScheduleConfig config;
  const sd::NoiseSchedule schedule(config);
  // The start is mode 0 slightly perturbed; a weak edit must land on mode 0, a model-free
  // copy of the start would not (it keeps the perturbation).
  auto init = (m.d[0] + 0.05).unsqueeze(0);
  auto mask = torch::zeros({1, kDim}, torch::kFloat64);
  sd::CompletionOptions o;
  o.strategy = sd::CompletionStrategy::SDEdit;
  o.sampler = sd::SamplerKind::DDIM;
  o.sampler_options.clip_sample = false;
  o.steps = 50;
  o.strength = 0.3;
  o.init = init;
  sd::GeneratorNoise noise(5);
  auto x = sd::complete(exact_denoiser(m, schedule), config, init, mask, {1, kDim}, noise, o);
  EXPECT_LT((x[0] - m.d[0]).abs().max().item<double>(), 0.02);
}

TEST(Completion, StartIndexFollowsStrength) {
  auto ddim = sd::make_sampler(sd::SamplerKind::DDIM, sd::ScheduleConfig{});
  ddim->set_timesteps(50);
  EXPECT_EQ(sd::sdedit_start_index(*ddim, 1.0), 0);
  EXPECT_EQ(sd::sdedit_start_index(*ddim, 0.3), 35);
  EXPECT_EQ(sd::sdedit_start_index(*ddim, 1e-6), 49);
  auto heun = sd::make_sampler(sd::SamplerKind::Heun, sd::ScheduleConfig{});
  heun->set_timesteps(10);  // 19 timesteps
  const int64_t k = sd::sdedit_start_index(*heun, 0.5);
  EXPECT_EQ(k % 2, 0);
  EXPECT_LE(k, 9);
}

TEST(Completion, RefusesWhatTheMathsDoesNotAllow) {
  const auto m = make_mixture();
  sd::ScheduleConfig config;
  const sd::NoiseSchedule schedule(config);
  const auto den = exact_denoiser(m, schedule);
  auto known = m.d.slice(0, 0, 1);
  auto mask = torch::ones({1, kDim}, torch::kFloat64);
  sd::GeneratorNoise noise(0);
  sd::CompletionOptions o;
  o.strategy = sd::CompletionStrategy::RePaint;
  o.sampler = sd::SamplerKind::Euler;
  EXPECT_THROW(sd::complete(den, config, known, mask, {1, kDim}, noise, o), std::invalid_argument);
  o.strategy = sd::CompletionStrategy::Replacement;
  o.sampler = sd::SamplerKind::ScoreSdeVe;
  EXPECT_THROW(sd::complete(den, config, known, mask, {1, kDim}, noise, o), std::invalid_argument);
  o.strategy = sd::CompletionStrategy::SDEdit;
  o.sampler = sd::SamplerKind::DDIM;
  for (double s : {0.0, -0.5, 1.5}) {
    o.strength = s;
    EXPECT_THROW(sd::complete(den, config, known, mask, {1, kDim}, noise, o), std::invalid_argument);
  }
  o.strength = 0.5;
  EXPECT_THROW(sd::complete(den, config, torch::zeros({3, 5}, torch::kFloat64), mask, {1, kDim}, noise, o),
               std::invalid_argument);
  EXPECT_THROW(sd::parse_completion_strategy("inpaint"), std::invalid_argument);
  EXPECT_EQ(sd::parse_completion_strategy("repaint"), sd::CompletionStrategy::RePaint);
}

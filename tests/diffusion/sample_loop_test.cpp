#include "diffusion/sample_loop.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "diffusion/repaint.h"

namespace shapediff::diffusion {
namespace {

// The exact epsilon of a data distribution concentrated at `target`: eps = (x_t - sqrt(a) x0) / sqrt(1-a).
Denoiser perfect_epsilon(const NoiseSchedule& s, torch::Tensor target) {
  return [&s, target](const torch::Tensor& x, const torch::Tensor& t) {
    const double a = s.alpha_cumprod(static_cast<int64_t>(std::lround(t.item<double>())));
    return (x - std::sqrt(a) * target) / std::sqrt(1 - a);
  };
}

TEST(SampleLoop, EveryDiscreteSamplerRecoversAKnownShape) {
  const std::vector<int64_t> shape = {2, 64, 3};
  const auto target = torch::linspace(-1, 1, 2 * 64 * 3).reshape(shape);
  for (auto kind : {SamplerKind::DDPM, SamplerKind::DDIM, SamplerKind::DPMSolverMultistep,
                    SamplerKind::UniPC}) {
    SamplerOptions o;
    o.clip_sample = false;
    auto sampler = make_sampler(kind, ScheduleConfig{}, o);
    GeneratorNoise noise(1);
    SampleLoopOptions loop;
    loop.num_inference_steps = 25;
    const auto out = sample(*sampler, perfect_epsilon(sampler->schedule(), target), shape,
                            torch::kFloat32, noise, loop);
    EXPECT_LT((out - target).abs().max().item<double>(), 2e-3) << to_string(kind);
  }
}

TEST(SampleLoop, SigmaSamplersWithExactDenoiserConverge) {
  // For the Karras samplers the model input is scaled and t is fractional: use a denoiser that
  // predicts x0 = target through the sample-prediction schedule.
  ScheduleConfig cfg;
  cfg.prediction = Prediction::Sample;
  const auto target = torch::full({1, 16, 3}, 0.25);
  for (auto kind : {SamplerKind::Euler, SamplerKind::Heun, SamplerKind::EulerAncestral}) {
    auto sampler = make_sampler(kind, cfg, {});
    GeneratorNoise noise(2);
    SampleLoopOptions loop;
    loop.num_inference_steps = 20;
    const auto out = sample(*sampler, [&](const torch::Tensor& x, const torch::Tensor&) {
      return target.expand_as(x).clone();
    }, {1, 16, 3}, torch::kFloat32, noise, loop);
    EXPECT_LT((out - target).abs().max().item<double>(), 1e-3) << to_string(kind);
  }
}

TEST(SampleLoop, TrajectoryAndProgressCallbacks) {
  auto sampler = make_sampler(SamplerKind::DDIM, ScheduleConfig{}, {});
  const auto target = torch::zeros({1, 8, 3});
  GeneratorNoise noise(3);
  std::vector<TrajectoryFrame> frames;
  std::vector<int64_t> progress;
  SampleLoopOptions loop;
  loop.num_inference_steps = 10;
  loop.record_every = 3;
  loop.on_frame = [&](const TrajectoryFrame& f) { frames.push_back(f); };
  loop.on_progress = [&](int64_t done, int64_t total) {
    EXPECT_EQ(total, 10);
    progress.push_back(done);
  };
  const auto out = sample(*sampler, perfect_epsilon(sampler->schedule(), target), {1, 8, 3},
                          torch::kFloat32, noise, loop);
  ASSERT_EQ(progress.size(), 10u);
  EXPECT_EQ(progress.front(), 1);
  EXPECT_EQ(progress.back(), 10);
  ASSERT_EQ(frames.size(), 4u);  // steps 3, 6, 9 and the last
  EXPECT_EQ(frames[0].step, 3);
  EXPECT_EQ(frames[3].step, 10);
  EXPECT_DOUBLE_EQ(frames[0].timestep, sampler->timesteps()[2].item<double>());
  EXPECT_TRUE(torch::equal(frames.back().x, out));
  ASSERT_TRUE(frames[1].pred_x0.defined());
  EXPECT_LT(frames[1].pred_x0.abs().max().item<double>(), 1e-4);  // a perfect model's x0
}

TEST(SampleLoop, ClassifierFreeGuidanceCombines) {
  const auto x = torch::ones({2, 3});
  const auto t = torch::tensor(5.0, torch::kFloat64);
  Denoiser cond = [](const torch::Tensor& in, const torch::Tensor&) { return in * 3.0; };
  Denoiser uncond = [](const torch::Tensor& in, const torch::Tensor&) { return in * 1.0; };
  EXPECT_TRUE(torch::allclose(guided(cond, uncond, 7.5)(x, t), x * (1.0 + 7.5 * 2.0)));
  EXPECT_TRUE(torch::allclose(guided(cond, uncond, 1.0)(x, t), x * 3.0));
  int uncond_calls = 0;
  Denoiser counting = [&](const torch::Tensor& in, const torch::Tensor&) {
    ++uncond_calls;
    return in * 0.0;
  };
  auto sampler = make_sampler(SamplerKind::DDIM, ScheduleConfig{}, {});
  GeneratorNoise noise(0);
  SampleLoopOptions loop;
  loop.num_inference_steps = 4;
  loop.unconditional = counting;
  loop.guidance_scale = 2.0;
  sample(*sampler, cond, {1, 4}, torch::kFloat32, noise, loop);
  EXPECT_EQ(uncond_calls, 4);
  EXPECT_THROW(guided(cond, nullptr, 2.0), std::invalid_argument);
}

TEST(SampleLoop, SameSeedSameResultDifferentSeedDiffers) {
  auto run = [](uint64_t seed) {
    auto sampler = make_sampler(SamplerKind::DDPM, ScheduleConfig{}, {});
    GeneratorNoise noise(seed);
    SampleLoopOptions loop;
    loop.num_inference_steps = 10;
    return sample(*sampler, [](const torch::Tensor& x, const torch::Tensor&) { return x * 0.1; },
                  {2, 5, 3}, torch::kFloat32, noise, loop);
  };
  EXPECT_TRUE(torch::equal(run(4), run(4)));
  EXPECT_FALSE(torch::equal(run(4), run(5)));
}

TEST(SampleLoop, RePaintKeepsTheKnownRegion) {
  SamplerOptions o;
  o.jump_length = 2;
  o.jump_n_sample = 2;
  auto sampler = make_sampler(SamplerKind::RePaint, ScheduleConfig{}, o);
  auto& repaint = dynamic_cast<RePaintSampler&>(*sampler);
  const auto known = torch::full({1, 10, 3}, 0.5);
  auto mask = torch::zeros({1, 10, 3});
  mask.slice(1, 0, 4).fill_(1.0);
  repaint.set_known(known, mask);
  GeneratorNoise noise(5);
  SampleLoopOptions loop;
  loop.num_inference_steps = 10;
  int64_t calls = 0;
  const auto out = sample(*sampler, [&](const torch::Tensor& x, const torch::Tensor&) {
    ++calls;
    return x * 0.0;
  }, {1, 10, 3}, torch::kFloat32, noise, loop);
  EXPECT_LT((out.slice(1, 0, 4) - 0.5).abs().max().item<double>(), 1e-5);
  // Forward jumps run undo_step, not the model.
  EXPECT_LT(calls, sampler->timesteps().size(0));
}

TEST(SampleLoop, ScoreSdeRecoversAGaussian) {
  // Data N(0, 1): the score at noise level sigma is -x / (1 + sigma^2).
  SamplerOptions o;
  o.sigma_max = 20.0;
  auto sampler = make_sampler(SamplerKind::ScoreSdeVe, ScheduleConfig{}, o);
  GeneratorNoise noise(6);
  SampleLoopOptions loop;
  loop.num_inference_steps = 200;
  const auto out = sample(*sampler, [](const torch::Tensor& x, const torch::Tensor& sigma) {
    const double s = sigma.item<double>();
    return -x / (1.0 + s * s);
  }, {4, 4000}, torch::kFloat64, noise, loop);
  EXPECT_NEAR(out.std().item<double>(), 1.0, 0.1);
}

TEST(SampleLoop, BadDenoiserOutputIsReported) {
  auto sampler = make_sampler(SamplerKind::DDIM, ScheduleConfig{}, {});
  GeneratorNoise noise(0);
  SampleLoopOptions loop;
  loop.num_inference_steps = 3;
  EXPECT_THROW(sample(*sampler, [](const torch::Tensor& x, const torch::Tensor&) {
    return x.sum(-1);
  }, {1, 4, 3}, torch::kFloat32, noise, loop), std::invalid_argument);
  loop.num_inference_steps = 0;
  EXPECT_THROW(sample(*sampler, [](const torch::Tensor& x, const torch::Tensor&) { return x; },
                      {1, 4, 3}, torch::kFloat32, noise, loop),
               std::invalid_argument);
  loop.num_inference_steps = 3;
  EXPECT_THROW(sample(*sampler, Denoiser{}, {1, 4, 3}, torch::kFloat32, noise, loop),
               std::invalid_argument);
}

TEST(SampleLoop, RunsOnCuda_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto target = torch::zeros({2, 32, 3});
  for (auto kind : {SamplerKind::DDIM, SamplerKind::DPMSolverMultistep, SamplerKind::Euler}) {
    auto sampler = make_sampler(kind, ScheduleConfig{}, {});
    auto run = [&](torch::Device d) {
      GeneratorNoise noise(9);
      SampleLoopOptions loop;
      loop.num_inference_steps = 10;
      return sample(*sampler, [](const torch::Tensor& x, const torch::Tensor&) { return x * 0.2; },
                    {2, 32, 3}, torch::TensorOptions().device(d), noise, loop)
          .cpu();
    };
    EXPECT_TRUE(torch::allclose(run(torch::kCPU), run(torch::kCUDA), 1e-4, 1e-4)) << to_string(kind);
  }
}

}  // namespace
}  // namespace shapediff::diffusion

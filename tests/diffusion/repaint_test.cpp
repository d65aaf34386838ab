#include "diffusion/repaint.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "diffusion/ddim.h"

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

SamplerOptions jumps(int64_t length, int64_t n_sample) {
  SamplerOptions o;
  o.jump_length = length;
  o.jump_n_sample = n_sample;
  return o;
}

ScheduleConfig train_steps(int64_t T) {
  ScheduleConfig c;
  c.num_train_timesteps = T;
  return c;
}

torch::Tensor as_tensor(const std::vector<double>& v) { return torch::tensor(v, torch::kFloat64); }

// Runs a whole RePaint schedule the way an inpainting loop does; returns the final sample.
template <typename Model>
torch::Tensor run(RePaintSampler& repaint, torch::Tensor x, Model model, NoiseSource& noise) {
  const auto& ts = repaint.timesteps();
  double t_last = ts[0].item<double>() + 1.0;
  for (int64_t i = 0; i < ts.size(0); ++i) {
    const double t = ts[i].item<double>();
    if (t < t_last) {
      x = repaint.step(model(x, static_cast<int64_t>(t)), ts[i], x, noise).prev_sample;
    } else {
      x = repaint.undo_step(x, torch::tensor(t_last, torch::kFloat64), noise);
    }
    t_last = t;
  }
  return x;
}

TEST(RePaintSampler, JumpSchedule) {
  RePaintSampler repaint(train_steps(12), jumps(2, 3));
  repaint.set_timesteps(6);
  EXPECT_TRUE(torch::equal(repaint.timesteps(),
                           as_tensor({10, 8, 6, 4, 6, 8, 6, 4, 6, 8, 6, 4, 2, 0, 2, 4, 2, 0, 2, 4,
                                      2, 0})));
  RePaintSampler small(train_steps(10), jumps(2, 2));
  small.set_timesteps(3);
  EXPECT_TRUE(torch::equal(small.timesteps(), as_tensor({6, 3, 0, 3, 6, 3, 0})));

  // No resampling asked for: a plain descent, even with jump_length >= n.
  RePaintSampler plain(train_steps(1000), jumps(10, 1));
  plain.set_timesteps(5);
  EXPECT_TRUE(torch::equal(plain.timesteps(), as_tensor({800, 600, 400, 200, 0})));
  RePaintSampler single(train_steps(1000), jumps(10, 10));
  single.set_timesteps(1);
  EXPECT_TRUE(torch::equal(single.timesteps(), as_tensor({0})));
}

TEST(RePaintSampler, RejectsBadSettings) {
  RePaintSampler repaint(train_steps(100), jumps(10, 10));
  expect_invalid([&] { repaint.set_timesteps(0); }, "num_inference_steps");
  expect_invalid([&] { repaint.set_timesteps(101); }, "num_inference_steps");
  // diffusers would silently skip every jump here.
  expect_invalid([&] { repaint.set_timesteps(10); }, "jump_length");
  expect_invalid([&] { repaint.set_timesteps(4); }, "jump_length");
  EXPECT_NO_THROW(repaint.set_timesteps(11));

  expect_invalid([&] { RePaintSampler(train_steps(100), jumps(0, 10)); }, "jump_length");
  expect_invalid([&] { RePaintSampler(train_steps(100), jumps(5, 0)); }, "jump_n_sample");
  SamplerOptions eta;
  eta.eta = 2.0;
  expect_invalid([&] { RePaintSampler(train_steps(100), eta); }, "eta");
}

TEST(RePaintSampler, RejectsBadCalls) {
  RePaintSampler repaint(train_steps(100), jumps(2, 2));
  GeneratorNoise noise(1);
  const auto x = torch::zeros({2, 5, 3});
  repaint.set_timesteps(10);
  try {
    repaint.step(x, torch::tensor(90.0), x, noise);
    ADD_FAILURE() << "step without set_known must throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "RePaint needs set_known(...) before step");
  }
  repaint.set_known(torch::zeros({2, 4, 3}), torch::ones({2, 4, 1}));
  expect_invalid([&] { repaint.step(x, torch::tensor(90.0), x, noise); }, "broadcast");
  repaint.set_known(torch::zeros({2, 5, 3}), torch::ones({2, 5, 1}));
  expect_invalid([&] { repaint.step(torch::zeros({2, 5}), torch::tensor(90.0), x, noise); },
                 "shape");
  expect_invalid([&] { repaint.step(x, torch::tensor(100.0), x, noise); }, "timestep");
  expect_invalid([&] { repaint.undo_step(x, torch::tensor(95.0), noise); }, "undo_step");
  expect_invalid([&] { repaint.set_known(torch::Tensor(), torch::ones({1})); }, "mask");
}

TEST(RePaintSampler, NoiseDrawsPerStepAndUndo) {
  RePaintSampler repaint(ScheduleConfig{}, jumps(5, 3));
  repaint.set_timesteps(50);
  ASSERT_EQ(repaint.timesteps().size(0), 230);
  const auto x = torch::randn({2, 4, 3});
  repaint.set_known(torch::zeros({2, 4, 3}), torch::zeros({2, 4, 3}));
  GeneratorNoise noise(4);
  int64_t model_calls = 0;
  run(repaint, x, [&](const torch::Tensor& in, int64_t) { ++model_calls; return 0.1 * in; },
      noise);
  // One draw per model step, twenty (= 1000 / 50) per undo_step; 90 undo steps.
  EXPECT_EQ(model_calls, 140);
  EXPECT_EQ(noise.calls(), 140 + 90 * 20);
}

TEST(RePaintSampler, KnownRegionFollowsTheForwardProcess) {
  RePaintSampler repaint(ScheduleConfig{}, jumps(2, 2));
  repaint.set_timesteps(10);
  const auto known = torch::rand({2, 6, 3}, torch::kFloat64);
  repaint.set_known(known, torch::ones({1}, torch::kFloat64));
  FormulaNoise ones([](int64_t, const torch::Tensor& i) { return torch::ones_like(i); });
  const auto x = torch::randn({2, 6, 3}, torch::kFloat64);
  const auto out = repaint.step(x, torch::tensor(500.0), x, ones).prev_sample;
  const double a_prev = repaint.schedule().alpha_cumprod(400);
  EXPECT_TRUE(torch::allclose(out, std::sqrt(a_prev) * known + std::sqrt(1.0 - a_prev)));
  // The last step lands exactly on the known values.
  const auto last = repaint.step(x, torch::tensor(0.0), x, ones).prev_sample;
  EXPECT_TRUE(torch::equal(last, known));
}

TEST(RePaintSampler, UnknownRegionIsADdimStep) {
  for (double eta : {0.0, 1.0}) {
    SamplerOptions o = jumps(2, 2);
    o.eta = eta;
    RePaintSampler repaint(ScheduleConfig{}, o);
    DDIMSampler ddim(ScheduleConfig{}, o);
    repaint.set_timesteps(10);
    ddim.set_timesteps(10);
    repaint.set_known(torch::zeros({2, 8}), torch::zeros({2, 8}));
    for (double t : {900.0, 300.0, 0.0}) {
      const auto x = torch::randn({2, 8});
      const auto mo = torch::randn({2, 8});
      GeneratorNoise a(3), b(3);
      const auto got = repaint.step(mo, torch::tensor(t), x, a);
      const auto want = ddim.step(mo, torch::tensor(t), x, b);
      EXPECT_TRUE(torch::allclose(got.prev_sample, want.prev_sample, 1e-5, 1e-6)) << eta << " " << t;
      EXPECT_TRUE(torch::allclose(got.pred_original_sample, want.pred_original_sample));
    }
  }
}

TEST(RePaintSampler, UndoStepAppliesEachTrainingBeta) {
  ScheduleConfig c = train_steps(100);
  RePaintSampler repaint(c, jumps(2, 2));
  repaint.set_timesteps(10);
  const auto x = torch::randn({3, 4}, torch::kFloat64);
  FormulaNoise zeros([](int64_t, const torch::Tensor& i) { return torch::zeros_like(i); });
  const auto out = repaint.undo_step(x, torch::tensor(30.0), zeros);
  EXPECT_EQ(zeros.calls(), 10);
  double scale = 1.0;
  for (int64_t t = 30; t < 40; ++t) scale *= std::sqrt(1.0 - repaint.schedule().beta(t));
  EXPECT_TRUE(torch::allclose(out, x * scale));
}

TEST(RePaintSampler, PerfectDenoiserInpaints) {
  for (auto prediction : {Prediction::Epsilon, Prediction::Velocity}) {
    ScheduleConfig c;
    c.prediction = prediction;
    RePaintSampler repaint(c, jumps(3, 2));
    repaint.set_timesteps(12);
    // The target keeps the first two points of every cloud; the rest is to be filled in.
    const auto target = torch::rand({2, 16, 3}, torch::kFloat64) * 1.6 - 0.8;
    auto mask = torch::zeros({2, 16, 1}, torch::kFloat64);
    mask.narrow(1, 0, 2).fill_(1.0);
    repaint.set_known(target * mask, mask);
    const auto& s = repaint.schedule();
    auto model = [&](const torch::Tensor& x, int64_t t) {
      const double a = s.alpha_cumprod(t);
      const auto eps = (x - std::sqrt(a) * target) / std::sqrt(1.0 - a);
      return prediction == Prediction::Epsilon ? eps
                                               : std::sqrt(a) * eps - std::sqrt(1.0 - a) * target;
    };
    GeneratorNoise noise(8);
    const auto x = run(repaint, noise.next(target.sizes(), target.options()), model, noise);
    EXPECT_LT((x - target).abs().max().item<double>(), 1e-6) << to_string(prediction);
  }
}

TEST(RePaintSampler, ShapeAgnosticWithBroadcastMask) {
  const std::vector<std::vector<int64_t>> shapes = {{2, 3, 8, 8}, {2, 64, 3}, {1, 2, 4, 4, 4}, {37, 4}};
  for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
    for (const auto& shape : shapes) {
      SamplerOptions o = jumps(2, 2);
      o.eta = 0.5;
      RePaintSampler repaint(ScheduleConfig{}, o);
      repaint.set_timesteps(10);
      const auto opts = torch::TensorOptions().dtype(dtype);
      auto mask_shape = shape;
      mask_shape.back() = 1;
      // Known values and mask in float64 are cast once to the sample's dtype.
      repaint.set_known(torch::rand(shape, torch::kFloat64),
                        (torch::rand(mask_shape, torch::kFloat64) > 0.5).to(torch::kFloat64));
      const auto x = torch::randn(shape, opts);
      const auto mo = torch::randn(shape, opts);
      GeneratorNoise noise(7);
      const auto out = repaint.step(mo, repaint.timesteps()[2], x, noise);
      EXPECT_EQ(out.prev_sample.sizes(), x.sizes());
      EXPECT_EQ(out.prev_sample.scalar_type(), dtype);
      EXPECT_TRUE(torch::isfinite(out.prev_sample).all().item<bool>());
      const auto up = repaint.undo_step(out.prev_sample, repaint.timesteps()[3], noise);
      EXPECT_EQ(up.sizes(), x.sizes());
      EXPECT_EQ(up.scalar_type(), dtype);
    }
  }
}

TEST(RePaintSampler, DeterministicPerSeed) {
  auto once = [](uint64_t seed) {
    RePaintSampler repaint(ScheduleConfig{}, jumps(2, 2));
    repaint.set_timesteps(6);
    repaint.set_known(torch::full({2, 8, 3}, 0.5), torch::ones({2, 8, 1}) * (torch::arange(8) < 3).view({1, 8, 1}));
    GeneratorNoise noise(seed);
    const auto x = noise.next({2, 8, 3}, torch::kFloat32);
    return run(repaint, x, [](const torch::Tensor& in, int64_t) { return 0.3 * in; }, noise);
  };
  EXPECT_TRUE(torch::equal(once(21), once(21)));
  EXPECT_FALSE(torch::allclose(once(21), once(22)));
}

TEST(RePaintSampler, MatchesCpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  RePaintSampler repaint(ScheduleConfig{}, jumps(2, 2));
  repaint.set_timesteps(10);
  const auto known = torch::rand({2, 64, 3});
  const auto mask = (torch::rand({2, 64, 1}) > 0.5).to(torch::kFloat32);
  const auto x = torch::randn({2, 64, 3});
  const auto mo = torch::randn({2, 64, 3});
  GeneratorNoise cpu_noise(9), cuda_noise(9);
  const auto t = repaint.timesteps()[2];
  repaint.set_known(known, mask);
  const auto cpu = repaint.step(mo, t, x, cpu_noise).prev_sample;
  const auto cpu_up = repaint.undo_step(cpu, repaint.timesteps()[3], cpu_noise);
  repaint.set_known(known.cuda(), mask.cuda());
  const auto cuda = repaint.step(mo.cuda(), t, x.cuda(), cuda_noise).prev_sample;
  const auto cuda_up = repaint.undo_step(cuda, repaint.timesteps()[3], cuda_noise);
  EXPECT_TRUE(cuda_up.is_cuda());
  EXPECT_TRUE(torch::allclose(cuda.cpu(), cpu, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(cuda_up.cpu(), cpu_up, 1e-5, 1e-6));
}

}  // namespace
}  // namespace shapediff::diffusion

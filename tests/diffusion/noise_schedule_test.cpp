#include "diffusion/noise_schedule.h"

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "io/json_file.h"
#include "test_support.h"

namespace shapediff::diffusion {
namespace {

TEST(NoiseSchedule, TablesEqualDiffusers) {
  const auto doc = io::read_json(testing::diffusers_reference());
  for (const auto& [label, entry] : doc.at("schedules").items()) {
    ScheduleConfig c;
    const auto& cfg = entry.at("config");
    c.num_train_timesteps = cfg.at("num_train_timesteps");
    c.beta_schedule = parse_beta_schedule(cfg.at("beta_schedule"));
    if (cfg.contains("beta_start")) c.beta_start = cfg.at("beta_start");
    if (cfg.contains("beta_end")) c.beta_end = cfg.at("beta_end");
    const NoiseSchedule s(c);
    const auto ref = entry.at("alphas_cumprod").get<std::vector<double>>();
    ASSERT_EQ(s.alphas_cumprod().numel(), static_cast<int64_t>(ref.size())) << label;
    const auto got = s.alphas_cumprod().to(torch::kFloat64);
    const double max_err = (got - torch::tensor(ref, torch::kFloat64)).abs().max().item<double>();
    EXPECT_LT(max_err, 1e-6) << label;
  }
}

TEST(NoiseSchedule, ScheduleShapes) {
  ScheduleConfig c;
  c.beta_schedule = BetaSchedule::Sigmoid;
  const NoiseSchedule sig(c);
  const auto b = sig.betas();
  EXPECT_EQ(b.scalar_type(), torch::kFloat32);
  EXPECT_NEAR(b[0].item<double>(), 1e-4 + (0.02 - 1e-4) / (1 + std::exp(6.0)), 1e-7);
  EXPECT_TRUE((b.slice(0, 1) >= b.slice(0, 0, -1)).all().item<bool>()) << "sigmoid betas rise";

  c.beta_schedule = BetaSchedule::Cosine;
  const NoiseSchedule cos(c);
  EXPECT_LE(cos.betas().max().item<double>(), 0.999 + 1e-7);

  ScheduleConfig z;
  z.zero_terminal_snr = true;
  const NoiseSchedule zs(z);
  EXPECT_EQ(zs.alphas_cumprod()[-1].item<float>(), 0.0f);
  EXPECT_EQ(zs.snr()[-1].item<double>(), 0.0);
  EXPECT_NEAR(zs.alphas_cumprod()[0].item<double>(), NoiseSchedule(ScheduleConfig{}).alphas_cumprod()[0].item<double>(), 1e-6);

  const auto sig_tab = NoiseSchedule(ScheduleConfig{}).sigmas();
  EXPECT_NEAR(sig_tab[-1].item<double>(), 157.40725708007812, 1e-3);  // diffusers' Euler sigma_max
}

TEST(NoiseSchedule, CustomBetasAndFile) {
  const std::string path = ::testing::TempDir() + "/betas.txt";
  {
    std::ofstream out(path);
    out << "# my betas\n0.001, 0.002\n0.003 0.004 # tail\n";
  }
  const auto betas = read_betas_file(path);
  ASSERT_EQ(betas.size(), 4u);
  ScheduleConfig c;
  c.beta_schedule = BetaSchedule::Custom;
  c.trained_betas = betas;
  c.num_train_timesteps = 4;
  const NoiseSchedule s(c);
  EXPECT_NEAR(s.alphas_cumprod()[3].item<double>(), 0.999 * 0.998 * 0.997 * 0.996, 1e-6);

  {
    std::ofstream out(path);
    out << "0.001\n0.00x2\n";
  }
  try {
    read_betas_file(path);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ":2"), std::string::npos) << e.what();
  }
  std::ofstream(path) << "# nothing\n";
  EXPECT_THROW(read_betas_file(path), std::runtime_error);
  EXPECT_THROW(read_betas_file("/nonexistent/betas.txt"), std::runtime_error);
}

TEST(NoiseSchedule, BadConfigsAreRejected) {
  ScheduleConfig c;
  c.beta_start = 0.02;
  c.beta_end = 0.001;
  EXPECT_THROW(NoiseSchedule{c}, std::invalid_argument);
  c = {};
  c.num_train_timesteps = 0;
  EXPECT_THROW(NoiseSchedule{c}, std::invalid_argument);
  c = {};
  c.beta_end = 1.5;
  EXPECT_THROW(NoiseSchedule{c}, std::invalid_argument);
  c = {};
  c.beta_schedule = BetaSchedule::Custom;
  c.trained_betas = {0.1, 0.2};
  EXPECT_THROW(NoiseSchedule{c}, std::invalid_argument);  // 2 betas, 1000 steps
  c.num_train_timesteps = 2;
  c.trained_betas = {0.1, 1.2};
  EXPECT_THROW(NoiseSchedule{c}, std::invalid_argument);
  EXPECT_THROW(parse_beta_schedule("zigzag"), std::invalid_argument);
  try {
    parse_prediction("x1");
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("v_prediction"), std::string::npos);
  }
}

TEST(NoiseSchedule, AddNoiseAndConversionsOnEveryShape) {
  ScheduleConfig c;
  const NoiseSchedule s(c);
  const std::vector<std::vector<int64_t>> shapes = {{3, 2, 5, 5}, {3, 64, 3}, {3, 2, 4, 4, 4}, {3, 7}};
  for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
    for (const auto& shape : shapes) {
      torch::manual_seed(0);
      const auto x0 = torch::randn(shape, dtype);
      const auto eps = torch::randn(shape, dtype);
      const auto t = torch::tensor({5, 400, 990});
      const auto xt = s.add_noise(x0, eps, t);
      EXPECT_EQ(xt.scalar_type(), dtype);
      const double a = s.alpha_cumprod(400);
      EXPECT_TRUE(torch::allclose(xt[1], std::sqrt(a) * x0[1] + std::sqrt(1 - a) * eps[1], 1e-5, 1e-5));
      const auto v = s.velocity(x0, eps, t);
      const double tol = dtype == torch::kFloat64 ? 1e-9 : 2e-3;
      for (auto from : {Prediction::Epsilon, Prediction::Sample, Prediction::Velocity}) {
        const auto& out = from == Prediction::Epsilon ? eps : from == Prediction::Sample ? x0 : v;
        EXPECT_TRUE(torch::allclose(s.to_sample(out, xt, t, from), x0, tol, tol));
        EXPECT_TRUE(torch::allclose(s.to_epsilon(out, xt, t, from), eps, tol, tol));
        EXPECT_TRUE(torch::allclose(s.to_velocity(out, xt, t, from), v, tol, tol));
      }
    }
  }
}

TEST(NoiseSchedule, SparseFeaturesUsePerRowTimesteps) {
  const NoiseSchedule s{ScheduleConfig{}};
  const auto feats = torch::ones({5, 4});
  const auto eps = torch::zeros({5, 4});
  const auto t = torch::tensor({0, 0, 999, 999, 500});
  const auto xt = s.add_noise(feats, eps, t);
  EXPECT_NEAR(xt[2][0].item<double>(), std::sqrt(s.alpha_cumprod(999)), 1e-6);
  EXPECT_NEAR(xt[4][3].item<double>(), std::sqrt(s.alpha_cumprod(500)), 1e-6);
  // Scalar timestep broadcasts over all rows.
  EXPECT_NO_THROW(s.add_noise(feats, eps, torch::tensor(10)));
}

TEST(NoiseSchedule, BadTimestepsAreRejected) {
  const NoiseSchedule s{ScheduleConfig{}};
  const auto x = torch::zeros({2, 3});
  EXPECT_THROW(s.add_noise(x, x, torch::tensor({0, 1000})), c10::Error);
  EXPECT_THROW(s.add_noise(x, x, torch::tensor({-1, 3})), c10::Error);
  EXPECT_THROW(s.add_noise(x, x, torch::tensor({1, 2, 3})), c10::Error);
  EXPECT_THROW(s.add_noise(x, x, torch::tensor({0.5, 1.0})), c10::Error);
  EXPECT_THROW(s.add_noise(x, torch::zeros({2, 4}), torch::tensor({1, 2})), c10::Error);
}

TEST(NoiseSchedule, WorksOnCuda_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const NoiseSchedule s{ScheduleConfig{}};
  const auto x0 = torch::randn({4, 128, 3});
  const auto eps = torch::randn({4, 128, 3});
  const auto t = torch::tensor({1, 10, 100, 999});
  const auto cpu = s.add_noise(x0, eps, t);
  const auto gpu = s.add_noise(x0.cuda(), eps.cuda(), t.cuda());
  EXPECT_TRUE(gpu.is_cuda());
  EXPECT_TRUE(torch::allclose(cpu, gpu.cpu(), 1e-6, 1e-6));
}

}  // namespace
}  // namespace shapediff::diffusion

#include "shapes/scan_preparation.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <stdexcept>
#include <string>

namespace shapediff::shapes {
namespace {

torch::Tensor random_cloud(int64_t n, uint64_t seed) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randn({n, 3}, g, torch::kFloat64);
}

// Plain reference of the statistical filter: full sorted distance rows.
torch::Tensor reference_inliers(const torch::Tensor& p, int64_t k, double ratio) {
  const int64_t n = p.size(0);
  std::vector<double> mean(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    std::vector<double> d;
    for (int64_t j = 0; j < n; ++j) {
      if (j != i) d.push_back((p[i] - p[j]).norm().item<double>());
    }
    std::sort(d.begin(), d.end());
    double s = 0;
    for (int64_t m = 0; m < k; ++m) s += d[static_cast<size_t>(m)];
    mean[static_cast<size_t>(i)] = s / static_cast<double>(k);
  }
  double mu = 0, var = 0;
  for (double v : mean) mu += v;
  mu /= static_cast<double>(n);
  for (double v : mean) var += (v - mu) * (v - mu);
  const double sd = std::sqrt(var / static_cast<double>(n));
  auto keep = torch::empty({n}, torch::kBool);
  for (int64_t i = 0; i < n; ++i) keep[i] = mean[static_cast<size_t>(i)] <= mu + ratio * sd;
  return keep;
}

TEST(ScanPreparation, OutlierFilterMatchesThePlainReference) {
  auto p = random_cloud(120, 1) * 0.1;
  p.slice(0, 0, 4) += 3.0;  // four far points
  const auto keep = statistical_inliers(p, 8, 2.0);
  EXPECT_TRUE(torch::equal(keep, reference_inliers(p, 8, 2.0)));
  EXPECT_FALSE(keep.slice(0, 0, 4).any().item<bool>());
  EXPECT_GT(keep.sum().item<int64_t>(), 100);
  // k too large for the cloud: everything stays.
  EXPECT_TRUE(statistical_inliers(p.slice(0, 0, 5), 8, 2.0).all().item<bool>());
}

TEST(ScanPreparation, FarAndTinyScansMapToTheUnitFrameAndBack) {
  auto p = random_cloud(200, 2) * 1e-3 + torch::tensor({1000.0, -500.0, 2000.0}, torch::kFloat64);
  ScanPrepOptions o;
  o.neighbors = 0;
  const auto s = prepare_scan(p, o);
  EXPECT_EQ(s.points.size(0), 200);
  EXPECT_NEAR((s.points.to(torch::kFloat64)).norm(2, 1).max().item<double>(), 1.0, 1e-5);
  const auto back = s.frame.to_scan(s.points).to(torch::kFloat64);
  EXPECT_LT((back - p).abs().max().item<double>(), 1e-4);  // float32 at 1e3 magnitude
  o.fill = 0.5;
  EXPECT_NEAR(prepare_scan(p, o).points.norm(2, 1).max().item<double>(), 0.5, 1e-5);
}

TEST(ScanPreparation, UpAxisRotatesToYUp) {
  auto p = torch::zeros({12, 3}, torch::kFloat64);
  p.slice(0, 0, 6).select(1, 2).fill_(1.0);   // six points up along z
  p.slice(0, 6).select(1, 0).copy_(torch::linspace(-1, 1, 6, torch::kFloat64));
  for (const std::string axis : {"y", "z", "x", "-y", "-z", "-x"}) {
    ScanPrepOptions o;
    o.neighbors = 0;
    o.up = parse_up_axis(axis);
    const auto s = prepare_scan(p, o);
    const auto r = s.frame.rotation;
    EXPECT_NEAR(torch::det(r).item<double>(), 1.0, 1e-12) << axis;
    EXPECT_TRUE(torch::allclose(torch::matmul(r, r.t()), torch::eye(3, torch::kFloat64))) << axis;
    // The named axis becomes +y.
    auto v = torch::zeros({3}, torch::kFloat64);
    const int idx = axis.back() == 'x' ? 0 : axis.back() == 'y' ? 1 : 2;
    v[idx] = axis[0] == '-' ? -1.0 : 1.0;
    EXPECT_TRUE(torch::allclose(torch::matmul(r, v), torch::tensor({0.0, 1.0, 0.0}, torch::kFloat64))) << axis;
    EXPECT_LT((s.frame.to_scan(s.points).to(torch::kFloat64) - p).abs().max().item<double>(), 1e-6) << axis;
  }
  EXPECT_THROW(parse_up_axis("up"), std::invalid_argument);
}

TEST(ScanPreparation, BadScansAreRefusedWithTheReason) {
  auto expect_error = [](const torch::Tensor& p, const std::string& needle) {
    try {
      prepare_scan(p);
      FAIL() << "expected an error with '" << needle << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(torch::zeros({0, 3}), "0 finite points");
  expect_error(random_cloud(3, 3), "3 finite points");
  expect_error(torch::full({50, 3}, NAN), "50 with NaN/Inf");
  expect_error(torch::ones({30, 3}), "no extent");
  expect_error(torch::zeros({30, 2}), "[N,3]");
  // NaN rows are dropped and counted, the rest is used.
  auto p = random_cloud(40, 4);
  p[5][1] = NAN;
  ScanPrepOptions o;
  o.neighbors = 0;
  const auto s = prepare_scan(p, o);
  EXPECT_EQ(s.nonfinite, 1);
  EXPECT_EQ(s.points.size(0), 39);
  EXPECT_FALSE((s.kept == 5).any().item<bool>());
}

}  // namespace
}  // namespace shapediff::shapes

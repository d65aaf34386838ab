// Chamfer distance, nearest-neighbour search and F-score against brute force.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "shapes/chamfer.h"

namespace {

using namespace shapediff::shapes;

// Plain double-precision nearest squared distances, one point at a time.
std::pair<std::vector<double>, std::vector<double>> brute_nearest(const torch::Tensor& a,
                                                                  const torch::Tensor& b) {
  auto A = a.to(torch::kFloat64).contiguous(), B = b.to(torch::kFloat64).contiguous();
  const auto pa = A.accessor<double, 2>(), pb = B.accessor<double, 2>();
  std::vector<double> ab(A.size(0), std::numeric_limits<double>::infinity());
  std::vector<double> ba(B.size(0), std::numeric_limits<double>::infinity());
  for (int64_t i = 0; i < A.size(0); ++i) {
    for (int64_t j = 0; j < B.size(0); ++j) {
      double d = 0;
      for (int k = 0; k < 3; ++k) d += (pa[i][k] - pb[j][k]) * (pa[i][k] - pb[j][k]);
      ab[i] = std::min(ab[i], d);
      ba[j] = std::min(ba[j], d);
    }
  }
  return {ab, ba};
}

double brute_chamfer(const torch::Tensor& a, const torch::Tensor& b) {
  auto [ab, ba] = brute_nearest(a, b);
  double sa = 0, sb = 0;
  for (double v : ab) sa += v;
  for (double v : ba) sb += v;
  return sa / ab.size() + sb / ba.size();
}

class Chamfer : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(7);
    at::set_num_threads(2);
  }
};

TEST_F(Chamfer, NearestMatchesBruteForceOnOddSizes) {
  // Sizes that are not multiples of the vector width or the row block, and one point.
  for (auto [n, m] : {std::pair<int64_t, int64_t>{1, 1}, {5, 37}, {37, 5}, {130, 67}, {3, 4100}}) {
    auto a = torch::randn({2, n, 3}), b = torch::randn({2, m, 3}) * 0.5 + 0.2;
    auto d = nearest_squared_distances(a, b);
    ASSERT_EQ(d.a_to_b.sizes(), (std::vector<int64_t>{2, n}));
    ASSERT_EQ(d.b_to_a.sizes(), (std::vector<int64_t>{2, m}));
    for (int64_t k = 0; k < 2; ++k) {
      auto [ab, ba] = brute_nearest(a[k], b[k]);
      for (int64_t i = 0; i < n; ++i) {
        EXPECT_NEAR(d.a_to_b[k][i].item<float>(), ab[i], 1e-5 * (1 + ab[i])) << n << "x" << m;
      }
      for (int64_t j = 0; j < m; ++j) {
        EXPECT_NEAR(d.b_to_a[k][j].item<float>(), ba[j], 1e-5 * (1 + ba[j])) << n << "x" << m;
      }
    }
  }
}

TEST_F(Chamfer, ThreadSplitDoesNotChangeResult) {
  auto a = torch::rand({1, 3000, 3}), b = torch::rand({1, 2500, 3});
  at::set_num_threads(1);
  auto one = nearest_squared_distances(a, b);
  at::set_num_threads(2);
  auto two = nearest_squared_distances(a, b);
  EXPECT_TRUE(torch::equal(one.a_to_b, two.a_to_b));
  EXPECT_TRUE(torch::equal(one.b_to_a, two.b_to_a));
}

TEST_F(Chamfer, TorchPathAgrees) {
  auto a = torch::rand({3, 200, 3}), b = torch::rand({3, 150, 3});
  auto fast = nearest_squared_distances(a, b);
  auto ref = nearest_squared_distances_torch(a, b);
  EXPECT_TRUE(torch::allclose(fast.a_to_b, ref.a_to_b, 1e-5, 1e-7));
  EXPECT_TRUE(torch::allclose(fast.b_to_a, ref.b_to_a, 1e-5, 1e-7));
}

TEST_F(Chamfer, IsSumOfDirectedMeans) {
  auto a = torch::randn({4, 100, 3}), b = torch::randn({4, 80, 3});
  auto cd = chamfer_distance(a, b);
  ASSERT_EQ(cd.scalar_type(), torch::kFloat64);
  for (int64_t k = 0; k < 4; ++k) {
    EXPECT_NEAR(cd[k].item<double>(), brute_chamfer(a[k], b[k]), 1e-5);
  }
  // By hand: a = {0}, b = {(1,0,0), (3,0,0)}: a->b mean 1, b->a mean (1 + 9) / 2 = 5.
  auto pa = torch::zeros({1, 1, 3});
  auto pb = torch::tensor({1.f, 0.f, 0.f, 3.f, 0.f, 0.f}).view({1, 2, 3});
  EXPECT_DOUBLE_EQ(chamfer_distance(pa, pb).item<double>(), 6.0);
  EXPECT_DOUBLE_EQ(chamfer_distance(pa, pa).item<double>(), 0.0);
}

TEST_F(Chamfer, FScoreByHand) {
  // a: 0 and 10 on x; b: 0.05 and 0.5. Threshold 0.1: a's 0 is within (0.05), a's 10 is not ->
  // precision 1/2; b's 0.05 within, 0.5 not -> recall 1/2; F = 1/2.
  auto a = torch::tensor({0.f, 0.f, 0.f, 10.f, 0.f, 0.f}).view({1, 2, 3});
  auto b = torch::tensor({0.05f, 0.f, 0.f, 0.5f, 0.f, 0.f}).view({1, 2, 3});
  auto f = fscore(a, b, 0.1);
  EXPECT_DOUBLE_EQ(f.precision.item<double>(), 0.5);
  EXPECT_DOUBLE_EQ(f.recall.item<double>(), 0.5);
  EXPECT_DOUBLE_EQ(f.fscore.item<double>(), 0.5);
  // Nothing within the threshold: 0, not NaN.
  auto far = fscore(a, b + 100, 0.1);
  EXPECT_DOUBLE_EQ(far.fscore.item<double>(), 0.0);
  // Precision 1, recall 1/2: F = 2/3.
  auto c = torch::tensor({0.f, 0.f, 0.f}).view({1, 1, 3});
  EXPECT_NEAR(fscore(c, b, 0.1).fscore.item<double>(), 2.0 / 3.0, 1e-12);
  EXPECT_THROW(fscore(a, b, 0.0), std::invalid_argument);
  EXPECT_THROW(fscore(a, b, std::nan("")), std::invalid_argument);
}

TEST_F(Chamfer, MatrixMatchesPairwiseChamfer) {
  auto x = torch::rand({5, 64, 3}), y = torch::rand({3, 40, 3});
  int64_t calls = 0, last = 0;
  auto m = chamfer_matrix(x, y, [&](int64_t done, int64_t total) {
    ++calls;
    EXPECT_EQ(total, 15);
    EXPECT_GT(done, last);
    last = done;
  });
  ASSERT_EQ(m.sizes(), (std::vector<int64_t>{5, 3}));
  EXPECT_GE(calls, 1);
  EXPECT_EQ(last, 15);
  for (int64_t i = 0; i < 5; ++i) {
    for (int64_t j = 0; j < 3; ++j) {
      EXPECT_NEAR(m[i][j].item<double>(), brute_chamfer(x[i], y[j]), 1e-6);
    }
  }
  // The same tensor twice: symmetric, zero diagonal, equal to the general path.
  auto s = chamfer_matrix(x, x);
  auto general = chamfer_matrix(x, x.clone());
  EXPECT_TRUE(torch::allclose(s, general, 0, 1e-12));
  EXPECT_TRUE(torch::equal(s, s.t()));
  EXPECT_EQ(s.diag().abs().max().item<double>(), 0.0);
}

TEST_F(Chamfer, BadInput) {
  auto ok = torch::rand({2, 10, 3});
  EXPECT_THROW(chamfer_distance(torch::rand({10, 3}), ok), std::invalid_argument);
  EXPECT_THROW(chamfer_distance(ok, torch::rand({3, 10, 3})), std::invalid_argument);
  EXPECT_THROW(chamfer_distance(ok, torch::rand({2, 0, 3})), std::invalid_argument);
  EXPECT_THROW(chamfer_distance(ok, torch::randint(0, 3, {2, 10, 3})), std::invalid_argument);
  auto bad = ok.clone();
  bad[1][4][2] = std::nanf("");
  try {
    chamfer_distance(ok, bad);
    FAIL() << "NaN accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
  }
  EXPECT_THROW(chamfer_matrix(ok, bad), std::invalid_argument);
}

TEST_F(Chamfer, CudaMatchesCpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto a = torch::rand({3, 2048, 3}), b = torch::rand({3, 1000, 3});
  auto cpu = chamfer_distance(a, b);
  auto gpu = chamfer_distance(a.cuda(), b.cuda());
  EXPECT_TRUE(gpu.is_cuda());
  EXPECT_TRUE(torch::allclose(gpu.cpu(), cpu, 1e-5, 1e-9));
  auto x = torch::rand({4, 512, 3}), y = torch::rand({5, 512, 3});
  EXPECT_TRUE(torch::allclose(chamfer_matrix(x.cuda(), y.cuda()), chamfer_matrix(x, y), 1e-5, 1e-9));
  auto xc = x.cuda();
  EXPECT_TRUE(torch::allclose(chamfer_matrix(xc, xc), chamfer_matrix(x, x), 1e-5, 1e-9));
}

}  // namespace

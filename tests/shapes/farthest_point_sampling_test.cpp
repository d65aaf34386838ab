#include "shapes/farthest_point_sampling.h"

#include <limits>
#include <vector>

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/shapes/geometry_fixtures.h"

namespace shapediff::shapes {
namespace {

using testing::expect_invalid;

// The textbook O(N*M) loop, single-threaded, first index on ties.
std::vector<int64_t> naive_fps(const torch::Tensor& points, int64_t m, int64_t start) {
  const auto p = points.to(torch::kFloat64).contiguous();
  const double* pp = p.data_ptr<double>();
  const int64_t n = p.size(0);
  std::vector<double> nearest(n, std::numeric_limits<double>::infinity());
  std::vector<int64_t> out{start};
  while (static_cast<int64_t>(out.size()) < m) {
    const int64_t last = out.back();
    int64_t best = 0;
    for (int64_t i = 0; i < n; ++i) {
      double d = 0;
      for (int k = 0; k < 3; ++k)
        d += (pp[3 * i + k] - pp[3 * last + k]) * (pp[3 * i + k] - pp[3 * last + k]);
      nearest[i] = std::min(nearest[i], d);
      if (nearest[i] > nearest[best]) best = i;
    }
    out.push_back(best);
  }
  return out;
}

TEST(FarthestPointSampling, MatchesNaiveLoopExactly) {
  torch::manual_seed(0);
  for (int64_t n : {1, 7, 300, 9000}) {
    const auto points = torch::rand({n, 3});
    const int64_t m = std::min<int64_t>(n, 64);
    for (int64_t start : {int64_t{0}, n - 1}) {
      const auto got = farthest_point_sampling(points, m, start);
      ASSERT_EQ(got.scalar_type(), torch::kLong);
      const auto want = naive_fps(points, m, start);
      ASSERT_EQ(got.size(0), m);
      for (int64_t i = 0; i < m; ++i)
        EXPECT_EQ(got[i].item<int64_t>(), want[i]) << "n=" << n << " i=" << i;
    }
  }
}

TEST(FarthestPointSampling, IndependentOfThreadCountAndDistinct) {
  torch::manual_seed(1);
  const auto points = torch::randn({12000, 3}, torch::kFloat64);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto one = farthest_point_sampling(points, 200, 5);
  at::set_num_threads(2);
  const auto two = farthest_point_sampling(points, 200, 5);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one, two));
  EXPECT_EQ(std::get<0>(at::_unique(one)).size(0), 200);
}

TEST(FarthestPointSampling, PicksTheSpreadOutCorners) {
  // A dense cluster at the origin and the 8 corners of a far cube: after the start, FPS takes
  // all corners before any cluster point.
  torch::manual_seed(2);
  auto cluster = torch::rand({100, 3}) * 0.01;
  auto corners = testing::box_mesh({-5, -5, -5}, {5, 5, 5}).vertices;
  const auto points = torch::cat({cluster, corners});
  const auto idx = farthest_point_sampling(points, 9, 0);
  for (int64_t i = 1; i < 9; ++i) EXPECT_GE(idx[i].item<int64_t>(), 100);
}

TEST(FarthestPointSampling, RejectsBadInput) {
  expect_invalid([] { farthest_point_sampling(torch::zeros({0, 3}), 0); }, "empty");
  expect_invalid([] { farthest_point_sampling(torch::zeros({5, 2}), 2); }, "must be [N,3]");
  auto nan = torch::zeros({5, 3});
  nan[2][0] = NAN;
  expect_invalid([&] { farthest_point_sampling(nan, 2); }, "row 2");
  expect_invalid([] { farthest_point_sampling(torch::zeros({5, 3}), 6); }, "num_samples");
  expect_invalid([] { farthest_point_sampling(torch::zeros({5, 3}), 2, 5); }, "start_index");
  expect_invalid(
      [] {
        farthest_point_sampling(torch::zeros({5, 3}, torch::kLong), 2);
      },
      "floating-point");
}

}  // namespace
}  // namespace shapediff::shapes

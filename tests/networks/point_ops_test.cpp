#include "networks/point_ops.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/networks/networks_test_support.h"

namespace shapediff::networks {
namespace {

using torch::Tensor;

const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);

class PointOps : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(1234); }
};

using shapediff::test::expect_error;

// Central differences of sum(f(x) * v) in float64 compared with the autograd gradient.
void expect_finite_difference_gradient(const std::function<Tensor(const Tensor&)>& f,
                                       const Tensor& x0) {
  auto x = x0.detach().clone().requires_grad_(true);
  const auto y = f(x);
  const auto v = torch::randn_like(y);
  const auto analytic = torch::autograd::grad({(y * v).sum()}, {x})[0];
  auto numeric = torch::zeros_like(x0);
  const double h = 1e-6;
  auto flat = x0.detach().clone();
  auto flat_view = flat.view(-1);
  auto numeric_view = numeric.view(-1);
  for (int64_t i = 0; i < flat_view.numel(); ++i) {
    const double keep = flat_view[i].item<double>();
    flat_view[i] = keep + h;
    const double up = (f(flat) * v).sum().item<double>();
    flat_view[i] = keep - h;
    const double down = (f(flat) * v).sum().item<double>();
    flat_view[i] = keep;
    numeric_view[i] = (up - down) / (2 * h);
  }
  EXPECT_TRUE(torch::allclose(analytic, numeric, 1e-5, 1e-6))
      << "autograd\n"
      << analytic << "\nfinite differences\n"
      << numeric;
}

// ---- plain references -----------------------------------------------------------------------

// PointNet++'s farthest point sampling, one cloud at a time, in the points' own dtype.
template <typename T>
Tensor reference_fps(const Tensor& points, int64_t m) {
  const int64_t B = points.size(0), N = points.size(1);
  const auto p = points.contiguous();
  auto out = torch::zeros({B, m}, torch::kLong);
  for (int64_t b = 0; b < B; ++b) {
    const T* q = p[b].data_ptr<T>();
    std::vector<T> nearest(N, std::numeric_limits<T>::infinity());
    int64_t current = 0;
    for (int64_t s = 1; s < m; ++s) {
      for (int64_t i = 0; i < N; ++i) {
        const T dx = q[3 * i] - q[3 * current], dy = q[3 * i + 1] - q[3 * current + 1];
        const T dz = q[3 * i + 2] - q[3 * current + 2];
        nearest[i] = std::min(nearest[i], dx * dx + dy * dy + dz * dz);
      }
      // max_element returns the first maximum: ties go to the lowest index.
      current = std::max_element(nearest.begin(), nearest.end()) - nearest.begin();
      out[b][s] = current;
    }
  }
  return out;
}

Tensor reference_ball_query(const Tensor& centers, const Tensor& points, double radius, int64_t k) {
  const int64_t B = centers.size(0), M = centers.size(1), N = points.size(1);
  auto out = torch::zeros({B, M, k}, torch::kLong);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t m = 0; m < M; ++m) {
      std::vector<int64_t> hits;
      for (int64_t n = 0; n < N; ++n) {
        const double d2 = (points[b][n] - centers[b][m]).pow(2).sum().item<double>();
        if (d2 < radius * radius) hits.push_back(n);
      }
      for (int64_t s = 0; s < k; ++s) {
        if (hits.empty()) break;
        out[b][m][s] = s < static_cast<int64_t>(hits.size()) ? hits[s] : hits[0];
      }
    }
  }
  return out;
}

Tensor reference_group(const Tensor& features, const Tensor& idx) {
  std::vector<Tensor> per_batch;
  for (int64_t b = 0; b < features.size(0); ++b) {
    per_batch.push_back(features[b]
                            .index_select(1, idx[b].reshape(-1))
                            .view({features.size(1), idx.size(1), idx.size(2)}));
  }
  return torch::stack(per_batch);
}

Tensor reference_three_interpolate(const Tensor& features, const Tensor& idx,
                                   const Tensor& weight) {
  return (reference_group(features, idx) * weight.unsqueeze(1)).sum(-1);
}

// PVCNN's Voxelization written point by point in double.
std::pair<Tensor, Tensor> reference_avg_voxelize(const Tensor& features, const Tensor& coords,
                                                 int64_t r, bool normalize, double eps) {
  const int64_t B = coords.size(0), N = coords.size(1), C = features.size(1);
  auto norm = torch::zeros({B, 3, N}, kF64);
  auto grids = std::vector<Tensor>();
  for (int64_t b = 0; b < B; ++b) {
    const auto c = coords[b].to(torch::kFloat64);
    const auto centred = c - c.mean(0, true);
    double max_norm = 0;
    for (int64_t n = 0; n < N; ++n) max_norm = std::max(max_norm, centred[n].norm().item<double>());
    auto index = torch::zeros({N}, torch::kLong);
    for (int64_t n = 0; n < N; ++n) {
      int64_t flat = 0;
      for (int64_t a = 0; a < 3; ++a) {
        double v = centred[n][a].item<double>();
        v = normalize ? v / (max_norm * 2 + eps) + 0.5 : (v + 1) / 2;
        v = std::min(std::max(v * static_cast<double>(r), 0.0), static_cast<double>(r - 1));
        norm[b][a][n] = v;
        flat = flat * r + static_cast<int64_t>(std::nearbyint(v));
      }
      index[n] = flat;
    }
    const auto sums =
        torch::zeros({C, r * r * r}, features.options()).index_add(1, index, features[b]);
    const auto counts = torch::zeros({r * r * r}, kF64).index_add(0, index, torch::ones({N}, kF64));
    grids.push_back((sums / counts.clamp_min(1).to(features.scalar_type())).view({C, r, r, r}));
  }
  return {torch::stack(grids), norm};
}

Tensor reference_trilinear(const Tensor& grid, const Tensor& coords, int64_t r) {
  const int64_t B = grid.size(0), C = grid.size(1);
  std::vector<Tensor> per_batch;
  for (int64_t b = 0; b < B; ++b) {
    const auto flat = grid[b].reshape({C, -1});
    const auto lo = coords[b].floor();
    const auto d1 = coords[b] - lo;
    const auto lo_i = lo.to(torch::kLong);
    const auto hi_i = (lo_i + 1).clamp_max(r - 1);
    auto acc = torch::zeros({C, coords.size(2)}, grid.options());
    for (int corner = 0; corner < 8; ++corner) {
      auto index = torch::zeros({coords.size(2)}, torch::kLong);
      auto w = torch::ones({coords.size(2)}, coords.options());
      for (int a = 0; a < 3; ++a) {
        const bool high = (corner >> (2 - a)) & 1;
        index = index * r + (high ? hi_i[a] : lo_i[a]);
        w = w * (high ? d1[a] : 1 - d1[a]);
      }
      acc = acc + flat.index_select(1, index) * w.unsqueeze(0);
    }
    per_batch.push_back(acc);
  }
  return torch::stack(per_batch);
}

// ---- farthest_point_sample ------------------------------------------------------------------

TEST_F(PointOps, FarthestPointSampleMatchesBruteForce) {
  const auto points = torch::rand({3, 50, 3}, kF64);
  for (const int64_t m : {1, 2, 7, 50}) {
    const auto idx = farthest_point_sample(points, m);
    ASSERT_EQ(idx.sizes(), (std::vector<int64_t>{3, m}));
    EXPECT_EQ(idx.scalar_type(), torch::kLong);
    EXPECT_TRUE(torch::equal(idx, reference_fps<double>(points, m))) << "m=" << m;
  }
  const auto points32 = torch::randn({2, 40, 3});
  EXPECT_TRUE(
      torch::equal(farthest_point_sample(points32, 17), reference_fps<float>(points32, 17)));
  // All of a cloud: a permutation starting at index 0.
  const auto all = farthest_point_sample(points, 50);
  EXPECT_TRUE(torch::equal(std::get<0>(all.sort(1)), torch::arange(50).expand({3, 50})));
  EXPECT_TRUE(torch::equal(all.select(1, 0), torch::zeros({3}, torch::kLong)));
}

TEST_F(PointOps, FarthestPointSampleBreaksTiesTowardTheLowerIndexAndRepeatsDuplicates) {
  // After index 0, points 1-3 are all at distance 1; after 1, points 2 and 3 tie again.
  const auto points =
      torch::tensor({{{0.0, 0.0, 0.0}, {1.0, 0.0, 0.0}, {-1.0, 0.0, 0.0}, {0.0, 1.0, 0.0}}}, kF64);
  EXPECT_TRUE(torch::equal(farthest_point_sample(points, 4),
                           torch::tensor({{0, 1, 2, 3}}, torch::kLong)));
  // Two distinct points: once both are picked every distance is 0 and index 0 comes back.
  const auto pair = torch::tensor({{{0.0, 0.0, 0.0}, {0.0, 0.0, 0.0}, {2.0, 0.0, 0.0}}}, kF64);
  EXPECT_TRUE(
      torch::equal(farthest_point_sample(pair, 3), torch::tensor({{0, 2, 0}}, torch::kLong)));
}

// One large cloud with two threads takes the path that splits each step across threads.
TEST_F(PointOps, FarthestPointSampleSplitsLargeCloudsAcrossThreads) {
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  const auto points = torch::rand({1, 20000, 3});
  const auto idx = farthest_point_sample(points, 12);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(idx, reference_fps<float>(points, 12)));
}

TEST_F(PointOps, FarthestPointSampleRejectsBadInput) {
  const auto p = torch::rand({2, 5, 3});
  expect_error([&] { farthest_point_sample(p, 0); }, "m must be in [1, 5], got 0");
  expect_error([&] { farthest_point_sample(p, 6); }, "m must be in [1, 5], got 6");
  expect_error([&] { farthest_point_sample(torch::rand({5, 3}), 2); }, "points must be [B, N, 3]");
  expect_error([&] { farthest_point_sample(torch::rand({2, 5, 2}), 2); }, "points must be");
  expect_error([&] { farthest_point_sample(torch::rand({2, 0, 3}), 1); }, "m must be in [1, 0]");
  expect_error([&] { farthest_point_sample(p.to(torch::kHalf), 2); }, "float32 or float64");
  expect_error([&] { farthest_point_sample(p.to(torch::kInt), 2); }, "float32 or float64");
  expect_error([&] { farthest_point_sample(Tensor(), 2); }, "points is undefined");
  auto bad = p.clone();
  bad[1][3][0] = NAN;
  expect_error([&] { farthest_point_sample(bad, 2); }, "points contains NaN or Inf");
  bad[1][3][0] = INFINITY;
  expect_error([&] { farthest_point_sample(bad, 2); }, "points contains NaN or Inf");
}

// ---- ball_query -----------------------------------------------------------------------------

TEST_F(PointOps, BallQueryMatchesBruteForce) {
  const auto points = torch::rand({2, 40, 3}, kF64);
  const auto centers = torch::rand({2, 9, 3}, kF64);
  for (const int64_t k : {1, 4, 16}) {
    for (const double radius : {0.05, 0.3, 2.0}) {
      const auto idx = ball_query(centers, points, radius, k);
      ASSERT_EQ(idx.sizes(), (std::vector<int64_t>{2, 9, k}));
      EXPECT_EQ(idx.scalar_type(), torch::kLong);
      EXPECT_TRUE(torch::equal(idx, reference_ball_query(centers, points, radius, k)))
          << "k=" << k << " radius=" << radius;
    }
  }
}

TEST_F(PointOps, BallQueryPadsWithFirstHitAndZeroWhenEmpty) {
  const auto points =
      torch::tensor({{{5.0, 0.0, 0.0}, {0.1, 0.0, 0.0}, {9.0, 0.0, 0.0}, {0.0, 0.2, 0.0}}}, kF64);
  const auto centers = torch::tensor({{{0.0, 0.0, 0.0}, {-7.0, 0.0, 0.0}}}, kF64);
  const auto idx = ball_query(centers, points, 0.5, 4);
  EXPECT_TRUE(torch::equal(idx, torch::tensor({{{1, 3, 1, 1}, {0, 0, 0, 0}}}, torch::kLong)));
  // The radius is exclusive: a point exactly at the radius is not a hit.
  const auto on_edge = ball_query(centers.slice(1, 0, 1), points, 0.2, 2);
  EXPECT_TRUE(torch::equal(on_edge, torch::tensor({{{1, 1}}}, torch::kLong)));
}

TEST_F(PointOps, BallQueryRejectsBadInput) {
  const auto p = torch::rand({1, 5, 3});
  expect_error([&] { ball_query(p, p, 0.0, 2); }, "radius");
  expect_error([&] { ball_query(p, p, -1.0, 2); }, "radius");
  expect_error([&] { ball_query(p, p, 0.1, 0); }, "k must be");
  expect_error([&] { ball_query(torch::rand({5, 3}), p, 0.1, 2); }, "centers must be [B, N, 3]");
  expect_error([&] { ball_query(p, torch::rand({1, 5, 2}), 0.1, 2); }, "points must be");
  expect_error([&] { ball_query(torch::rand({2, 5, 3}), p, 0.1, 2); }, "batch sizes differ");
  expect_error([&] { ball_query(p, p, 0.1, -3); }, "k must be >= 1, got -3");
  expect_error([&] { ball_query(p, p, NAN, 2); }, "radius");
  expect_error([&] { ball_query(p, p.to(torch::kFloat64), 0.1, 2); }, "dtypes differ");
  expect_error([&] { ball_query(p, torch::rand({1, 0, 3}), 0.1, 2); }, "points is empty");
  expect_error([&] { ball_query(p.to(torch::kBFloat16), p, 0.1, 2); }, "float32 or float64");
  auto nan = p.clone();
  nan[0][2][1] = NAN;
  expect_error([&] { ball_query(p, nan, 0.1, 2); }, "points contains NaN");
}

// ---- group ----------------------------------------------------------------------------------

TEST_F(PointOps, GroupMatchesReferenceAndItsGradient) {
  const auto features = torch::randn({2, 4, 11}, kF64).requires_grad_(true);
  const auto idx = torch::randint(0, 11, {2, 5, 3}, torch::kLong);
  const auto out = group(features, idx);
  const auto ref = reference_group(features, idx);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{2, 4, 5, 3}));
  EXPECT_TRUE(torch::equal(out, ref));
  const auto v = torch::randn_like(out);
  const auto g = torch::autograd::grad({(out * v).sum()}, {features})[0];
  const auto g_ref = torch::autograd::grad({(ref * v).sum()}, {features})[0];
  EXPECT_TRUE(torch::allclose(g, g_ref, 1e-12, 1e-12));
  const auto small_idx = torch::randint(0, 4, {1, 3, 2}, torch::kLong);
  expect_finite_difference_gradient([&](const Tensor& f) { return group(f, small_idx); },
                                    torch::randn({1, 2, 4}, kF64));
}

TEST_F(PointOps, GroupRejectsBadInput) {
  const auto f = torch::randn({2, 3, 6});
  expect_error([&] { group(f, torch::full({2, 4, 2}, 6, torch::kLong)); }, "idx values");
  expect_error([&] { group(f, torch::full({2, 4, 2}, -1, torch::kLong)); }, "idx values");
  expect_error([&] { group(f, torch::zeros({2, 4, 2}, torch::kInt)); }, "idx must be int64");
  expect_error([&] { group(f, torch::zeros({1, 4, 2}, torch::kLong)); }, "idx must be [2, M, k]");
  expect_error([&] { group(f, torch::zeros({2, 8}, torch::kLong)); }, "idx must be [2, M, k]");
  expect_error([&] { group(f, Tensor()); }, "idx is undefined");
  expect_error(
      [&] {
        group(torch::randn({3, 6}), torch::zeros({2, 4, 2}, torch::kLong));
      },
      "features must be [B, C, N]");
}

// ---- three_nn / three_interpolate -----------------------------------------------------------

TEST_F(PointOps, ThreeNNMatchesBruteForce) {
  const auto unknown = torch::rand({2, 13, 3}, kF64);
  const auto known = torch::rand({2, 7, 3}, kF64);
  const auto [dist, idx] = three_nn(unknown, known);
  const auto d2 = (unknown.unsqueeze(2) - known.unsqueeze(1)).pow(2).sum(-1);  // [B, n, m]
  const auto [sorted, order] = d2.sort(/*stable=*/true, /*dim=*/-1, /*descending=*/false);
  EXPECT_TRUE(torch::equal(idx, order.slice(2, 0, 3)));
  EXPECT_TRUE(torch::allclose(dist, sorted.slice(2, 0, 3), 1e-12, 1e-14));
  EXPECT_FALSE(dist.requires_grad());
}

TEST_F(PointOps, ThreeNNBreaksTiesTowardTheLowerIndex) {
  const auto known = torch::tensor(
      {{{1.0, 0.0, 0.0}, {0.0, 1.0, 0.0}, {5.0, 0.0, 0.0}, {0.0, 0.0, 1.0}, {-1.0, 0.0, 0.0}}},
      kF64);
  const auto [dist, idx] = three_nn(torch::zeros({1, 1, 3}, kF64), known);
  EXPECT_TRUE(torch::equal(idx, torch::tensor({{{0, 1, 3}}}, torch::kLong)));
  EXPECT_TRUE(torch::allclose(dist, torch::ones({1, 1, 3}, kF64)));
}

TEST_F(PointOps, ThreeNNRejectsBadInput) {
  expect_error(
      [&] {
        three_nn(torch::rand({1, 4, 3}), torch::rand({1, 2, 3}));
      },
      "at least 3 points");
  expect_error(
      [&] {
        three_nn(torch::rand({1, 4, 3}), torch::rand({2, 5, 3}));
      },
      "batch sizes differ");
  expect_error(
      [&] {
        three_nn(torch::rand({1, 4, 3}), torch::rand({1, 5, 3}, kF64));
      },
      "dtypes differ");
  expect_error([&] { three_nn(torch::rand({4, 3}), torch::rand({1, 5, 3})); },
               "unknown must be [B, N, 3]");
  expect_error([&] { three_nn(torch::rand({1, 4, 3}), torch::rand({1, 5, 4})); },
               "known must be [B, N, 3]");
  auto nan = torch::rand({1, 4, 3});
  nan[0][0][0] = NAN;
  expect_error([&] { three_nn(nan, torch::rand({1, 5, 3})); }, "unknown contains NaN");
}

TEST_F(PointOps, ThreeInterpolateMatchesReferenceAndItsGradient) {
  const auto features = torch::randn({2, 3, 6}, kF64).requires_grad_(true);
  const auto idx = torch::randint(0, 6, {2, 8, 3}, torch::kLong);
  const auto weight = torch::rand({2, 8, 3}, kF64).requires_grad_(true);
  const auto out = three_interpolate(features, idx, weight);
  const auto ref = reference_three_interpolate(features, idx, weight);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{2, 3, 8}));
  EXPECT_TRUE(torch::allclose(out, ref, 1e-12, 1e-12));
  const auto v = torch::randn_like(out);
  const auto g = torch::autograd::grad({(out * v).sum()}, {features, weight});
  const auto g_ref = torch::autograd::grad({(ref * v).sum()}, {features, weight});
  EXPECT_TRUE(torch::allclose(g[0], g_ref[0], 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(g[1], g_ref[1], 1e-12, 1e-12));

  const auto small_idx = torch::randint(0, 4, {1, 3, 3}, torch::kLong);
  const auto small_w = torch::rand({1, 3, 3}, kF64);
  const auto small_f = torch::randn({1, 2, 4}, kF64);
  expect_finite_difference_gradient(
      [&](const Tensor& f) { return three_interpolate(f, small_idx, small_w); }, small_f);
  expect_finite_difference_gradient(
      [&](const Tensor& w) { return three_interpolate(small_f, small_idx, w); }, small_w);
}

TEST_F(PointOps, ThreeInterpolateRejectsBadInput) {
  const auto f = torch::randn({1, 2, 4});
  const auto idx = torch::zeros({1, 3, 3}, torch::kLong);
  expect_error([&] { three_interpolate(f, idx, torch::rand({1, 3, 2})); }, "weight must be");
  expect_error(
      [&] {
        three_interpolate(f, torch::zeros({1, 3, 2}, torch::kLong), torch::rand({1, 3, 2}));
      },
      "idx must be [B, n, 3]");
  expect_error([&] { three_interpolate(f, idx + 4, torch::rand({1, 3, 3})); }, "idx values");
  expect_error([&] { three_interpolate(f, idx, torch::rand({1, 3, 3}, kF64)); }, "dtypes differ");
  expect_error(
      [&] {
        three_interpolate(f, torch::zeros({2, 3, 3}, torch::kLong), torch::rand({2, 3, 3}));
      },
      "idx must be [1, M, k]");
  expect_error([&] { three_interpolate(torch::randn({2, 4}), idx, torch::rand({1, 3, 3})); },
               "features must be [B, C, m]");
}

// ---- avg_voxelize ---------------------------------------------------------------------------

TEST_F(PointOps, AvgVoxelizeMatchesPVCNN) {
  const auto coords = torch::randn({2, 30, 3}, kF64) * 0.4;
  const auto features = torch::randn({2, 3, 30}, kF64);
  for (const bool normalize : {true, false}) {
    for (const int64_t r : {1, 2, 5}) {
      const auto [grid, norm] = avg_voxelize(features, coords, r, normalize, 1e-3);
      const auto [grid_ref, norm_ref] =
          reference_avg_voxelize(features, coords, r, normalize, 1e-3);
      ASSERT_EQ(grid.sizes(), (std::vector<int64_t>{2, 3, r, r, r}));
      ASSERT_EQ(norm.sizes(), (std::vector<int64_t>{2, 3, 30}));
      EXPECT_TRUE(torch::allclose(norm, norm_ref, 1e-12, 1e-12)) << normalize << " r=" << r;
      EXPECT_TRUE(torch::allclose(grid, grid_ref, 1e-12, 1e-12)) << normalize << " r=" << r;
      EXPECT_GE(norm.min().item<double>(), 0.0);
      EXPECT_LE(norm.max().item<double>(), static_cast<double>(r - 1));
    }
  }
}

TEST_F(PointOps, AvgVoxelizeFloat32AndGradient) {
  const auto coords = torch::rand({1, 50, 3});
  const auto features = torch::randn({1, 4, 50}).requires_grad_(true);
  const auto [grid, norm] = avg_voxelize(features, coords, 4);
  const auto [grid_ref, norm_ref] =
      reference_avg_voxelize(features, coords, 4, /*normalize=*/true, 0.0);
  EXPECT_EQ(grid.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::allclose(grid, grid_ref, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(norm.to(torch::kFloat64), norm_ref, 1e-5, 1e-5));
  const auto v = torch::randn_like(grid);
  const auto g = torch::autograd::grad({(grid * v).sum()}, {features})[0];
  const auto g_ref = torch::autograd::grad({(grid_ref * v).sum()}, {features})[0];
  EXPECT_TRUE(torch::allclose(g, g_ref, 1e-5, 1e-6));
  EXPECT_FALSE(norm.requires_grad());

  const auto small_coords = torch::rand({1, 6, 3}, kF64);
  expect_finite_difference_gradient(
      [&](const Tensor& f) { return avg_voxelize(f, small_coords, 2).first; },
      torch::randn({1, 2, 6}, kF64));
}

TEST_F(PointOps, AvgVoxelizeRejectsBadInput) {
  const auto coords = torch::rand({1, 5, 3});
  const auto f = torch::randn({1, 2, 5});
  expect_error([&] { avg_voxelize(f, coords, 0); }, "resolution must be >= 1");
  expect_error([&] { avg_voxelize(torch::randn({1, 2, 4}), coords, 4); }, "features must be");
  expect_error([&] { avg_voxelize(f, torch::rand({1, 5, 2}), 4); }, "coords must be");
  expect_error([&] { avg_voxelize(f, coords, 4, true, -1.0); }, "eps");
  expect_error([&] { avg_voxelize(f, coords, 2000); }, "resolution must be <= 1290");
  expect_error([&] { avg_voxelize(torch::randn({2, 2, 5}), coords, 4); }, "features must be");
  expect_error([&] { avg_voxelize(f, torch::rand({1, 0, 3}), 4); }, "features must be");
  expect_error([&] { avg_voxelize(torch::randn({1, 2, 0}), torch::rand({1, 0, 3}), 4); },
               "coords is empty");
  auto nan = coords.clone();
  nan[0][3][2] = NAN;
  expect_error([&] { avg_voxelize(f, nan, 4); }, "coords contains NaN");
  expect_error([&] { avg_voxelize(f, torch::ones({1, 5, 3}), 4); }, "collapse");
}

// ---- trilinear_devoxelize -------------------------------------------------------------------

TEST_F(PointOps, TrilinearDevoxelizeMatchesReferenceAndItsGradient) {
  const int64_t r = 4;
  const auto grid = torch::randn({2, 3, r, r, r}, kF64).requires_grad_(true);
  auto coords = torch::rand({2, 3, 25}, kF64) * static_cast<double>(r - 1);
  // Exact grid points and the upper face, where the high corner collapses onto the low one.
  coords.index_put_({0, torch::indexing::Slice(), 0}, static_cast<double>(r - 1));
  coords.index_put_({1, torch::indexing::Slice(), 1}, torch::tensor({0.0, 2.0, 3.0}, kF64));
  const auto out = trilinear_devoxelize(grid, coords, r);
  const auto ref = reference_trilinear(grid, coords, r);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{2, 3, 25}));
  EXPECT_TRUE(torch::allclose(out, ref, 1e-12, 1e-12));
  EXPECT_TRUE(
      torch::allclose(out.select(2, 0).select(0, 0),
                      grid.select(0, 0).select(1, r - 1).select(1, r - 1).select(1, r - 1)));
  const auto v = torch::randn_like(out);
  const auto g = torch::autograd::grad({(out * v).sum()}, {grid})[0];
  const auto g_ref = torch::autograd::grad({(ref * v).sum()}, {grid})[0];
  EXPECT_TRUE(torch::allclose(g, g_ref, 1e-12, 1e-12));

  const auto small_coords = torch::rand({1, 3, 5}, kF64);
  expect_finite_difference_gradient(
      [&](const Tensor& gr) { return trilinear_devoxelize(gr, small_coords, 2); },
      torch::randn({1, 2, 2, 2, 2}, kF64));
}

TEST_F(PointOps, TrilinearDevoxelizeGivesCoordsNoGradAndDetachesOutsideTraining) {
  const auto grid = torch::randn({1, 2, 3, 3, 3}).requires_grad_(true);
  const auto coords = (torch::rand({1, 3, 7}) * 2).requires_grad_(true);
  const auto out = trilinear_devoxelize(grid, coords, 3);
  const auto g = torch::autograd::grad({out.sum()}, {grid, coords}, {}, false, false,
                                       /*allow_unused=*/true);
  EXPECT_TRUE(g[0].defined());
  EXPECT_FALSE(g[1].defined());
  const auto eval = trilinear_devoxelize(grid, coords, 3, /*training=*/false);
  EXPECT_FALSE(eval.requires_grad());
  EXPECT_TRUE(torch::allclose(eval, out.detach()));
}

TEST_F(PointOps, VoxelizeThenDevoxelizeReturnsVoxelMeansAtOccupiedCentres) {
  const auto coords = torch::rand({1, 40, 3});
  const auto features = torch::randn({1, 2, 40});
  const auto [grid, norm] = avg_voxelize(features, coords, 3);
  const auto back = trilinear_devoxelize(grid, torch::round(norm), 3);
  const auto cell = torch::round(norm).to(torch::kLong);
  for (int64_t n = 0; n < 40; ++n) {
    const auto expected =
        grid[0].index({torch::indexing::Slice(), cell[0][0][n], cell[0][1][n], cell[0][2][n]});
    EXPECT_TRUE(torch::allclose(back[0].select(1, n), expected));
  }
}

// Enough rows that at::parallel_for splits the work across threads.
TEST_F(PointOps, LargerInputsMatchReferencesAcrossThreads) {
  const auto points = torch::rand({2, 300, 3}, kF64);
  const auto centers = points.slice(1, 0, 100);
  const auto idx = ball_query(centers, points, 0.2, 8);
  EXPECT_TRUE(torch::equal(idx.slice(1, 0, 10),
                           reference_ball_query(centers.slice(1, 0, 10), points, 0.2, 8)));
  const auto features = torch::randn({2, 5, 300}, kF64).requires_grad_(true);
  const auto grouped = group(features, idx);
  const auto grouped_ref = reference_group(features, idx);
  EXPECT_TRUE(torch::equal(grouped, grouped_ref));
  const auto v = torch::randn_like(grouped);
  EXPECT_TRUE(torch::allclose(torch::autograd::grad({(grouped * v).sum()}, {features})[0],
                              torch::autograd::grad({(grouped_ref * v).sum()}, {features})[0],
                              1e-12, 1e-12));

  const auto [grid, norm] = avg_voxelize(features, points, 6);
  const auto out = trilinear_devoxelize(grid, norm, 6);
  const auto out_ref = reference_trilinear(grid, norm, 6);
  EXPECT_TRUE(torch::allclose(out, out_ref, 1e-12, 1e-12));
  const auto w = torch::randn_like(out);
  const auto g = torch::autograd::grad({(out * w).sum()}, {features}, {}, /*retain_graph=*/true);
  const auto g_ref = torch::autograd::grad({(out_ref * w).sum()}, {features});
  EXPECT_TRUE(torch::allclose(g[0], g_ref[0], 1e-12, 1e-12));
}

TEST_F(PointOps, TrilinearDevoxelizeRejectsBadInput) {
  const auto grid = torch::randn({1, 2, 3, 3, 3});
  const auto coords = torch::rand({1, 3, 4});
  expect_error([&] { trilinear_devoxelize(grid, coords, 0); }, "resolution must be >= 1");
  expect_error([&] { trilinear_devoxelize(grid, coords, 4); }, "grid must be [B, C, 4, 4, 4]");
  expect_error(
      [&] {
        trilinear_devoxelize(grid, torch::rand({1, 4, 3}), 3);
      },
      "coords must be [1, 3, N]");
  expect_error([&] { trilinear_devoxelize(grid, coords + 2.5, 3); }, "coords must lie in [0, 2]");
  expect_error([&] { trilinear_devoxelize(grid, coords - 0.5, 3); }, "coords must lie");
  auto nan = coords.clone();
  nan[0][1][2] = NAN;
  expect_error([&] { trilinear_devoxelize(grid, nan, 3); }, "coords contains NaN");
  expect_error([&] { trilinear_devoxelize(grid, coords.to(torch::kFloat64), 3); }, "dtypes differ");
  expect_error([&] { trilinear_devoxelize(grid, torch::rand({2, 3, 4}), 3); },
               "coords must be [1, 3, N]");
  expect_error([&] { trilinear_devoxelize(torch::randn({2, 3, 3, 3}), coords, 3); },
               "grid must be [B, C, 3, 3, 3]");
}

}  // namespace
}  // namespace shapediff::networks

#include "shapes/poisson_disk.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "shapes/mesh_sampling.h"
#include "tests/shapes/geometry_fixtures.h"

namespace shapediff::shapes {
namespace {

using testing::expect_invalid;

PoissonDiskOptions opts(int64_t target, double r = 0, uint64_t seed = 0) {
  PoissonDiskOptions o;
  o.target_count = target;
  o.min_distance = r;
  o.seed = seed;
  return o;
}

double min_pairwise_distance(const torch::Tensor& p) {
  auto d = torch::cdist(p.to(torch::kFloat64), p.to(torch::kFloat64), 2.0, /*compute_mode=*/2);
  d.fill_diagonal_(std::numeric_limits<double>::infinity());
  return d.min().item<double>();
}

TEST(PoissonDisk, FixedDistanceKeepsSpacingAndCoversTheCloud) {
  torch::manual_seed(0);
  const auto points = torch::rand({4000, 3});
  const double r = 0.1;
  const auto result = poisson_disk_subsample(points, opts(0, r, 1));
  const auto kept = points.index_select(0, result.indices);
  EXPECT_GE(min_pairwise_distance(kept), r);
  EXPECT_EQ(result.min_distance, r);
  // Maximal: every input point is within r of a kept one (otherwise it would have been kept).
  const auto to_kept = torch::cdist(points.to(torch::kFloat64), kept.to(torch::kFloat64));
  EXPECT_LT(std::get<0>(to_kept.min(1)).max().item<double>(), r);
  // Sorted, unique, in range.
  EXPECT_TRUE(torch::equal(result.indices, std::get<0>(torch::sort(result.indices))));
  EXPECT_EQ(std::get<0>(at::_unique(result.indices)).size(0), result.indices.size(0));
}

TEST(PoissonDisk, TargetCountIsExactAndSpacingHolds) {
  const auto mesh = testing::icosphere(2);
  const auto dense = sample_surface(mesh, 8000, 3).points;
  for (int64_t target : {1, 64, 500}) {
    const auto result = poisson_disk_subsample(dense, opts(target, 0, 4));
    ASSERT_EQ(result.indices.size(0), target);
    if (target > 1) {
      EXPECT_GE(min_pairwise_distance(dense.index_select(0, result.indices)), result.min_distance);
      // Evenly spread: n points at spacing r cover about n * (sqrt(3)/2) r^2 of the sphere's
      // 4*pi, so r approaches sqrt(4*pi / n); a random subset's closest pair is far nearer.
      EXPECT_GT(result.min_distance, 0.5 * std::sqrt(4 * M_PI / target));
    }
  }
}

TEST(PoissonDisk, DistanceAndTargetThinsToTarget) {
  torch::manual_seed(5);
  const auto points = torch::rand({3000, 3});
  const auto many = poisson_disk_subsample(points, opts(0, 0.08));
  const auto thinned = poisson_disk_subsample(points, opts(100, 0.08));
  ASSERT_GT(many.indices.size(0), 100);
  ASSERT_EQ(thinned.indices.size(0), 100);
  EXPECT_GE(min_pairwise_distance(points.index_select(0, thinned.indices)), 0.08);
}

TEST(PoissonDisk, DeterministicPerSeed) {
  torch::manual_seed(6);
  const auto points = torch::rand({2000, 3});
  const auto a = poisson_disk_subsample(points, opts(200, 0, 9));
  const auto b = poisson_disk_subsample(points, opts(200, 0, 9));
  const auto c = poisson_disk_subsample(points, opts(200, 0, 10));
  EXPECT_TRUE(torch::equal(a.indices, b.indices));
  EXPECT_FALSE(torch::equal(a.indices, c.indices));
}

TEST(PoissonDisk, DuplicatePointsStillReachTheTarget) {
  const auto points = torch::cat({torch::zeros({50, 3}), torch::ones({50, 3})});
  const auto result = poisson_disk_subsample(points, opts(2));
  ASSERT_EQ(result.indices.size(0), 2);
  EXPECT_GT(min_pairwise_distance(points.index_select(0, result.indices)), 1.0);
}

TEST(PoissonDisk, RejectsBadInput) {
  const auto p = torch::rand({10, 3});
  expect_invalid([] { poisson_disk_subsample(torch::zeros({0, 3}), opts(1)); }, "empty");
  expect_invalid([] { poisson_disk_subsample(torch::zeros({4, 4}), opts(1)); }, "[N,3]");
  auto nan = p.clone();
  nan[7][2] = NAN;
  expect_invalid([&] { poisson_disk_subsample(nan, opts(1)); }, "row 7");
  expect_invalid([&] { poisson_disk_subsample(p, {}); }, "set target_count or min_distance");
  expect_invalid([&] { poisson_disk_subsample(p, opts(11)); }, "target_count");
  expect_invalid([&] { poisson_disk_subsample(p, opts(0, -1)); }, "min_distance");
}

}  // namespace
}  // namespace shapediff::shapes

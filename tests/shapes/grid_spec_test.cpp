#include "shapes/grid_spec.h"

#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/shapes/geometry_fixtures.h"

namespace shapediff::shapes {
namespace {

using testing::expect_invalid;

TEST(GridSpec, FromBoundsSpansTheLongestSideAndCentres) {
  const auto spec = GridSpec::from_bounds({-1, 0, 2}, {3, 1, 2.5}, 9);
  EXPECT_DOUBLE_EQ(spec.voxel_size, 0.5);
  EXPECT_EQ(spec.resolution, (std::array<int64_t, 3>{9, 9, 9}));
  const auto c = spec.centers(torch::kFloat64);
  ASSERT_EQ(c.sizes(), (torch::IntArrayRef{729, 3}));
  const auto lo = std::get<0>(c.min(0));
  const auto hi = std::get<0>(c.max(0));
  EXPECT_NEAR(lo[0].item<double>(), -1, 1e-12);
  EXPECT_NEAR(hi[0].item<double>(), 3, 1e-12);
  EXPECT_NEAR(0.5 * (lo[1] + hi[1]).item<double>(), 0.5, 1e-12);
  EXPECT_NEAR(0.5 * (lo[2] + hi[2]).item<double>(), 2.25, 1e-12);
}

TEST(GridSpec, MatchesVoxelGridCentres) {
  GridSpec spec;
  spec.origin = {0.5, -1, 2};
  spec.voxel_size = 0.25;
  spec.resolution = {3, 4, 5};
  const auto grid = spec.make_grid(torch::arange(60, torch::kFloat32), VoxelKind::Occupancy);
  EXPECT_EQ(grid.values.sizes(), (torch::IntArrayRef{3, 4, 5}));
  EXPECT_EQ(grid.values[1][2][3].item<float>(), 1 * 20 + 2 * 5 + 3);
  EXPECT_TRUE(torch::allclose(spec.centers(), grid.voxel_centers()));
  const auto back = GridSpec::of(grid);
  EXPECT_EQ(back.origin, spec.origin);
  EXPECT_EQ(back.voxel_size, spec.voxel_size);
  EXPECT_EQ(back.resolution, spec.resolution);
}

TEST(GridSpec, RejectsBadInput) {
  expect_invalid([] { GridSpec::from_bounds({0, 0, 0}, {1, 1, 1}, 1); }, "resolution");
  expect_invalid([] { GridSpec::from_bounds({0, 0, 0}, {1, NAN, 1}, 8); }, "axis 1");
  expect_invalid([] { GridSpec::from_bounds({0, 2, 0}, {1, 1, 1}, 8); }, "axis 1");
  expect_invalid([] { GridSpec::from_bounds({1, 1, 1}, {1, 1, 1}, 8); }, "zero size");
  GridSpec spec;
  spec.resolution = {2, 2, 2};
  expect_invalid([&] { spec.make_grid(torch::zeros({7}), VoxelKind::Occupancy); }, "8 voxels");
  spec.origin[2] = INFINITY;
  expect_invalid([&] { spec.validate("ctx"); }, "ctx: grid origin[2]");
}

}  // namespace
}  // namespace shapediff::shapes

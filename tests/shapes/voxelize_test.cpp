#include "shapes/voxelize.h"

#include <cmath>
#include <map>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/shapes/geometry_fixtures.h"

namespace shapediff::shapes {
namespace {

using testing::expect_invalid;

GridSpec small_spec() {
  GridSpec spec;
  spec.origin = {-0.5, 0.25, 1.0};
  spec.voxel_size = 0.1;
  spec.resolution = {6, 7, 8};
  return spec;
}

TEST(Voxelize, DenseMatchesPerPointLoopAndRoundTrips) {
  const auto spec = small_spec();
  torch::manual_seed(0);
  // Points anywhere inside the grid's cells (centre +- half a voxel).
  const auto hi = torch::tensor({5.49, 6.49, 7.49}, torch::kFloat64);
  const auto cells_f = torch::rand({300, 3}, torch::kFloat64) * (hi + 0.5) - 0.5;
  const auto points =
      (cells_f * spec.voxel_size + torch::tensor({-0.5, 0.25, 1.0}, torch::kFloat64))
          .to(torch::kFloat32);
  const auto grid = voxelize_points(points, spec);
  EXPECT_EQ(grid.kind, VoxelKind::Occupancy);
  auto want = torch::zeros({6, 7, 8});
  const auto p = points.to(torch::kFloat64);
  for (int64_t i = 0; i < p.size(0); ++i) {
    const int64_t a = std::lround(std::floor((p[i][0].item<double>() + 0.5) / 0.1 + 0.5));
    const int64_t b = std::lround(std::floor((p[i][1].item<double>() - 0.25) / 0.1 + 0.5));
    const int64_t c = std::lround(std::floor((p[i][2].item<double>() - 1.0) / 0.1 + 0.5));
    want[a][b][c] = 1;
  }
  EXPECT_TRUE(torch::equal(grid.values, want));
  // Centres of the occupied cells voxelize to the same grid, and each point is within half a
  // voxel (per axis) of an occupied centre.
  const auto centers = occupied_centers(grid);
  EXPECT_EQ(centers.size(0), want.sum().item<float>());
  EXPECT_TRUE(torch::equal(voxelize_points(centers, spec).values, grid.values));
  const auto gap =
      (p.unsqueeze(1) - centers.to(torch::kFloat64).unsqueeze(0)).abs().amax(2).amin(1);
  EXPECT_LE(gap.max().item<double>(), 0.5 * spec.voxel_size + 1e-6);
}

TEST(Voxelize, OutsidePointsThrowOrDrop) {
  const auto spec = small_spec();
  const auto points = torch::tensor({-0.5f, 0.25f, 1.0f, 5.f, 0.3f, 1.1f}).reshape({2, 3});
  expect_invalid([&] { voxelize_points(points, spec); }, "points row 1");
  const auto grid = voxelize_points(points, spec, OutsidePoints::Drop);
  EXPECT_EQ(grid.values.sum().item<float>(), 1.0f);
  EXPECT_EQ(grid.values[0][0][0].item<float>(), 1.0f);
}

TEST(Voxelize, SparseMeansMatchBruteForceAndRoundTrip) {
  torch::manual_seed(1);
  const auto points = torch::randn({500, 3}) * 0.3;
  const auto features = torch::rand({500, 2});
  const double vs = 0.15;
  const std::array<double, 3> origin{0.01, -0.02, 0.03};
  const auto sv = voxelize_points_sparse(points, vs, features, origin);
  sv.voxels.validate("sparse");
  const int64_t k = sv.voxels.size();
  ASSERT_EQ(sv.counts.size(0), k);
  EXPECT_EQ(sv.counts.sum().item<int64_t>(), 500);
  // Brute force: a map from cell to (sum of features, count).
  std::map<std::tuple<int64_t, int64_t, int64_t>, std::pair<std::vector<double>, int64_t>> cells;
  for (int64_t i = 0; i < 500; ++i) {
    int64_t c[3];
    for (int d = 0; d < 3; ++d)
      c[d] = static_cast<int64_t>(std::floor((points[i][d].item<double>() - origin[d]) / vs + 0.5));
    auto& entry = cells[{c[0], c[1], c[2]}];
    entry.first.resize(2);
    for (int f = 0; f < 2; ++f) entry.first[f] += features[i][f].item<double>();
    ++entry.second;
  }
  ASSERT_EQ(static_cast<int64_t>(cells.size()), k);
  int64_t row = 0;
  for (const auto& [cell, sums] : cells) {  // std::map order is the lexicographic order
    EXPECT_EQ(sv.voxels.coords[row][0].item<int>(), std::get<0>(cell));
    EXPECT_EQ(sv.voxels.coords[row][1].item<int>(), std::get<1>(cell));
    EXPECT_EQ(sv.voxels.coords[row][2].item<int>(), std::get<2>(cell));
    EXPECT_EQ(sv.counts[row].item<int64_t>(), sums.second);
    for (int f = 0; f < 2; ++f) {
      EXPECT_NEAR(sv.voxels.features[row][f].item<float>(), sums.first[f] / sums.second, 1e-6);
    }
    ++row;
  }
  // Round trip: every point is within half a voxel (per axis) of its cell's centre.
  const auto centers = sv.voxels.centers().index_select(0, sv.point_to_voxel);
  EXPECT_LE((centers - points).abs().max().item<float>(), 0.5 * vs + 1e-6);
  // Without features: occupancy ones.
  const auto plain = voxelize_points_sparse(points, vs, {}, origin);
  EXPECT_TRUE(torch::equal(plain.voxels.coords, sv.voxels.coords));
  EXPECT_TRUE(torch::equal(plain.voxels.features, torch::ones({k, 1})));
}

TEST(Voxelize, SurfaceCentresOfABallAreItsShell) {
  const auto spec = GridSpec::from_bounds({-1, -1, -1}, {1, 1, 1}, 21);
  const auto centers = spec.centers(torch::kFloat64);
  const auto r = centers.norm(2, 1);
  // Radius 0.73 keeps every centre clear of the sphere, so both grids agree on inside.
  auto occ = spec.make_grid((r < 0.73).to(torch::kFloat32), VoxelKind::Occupancy);
  auto sdf = spec.make_grid(r - 0.73, VoxelKind::SignedDistance);
  const auto shell = surface_centers(occ);
  EXPECT_TRUE(torch::equal(shell, surface_centers(sdf)));
  // Brute force: inside cells with an outside 6-neighbour.
  const auto inside = (r < 0.73).reshape({21, 21, 21});
  int64_t expected = 0;
  for (int i = 0; i < 21; ++i) {
    for (int j = 0; j < 21; ++j) {
      for (int k = 0; k < 21; ++k) {
        if (!inside[i][j][k].item<bool>()) continue;
        bool edge = false;
        const int step[6][3] = {{1, 0, 0},  {-1, 0, 0}, {0, 1, 0},
                                {0, -1, 0}, {0, 0, 1},  {0, 0, -1}};
        for (const auto& s : step) {
          const int a = i + s[0], b = j + s[1], c = k + s[2];
          if (a < 0 || b < 0 || c < 0 || a > 20 || b > 20 || c > 20 ||
              !inside[a][b][c].item<bool>())
            edge = true;
        }
        expected += edge;
      }
    }
  }
  EXPECT_EQ(shell.size(0), expected);
  const auto shell_r = shell.norm(2, 1);
  EXPECT_LT(shell_r.max().item<float>(), 0.73);
  EXPECT_GT(shell_r.min().item<float>(), 0.73 - std::sqrt(3.0) * spec.voxel_size);
  // A full grid: only the border layer is surface.
  const auto full = spec.make_grid(torch::ones({spec.num_voxels()}), VoxelKind::Occupancy);
  EXPECT_EQ(surface_centers(full).size(0), 21 * 21 * 21 - 19 * 19 * 19);
}

TEST(Voxelize, RejectsBadInput) {
  const auto spec = small_spec();
  expect_invalid([&] { voxelize_points(torch::zeros({0, 3}), spec); }, "empty");
  expect_invalid([&] { voxelize_points_sparse(torch::zeros({0, 3}), 0.1); }, "empty");
  auto nan = torch::zeros({3, 3});
  nan[1][2] = NAN;
  expect_invalid([&] { voxelize_points(nan, spec); }, "points row 1");
  expect_invalid([&] { voxelize_points_sparse(nan, 0.1); }, "points row 1");
  expect_invalid([&] { voxelize_points(torch::zeros({3, 2}), spec); }, "points must be [N,3]");
  expect_invalid([&] { voxelize_points_sparse(torch::zeros({3, 3}), 0); }, "voxel_size");
  expect_invalid(
      [&] {
        voxelize_points_sparse(torch::zeros({3, 3}), 0.1, torch::zeros({2, 4}));
      },
      "features has 2 rows");
  expect_invalid([&] { voxelize_points_sparse(torch::full({1, 3}, 1e9), 1e-3); }, "int32");
  VoxelGrid bad;
  bad.values = torch::zeros({2, 2});
  expect_invalid([&] { surface_centers(bad); }, "[X,Y,Z]");
}

}  // namespace
}  // namespace shapediff::shapes

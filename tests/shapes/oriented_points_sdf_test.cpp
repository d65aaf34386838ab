#include "shapes/oriented_points_sdf.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>

#include "shapes/marching_cubes.h"
#include "tests/shapes/mesh_test_support.h"

namespace shapediff::shapes {
namespace {

// The definition written out: every voxel against every point, ties to the lowest index.
torch::Tensor brute_force_sdf(const torch::Tensor& points, const torch::Tensor& normals,
                              const GridSpec& grid, double truncation) {
  const auto p = points.to(torch::kFloat64).contiguous();
  const auto n = normals.to(torch::kFloat64).contiguous();
  const auto pa = p.accessor<double, 2>();
  const auto na = n.accessor<double, 2>();
  auto out = torch::empty({grid.resolution[0], grid.resolution[1], grid.resolution[2]}, torch::kFloat32);
  auto oa = out.accessor<float, 3>();
  for (int64_t i = 0; i < grid.resolution[0]; ++i) {
    for (int64_t j = 0; j < grid.resolution[1]; ++j) {
      for (int64_t k = 0; k < grid.resolution[2]; ++k) {
        const double x[3] = {grid.origin[0] + grid.voxel_size * double(i),
                             grid.origin[1] + grid.voxel_size * double(j),
                             grid.origin[2] + grid.voxel_size * double(k)};
        double best = std::numeric_limits<double>::infinity();
        int64_t arg = -1;
        for (int64_t m = 0; m < p.size(0); ++m) {
          double d2 = 0;
          for (int d = 0; d < 3; ++d) d2 += (x[d] - pa[m][d]) * (x[d] - pa[m][d]);
          if (d2 < best) {
            best = d2;
            arg = m;
          }
        }
        double dot = 0;
        for (int d = 0; d < 3; ++d) dot += (x[d] - pa[arg][d]) * na[arg][d];
        const double dist = std::min(std::sqrt(best), truncation);
        oa[i][j][k] = static_cast<float>(dot < 0 ? -dist : dist);
      }
    }
  }
  return out;
}

// n points spread evenly over a sphere of radius r (Fibonacci spiral), outward unit normals.
std::pair<torch::Tensor, torch::Tensor> fibonacci_sphere(int64_t n, double r) {
  auto normals = torch::empty({n, 3}, torch::kFloat64);
  auto a = normals.accessor<double, 2>();
  const double golden = M_PI * (3.0 - std::sqrt(5.0));
  for (int64_t i = 0; i < n; ++i) {
    const double z = 1.0 - 2.0 * (double(i) + 0.5) / double(n);
    const double rho = std::sqrt(1.0 - z * z);
    a[i][0] = rho * std::cos(golden * double(i));
    a[i][1] = rho * std::sin(golden * double(i));
    a[i][2] = z;
  }
  return {(normals * r).to(torch::kFloat32), normals.to(torch::kFloat32)};
}

void expect_invalid(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one mentioning '" << needle << "'";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(OrientedPointsSdf, MatchesBruteForceOnRandomClouds) {
  auto gen = at::detail::createCPUGenerator(7);
  auto points = torch::rand({150, 3}, gen) * 2 - 1;
  auto normals = torch::randn({150, 3}, gen);
  // Exact duplicates with flipped normals: the tie must go to the lower index, as above.
  points = torch::cat({points, points.slice(0, 0, 20)});
  normals = torch::cat({normals, -normals.slice(0, 0, 20)});
  GridSpec grid;
  grid.origin = {-1.6, -1.3, -1.45};  // reaches well past the cloud on every side
  grid.voxel_size = 0.13;
  grid.resolution = {25, 21, 23};
  for (double truncation : {0.3, std::numeric_limits<double>::infinity()}) {
    const auto sdf = truncated_sdf_from_oriented_points(points, normals, grid, truncation);
    EXPECT_EQ(sdf.kind, VoxelKind::SignedDistance);
    EXPECT_EQ(sdf.origin, grid.origin);
    EXPECT_EQ(sdf.voxel_size, grid.voxel_size);
    ASSERT_EQ(sdf.values.sizes(), torch::IntArrayRef({25, 21, 23}));
    EXPECT_TRUE(torch::equal(sdf.values, brute_force_sdf(points, normals, grid, truncation)))
        << "truncation " << truncation;
  }
}

TEST(OrientedPointsSdf, MatchesBruteForceOnFlatAndSinglePointClouds) {
  auto gen = at::detail::createCPUGenerator(8);
  auto flat = torch::rand({60, 3}, gen) - 0.5;
  flat.select(1, 2).zero_();  // the bucket grid is one cell thick
  const auto up = torch::tensor({0.0, 0.0, 1.0}).expand({60, 3});
  const auto grid = GridSpec::from_bounds({-1, -1, -1}, {1, 1, 1}, 12);
  EXPECT_TRUE(torch::equal(truncated_sdf_from_oriented_points(flat, up, grid, 0.5).values,
                           brute_force_sdf(flat, up, grid, 0.5)));
  const auto one = torch::tensor({{0.1, -0.2, 0.3}});
  const auto n = torch::tensor({{1.0, 1.0, 0.0}});
  EXPECT_TRUE(torch::equal(truncated_sdf_from_oriented_points(one, n, grid, 10.0).values,
                           brute_force_sdf(one, n, grid, 10.0)));
}

TEST(OrientedPointsSdf, SphereGridFollowsTheAnalyticDistance) {
  const double r = 0.6;
  const auto sphere = fibonacci_sphere(4096, r);
  const torch::Tensor& points = sphere.first;
  const torch::Tensor& normals = sphere.second;
  const auto grid = GridSpec::from_bounds({-1, -1, -1}, {1, 1, 1}, 32);
  const double h = grid.voxel_size, truncation = 3 * h;
  const auto sdf = truncated_sdf_from_oriented_points(points, normals, grid, truncation);
  const auto exact = (grid.centers(torch::kFloat64).norm(2, 1) - r).reshape({32, 32, 32});
  const auto values = sdf.values.to(torch::kFloat64);
  EXPECT_LE(values.abs().max().item<double>(), truncation + 1e-6);

  // Within the band the error is the sampling's: a voxel centre on the sphere lies up to
  // ~0.3 h from the nearest of the 4096 samples (spacing ~0.5 h).
  const auto band = exact.abs() < truncation - 0.5 * h;
  ASSERT_GT(band.sum().item<int64_t>(), 1000);
  EXPECT_LT((values - exact).abs().masked_select(band).max().item<double>(), 0.5 * h);
  const auto far = exact.abs() > truncation + 0.5 * h;
  EXPECT_TRUE(torch::equal(values.masked_select(far), (exact.sign() * truncation).masked_select(far)
                                                          .to(torch::kFloat32).to(torch::kFloat64)));
  // Signs agree wherever the surface is not within a hair of the voxel centre.
  const auto clear = exact.abs() > 1e-3;
  EXPECT_TRUE(torch::equal((values < 0).masked_select(clear), (exact < 0).masked_select(clear)));
}

TEST(OrientedPointsSdf, MarchingCubesMeshesTheSampledSurface) {
  const double r = 0.6;
  const auto sphere = fibonacci_sphere(2048, r);
  const torch::Tensor& points = sphere.first;
  const torch::Tensor& normals = sphere.second;
  const auto grid = GridSpec::from_bounds({-1, -1, -1}, {1, 1, 1}, 32);
  const auto sdf = truncated_sdf_from_oriented_points(points, normals, grid, 2 * grid.voxel_size);
  const auto mesh = marching_cubes(sdf);
  const auto t = testing::topology(mesh);
  EXPECT_TRUE(t.watertight());
  EXPECT_EQ(t.components, 1);
  EXPECT_EQ(t.euler(), 2);
  // Outward faces (positive volume) show that inside is negative, as marching cubes expects.
  const double volume = 4.0 / 3.0 * M_PI * r * r * r;
  EXPECT_NEAR(testing::signed_volume(mesh) / volume, 1.0, 0.05);
  const auto off = mesh.vertices.to(torch::kFloat64).norm(2, 1) - r;
  EXPECT_LT(off.abs().max().item<double>(), 0.5 * grid.voxel_size);

  const auto occ = occupancy_from_sdf(sdf);
  const auto occ_mesh = marching_cubes(occ, {0.5, /*inside_above=*/true});
  EXPECT_TRUE(testing::topology(occ_mesh).watertight());
  EXPECT_NEAR(testing::signed_volume(occ_mesh) / volume, 1.0, 0.15);
}

TEST(OrientedPointsSdf, OccupancyIsTheNegativeRegion) {
  GridSpec grid;
  grid.resolution = {2, 2, 1};
  const auto sdf = grid.make_grid(torch::tensor({-0.5f, 0.0f, 0.25f, -1e-6f}), VoxelKind::SignedDistance);
  const auto occ = occupancy_from_sdf(sdf);
  EXPECT_EQ(occ.kind, VoxelKind::Occupancy);
  EXPECT_TRUE(torch::equal(occ.values.reshape({-1}), torch::tensor({1.0f, 0.0f, 0.0f, 1.0f})));
  EXPECT_EQ(occ.origin, sdf.origin);
  EXPECT_EQ(occ.voxel_size, sdf.voxel_size);
  expect_invalid([&] { occupancy_from_sdf(occ); }, "grid kind is Occupancy, expected SignedDistance");
}

// The definition written out: mark the clamped border cells outside, then sweep the whole grid
// again and again, marking clamped cells with a marked face neighbour, until a sweep adds none.
torch::Tensor relaxed_far_signs(const torch::Tensor& values, float truncation) {
  auto v = values.clone();
  auto a = v.accessor<float, 3>();
  const int64_t X = v.size(0), Y = v.size(1), Z = v.size(2);
  auto marked = torch::zeros({X, Y, Z}, torch::kBool);
  auto m = marked.accessor<bool, 3>();
  auto clamped = [&](int64_t i, int64_t j, int64_t k) { return std::abs(a[i][j][k]) >= truncation; };
  for (bool changed = true; changed;) {
    changed = false;
    for (int64_t i = 0; i < X; ++i) {
      for (int64_t j = 0; j < Y; ++j) {
        for (int64_t k = 0; k < Z; ++k) {
          if (m[i][j][k] || !clamped(i, j, k)) continue;
          bool reach = i == 0 || j == 0 || k == 0 || i == X - 1 || j == Y - 1 || k == Z - 1;
          reach = reach || m[i - 1][j][k] || m[i + 1][j][k] || m[i][j - 1][k] || m[i][j + 1][k] ||
                  m[i][j][k - 1] || m[i][j][k + 1];
          if (reach) m[i][j][k] = changed = true;
        }
      }
    }
  }
  for (int64_t i = 0; i < X; ++i) {
    for (int64_t j = 0; j < Y; ++j) {
      for (int64_t k = 0; k < Z; ++k) {
        if (clamped(i, j, k)) a[i][j][k] = m[i][j][k] ? truncation : -truncation;
      }
    }
  }
  return v;
}

TEST(OrientedPointsSdf, FarSignsFollowConnectivityAsTheRelaxationDoes) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  for (int trial = 0; trial < 4; ++trial) {
    GridSpec grid;
    grid.resolution = {9, 7, 8};
    // Random walls (band cells) and clamped cells of random sign.
    const auto u = torch::rand({9, 7, 8}, gen);
    const auto sign = torch::where(torch::rand({9, 7, 8}, gen) < 0.5, -1.0f, 1.0f);
    const auto values = torch::where(u < 0.35 + 0.1 * trial, u * sign, sign * 1.0f).to(torch::kFloat32);
    const auto fixed = connected_far_signs(grid.make_grid(values, VoxelKind::SignedDistance), 1.0);
    EXPECT_TRUE(torch::equal(fixed.values, relaxed_far_signs(values, 1.0f))) << "trial " << trial;
    const auto band = values.abs() < 1.0f;
    EXPECT_TRUE(torch::equal(fixed.values.masked_select(band), values.masked_select(band)));
  }
}

// A sphere's grid whose far cells got random signs (as a nearest sample on a thin part's far
// side gives them) comes back with the outside positive and the enclosed inside negative.
TEST(OrientedPointsSdf, ConnectedFarSignsRepairFlippedFarCells) {
  const auto sphere = fibonacci_sphere(4096, 0.7);
  const auto grid = GridSpec::from_bounds({-1, -1, -1}, {1, 1, 1}, 32);
  const double truncation = 2 * grid.voxel_size;
  const auto clean = truncated_sdf_from_oriented_points(sphere.first, sphere.second, grid, truncation);
  auto flipped = clean;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(2);
  const auto far = clean.values.abs() >= static_cast<float>(truncation) * (1 - 1e-6f);
  const auto flip = far & (torch::rand(clean.values.sizes(), gen) < 0.2);
  ASSERT_GT(flip.sum().item<int64_t>(), 1000);
  flipped.values = torch::where(flip, -clean.values, clean.values);
  const auto repaired = connected_far_signs(flipped, truncation);
  EXPECT_TRUE(torch::equal(repaired.values, clean.values));
  // Inside and outside far cells both exist, so neither sign is a default.
  EXPECT_GT((clean.values < 0 & far).sum().item<int64_t>(), 100);
  EXPECT_GT((clean.values > 0 & far).sum().item<int64_t>(), 100);
  expect_invalid([&] { connected_far_signs(occupancy_from_sdf(clean), truncation); }, "expected SignedDistance");
  expect_invalid([&] { connected_far_signs(clean, 0.0); }, "truncation must be > 0");
}

TEST(OrientedPointsSdf, BadInputNamesTheProblem) {
  const auto sphere = fibonacci_sphere(16, 0.5);
  const torch::Tensor& points = sphere.first;
  const torch::Tensor& normals = sphere.second;
  const auto grid = GridSpec::from_bounds({-1, -1, -1}, {1, 1, 1}, 8);
  auto call = [&](const torch::Tensor& p, const torch::Tensor& n, double truncation) {
    return [=] { truncated_sdf_from_oriented_points(p, n, grid, truncation); };
  };
  expect_invalid(call(torch::zeros({0, 3}), torch::zeros({0, 3}), 0.1), "points is empty");
  auto nan_points = points.clone();
  nan_points[3][1] = std::nanf("");
  expect_invalid(call(nan_points, normals, 0.1), "points contain NaN or Inf");
  auto inf_normals = normals.clone();
  inf_normals[2][0] = std::numeric_limits<float>::infinity();
  expect_invalid(call(points, inf_normals, 0.1), "normals contain NaN or Inf");
  expect_invalid(call(points, normals.slice(0, 0, 15), 0.1), "normals [15, 3] do not match points [16, 3]");
  expect_invalid(call(points, normals.slice(1, 0, 2), 0.1), "normals must be [N,3], got [16, 2]");
  expect_invalid(call(points.unsqueeze(0), normals, 0.1), "points must be [N,3], got [1, 16, 3]");
  expect_invalid(call(points.to(torch::kInt32), normals, 0.1), "points must be floating point");
  auto zero_normal = normals.clone();
  zero_normal[5].zero_();
  expect_invalid(call(points, zero_normal, 0.1), "normal of point 5 has zero length");
  expect_invalid(call(points, normals, 0.0), "truncation must be > 0, got 0");
  expect_invalid(call(points, normals, -1.0), "truncation must be > 0, got -1");
  expect_invalid(call(points, normals, std::nan("")), "truncation must be > 0");
  GridSpec bad = grid;
  bad.voxel_size = 0;
  expect_invalid([&] { truncated_sdf_from_oriented_points(points, normals, bad, 0.1); },
                 "truncated_sdf_from_oriented_points: grid voxel_size must be > 0");
}

}  // namespace
}  // namespace shapediff::shapes

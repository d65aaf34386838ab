#include "shapes/mesh_to_grid.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/shapes/geometry_fixtures.h"

namespace shapediff::shapes {
namespace {

using testing::expect_invalid;

TEST(MeshToGrid, SphereSdfMatchesAnalytic) {
  const double radius = 0.8;
  const auto mesh = testing::icosphere(3, radius, {0.05, 0, -0.05});
  const auto spec = GridSpec::from_bounds({-1, -1, -1}, {1, 1, 1}, 24);
  const auto sdf = mesh_to_sdf(mesh, spec);
  EXPECT_EQ(sdf.kind, VoxelKind::SignedDistance);
  ASSERT_EQ(sdf.values.sizes(), (torch::IntArrayRef{24, 24, 24}));
  const auto c =
      sdf.voxel_centers().to(torch::kFloat64) - torch::tensor({0.05, 0.0, -0.05}, torch::kFloat64);
  const auto analytic = c.norm(2, 1) - radius;
  // Flat faces sit up to ~2.3e-3 inside the sphere (level 3, radius 0.8): far below a voxel.
  const auto err = (sdf.values.reshape(-1).to(torch::kFloat64) - analytic).abs();
  EXPECT_LT(err.max().item<double>(), 4e-3);
  EXPECT_LT(err.max().item<double>(), 0.1 * sdf.voxel_size);
}

TEST(MeshToGrid, BoxSdfMatchesBruteForceAndAnalytic) {
  const auto mesh = testing::box_mesh({-0.5, -0.3, -0.2}, {0.4, 0.3, 0.6});
  GridSpec spec;
  spec.origin = {-0.8, -0.7, -0.6};
  spec.voxel_size = 0.23;
  spec.resolution = {7, 6, 8};
  const auto sdf = mesh_to_sdf(mesh, spec);
  ASSERT_EQ(sdf.values.sizes(), (torch::IntArrayRef{7, 6, 8}));
  EXPECT_EQ(sdf.origin, spec.origin);
  const auto centers = spec.centers(torch::kFloat64);
  const auto v = mesh.vertices.to(torch::kFloat64);
  const auto lo = torch::tensor({-0.5, -0.3, -0.2}, torch::kFloat64);
  const auto hi = torch::tensor({0.4, 0.3, 0.6}, torch::kFloat64);
  const auto flat = sdf.values.reshape(-1);
  for (int64_t i = 0; i < centers.size(0); ++i) {
    const auto p = centers[i];
    double unsigned_d = std::numeric_limits<double>::infinity();
    for (int64_t f = 0; f < 12; ++f) {
      const auto tri = mesh.faces[f];
      unsigned_d = std::min(unsigned_d, testing::reference_distance(p, v[tri[0].item<int64_t>()],
                                                                    v[tri[1].item<int64_t>()],
                                                                    v[tri[2].item<int64_t>()]));
    }
    const bool inside = ((p > lo) & (p < hi)).all().item<bool>();
    const double want = inside ? -unsigned_d : unsigned_d;
    EXPECT_NEAR(flat[i].item<float>(), want, 1e-6) << "voxel " << i;
    // Box SDF in closed form.
    const auto q = (p - 0.5 * (lo + hi)).abs() - 0.5 * (hi - lo);
    const double analytic =
        q.clamp_min(0).norm().item<double>() + std::min(q.max().item<double>(), 0.0);
    EXPECT_NEAR(flat[i].item<float>(), analytic, 1e-6) << "voxel " << i;
  }
  // The per-point form gives the same values.
  EXPECT_TRUE(torch::allclose(signed_distance(mesh, centers), flat, 0, 1e-6));
}

TEST(MeshToGrid, OccupancyOfSphereWithHoles) {
  const auto sphere = testing::icosphere(3, 0.75);
  auto keep = torch::ones({sphere.num_faces()}, torch::kBool);
  for (int64_t f : {0, 77, 300, 640, 1001, 1279}) keep[f] = false;
  const TriangleMesh holed{sphere.vertices, sphere.faces.index({keep})};
  const auto spec = GridSpec::from_bounds({-1, -1, -1}, {1, 1, 1}, 20);
  const auto occ = mesh_to_occupancy(holed, spec);
  EXPECT_EQ(occ.kind, VoxelKind::Occupancy);
  const auto r = occ.voxel_centers().norm(2, 1);
  const auto values = occ.values.reshape(-1);
  // Away from the surface (more than a quarter voxel) the occupancy is the ball's.
  const auto clear = (r - 0.75).abs() > 0.25 * spec.voxel_size;
  EXPECT_TRUE(torch::equal(values.masked_select(clear),
                           (r < 0.75).to(torch::kFloat32).masked_select(clear)));
  // And the grid reuses an existing grid's placement.
  const auto again = mesh_to_occupancy(holed, GridSpec::of(occ));
  EXPECT_TRUE(torch::equal(again.values, occ.values));
  // A ray-parity voxelizer would leak through the holes; the SDF sign does not either.
  const auto sdf = mesh_to_sdf(holed, spec);
  EXPECT_TRUE(torch::equal((sdf.values < 0).to(torch::kFloat32), occ.values));
}

TEST(MeshToGrid, ExactAndFastWindingAgreeOnOccupancy) {
  const auto mesh = testing::icosphere(2, 0.6);
  const auto spec = GridSpec::from_bounds({-1, -1, -1}, {1, 1, 1}, 12);
  MeshToGridOptions exact;
  exact.winding.exact = true;
  EXPECT_TRUE(torch::equal(mesh_to_occupancy(mesh, spec).values,
                           mesh_to_occupancy(mesh, spec, exact).values));
}

TEST(MeshToGrid, RejectsBadInput) {
  const auto mesh = testing::icosphere(0);
  auto spec = GridSpec::from_bounds({-1, -1, -1}, {1, 1, 1}, 4);
  expect_invalid(
      [&] {
        mesh_to_occupancy(TriangleMesh{torch::zeros({3, 3}), torch::zeros({0, 3}, torch::kLong)},
                          spec);
      },
      "no faces");
  auto nan_mesh = mesh;
  nan_mesh.vertices = mesh.vertices.clone();
  nan_mesh.vertices[0][0] = NAN;
  expect_invalid([&] { mesh_to_sdf(nan_mesh, spec); }, "mesh_to_sdf: vertices row 0");
  auto bad = spec;
  bad.voxel_size = 0;
  expect_invalid([&] { mesh_to_sdf(mesh, bad); }, "voxel_size");
  bad = spec;
  bad.resolution[1] = 0;
  expect_invalid([&] { mesh_to_occupancy(mesh, bad); }, "resolution[1]");
  MeshToGridOptions options;
  options.inside_threshold = NAN;
  expect_invalid([&] { mesh_to_occupancy(mesh, spec, options); }, "inside_threshold");
  expect_invalid([&] { signed_distance(mesh, torch::zeros({2, 2})); }, "points must be [N,3]");
}

}  // namespace
}  // namespace shapediff::shapes

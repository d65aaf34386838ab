#include "shapes/marching_cubes.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/shapes/mesh_test_support.h"

namespace shapediff::shapes {
namespace {

using testing::signed_volume;
using testing::surface_area;
using testing::topology;

// A cubic grid with n samples spanning [-extent, extent] on each axis.
VoxelGrid sample_field(int64_t n, double extent,
                       const std::function<torch::Tensor(const torch::Tensor&)>& field) {
  VoxelGrid g;
  g.origin = {-extent, -extent, -extent};
  g.voxel_size = 2.0 * extent / double(n - 1);
  g.kind = VoxelKind::SignedDistance;
  g.values = torch::zeros({n, n, n}, torch::kFloat32);
  const auto p = g.voxel_centers().to(torch::kFloat64);
  g.values = field(p).to(torch::kFloat32).reshape({n, n, n});
  return g;
}

torch::Tensor sphere_sdf(const torch::Tensor& p, double r) { return p.norm(2, 1) - r; }

torch::Tensor torus_sdf(const torch::Tensor& p, double major, double minor) {
  const auto xz = torch::sqrt(p.select(1, 0).square() + p.select(1, 2).square()) - major;
  return torch::sqrt(xz.square() + p.select(1, 1).square()) - minor;
}

TEST(MarchingCubes, SphereIsClosedWithAnalyticAreaAndVolume) {
  const double r = 0.8;
  const auto g = sample_field(64, 1.0, [&](const torch::Tensor& p) { return sphere_sdf(p, r); });
  const auto mesh = marching_cubes(g);
  mesh.validate("sphere");
  const auto t = topology(mesh);
  EXPECT_TRUE(t.watertight()) << "boundary " << t.boundary_edges << " nonmanifold "
                              << t.nonmanifold_edges << " misoriented " << t.misoriented_edges;
  EXPECT_EQ(t.euler(), 2);
  EXPECT_EQ(t.components, 1);
  EXPECT_EQ(t.vertices, mesh.num_vertices()) << "every vertex is used";
  const double area = 4.0 * M_PI * r * r;
  const double volume = 4.0 / 3.0 * M_PI * r * r * r;
  EXPECT_NEAR(surface_area(mesh) / area, 1.0, 0.02);
  EXPECT_NEAR(signed_volume(mesh) / volume, 1.0, 0.01);
  const auto d = mesh.vertices.to(torch::kFloat64).norm(2, 1) - r;
  EXPECT_LT(d.abs().max().item<double>(), 0.01) << "vertices lie on the sphere";
}

TEST(MarchingCubes, NormalsPointToIncreasingField) {
  const auto g = sample_field(24, 1.0, [](const torch::Tensor& p) { return sphere_sdf(p, 0.6); });
  const auto mesh = marching_cubes(g);
  EXPECT_GT(signed_volume(mesh), 0.0);
  const auto centers = (mesh.vertices.index_select(0, mesh.faces.select(1, 0)) +
                        mesh.vertices.index_select(0, mesh.faces.select(1, 1)) +
                        mesh.vertices.index_select(0, mesh.faces.select(1, 2))) /
                       3.0;
  const auto radial = (mesh.face_normals() * centers).sum(1);
  const auto valid = mesh.face_areas() > 1e-8;
  EXPECT_TRUE((radial.masked_select(valid) > 0).all().item<bool>());

  // The same field negated is inside above zero: the surface turns inside out unless told.
  VoxelGrid flipped = g;
  flipped.values = -g.values;
  EXPECT_LT(signed_volume(marching_cubes(flipped)), 0.0);
  EXPECT_NEAR(signed_volume(marching_cubes(flipped, {0.0, /*inside_above=*/true})),
              signed_volume(mesh), 1e-6);
}

TEST(MarchingCubes, TorusHasEulerCharacteristicZero) {
  const auto g =
      sample_field(48, 1.0, [](const torch::Tensor& p) { return torus_sdf(p, 0.6, 0.25); });
  const auto mesh = marching_cubes(g);
  const auto t = topology(mesh);
  EXPECT_TRUE(t.watertight());
  EXPECT_EQ(t.euler(), 0);
  EXPECT_EQ(t.components, 1);
  const double volume = 2.0 * M_PI * M_PI * 0.6 * 0.25 * 0.25;
  EXPECT_NEAR(signed_volume(mesh) / volume, 1.0, 0.02);
}

TEST(MarchingCubes, SeparateBlobsAreSeparateComponents) {
  const auto g = sample_field(32, 1.0, [](const torch::Tensor& p) {
    const auto a = sphere_sdf(p - torch::tensor({0.5, 0.0, 0.0}, torch::kFloat64), 0.3);
    const auto b = sphere_sdf(p + torch::tensor({0.5, 0.0, 0.0}, torch::kFloat64), 0.3);
    return torch::minimum(a, b);
  });
  const auto t = topology(marching_cubes(g));
  EXPECT_TRUE(t.watertight());
  EXPECT_EQ(t.components, 2);
  EXPECT_EQ(t.euler(), 4);
}

TEST(MarchingCubes, IsoLevelSelectsTheSurface) {
  const auto g = sample_field(40, 1.0, [](const torch::Tensor& p) { return p.norm(2, 1); });
  const auto mesh = marching_cubes(g, {0.5});
  const auto d = mesh.vertices.to(torch::kFloat64).norm(2, 1);
  EXPECT_LT((d - 0.5).abs().max().item<double>(), 0.02);
  EXPECT_TRUE(topology(mesh).watertight());
}

TEST(MarchingCubes, OccupancyGridWithSamplesOnTheLevelStaysClosed) {
  // A 0/1 cube: every crossing sits half-way and many samples lie exactly on iso 1.
  auto occ = torch::zeros({10, 10, 10}, torch::kFloat32);
  occ.slice(0, 2, 7).slice(1, 3, 8).slice(2, 2, 5).fill_(1.0);
  VoxelGrid g{occ, {0, 0, 0}, 1.0, VoxelKind::Occupancy};
  const auto half = marching_cubes(g, {0.5, true});
  auto t = topology(half);
  EXPECT_TRUE(t.watertight());
  EXPECT_EQ(t.euler(), 2);
  // Faces run half-way between samples; edges and corners are chamfered.
  EXPECT_LT(signed_volume(half), 5.0 * 5.0 * 3.0);
  EXPECT_GT(signed_volume(half), 0.7 * 5.0 * 5.0 * 3.0);

  const auto on_level = marching_cubes(g, {1.0, true});  // nothing is strictly above 1
  EXPECT_TRUE(on_level.empty());
  const auto low = marching_cubes(g, {0.0, true});
  t = topology(low);
  EXPECT_TRUE(t.watertight());
  EXPECT_EQ(t.euler(), 2);
  EXPECT_GT(low.face_areas().min().item<float>(), 0.0f) << "no collapsed triangles";
}

TEST(MarchingCubes, EmptyAndFullFieldsGiveEmptyMeshes) {
  for (float value : {1.0f, -1.0f}) {
    VoxelGrid g{torch::full({8, 8, 8}, value), {0, 0, 0}, 0.1, VoxelKind::SignedDistance};
    const auto m = marching_cubes(g);
    EXPECT_TRUE(m.empty());
    EXPECT_EQ(m.vertices.sizes(), torch::IntArrayRef({0, 3}));
    EXPECT_EQ(m.faces.sizes(), torch::IntArrayRef({0, 3}));
    EXPECT_EQ(m.faces.scalar_type(), torch::kInt64);
  }
  VoxelGrid flat{torch::full({1, 8, 8}, -1.0f), {0, 0, 0}, 0.1, VoxelKind::SignedDistance};
  EXPECT_TRUE(marching_cubes(flat).empty());
}

TEST(MarchingCubes, Float64FieldMatchesFloat32) {
  auto g = sample_field(20, 1.0, [](const torch::Tensor& p) { return sphere_sdf(p, 0.7); });
  const auto a = marching_cubes(g);
  g.values = g.values.to(torch::kFloat64);
  const auto b = marching_cubes(g);
  EXPECT_TRUE(torch::equal(a.faces, b.faces));
  EXPECT_TRUE(torch::allclose(a.vertices, b.vertices, 0, 1e-6));
}

TEST(MarchingCubes, OriginAndVoxelSizePlaceTheMesh) {
  auto g = sample_field(20, 1.0, [](const torch::Tensor& p) { return sphere_sdf(p, 0.7); });
  const auto base = marching_cubes(g);
  g.origin = {9.0, -2.0, 0.5};
  g.voxel_size *= 3.0;
  const auto moved = marching_cubes(g);
  const auto expect = (base.vertices + 1.0) * 3.0 + torch::tensor({9.0f, -2.0f, 0.5f});
  EXPECT_TRUE(torch::allclose(moved.vertices, expect, 1e-5, 1e-4));
}

TEST(MarchingCubes, RejectsNonFiniteInput) {
  auto g = sample_field(12, 1.0, [](const torch::Tensor& p) { return sphere_sdf(p, 0.5); });
  g.values[3][4][5] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(marching_cubes(g), std::invalid_argument);
  try {
    marching_cubes(g);
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
  }
  auto ok = sample_field(12, 1.0, [](const torch::Tensor& p) { return sphere_sdf(p, 0.5); });
  EXPECT_THROW(marching_cubes(ok, {std::nan("")}), std::invalid_argument);
  ok.voxel_size = 0.0;
  EXPECT_THROW(marching_cubes(ok), std::invalid_argument);
  VoxelGrid wrong{torch::zeros({4, 4}), {0, 0, 0}, 1.0, VoxelKind::SignedDistance};
  EXPECT_THROW(marching_cubes(wrong), std::invalid_argument);
}

// --- classic marching cubes (IsoSurfaceMethod::Cubes) ---

const MarchingCubesOptions kCubes{0.0, false, IsoSurfaceMethod::Cubes};

// Grid edges whose two samples lie on different sides: what classic MC makes vertices of.
int64_t crossed_grid_edges(const torch::Tensor& inside) {
  int64_t n = 0;
  for (int64_t axis = 0; axis < 3; ++axis) {
    const int64_t len = inside.size(axis);
    n += (inside.narrow(axis, 0, len - 1) != inside.narrow(axis, 1, len - 1)).sum().item<int64_t>();
  }
  return n;
}

TEST(MarchingCubesClassic, SphereIsClosedWithOneVertexPerCrossedEdge) {
  const double r = 0.8;
  const auto g = sample_field(64, 1.0, [&](const torch::Tensor& p) { return sphere_sdf(p, r); });
  const auto mesh = marching_cubes(g, kCubes);
  mesh.validate("sphere");
  const auto t = topology(mesh);
  EXPECT_TRUE(t.watertight()) << "boundary " << t.boundary_edges << " nonmanifold "
                              << t.nonmanifold_edges << " misoriented " << t.misoriented_edges;
  EXPECT_EQ(t.euler(), 2);
  EXPECT_EQ(t.components, 1);
  EXPECT_EQ(mesh.num_vertices(), crossed_grid_edges(g.values < 0));
  EXPECT_NEAR(signed_volume(mesh) / (4.0 / 3.0 * M_PI * r * r * r), 1.0, 0.01);
  const auto d = mesh.vertices.to(torch::kFloat64).norm(2, 1) - r;
  EXPECT_LT(d.abs().max().item<double>(), 0.01);
}

TEST(MarchingCubesClassic, TorusAndOccupancyAreClosedAndOutward) {
  const auto g = sample_field(48, 1.0, [](const torch::Tensor& p) { return torus_sdf(p, 0.6, 0.25); });
  auto t = topology(marching_cubes(g, kCubes));
  EXPECT_TRUE(t.watertight());
  EXPECT_EQ(t.euler(), 0);
  auto occ = torch::zeros({10, 10, 10}, torch::kFloat32);
  occ.slice(0, 2, 7).slice(1, 3, 8).slice(2, 2, 5).fill_(1.0);
  const auto box = marching_cubes(VoxelGrid{occ, {0, 0, 0}, 1.0, VoxelKind::Occupancy},
                                  {0.5, true, IsoSurfaceMethod::Cubes});
  t = topology(box);
  EXPECT_TRUE(t.watertight());
  EXPECT_EQ(t.euler(), 2);
  EXPECT_GT(signed_volume(box), 0.7 * 5.0 * 5.0 * 3.0);
  EXPECT_GT(box.face_areas().min().item<float>(), 0.0f);
}

// Random fields hit every cube case, ambiguous faces included; with the border outside, the
// surface must still close up with every edge shared by two faces in opposite directions.
TEST(MarchingCubesClassic, RandomFieldsGiveWatertightSurfaces) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  std::vector<bool> seen(256, false);
  for (int trial = 0; trial < 4; ++trial) {
    auto v = torch::rand({14, 14, 14}, gen) - 0.45;
    v.slice(0, 0, 1).fill_(1);
    v.slice(0, 13, 14).fill_(1);
    v.slice(1, 0, 1).fill_(1);
    v.slice(1, 13, 14).fill_(1);
    v.slice(2, 0, 1).fill_(1);
    v.slice(2, 13, 14).fill_(1);
    const VoxelGrid g{v.to(torch::kFloat32), {0, 0, 0}, 1.0, VoxelKind::SignedDistance};
    const auto mesh = marching_cubes(g, kCubes);
    const auto t = topology(mesh);
    EXPECT_TRUE(t.watertight()) << "boundary " << t.boundary_edges << " nonmanifold "
                                << t.nonmanifold_edges << " misoriented " << t.misoriented_edges;
    // A loop that cannot be split without a diagonal on a cube face gets a centre vertex.
    const int64_t crossed = crossed_grid_edges(g.values < 0);
    EXPECT_GE(mesh.num_vertices(), crossed);
    EXPECT_LT(mesh.num_vertices(), crossed * 1.05);
    EXPECT_GT(signed_volume(mesh), 0.0);
    const auto in = (g.values < 0).to(torch::kInt32);
    const auto c = in.slice(0, 0, 13).slice(1, 0, 13).slice(2, 0, 13) + 2 * in.slice(0, 1, 14).slice(1, 0, 13).slice(2, 0, 13) +
                   4 * in.slice(0, 0, 13).slice(1, 1, 14).slice(2, 0, 13) + 8 * in.slice(0, 1, 14).slice(1, 1, 14).slice(2, 0, 13) +
                   16 * in.slice(0, 0, 13).slice(1, 0, 13).slice(2, 1, 14) + 32 * in.slice(0, 1, 14).slice(1, 0, 13).slice(2, 1, 14) +
                   64 * in.slice(0, 0, 13).slice(1, 1, 14).slice(2, 1, 14) + 128 * in.slice(0, 1, 14).slice(1, 1, 14).slice(2, 1, 14);
    const auto flat = c.flatten().contiguous();
    for (int64_t i = 0; i < flat.numel(); ++i) seen[flat[i].item<int>()] = true;
  }
  EXPECT_GT(std::count(seen.begin(), seen.end(), true), 200) << "most cube cases exercised";
}

}  // namespace
}  // namespace shapediff::shapes

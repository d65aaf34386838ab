#include "shapes/mesh_sampling.h"

#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/shapes/geometry_fixtures.h"

namespace shapediff::shapes {
namespace {

using testing::expect_invalid;

// Four faces with areas 0.5, 2, 0 (degenerate) and 4.5 that share no vertices.
TriangleMesh uneven_mesh() {
  auto v = torch::tensor({0.f, 0.f, 0.f,  1.f, 0.f, 0.f,  0.f, 1.f, 0.f,    // area 0.5
                          0.f, 0.f, 1.f,  2.f, 0.f, 1.f,  0.f, 2.f, 1.f,    // area 2
                          5.f, 5.f, 5.f,  6.f, 6.f, 6.f,  7.f, 7.f, 7.f,    // collinear: 0
                          0.f, 0.f, -1.f, 0.f, 3.f, -1.f, 3.f, 0.f, -1.f})  // area 4.5
               .reshape({12, 3});
  auto f = torch::arange(12, torch::kLong).reshape({4, 3});
  return {v, f};
}

TEST(MeshSampling, FaceCountsFollowAreaAndSkipDegenerateFaces) {
  const auto mesh = uneven_mesh();
  const int64_t n = 20000;
  torch::Tensor faces;
  const auto pc = sample_surface(mesh, n, /*seed=*/11, &faces);
  ASSERT_EQ(pc.points.sizes(), (torch::IntArrayRef{n, 3}));
  ASSERT_EQ(faces.sizes(), (torch::IntArrayRef{n}));
  const auto counts = torch::bincount(faces, {}, 4).to(torch::kFloat64);
  EXPECT_EQ(counts[2].item<double>(), 0.0);
  // Pearson chi-square over the three faces with area (2 degrees of freedom): P(> 13.8) = 0.001.
  const double areas[] = {0.5, 2.0, 0.0, 4.5};
  double chi2 = 0;
  for (int i : {0, 1, 3}) {
    const double expected = n * areas[i] / 7.0;
    chi2 += std::pow(counts[i].item<double>() - expected, 2) / expected;
  }
  EXPECT_LT(chi2, 13.8);
}

TEST(MeshSampling, PointsLieOnTheirFacesWithFaceNormals) {
  const auto mesh = testing::icosphere(1, 0.7, {0.1, -0.2, 0.3});
  torch::Tensor faces;
  const auto pc = sample_surface(mesh, 3000, /*seed=*/5, &faces);
  ASSERT_TRUE(pc.has_normals());
  const auto v = mesh.vertices.to(torch::kFloat64);
  const auto f = mesh.faces.index_select(0, faces);
  const auto a = v.index_select(0, f.select(1, 0));
  const auto b = v.index_select(0, f.select(1, 1));
  const auto c = v.index_select(0, f.select(1, 2));
  const auto p = pc.points.to(torch::kFloat64);
  const auto n = torch::cross(b - a, c - a, 1);
  const auto unit = n / n.norm(2, 1, true);
  // On the plane, and inside: the three sub-triangle areas add up to the face's area.
  EXPECT_LT(((p - a) * unit).sum(1).abs().max().item<double>(), 1e-6);
  const auto sub = torch::cross(b - p, c - p, 1).norm(2, 1) +
                   torch::cross(c - p, a - p, 1).norm(2, 1) +
                   torch::cross(a - p, b - p, 1).norm(2, 1);
  EXPECT_LT((sub - n.norm(2, 1)).abs().max().item<double>(), 1e-5);
  EXPECT_LT((pc.normals.to(torch::kFloat64) - unit).abs().max().item<double>(), 1e-6);
}

TEST(MeshSampling, UniformInsideOneTriangle) {
  // Right triangle (0,0),(1,0),(0,1): the fraction below x + y = 1/sqrt(2) is 1/2 by area.
  TriangleMesh tri{torch::tensor({0.f, 0.f, 0.f, 1.f, 0.f, 0.f, 0.f, 1.f, 0.f}).reshape({3, 3}),
                   torch::tensor({0, 1, 2}, torch::kLong).reshape({1, 3})};
  const int64_t n = 40000;
  const auto p = sample_surface(tri, n, 3).points;
  const double below =
      (p.select(1, 0) + p.select(1, 1) < 1.0 / std::sqrt(2.0)).sum().item<double>();
  EXPECT_NEAR(below / n, 0.5, 4 * std::sqrt(0.25 / n));
}

TEST(MeshSampling, SeedsAndGeneratorsAreDeterministic) {
  const auto mesh = testing::icosphere(1);
  const auto a = sample_surface(mesh, 100, 42);
  const auto b = sample_surface(mesh, 100, 42);
  const auto c = sample_surface(mesh, 100, 43);
  EXPECT_TRUE(torch::equal(a.points, b.points));
  EXPECT_FALSE(torch::equal(a.points, c.points));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(42);
  EXPECT_TRUE(torch::equal(sample_surface(mesh, 100, gen).points, a.points));
  EXPECT_EQ(sample_surface(mesh, 0, 1).points.sizes(), (torch::IntArrayRef{0, 3}));
}

TEST(MeshSampling, RejectsBadInput) {
  const auto good = testing::icosphere(0);
  expect_invalid(
      [&] {
        sample_surface(TriangleMesh{torch::zeros({0, 3}), torch::zeros({0, 3}, torch::kLong)}, 10,
                       1);
      },
      "no faces");
  auto nan_mesh = good;
  nan_mesh.vertices = good.vertices.clone();
  nan_mesh.vertices[3][1] = NAN;
  expect_invalid([&] { sample_surface(nan_mesh, 10, 1); }, "vertices row 3");
  expect_invalid(
      [&] {
        sample_surface(TriangleMesh{good.vertices, good.faces.select(1, 0)}, 10, 1);
      },
      "faces must be [N,3]");
  expect_invalid([&] { sample_surface(good, -1, 1); }, "num_points");
  TriangleMesh flat{torch::zeros({3, 3}), torch::tensor({0, 1, 2}, torch::kLong).reshape({1, 3})};
  expect_invalid([&] { sample_surface(flat, 10, 1); }, "zero total area");
}

}  // namespace
}  // namespace shapediff::shapes

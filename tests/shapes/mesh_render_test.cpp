// The z-buffer rasterizer against brute-force ray casting, and exact silhouettes of a cube.
#include "shapes/mesh_render.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "shapes/procedural.h"
#include "tests/shapes/geometry_fixtures.h"

namespace shapediff::shapes {
namespace {

using Vec = std::array<double, 3>;

using Triangle = std::array<Vec, 3>;

std::vector<Triangle> triangles_of(const TriangleMesh& mesh) {
  const auto v = mesh.vertices.to(torch::kFloat64).contiguous();
  const auto f = mesh.faces.contiguous();
  const auto va = v.accessor<double, 2>();
  const auto fa = f.accessor<int64_t, 2>();
  std::vector<Triangle> out(static_cast<size_t>(f.size(0)));
  for (int64_t t = 0; t < f.size(0); ++t) {
    for (int c = 0; c < 3; ++c) out[t][c] = {va[fa[t][c]][0], va[fa[t][c]][1], va[fa[t][c]][2]};
  }
  return out;
}

// Nearest hit t > 0 of the ray o + t d with every triangle (Moller-Trumbore, both sides), +inf
// for a miss: the plain reference for one pixel.
double cast_ray(const std::vector<Triangle>& triangles, const Vec& o, const Vec& d) {
  double best = std::numeric_limits<double>::infinity();
  for (const Triangle& p : triangles) {
    const Vec e1{p[1][0] - p[0][0], p[1][1] - p[0][1], p[1][2] - p[0][2]};
    const Vec e2{p[2][0] - p[0][0], p[2][1] - p[0][1], p[2][2] - p[0][2]};
    const Vec h{d[1] * e2[2] - d[2] * e2[1], d[2] * e2[0] - d[0] * e2[2], d[0] * e2[1] - d[1] * e2[0]};
    const double det = e1[0] * h[0] + e1[1] * h[1] + e1[2] * h[2];
    if (std::abs(det) < 1e-14) continue;
    const Vec s{o[0] - p[0][0], o[1] - p[0][1], o[2] - p[0][2]};
    const double u = (s[0] * h[0] + s[1] * h[1] + s[2] * h[2]) / det;
    if (u < 0 || u > 1) continue;
    const Vec q{s[1] * e1[2] - s[2] * e1[1], s[2] * e1[0] - s[0] * e1[2], s[0] * e1[1] - s[1] * e1[0]};
    const double w = (d[0] * q[0] + d[1] * q[1] + d[2] * q[2]) / det;
    if (w < 0 || u + w > 1) continue;
    const double t_hit = (e2[0] * q[0] + e2[1] * q[1] + e2[2] * q[2]) / det;
    if (t_hit > 0 && t_hit < best) best = t_hit;
  }
  return best;
}

// Depth image [H,W] by casting one ray per pixel centre.
torch::Tensor reference_depth(const TriangleMesh& mesh, const OrthographicCamera& cam) {
  auto out = torch::empty({cam.height, cam.width}, torch::kFloat64);
  auto a = out.accessor<double, 2>();
  const double pixel = 2.0 * cam.half_width / static_cast<double>(cam.width);
  const double half_height = 0.5 * pixel * static_cast<double>(cam.height);
  const Vec& r = cam.rotation[0];
  const Vec& u = cam.rotation[1];
  const Vec d{-cam.rotation[2][0], -cam.rotation[2][1], -cam.rotation[2][2]};
  const auto triangles = triangles_of(mesh);
  for (int64_t row = 0; row < cam.height; ++row) {
    for (int64_t col = 0; col < cam.width; ++col) {
      const double x = -cam.half_width + (static_cast<double>(col) + 0.5) * pixel;
      const double y = half_height - (static_cast<double>(row) + 0.5) * pixel;
      const Vec o{cam.position[0] + x * r[0] + y * u[0], cam.position[1] + x * r[1] + y * u[1],
                  cam.position[2] + x * r[2] + y * u[2]};
      a[row][col] = cast_ray(triangles, o, d);
    }
  }
  return out.to(torch::kFloat32);
}

void expect_matches_reference(const TriangleMesh& mesh, const OrthographicCamera& cam) {
  const MeshRender r = render_mesh(mesh, cam);
  const auto ref = reference_depth(mesh, cam);
  const auto ref_mask = torch::isfinite(ref);
  ASSERT_EQ(r.depth.sizes(), ref.sizes());
  EXPECT_TRUE(torch::equal(r.mask, ref_mask))
      << (r.mask != ref_mask).sum().item<int64_t>() << " silhouette pixels differ";
  EXPECT_TRUE(ref_mask.any().item<bool>());
  EXPECT_TRUE(torch::allclose(r.depth.masked_select(ref_mask), ref.masked_select(ref_mask), 1e-5, 1e-5));
}

TEST(MeshRender, MatchesRayCastingOnSphereFromRandomViews) {
  const auto sphere = testing::icosphere(2, 0.8, {0.1, -0.05, 0.0});
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  for (int view = 0; view < 4; ++view) {
    const Vec pos{3 * unit(rng), 3 * unit(rng), 3 * unit(rng) + 0.5};
    const auto cam = OrthographicCamera::looking_at(pos, {0, 0, 0}, {0, 1, 0}, 32, 24, 1.1);
    SCOPED_TRACE("view " + std::to_string(view));
    expect_matches_reference(sphere, cam);
  }
}

TEST(MeshRender, MatchesRayCastingOnProceduralShape) {
  // A concave shape with thin parts and self-occlusion.
  const auto chair = make_shape(ShapeFamily::Chair, 3, 5, ProceduralOptions{}.set_resolution(24));
  const auto cam = OrthographicCamera::looking_at({2.0, 1.2, 2.5}, {0, 0, 0}, {0, 1, 0}, 32, 32, 1.2);
  expect_matches_reference(chair, cam);
}

TEST(MeshRender, UnitCubeFaceOnIsAnExactSquare) {
  const auto cube = testing::box_mesh({-0.5, -0.5, -0.5}, {0.5, 0.5, 0.5});
  // 32 pixels across 2 world units: the unit cube covers the middle 16 x 16 pixels.
  const auto cam = OrthographicCamera::looking_at({0, 0, 3}, {0, 0, 0}, {0, 1, 0}, 32, 32, 1.0);
  const MeshRender r = render_mesh(cube, cam);
  auto expected = torch::zeros({32, 32}, torch::kBool);
  expected.slice(0, 8, 24).slice(1, 8, 24).fill_(true);
  EXPECT_TRUE(torch::equal(r.mask, expected));
  EXPECT_TRUE(torch::allclose(r.depth.masked_select(expected), torch::full({256}, 2.5f)));
  EXPECT_TRUE(torch::isinf(r.depth.masked_select(~expected)).all().item<bool>());
}

TEST(MeshRender, ImageAxesFollowTheCamera) {
  // A small cube right of and above the centre appears in the upper right, in every thread count.
  const auto cube = testing::box_mesh({0.5, 0.5, -0.1}, {0.9, 0.9, 0.1});
  const auto cam = OrthographicCamera::looking_at({0, 0, 3}, {0, 0, 0}, {0, 1, 0}, 20, 20, 1.0);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto one = render_mesh(cube, cam);
  at::set_num_threads(2);
  const auto two = render_mesh(cube, cam);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one.depth, two.depth));
  // x in [0.5, 0.9] -> columns 15..18; y in [0.5, 0.9] -> rows 1..4.
  auto expected = torch::zeros({20, 20}, torch::kBool);
  expected.slice(0, 1, 5).slice(1, 15, 19).fill_(true);
  EXPECT_TRUE(torch::equal(one.mask, expected));
}

TEST(MeshRender, SurfaceBehindTheCameraIsNotDrawn) {
  const auto cube = testing::box_mesh({-0.5, -0.5, -0.5}, {0.5, 0.5, 0.5});
  // The camera plane cuts the cube: only the inside of the back face is in front of it.
  const auto cam = OrthographicCamera::looking_at({0, 0, 0.2}, {0, 0, -1}, {0, 1, 0}, 16, 16, 1.0);
  const MeshRender r = render_mesh(cube, cam);
  EXPECT_TRUE(torch::allclose(r.depth.masked_select(r.mask), torch::full({64}, 0.7f)));
  EXPECT_EQ(r.mask.sum().item<int64_t>(), 64);
}

TEST(MeshRender, EmptyMeshAndBadInput) {
  TriangleMesh empty{torch::zeros({0, 3}), torch::zeros({0, 3}, torch::kLong)};
  const auto cam = OrthographicCamera::looking_at({0, 0, 3}, {0, 0, 0}, {0, 1, 0}, 8, 8, 1.0);
  EXPECT_FALSE(render_mesh(empty, cam).mask.any().item<bool>());

  TriangleMesh bad{torch::zeros({3, 3}), torch::tensor({{0, 1, 5}}, torch::kLong)};
  EXPECT_THROW(render_mesh(bad, cam), std::invalid_argument);
  EXPECT_THROW(OrthographicCamera::looking_at({0, 0, 0}, {0, 0, 0}, {0, 1, 0}, 8, 8, 1.0),
               std::invalid_argument);
  EXPECT_THROW(OrthographicCamera::looking_at({0, 3, 0}, {0, 0, 0}, {0, 1, 0}, 8, 8, 1.0),
               std::invalid_argument);
  EXPECT_THROW(OrthographicCamera::looking_at({0, 0, 3}, {0, 0, 0}, {0, 1, 0}, 8, 8, 0.0),
               std::invalid_argument);
  EXPECT_THROW(OrthographicCamera::looking_at({0, 0, 3}, {0, 0, 0}, {0, 1, 0}, 0, 8, 1.0),
               std::invalid_argument);
}

}  // namespace
}  // namespace shapediff::shapes

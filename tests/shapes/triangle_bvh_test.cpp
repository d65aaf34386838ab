#include "shapes/triangle_bvh.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/shapes/geometry_fixtures.h"

namespace shapediff::shapes {
namespace {

using testing::expect_invalid;

using testing::reference_distance;

TEST(TriangleBvh, ClosestPointsMatchBruteForce) {
  torch::manual_seed(0);
  // Random triangles (including a degenerate one) and random queries around them.
  auto v = torch::rand({60, 3}, torch::kFloat64);
  v[5] = v[4];                   // face 1 has a repeated corner
  v[9] = 0.5 * (v[10] + v[11]);  // face 3 is collinear
  const TriangleMesh mesh{v.to(torch::kFloat32), torch::arange(60, torch::kLong).reshape({20, 3})};
  const auto q = torch::rand({150, 3}, torch::kFloat64) * 1.6 - 0.3;
  const TriangleBvh bvh(mesh, /*leaf_size=*/2);
  const auto hit = bvh.closest_points(q);
  const auto vd = mesh.vertices.to(torch::kFloat64);
  for (int64_t i = 0; i < q.size(0); ++i) {
    double best = std::numeric_limits<double>::infinity();
    for (int64_t f = 0; f < 20; ++f) {
      best = std::min(best, reference_distance(q[i], vd[3 * f], vd[3 * f + 1], vd[3 * f + 2]));
    }
    EXPECT_NEAR(hit.distance[i].item<float>(), best, 1e-6) << "query " << i;
    // The reported point lies on the reported face at the reported distance.
    const int64_t f = hit.face[i].item<int64_t>();
    const auto pt = hit.point[i].to(torch::kFloat64);
    EXPECT_NEAR(reference_distance(pt, vd[3 * f], vd[3 * f + 1], vd[3 * f + 2]), 0.0, 1e-6);
    EXPECT_NEAR((pt - q[i]).norm().item<double>(), best, 1e-6);
  }
}

// Plain reference for a ray against one triangle: the plane's crossing, then the crossing point
// inside all three edges (same side as the opposite corner).
double reference_ray_hit(const double o[3], const double d[3], const double* a, const double* b, const double* c) {
  auto sub = [](const double* x, const double* y, double* r) { for (int k = 0; k < 3; ++k) r[k] = x[k] - y[k]; };
  auto cross = [](const double* x, const double* y, double* r) {
    r[0] = x[1] * y[2] - x[2] * y[1];
    r[1] = x[2] * y[0] - x[0] * y[2];
    r[2] = x[0] * y[1] - x[1] * y[0];
  };
  auto dot = [](const double* x, const double* y) { return x[0] * y[0] + x[1] * y[1] + x[2] * y[2]; };
  double e1[3], e2[3], n[3], ao[3];
  sub(b, a, e1);
  sub(c, a, e2);
  cross(e1, e2, n);
  const double nd = dot(n, d);
  if (std::abs(nd) < 1e-12) return std::numeric_limits<double>::infinity();
  sub(a, o, ao);
  const double t = dot(n, ao) / nd;
  if (!(t > 0)) return std::numeric_limits<double>::infinity();
  const double p[3] = {o[0] + t * d[0], o[1] + t * d[1], o[2] + t * d[2]};
  const double* corner[3] = {a, b, c};
  for (int i = 0; i < 3; ++i) {
    const double *u = corner[i], *v = corner[(i + 1) % 3];
    double uv[3], up[3], cr[3];
    sub(v, u, uv);
    sub(p, u, up);
    cross(uv, up, cr);
    if (dot(cr, n) < 0) return std::numeric_limits<double>::infinity();
  }
  return t;
}

TEST(TriangleBvh, FirstHitMatchesBruteForce) {
  torch::manual_seed(1);
  auto v = torch::rand({90, 3}, torch::kFloat64);
  v[5] = v[4];  // face 1 has a repeated corner: never hit
  const TriangleMesh mesh{v.to(torch::kFloat32), torch::arange(90, torch::kLong).reshape({30, 3})};
  const auto vd = mesh.vertices.to(torch::kFloat64).contiguous();
  const double* vp = vd.data_ptr<double>();
  const TriangleBvh bvh(mesh, /*leaf_size=*/2);
  auto origins = (torch::rand({400, 3}, torch::kFloat64) * 3.0 - 1.0).contiguous();
  // Most rays aim near a random face's centroid, so that hits and misses both occur.
  const auto centroids = vd.reshape({30, 3, 3}).mean(1);
  const auto targets = centroids.index_select(0, torch::randint(30, {400}, torch::kLong)) +
                       0.15 * torch::randn({400, 3}, torch::kFloat64);
  auto dirs = targets - origins;
  // Rays along the axes: direction components of exactly zero in the slab test.
  dirs.slice(0, 0, 40).select(1, 0).zero_();
  dirs.slice(0, 20, 60).select(1, 1).zero_();
  dirs = dirs.contiguous();
  int64_t hits = 0;
  for (int64_t i = 0; i < 400; ++i) {
    const double* o = origins.data_ptr<double>() + 3 * i;
    const double* d = dirs.data_ptr<double>() + 3 * i;
    double best = std::numeric_limits<double>::infinity();
    int64_t best_face = -1;
    for (int64_t f = 0; f < 30; ++f) {
      const double t = reference_ray_hit(o, d, vp + 9 * f, vp + 9 * f + 3, vp + 9 * f + 6);
      if (t < best) {
        best = t;
        best_face = f;
      }
    }
    int64_t face = -2;
    const double t = bvh.first_hit(o, d, &face);
    if (std::isinf(best)) {
      EXPECT_TRUE(std::isinf(t)) << "ray " << i;
      EXPECT_EQ(face, -1);
      continue;
    }
    ++hits;
    EXPECT_NEAR(t, best, 1e-9 * (1.0 + best)) << "ray " << i;
    EXPECT_EQ(face, best_face) << "ray " << i;
    EXPECT_NEAR(ray_triangle_hit(o, d, vp + 9 * best_face, vp + 9 * best_face + 3, vp + 9 * best_face + 6), best,
                1e-9 * (1.0 + best));
  }
  EXPECT_GT(hits, 100);  // the rays exercise both outcomes
  EXPECT_LT(hits, 390);
}

TEST(TriangleBvh, RayTriangleHitEdgeCases) {
  const double a[3] = {0, 0, 0}, b[3] = {1, 0, 0}, c[3] = {0, 1, 0};
  const double o[3] = {0.25, 0.25, 2};
  const double down[3] = {0, 0, -1}, up[3] = {0, 0, 1}, flat[3] = {1, 0, 0}, slow[3] = {0, 0, -0.5};
  EXPECT_DOUBLE_EQ(ray_triangle_hit(o, down, a, b, c), 2.0);
  EXPECT_DOUBLE_EQ(ray_triangle_hit(o, slow, a, b, c), 4.0);  // t is in units of dir
  EXPECT_TRUE(std::isinf(ray_triangle_hit(o, up, a, b, c)));    // behind the origin
  EXPECT_TRUE(std::isinf(ray_triangle_hit(o, flat, a, b, c)));  // parallel to the plane
  const double outside[3] = {0.75, 0.75, 2};
  EXPECT_TRUE(std::isinf(ray_triangle_hit(outside, down, a, b, c)));
  EXPECT_TRUE(std::isinf(ray_triangle_hit(o, down, a, b, b)));  // degenerate
}

TEST(TriangleBvh, TreeCoversEveryFaceOnce) {
  const auto mesh = testing::icosphere(3);
  const TriangleBvh bvh(mesh, 4);
  const auto& nodes = bvh.nodes();
  std::vector<int> seen(mesh.num_faces(), 0);
  for (const auto& n : nodes) {
    if (!n.is_leaf()) {
      EXPECT_GT(n.left, 0);
      EXPECT_EQ(nodes[n.left].begin, n.begin);
      EXPECT_EQ(nodes[n.right].end, n.end);
      continue;
    }
    EXPECT_LE(n.end - n.begin, 4);
    for (int64_t i = n.begin; i < n.end; ++i) ++seen[bvh.face_index()[i]];
  }
  for (int s : seen) EXPECT_EQ(s, 1);
}

TEST(TriangleBvh, SphereDistanceIsAnalyticToChordError) {
  const auto mesh = testing::icosphere(4);
  torch::manual_seed(1);
  const auto q = torch::randn({500, 3}) * 0.8;
  const auto hit = TriangleBvh(mesh).closest_points(q);
  // Icosphere level 4: the flat faces sit at most ~1.3e-3 inside the unit sphere.
  EXPECT_LT((hit.distance - (q.norm(2, 1) - 1).abs()).abs().max().item<float>(), 2e-3);
}

TEST(TriangleBvh, RejectsBadInput) {
  expect_invalid(
      [] {
        TriangleBvh(TriangleMesh{torch::zeros({3, 3}), torch::zeros({0, 3}, torch::kLong)});
      },
      "no faces");
  const auto mesh = testing::icosphere(0);
  expect_invalid([&] { TriangleBvh(mesh, 0); }, "leaf_size");
  const TriangleBvh bvh(mesh);
  auto nan = torch::zeros({3, 3});
  nan[2][2] = INFINITY;
  expect_invalid([&] { bvh.closest_points(nan); }, "queries row 2");
  expect_invalid([&] { bvh.closest_points(torch::zeros({3, 3, 3})); }, "queries must be [N,3]");
}

}  // namespace
}  // namespace shapediff::shapes

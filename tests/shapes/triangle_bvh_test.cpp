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

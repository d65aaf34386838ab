#include "shapes/reconstruct.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "shapes/chamfer.h"
#include "shapes/mesh_quality.h"
#include "shapes/mesh_repair.h"
#include "shapes/mesh_sampling.h"
#include "tests/shapes/geometry_fixtures.h"

namespace shapediff::shapes {
namespace {

using shapediff::testing::expect_invalid;
using shapediff::testing::icosphere;
using shapediff::testing::signed_volume;

constexpr double kTorusMajor = 1.0, kTorusMinor = 0.4;

// Uniform points on the unit sphere with their outward normals.
PointCloud sphere_cloud(int64_t n, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto p = torch::randn({n, 3}, gen, torch::kFloat64);
  p = p / p.norm(2, 1, true);
  return {p.to(torch::kFloat32), p.to(torch::kFloat32)};
}

// Points on a torus around z (major radius 1, minor 0.4) with outward normals; the density is
// uniform in area (rejection on the tube angle).
PointCloud torus_cloud(int64_t n, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto u = torch::rand({4 * n}, gen, torch::kFloat64) * 2 * M_PI;
  const auto v = torch::rand({4 * n}, gen, torch::kFloat64) * 2 * M_PI;
  const auto keep = torch::rand({4 * n}, gen, torch::kFloat64) * (kTorusMajor + kTorusMinor) <
                    kTorusMajor + kTorusMinor * v.cos();
  const auto idx = keep.nonzero().select(1, 0).slice(0, 0, n);
  const auto uu = u.index_select(0, idx), vv = v.index_select(0, idx);
  const auto normal = torch::stack({vv.cos() * uu.cos(), vv.cos() * uu.sin(), vv.sin()}, 1);
  const auto centre = torch::stack({uu.cos(), uu.sin(), torch::zeros_like(uu)}, 1) * kTorusMajor;
  return {(centre + kTorusMinor * normal).to(torch::kFloat32), normal.to(torch::kFloat32)};
}

torch::Tensor sphere_distance(const torch::Tensor& p) { return (p.to(torch::kFloat64).norm(2, 1) - 1).abs(); }

torch::Tensor torus_distance(const torch::Tensor& p) {
  const auto q = p.to(torch::kFloat64);
  const auto ring = q.slice(1, 0, 2).norm(2, 1) - kTorusMajor;
  return (torch::stack({ring, q.select(1, 2)}, 1).norm(2, 1) - kTorusMinor).abs();
}

// F-score against the analytic surface: precision from the exact distance of points sampled on
// the mesh, recall from fresh surface points to their nearest mesh sample.
double analytic_fscore(const TriangleMesh& mesh, const PointCloud& surface,
                       const std::function<torch::Tensor(const torch::Tensor&)>& distance, double threshold) {
  const auto on_mesh = sample_surface(mesh, 20000, uint64_t{11}).points;
  const double precision = (distance(on_mesh) < threshold).to(torch::kFloat64).mean().item<double>();
  const auto nearest = nearest_squared_distances(surface.points.unsqueeze(0), on_mesh.unsqueeze(0));
  const double recall = (nearest.a_to_b.sqrt() < threshold).to(torch::kFloat64).mean().item<double>();
  return precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
}

PointCloud without_normals(const PointCloud& pc) { return PointCloud{pc.points}; }

#define SKIP_WITHOUT_CGAL() \
  if (!reconstruction_available()) GTEST_SKIP() << "built without CGAL"

TEST(ReconstructTest, PoissonSphereWithEstimatedNormalsIsClosedOutwardAndAccurate) {
  SKIP_WITHOUT_CGAL();
  const auto cloud = sphere_cloud(3000, 1);
  const auto r = reconstruct(without_normals(cloud));
  const auto q = mesh_quality(r.mesh);
  EXPECT_TRUE(q.closed) << to_string(q);
  EXPECT_EQ(q.components, 1);
  EXPECT_EQ(q.self_intersections, 0);
  EXPECT_NEAR(signed_volume(r.mesh), 4.0 / 3.0 * M_PI, 0.15);
  // 1% of the bounding box diagonal (2 * sqrt(3)).
  EXPECT_GT(analytic_fscore(r.mesh, sphere_cloud(5000, 2), sphere_distance, 0.0346), 0.95);
  EXPECT_TRUE(r.warnings.empty());
}

TEST(ReconstructTest, PoissonTorusWithGivenNormalsHasGenusOne) {
  SKIP_WITHOUT_CGAL();
  const auto r = reconstruct(torus_cloud(4000, 3));
  const auto q = mesh_quality(r.mesh, false);
  ASSERT_TRUE(q.closed) << to_string(q);
  EXPECT_EQ(q.vertices - (3 * q.faces / 2) + q.faces, 0);  // Euler characteristic of a torus
  EXPECT_GT(signed_volume(r.mesh), 0);
  // Diagonal of [-1.4,1.4]^2 x [-0.4,0.4].
  const double threshold = 0.01 * std::sqrt(2 * 2.8 * 2.8 + 0.8 * 0.8);
  EXPECT_GT(analytic_fscore(r.mesh, torus_cloud(5000, 4), torus_distance, threshold), 0.95);
}

TEST(ReconstructTest, AdvancingFrontInterpolatesTheSphere) {
  SKIP_WITHOUT_CGAL();
  ReconstructOptions opt;
  opt.method = ReconstructMethod::AdvancingFront;
  const auto cloud = sphere_cloud(2000, 5);
  const auto r = reconstruct(cloud, opt);
  const auto q = mesh_quality(r.mesh, false);
  EXPECT_TRUE(q.manifold) << to_string(q);
  EXPECT_EQ(r.mesh.num_vertices(), 2000);
  EXPECT_GT(signed_volume(r.mesh), 3.5);  // outward and nearly the whole ball (4.19)
  EXPECT_GT(analytic_fscore(r.mesh, sphere_cloud(5000, 6), sphere_distance, 0.0346), 0.95);
}

TEST(ReconstructTest, ScaleSpaceMeshesTheSphereFromPointsAlone) {
  SKIP_WITHOUT_CGAL();
  ReconstructOptions opt;
  opt.method = ReconstructMethod::ScaleSpace;
  const auto r = reconstruct(without_normals(sphere_cloud(2000, 7)), opt);
  EXPECT_GT(r.mesh.num_faces(), 2000);
  EXPECT_GT(analytic_fscore(r.mesh, sphere_cloud(5000, 8), sphere_distance, 0.0346), 0.9);
}

TEST(ReconstructTest, EstimatedNormalsAreOutwardAndInInputOrder) {
  SKIP_WITHOUT_CGAL();
  const auto cloud = sphere_cloud(1500, 9);
  for (auto method : {NormalEstimation::Jet, NormalEstimation::Pca}) {
    std::vector<std::string> warnings;
    NormalOptions opt;
    opt.method = method;
    const auto est = estimate_normals(without_normals(cloud), opt, warnings);
    ASSERT_TRUE(est.has_normals());
    EXPECT_TRUE(torch::equal(est.points, cloud.points));
    const auto cosine = (est.normals * cloud.normals).sum(1);
    EXPECT_GT(cosine.min().item<float>(), 0.9f);
    EXPECT_TRUE(warnings.empty());
  }
}

TEST(ReconstructTest, GivenNormalsAreKeptAndNormalised) {
  SKIP_WITHOUT_CGAL();
  auto cloud = sphere_cloud(100, 10);
  cloud.normals = cloud.normals * 3;
  std::vector<std::string> warnings;
  const auto out = estimate_normals(cloud, {}, warnings);
  EXPECT_TRUE(torch::allclose(out.normals, cloud.normals / 3, 1e-6, 1e-6));
  NormalOptions fresh;
  fresh.keep_given = false;
  cloud.normals = -cloud.normals;  // inward: re-estimation must not keep them
  const auto est = estimate_normals(cloud, fresh, warnings);
  EXPECT_GT((est.normals * cloud.points).sum(1).min().item<float>(), 0.9f);
}

TEST(ReconstructTest, BadInputIsRejectedInOneLine) {
  std::vector<std::string> warnings;
  expect_invalid([&] { prepare_reconstruction_input(PointCloud{torch::rand({9, 3})}, "in", warnings); },
                 "at least 10 points");
  auto nan = torch::rand({50, 3});
  nan[7][1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(prepare_reconstruction_input(PointCloud{nan}, "in", warnings), std::invalid_argument);
  const auto t = torch::linspace(0, 1, 50).unsqueeze(1);
  expect_invalid([&] { prepare_reconstruction_input(PointCloud{t * torch::tensor({{1.f, 2.f, 3.f}})}, "in", warnings); },
                 "collinear");
  auto plane = torch::rand({50, 3});
  plane.select(1, 2).fill_(0.25f);
  expect_invalid([&] { prepare_reconstruction_input(PointCloud{plane}, "in", warnings); }, "coplanar");
  const auto few = torch::rand({6, 3});
  expect_invalid([&] { prepare_reconstruction_input(PointCloud{torch::cat({few, few})}, "in", warnings); },
                 "distinct");
  EXPECT_THROW(reconstruct(PointCloud{torch::rand({5, 3})}), std::invalid_argument);
}

TEST(ReconstructTest, DuplicatesAreMergedWithAWarning) {
  auto cloud = sphere_cloud(200, 12);
  const auto idx = torch::cat({torch::arange(200), torch::tensor({3, 3, 17})});
  const auto doubled = cloud.select(idx);
  std::vector<std::string> warnings;
  const auto out = prepare_reconstruction_input(doubled, "scan.ply", warnings);
  EXPECT_EQ(out.size(), 200);
  EXPECT_TRUE(torch::equal(out.points, cloud.points));  // first occurrences, in input order
  EXPECT_TRUE(torch::equal(out.normals, cloud.normals));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("merged 3 duplicate points"), std::string::npos) << warnings[0];
  if (reconstruction_available()) {
    const auto r = reconstruct(sphere_cloud(1000, 13).select(torch::cat({torch::arange(1000), torch::arange(5)})));
    ASSERT_FALSE(r.warnings.empty());
    EXPECT_FALSE(r.mesh.empty());
  }
}

TEST(ReconstructTest, BadOptionsNameTheField) {
  SKIP_WITHOUT_CGAL();
  const auto cloud = sphere_cloud(200, 14);
  ReconstructOptions opt;
  opt.normals.neighbors = 2;
  expect_invalid([&] { reconstruct(cloud, opt); }, "normals.neighbors");
  opt = {};
  opt.poisson.angle = 45;
  expect_invalid([&] { reconstruct(cloud, opt); }, "poisson.angle");
  opt = {};
  opt.scale_space.iterations = 0;
  expect_invalid([&] { reconstruct(cloud, opt); }, "scale_space.iterations");
}

TEST(ReconstructTest, WithoutCgalTheErrorSaysSo) {
  if (reconstruction_available()) GTEST_SKIP() << "built with CGAL";
  try {
    reconstruct(sphere_cloud(200, 15));
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("SHAPEDIFF_WITH_CGAL=OFF"), std::string::npos) << e.what();
  }
}

// --- mesh quality and repair ---

TriangleMesh drop_faces(const TriangleMesh& m, const std::vector<int64_t>& drop) {
  auto keep = torch::ones({m.num_faces()}, torch::kBool);
  for (auto f : drop) keep[f] = false;
  return {m.vertices, m.faces.index({keep})};
}

TriangleMesh concat(const TriangleMesh& a, const TriangleMesh& b) {
  return {torch::cat({a.vertices, b.vertices}), torch::cat({a.faces, b.faces + a.num_vertices()})};
}

TEST(MeshQualityTest, IcosphereIsClosedManifoldWithoutIntersections) {
  const auto q = mesh_quality(icosphere(2));
  EXPECT_TRUE(q.closed);
  EXPECT_TRUE(q.manifold);
  EXPECT_EQ(q.components, 1);
  EXPECT_EQ(q.boundary_loops, 0);
  EXPECT_EQ(q.faces, 320);
  EXPECT_EQ(q.self_intersections, reconstruction_available() ? 0 : -1);
}

TEST(MeshQualityTest, CountsHolesComponentsAndDefects) {
  const auto sphere = icosphere(2);
  // Faces 0 and the one farthest from it leave two separate triangular holes.
  const auto centroids = sphere.vertices.index_select(0, sphere.faces.reshape({-1})).reshape({-1, 3, 3}).mean(1);
  const int64_t far = (centroids - centroids[0]).norm(2, 1).argmax().item<int64_t>();
  auto q = mesh_quality(drop_faces(sphere, {0, far}), false);
  EXPECT_FALSE(q.closed);
  EXPECT_TRUE(q.manifold);
  EXPECT_EQ(q.boundary_loops, 2);
  EXPECT_EQ(q.boundary_edges, 6);

  auto flipped = sphere.faces.clone();
  flipped[5] = sphere.faces[5].flip(0);
  q = mesh_quality({sphere.vertices, flipped}, false);
  EXPECT_EQ(q.inconsistent_edges, 3);
  EXPECT_FALSE(q.closed);

  // Three triangles on one edge; two triangles touching at one vertex only.
  const auto v = torch::tensor({{0.f, 0.f, 0.f}, {1.f, 0.f, 0.f}, {0.f, 1.f, 0.f}, {0.f, -1.f, 0.f},
                                {0.f, 0.f, 1.f}, {-1.f, -1.f, 0.f}, {-1.f, 0.f, -1.f}});
  q = mesh_quality({v, torch::tensor({{0, 1, 2}, {1, 0, 3}, {0, 1, 4}}, torch::kLong)}, false);
  EXPECT_EQ(q.non_manifold_edges, 1);
  EXPECT_FALSE(q.manifold);
  q = mesh_quality({v, torch::tensor({{0, 1, 2}, {0, 5, 6}}, torch::kLong)}, false);
  EXPECT_EQ(q.non_manifold_vertices, 1);
  EXPECT_EQ(q.components, 2);

  const auto two = concat(icosphere(1), icosphere(1, 1.0, {0.5, 0, 0}));
  q = mesh_quality(two);
  EXPECT_EQ(q.components, 2);
  EXPECT_TRUE(q.closed);
  if (reconstruction_available()) EXPECT_GT(q.self_intersections, 0);
  EXPECT_NE(to_string(q).find("components 2 closed yes"), std::string::npos) << to_string(q);
}

TEST(MeshRepairTest, KeepLargestComponentsDropsSmallOnesAndUnusedVertices) {
  const auto big = icosphere(2), small = icosphere(0, 0.1, {3, 0, 0});
  const auto kept = keep_largest_components(concat(small, big), 1);
  EXPECT_TRUE(torch::equal(kept.vertices, big.vertices));
  EXPECT_TRUE(torch::equal(kept.faces, big.faces));
  EXPECT_EQ(keep_largest_components(concat(small, big), 2).num_faces(), big.num_faces() + small.num_faces());
  expect_invalid([&] { keep_largest_components(big, 0); }, "count");
}

TEST(MeshRepairTest, FillsOnlyHolesUpToTheEdgeLimit) {
  SKIP_WITHOUT_CGAL();
  const auto sphere = icosphere(3);
  // A triangle hole (3 edges) and the fan of a far vertex (a 5- or 6-edge hole).
  const auto f = sphere.faces;
  const auto v0 = f[0][0].item<int64_t>();
  const int64_t far = (sphere.vertices - sphere.vertices[v0]).norm(2, 1).argmax().item<int64_t>();
  std::vector<int64_t> drop{0};
  for (int64_t i = 0; i < f.size(0); ++i) {
    if ((f[i] == far).any().item<bool>()) drop.push_back(i);
  }
  const auto holed = drop_faces(sphere, drop);
  ASSERT_EQ(mesh_quality(holed, false).boundary_loops, 2);
  int64_t filled = 0;
  const auto partly = fill_small_holes(holed, 4, &filled);
  EXPECT_EQ(filled, 1);
  EXPECT_EQ(mesh_quality(partly, false).boundary_loops, 1);
  const auto full = fill_small_holes(holed, 10, &filled);
  EXPECT_EQ(filled, 2);
  const auto q = mesh_quality(full);
  EXPECT_TRUE(q.closed) << to_string(q);
  EXPECT_EQ(q.self_intersections, 0);
  EXPECT_NEAR(signed_volume(full), signed_volume(sphere), 0.02);
  EXPECT_THROW(fill_small_holes(holed, 2), std::invalid_argument);
}

}  // namespace
}  // namespace shapediff::shapes

#include "shapes/virtual_scan.h"

#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "shapediff/config.h"
#include "shapes/procedural.h"

namespace shapediff::shapes {
namespace {

// Axis-aligned box [-h, h]^3 as 12 outward triangles.
TriangleMesh box(double h) {
  std::vector<float> v;
  for (int i = 0; i < 8; ++i) {
    v.push_back(static_cast<float>((i & 1) ? h : -h));
    v.push_back(static_cast<float>((i & 2) ? h : -h));
    v.push_back(static_cast<float>((i & 4) ? h : -h));
  }
  const std::vector<int64_t> f = {0, 2, 1, 1, 2, 3, 4, 5, 6, 5, 7, 6, 0, 1, 4, 1, 5, 4,
                                  2, 6, 3, 3, 6, 7, 0, 4, 2, 2, 4, 6, 1, 3, 5, 3, 7, 5};
  TriangleMesh m;
  m.vertices = torch::tensor(v).reshape({8, 3});
  m.faces = torch::tensor(f).reshape({12, 3});
  return m;
}

// Brute-force reference: Moller-Trumbore against every triangle, nearest hit along the ray.
torch::Tensor brute_force_depth(const TriangleMesh& m, const PinholeCamera& c) {
  auto depth = torch::zeros({c.height, c.width}, torch::kFloat64);
  const auto V = m.vertices.to(torch::kFloat64);
  const auto F = m.faces;
  const auto& R = c.rotation;
  for (int64_t v = 0; v < c.height; ++v) {
    for (int64_t u = 0; u < c.width; ++u) {
      const double dx = (u + 0.5 - c.cx) / c.fx, dy = -(v + 0.5 - c.cy) / c.fy;
      double d[3];
      for (int k = 0; k < 3; ++k) d[k] = R[0][k] * dx + R[1][k] * dy - R[2][k];
      double best = 1e30;
      for (int64_t f = 0; f < F.size(0); ++f) {
        double p[3][3];
        for (int a = 0; a < 3; ++a) {
          for (int k = 0; k < 3; ++k) p[a][k] = V[F[f][a].item<int64_t>()][k].item<double>();
        }
        double e1[3], e2[3], s[3];
        for (int k = 0; k < 3; ++k) {
          e1[k] = p[1][k] - p[0][k];
          e2[k] = p[2][k] - p[0][k];
          s[k] = c.position[k] - p[0][k];
        }
        const double h[3] = {d[1] * e2[2] - d[2] * e2[1], d[2] * e2[0] - d[0] * e2[2],
                             d[0] * e2[1] - d[1] * e2[0]};
        const double det = e1[0] * h[0] + e1[1] * h[1] + e1[2] * h[2];
        if (std::abs(det) < 1e-12) continue;
        const double uu = (s[0] * h[0] + s[1] * h[1] + s[2] * h[2]) / det;
        const double q[3] = {s[1] * e1[2] - s[2] * e1[1], s[2] * e1[0] - s[0] * e1[2],
                             s[0] * e1[1] - s[1] * e1[0]};
        const double vv = (d[0] * q[0] + d[1] * q[1] + d[2] * q[2]) / det;
        const double t = (e2[0] * q[0] + e2[1] * q[1] + e2[2] * q[2]) / det;
        if (uu < 0 || vv < 0 || uu + vv > 1 || t <= 0) continue;
        best = std::min(best, t);  // d has unit z in the camera frame: t is the depth
      }
      if (best < 1e30) depth[v][u] = best;
    }
  }
  return depth;
}

// Every test runs with both ray casters.
class VirtualScanTest : public ::testing::TestWithParam<RayCaster> {
 protected:
  void SetUp() override {
    if (GetParam() == RayCaster::Cgal && !SHAPEDIFF_WITH_CGAL) GTEST_SKIP() << "built without CGAL";
  }
  VirtualScan scan_mesh(const TriangleMesh& mesh, const PinholeCamera& camera, ScanOptions o = {}) const {
    o.ray_caster = GetParam();
    return shapes::scan_mesh(mesh, camera, o);
  }
};

TEST_P(VirtualScanTest, MatchesBruteForceRayCasting) {
  const auto mesh = box(0.5);
  const auto cams = cameras_around(3, 2.0, /*seed=*/4, 24, 20, 50.0);
  for (const auto& cam : cams) {
    const auto scan = scan_mesh(mesh, cam);
    const auto ref = brute_force_depth(mesh, cam);
    // Same pixels hit (edge pixels may differ by the tie rule; none here by construction).
    const auto hit = scan.depth > 0;
    const auto ref_hit = ref > 0;
    EXPECT_LE((hit != ref_hit).sum().item<int64_t>(), 2);
    const auto both = hit & ref_hit;
    const auto diff = (scan.depth.to(torch::kFloat64) - ref).abs().masked_select(both);
    EXPECT_LT(diff.max().item<double>(), 1e-5);
    EXPECT_EQ(scan.cloud.size(), hit.sum().item<int64_t>());
  }
}

TEST_P(VirtualScanTest, PointsLieOnTheVisibleSurface) {
  const auto mesh = box(0.5);
  const auto cam = PinholeCamera::looking_at({0, 0, 3}, {0, 0, 0}, {0, 1, 0}, 32, 32, 30.0);
  const auto scan = scan_mesh(mesh, cam);
  ASSERT_GT(scan.cloud.size(), 100);
  // Looking down -Z at the box: only the z = +0.5 face is visible, normals +Z.
  EXPECT_LT((scan.cloud.points.select(1, 2) - 0.5).abs().max().item<double>(), 1e-5);
  EXPECT_LT((scan.cloud.normals.select(1, 2) - 1.0).abs().max().item<double>(), 1e-6);
  EXPECT_LE(scan.cloud.points.abs().max().item<double>(), 0.5 + 1e-5);
}

TEST_P(VirtualScanTest, NoiseAndDropoutAreSeeded) {
  const auto mesh = box(0.5);
  const auto cam = PinholeCamera::looking_at({1.5, 1.0, 2.0}, {0, 0, 0}, {0, 1, 0}, 40, 30, 40.0);
  ScanOptions o;
  o.depth_noise = 0.01;
  o.dropout = 0.3;
  o.seed = 11;
  const auto a = scan_mesh(mesh, cam, o);
  const auto b = scan_mesh(mesh, cam, o);
  EXPECT_TRUE(torch::equal(a.cloud.points, b.cloud.points));
  const auto clean = scan_mesh(mesh, cam);
  const double kept = static_cast<double>(a.cloud.size()) / static_cast<double>(clean.cloud.size());
  EXPECT_NEAR(kept, 0.7, 0.08);
  o.seed = 12;
  EXPECT_FALSE(torch::equal(scan_mesh(mesh, cam, o).depth, a.depth));
}

TEST_P(VirtualScanTest, CameraSeeingNothingIsAnError) {
  const auto mesh = box(0.5);
  const auto away = PinholeCamera::looking_at({0, 0, 3}, {0, 0, 6}, {0, 1, 0}, 16, 16, 30.0);
  try {
    scan_mesh(mesh, away);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("sees nothing"), std::string::npos) << e.what();
  }
}

TEST_P(VirtualScanTest, BadInputIsRejected) {
  auto mesh = box(0.5);
  const auto cam = PinholeCamera::looking_at({0, 0, 3}, {0, 0, 0}, {0, 1, 0}, 16, 16, 30.0);
  TriangleMesh empty{torch::zeros({0, 3}), torch::zeros({0, 3}, torch::kLong)};
  EXPECT_THROW(scan_mesh(empty, cam), std::invalid_argument);
  auto nan_mesh = mesh;
  nan_mesh.vertices = mesh.vertices.clone();
  nan_mesh.vertices[2][1] = std::nanf("");
  EXPECT_THROW(scan_mesh(nan_mesh, cam), std::invalid_argument);
  auto bad_index = mesh;
  bad_index.faces = mesh.faces.clone();
  bad_index.faces[3][0] = 8;
  EXPECT_THROW(scan_mesh(bad_index, cam), std::invalid_argument);
  ScanOptions o;
  o.dropout = 1.0;
  EXPECT_THROW(scan_mesh(mesh, cam, o), std::invalid_argument);
  EXPECT_THROW(PinholeCamera::looking_at({0, 0, 3}, {0, 0, 3}, {0, 1, 0}, 16, 16, 30.0),
               std::invalid_argument);
  EXPECT_THROW(PinholeCamera::looking_at({0, 3, 0}, {0, 0, 0}, {0, 1, 0}, 16, 16, 30.0),
               std::invalid_argument);  // up parallel to the view direction
  EXPECT_THROW(cameras_around(0, 2.0, 0), std::invalid_argument);
}

INSTANTIATE_TEST_SUITE_P(Casters, VirtualScanTest, ::testing::Values(RayCaster::Cgal, RayCaster::Bvh),
                         [](const ::testing::TestParamInfo<RayCaster>& info) {
                           return std::string(info.param == RayCaster::Cgal ? "Cgal" : "Bvh");
                         });

// The two casters agree on a procedural chair (thin parts, many triangles, shared edges): the
// same pixels hit, the same depths to rounding, the same normals where they hit the same face.
TEST(VirtualScanCasters, BvhMatchesCgalOnAProceduralShape) {
  if (!SHAPEDIFF_WITH_CGAL) GTEST_SKIP() << "built without CGAL";
  const auto mesh = make_shape(ShapeFamily::Chair, 3, /*seed=*/0);
  ASSERT_GT(mesh.num_faces(), 500);
  const auto cams = cameras_around(3, 2.5, /*seed=*/5, 64, 64, 40.0);
  ScanOptions cgal, bvh;
  cgal.ray_caster = RayCaster::Cgal;
  bvh.ray_caster = RayCaster::Bvh;
  const auto a = scan_mesh_views(mesh, cams, cgal);
  const auto b = scan_mesh_views(mesh, cams, bvh);
  for (size_t i = 0; i < cams.size(); ++i) {
    const auto hit_a = a[i].depth > 0, hit_b = b[i].depth > 0;
    ASSERT_GT(hit_a.sum().item<int64_t>(), 200);
    // A ray through a shared edge or corner may count as a hit for one caster only.
    EXPECT_LE((hit_a != hit_b).sum().item<int64_t>(), 2) << "view " << i;
    const auto both = hit_a & hit_b;
    EXPECT_LT((a[i].depth - b[i].depth).abs().masked_select(both).max().item<double>(), 1e-5) << "view " << i;
    if (torch::equal(hit_a, hit_b)) {
      EXPECT_LT((a[i].cloud.points - b[i].cloud.points).abs().max().item<double>(), 1e-5);
      // Where the rays hit different faces of one flat part the normals still agree; only
      // pixels on a crease may differ.
      const auto same = ((a[i].cloud.normals - b[i].cloud.normals).abs().amax(1) < 1e-5);
      EXPECT_GE(same.to(torch::kFloat64).mean().item<double>(), 0.99) << "view " << i;
    }
  }
}

TEST(VirtualScanCasters, DefaultIsCgalWhereBuiltWithIt) {
  EXPECT_EQ(default_ray_caster(), SHAPEDIFF_WITH_CGAL ? RayCaster::Cgal : RayCaster::Bvh);
  if (SHAPEDIFF_WITH_CGAL) return;
  ScanOptions o;
  o.ray_caster = RayCaster::Cgal;
  const auto cam = PinholeCamera::looking_at({0, 0, 3}, {0, 0, 0}, {0, 1, 0}, 8, 8, 30.0);
  EXPECT_THROW(scan_mesh(box(0.5), cam, o), std::runtime_error);
}

TEST(PinholeCamera, CameraToWorldMapsAxes) {
  const auto cam = PinholeCamera::looking_at({0, 0, 3}, {0, 0, 0}, {0, 1, 0}, 8, 8, 60.0);
  const auto m = cam.camera_to_world();
  // The camera looks down its -Z: camera (0,0,-3) is the world origin.
  const auto p = torch::matmul(m, torch::tensor({0.0, 0.0, -3.0, 1.0}, torch::kFloat64));
  EXPECT_LT(p.slice(0, 0, 3).abs().max().item<double>(), 1e-12);
  EXPECT_NEAR(cam.fy, 4.0 / std::tan(M_PI / 6.0), 1e-9);
  const auto cams = cameras_around(4, 2.0, 3);
  ASSERT_EQ(cams.size(), 4u);
  for (const auto& c : cams) {
    const double r = std::sqrt(c.position[0] * c.position[0] + c.position[1] * c.position[1] +
                               c.position[2] * c.position[2]);
    EXPECT_NEAR(r, 2.0, 1e-9);
  }
}

}  // namespace
}  // namespace shapediff::shapes

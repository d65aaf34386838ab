// Ray casting with CGAL's AABB tree. Kept in its own file: the CGAL headers are heavy.
#include <CGAL/AABB_traits.h>
#include <CGAL/AABB_tree.h>
#include <CGAL/AABB_triangle_primitive.h>
#include <CGAL/Simple_cartesian.h>

#include <cmath>
#include <random>
#include <sstream>
#include <stdexcept>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "shapes/virtual_scan.h"

namespace shapediff::shapes {
namespace {

using K = CGAL::Simple_cartesian<double>;
using Point = K::Point_3;
using Triangle = K::Triangle_3;
using Ray = K::Ray_3;
using Iterator = std::vector<Triangle>::const_iterator;
using Primitive = CGAL::AABB_triangle_primitive<K, Iterator>;
using Tree = CGAL::AABB_tree<CGAL::AABB_traits<K, Primitive>>;

struct Scene {
  std::vector<Triangle> triangles;
  std::vector<std::array<double, 3>> normals;
  Tree tree;
};

void build_scene(const TriangleMesh& mesh, Scene& scene) {
  mesh.validate("scan_mesh");
  if (mesh.empty()) throw std::invalid_argument("scan_mesh: the mesh has no faces");
  const auto v = mesh.vertices.to(torch::kFloat64).contiguous();
  const auto f = mesh.faces.to(torch::kLong).contiguous();
  const auto va = v.accessor<double, 2>();
  const auto fa = f.accessor<int64_t, 2>();
  scene.triangles.reserve(static_cast<size_t>(f.size(0)));
  for (int64_t i = 0; i < f.size(0); ++i) {
    Point p[3];
    for (int k = 0; k < 3; ++k) {
      const int64_t j = fa[i][k];
      p[k] = Point(va[j][0], va[j][1], va[j][2]);
    }
    Triangle t(p[0], p[1], p[2]);
    if (t.is_degenerate()) continue;
    const auto n = CGAL::cross_product(p[1] - p[0], p[2] - p[0]);
    const double len = std::sqrt(n.squared_length());
    scene.triangles.push_back(t);
    scene.normals.push_back({n.x() / len, n.y() / len, n.z() / len});
  }
  if (scene.triangles.empty()) throw std::invalid_argument("scan_mesh: every face of the mesh is degenerate");
  scene.tree.insert(scene.triangles.cbegin(), scene.triangles.cend());
  scene.tree.build();
}

VirtualScan cast(const Scene& scene, const PinholeCamera& cam, const ScanOptions& opt) {
  cam.validate();
  if (!(opt.dropout >= 0 && opt.dropout < 1)) {
    throw std::invalid_argument("scan: dropout must be in [0, 1), got " + std::to_string(opt.dropout));
  }
  if (!(opt.depth_noise >= 0) || !std::isfinite(opt.depth_noise)) {
    throw std::invalid_argument("scan: depth_noise must be >= 0, got " + std::to_string(opt.depth_noise));
  }
  const int64_t W = cam.width, H = cam.height;
  auto depth = torch::zeros({H, W}, torch::kFloat64);
  auto face = torch::full({H, W}, -1, torch::kLong);
  double* dp = depth.data_ptr<double>();
  int64_t* fp = face.data_ptr<int64_t>();
  const auto& R = cam.rotation;
  const Point origin(cam.position[0], cam.position[1], cam.position[2]);
  const auto base = scene.triangles.cbegin();

  at::parallel_for(0, H, 1, [&](int64_t row0, int64_t row1) {
    for (int64_t v = row0; v < row1; ++v) {
      for (int64_t u = 0; u < W; ++u) {
        // Camera-frame direction with z = -1, rotated to world (R^T d).
        const double dx = (static_cast<double>(u) + 0.5 - cam.cx) / cam.fx;
        const double dy = -(static_cast<double>(v) + 0.5 - cam.cy) / cam.fy;
        const double w[3] = {R[0][0] * dx + R[1][0] * dy - R[2][0],
                             R[0][1] * dx + R[1][1] * dy - R[2][1],
                             R[0][2] * dx + R[1][2] * dy - R[2][2]};
        const Ray ray(origin, K::Vector_3(w[0], w[1], w[2]));
        const auto hit = scene.tree.first_intersection(ray);
        if (!hit) continue;
        const Point* p = boost::get<Point>(&hit->first);
        if (p == nullptr) continue;  // ray grazing along a face: no single return
        const double dist = (p->x() - origin.x()) * -R[2][0] + (p->y() - origin.y()) * -R[2][1] +
                            (p->z() - origin.z()) * -R[2][2];
        if (!(dist > 0)) continue;
        dp[v * W + u] = dist;
        fp[v * W + u] = static_cast<int64_t>(hit->second - base);
      }
    }
  });

  // Noise and dropout drawn serially in pixel order: the same seed gives the same scan for any
  // number of threads.
  std::mt19937_64 rng(opt.seed * 0xD1B54A32D192ED03ull + 17);
  std::normal_distribution<double> gauss(0.0, 1.0);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<float> pts, nrm;
  for (int64_t i = 0; i < H * W; ++i) {
    if (fp[i] < 0) continue;
    if (opt.dropout > 0 && unit(rng) < opt.dropout) {
      dp[i] = 0;
      fp[i] = -1;
      continue;
    }
    if (opt.depth_noise > 0) dp[i] = std::max(1e-9, dp[i] + opt.depth_noise * gauss(rng));
    const int64_t v = i / W, u = i % W;
    const double dx = (static_cast<double>(u) + 0.5 - cam.cx) / cam.fx;
    const double dy = -(static_cast<double>(v) + 0.5 - cam.cy) / cam.fy;
    double dir[3];
    for (int k = 0; k < 3; ++k) dir[k] = R[0][k] * dx + R[1][k] * dy - R[2][k];
    for (int k = 0; k < 3; ++k) pts.push_back(static_cast<float>(cam.position[k] + dir[k] * dp[i]));
    if (opt.with_normals) {
      auto n = scene.normals[static_cast<size_t>(fp[i])];
      if (n[0] * dir[0] + n[1] * dir[1] + n[2] * dir[2] > 0) n = {-n[0], -n[1], -n[2]};
      for (int k = 0; k < 3; ++k) nrm.push_back(static_cast<float>(n[k]));
    }
  }
  if (pts.empty()) {
    std::ostringstream os;
    os << "scan: the camera at (" << cam.position[0] << ", " << cam.position[1] << ", "
       << cam.position[2] << ") sees nothing of the mesh";
    throw std::invalid_argument(os.str());
  }
  VirtualScan scan;
  const int64_t M = static_cast<int64_t>(pts.size() / 3);
  scan.cloud.points = torch::from_blob(pts.data(), {M, 3}, torch::kFloat32).clone();
  if (opt.with_normals) scan.cloud.normals = torch::from_blob(nrm.data(), {M, 3}, torch::kFloat32).clone();
  scan.depth = depth.to(torch::kFloat32);
  scan.camera = cam;
  return scan;
}

}  // namespace

bool virtual_scan_available() { return true; }

std::vector<VirtualScan> scan_mesh_views(const TriangleMesh& mesh,
                                         const std::vector<PinholeCamera>& cameras,
                                         const ScanOptions& options) {
  Scene scene;
  build_scene(mesh, scene);
  std::vector<VirtualScan> scans;
  scans.reserve(cameras.size());
  for (size_t i = 0; i < cameras.size(); ++i) {
    ScanOptions o = options;
    o.seed = options.seed + 7919 * i;  // distinct noise per view
    scans.push_back(cast(scene, cameras[i], o));
  }
  return scans;
}

VirtualScan scan_mesh(const TriangleMesh& mesh, const PinholeCamera& camera,
                      const ScanOptions& options) {
  Scene scene;
  build_scene(mesh, scene);
  return cast(scene, camera, options);
}

}  // namespace shapediff::shapes

#include "shapes/virtual_scan.h"

#include <cmath>
#include <random>
#include <sstream>
#include <stdexcept>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "shapediff/config.h"
#include "shapes/camera_frame.h"
#include "shapes/triangle_bvh.h"
#include "shapes/virtual_scan_cast.h"

namespace shapediff::shapes {
namespace {

using Vec = camera_frame::Vec;

}  // namespace

PinholeCamera PinholeCamera::looking_at(const Vec& position, const Vec& target, const Vec& up,
                                        int64_t width, int64_t height, double fov_y_degrees) {
  if (!(fov_y_degrees > 0 && fov_y_degrees < 180)) {
    throw std::invalid_argument("camera: fov_y must be in (0, 180) degrees, got " +
                                std::to_string(fov_y_degrees));
  }
  PinholeCamera c;
  c.width = width;
  c.height = height;
  c.fy = 0.5 * static_cast<double>(height) / std::tan(fov_y_degrees * M_PI / 360.0);
  c.fx = c.fy;
  c.cx = 0.5 * static_cast<double>(width);
  c.cy = 0.5 * static_cast<double>(height);
  c.position = position;
  c.rotation = camera_frame::look_at(position, target, up, "camera");
  c.validate();
  return c;
}

torch::Tensor PinholeCamera::camera_to_world() const {
  auto m = torch::eye(4, torch::kFloat64);
  auto a = m.accessor<double, 2>();
  for (int r = 0; r < 3; ++r) {
    for (int k = 0; k < 3; ++k) a[r][k] = rotation[k][r];  // columns are the camera axes
    a[r][3] = position[r];
  }
  return m;
}

void PinholeCamera::validate() const {
  std::ostringstream err;
  if (width < 1 || height < 1 || width > 16384 || height > 16384) {
    err << "camera: image size " << width << "x" << height << " outside [1, 16384]";
  } else if (!(fx > 0) || !(fy > 0) || !std::isfinite(fx) || !std::isfinite(fy)) {
    err << "camera: focal lengths must be > 0, got fx=" << fx << " fy=" << fy;
  } else if (!std::isfinite(position[0]) || !std::isfinite(position[1]) || !std::isfinite(position[2])) {
    err << "camera: position is not finite";
  } else if (!camera_frame::orthonormal(rotation)) {
    err << "camera: rotation is not orthonormal";
  }
  if (!err.str().empty()) throw std::invalid_argument(err.str());
}

std::vector<PinholeCamera> cameras_around(int64_t views, double distance, uint64_t seed,
                                          int64_t width, int64_t height, double fov_y_degrees,
                                          double min_elevation, double max_elevation) {
  if (views < 1) throw std::invalid_argument("cameras_around: views must be >= 1, got " + std::to_string(views));
  if (!(distance > 0)) throw std::invalid_argument("cameras_around: distance must be > 0");
  if (!(min_elevation <= max_elevation) || min_elevation < -89 || max_elevation > 89) {
    throw std::invalid_argument("cameras_around: elevations must satisfy -89 <= min <= max <= 89");
  }
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 0x5CA9);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<PinholeCamera> cams;
  // Azimuths spread evenly from a random start so several views see different sides.
  const double start = unit(rng) * 2.0 * M_PI;
  for (int64_t v = 0; v < views; ++v) {
    const double az = start + 2.0 * M_PI * static_cast<double>(v) / static_cast<double>(views) +
                      (unit(rng) - 0.5) * M_PI / static_cast<double>(views);
    const double el = (min_elevation + (max_elevation - min_elevation) * unit(rng)) * M_PI / 180.0;
    const Vec pos{distance * std::cos(el) * std::sin(az), distance * std::sin(el),
                  distance * std::cos(el) * std::cos(az)};
    cams.push_back(PinholeCamera::looking_at(pos, {0, 0, 0}, {0, 1, 0}, width, height, fov_y_degrees));
  }
  return cams;
}

VirtualScan detail::cast_scan(const PinholeCamera& cam, const ScanOptions& opt, const PixelHit& hit,
                              const std::vector<std::array<double, 3>>& face_normals) {
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
  const double* origin = cam.position.data();

  at::parallel_for(0, H, 1, [&](int64_t row0, int64_t row1) {
    for (int64_t v = row0; v < row1; ++v) {
      for (int64_t u = 0; u < W; ++u) {
        // Camera-frame direction with z = -1, rotated to world (R^T d).
        const double dx = (static_cast<double>(u) + 0.5 - cam.cx) / cam.fx;
        const double dy = -(static_cast<double>(v) + 0.5 - cam.cy) / cam.fy;
        const double w[3] = {R[0][0] * dx + R[1][0] * dy - R[2][0],
                             R[0][1] * dx + R[1][1] * dy - R[2][1],
                             R[0][2] * dx + R[1][2] * dy - R[2][2]};
        double p[3];
        int64_t f = -1;
        if (!hit(origin, w, p, &f)) continue;
        // Depth: the distance along the viewing axis (-Z of the camera).
        const double dist = (p[0] - origin[0]) * -R[2][0] + (p[1] - origin[1]) * -R[2][1] +
                            (p[2] - origin[2]) * -R[2][2];
        if (!(dist > 0)) continue;
        dp[v * W + u] = dist;
        fp[v * W + u] = f;
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
      auto n = face_normals[static_cast<size_t>(fp[i])];
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

namespace {

// Every face's unit normal (zero for a degenerate face, which no ray hits) and the ray caster
// over shapes/triangle_bvh.h.
std::vector<VirtualScan> scan_views_bvh(const TriangleMesh& mesh, const std::vector<PinholeCamera>& cameras,
                                        const std::vector<ScanOptions>& options) {
  const TriangleBvh bvh(mesh);
  const auto v = mesh.vertices.to(torch::kCPU, torch::kFloat64).contiguous();
  const auto f = mesh.faces.to(torch::kCPU, torch::kLong).contiguous();
  const auto va = v.accessor<double, 2>();
  const auto fa = f.accessor<int64_t, 2>();
  std::vector<std::array<double, 3>> normals(static_cast<size_t>(f.size(0)), {0.0, 0.0, 0.0});
  bool any = false;
  for (int64_t i = 0; i < f.size(0); ++i) {
    double e1[3], e2[3];
    for (int k = 0; k < 3; ++k) {
      e1[k] = va[fa[i][1]][k] - va[fa[i][0]][k];
      e2[k] = va[fa[i][2]][k] - va[fa[i][0]][k];
    }
    const double n[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0]};
    const double len = std::sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
    if (!(len > 0)) continue;
    normals[static_cast<size_t>(i)] = {n[0] / len, n[1] / len, n[2] / len};
    any = true;
  }
  if (!any) throw std::invalid_argument("scan_mesh: every face of the mesh is degenerate");
  const detail::PixelHit hit = [&](const double origin[3], const double dir[3], double point[3], int64_t* face) {
    const double t = bvh.first_hit(origin, dir, face);
    if (!std::isfinite(t)) return false;
    for (int k = 0; k < 3; ++k) point[k] = origin[k] + t * dir[k];
    return true;
  };
  std::vector<VirtualScan> scans;
  scans.reserve(cameras.size());
  for (size_t i = 0; i < cameras.size(); ++i) scans.push_back(detail::cast_scan(cameras[i], options[i], hit, normals));
  return scans;
}

}  // namespace

RayCaster default_ray_caster() { return SHAPEDIFF_WITH_CGAL ? RayCaster::Cgal : RayCaster::Bvh; }

std::vector<VirtualScan> scan_mesh_views(const TriangleMesh& mesh, const std::vector<PinholeCamera>& cameras,
                                         const ScanOptions& options) {
  mesh.validate("scan_mesh");
  if (mesh.empty()) throw std::invalid_argument("scan_mesh: the mesh has no faces");
  std::vector<ScanOptions> per_view(cameras.size(), options);
  for (size_t i = 0; i < cameras.size(); ++i) per_view[i].seed = options.seed + 7919 * i;  // distinct noise per view
  const RayCaster caster = options.ray_caster == RayCaster::Auto ? default_ray_caster() : options.ray_caster;
  if (caster == RayCaster::Bvh) return scan_views_bvh(mesh, cameras, per_view);
#if SHAPEDIFF_WITH_CGAL
  return detail::scan_views_cgal(mesh, cameras, per_view);
#else
  throw std::runtime_error("the CGAL ray caster needs CGAL: this build has SHAPEDIFF_WITH_CGAL=OFF (use the bvh caster)");
#endif
}

VirtualScan scan_mesh(const TriangleMesh& mesh, const PinholeCamera& camera, const ScanOptions& options) {
  return scan_mesh_views(mesh, {camera}, options).front();
}

}  // namespace shapediff::shapes

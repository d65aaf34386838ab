// Poisson reconstruction, shapediff (CGAL) against Open3D's (Kazhdan's screened Poisson at octree
// depth 8), in the same run on the same points: each closed CGAL example mesh is centred and
// scaled to a unit bounding-box diagonal, `points` surface samples with their normals are drawn,
// both reconstruct, and each output is compared with the original surface through 50k fresh
// samples: F-score at 1% of the diagonal, Chamfer distance (sum of the two mean squared
// distances), vertex count, closedness, and wall time (median of `repeats`).
//
//   ./poisson_vs_open3d build/cgal-data/meshes [points=100000] [threads=2] [repeats=3]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <open3d/geometry/PointCloud.h>
#include <open3d/geometry/TriangleMesh.h>
#include <torch/torch.h>

#include "io/mesh_io.h"
#include "shapes/chamfer.h"
#include "shapes/mesh_quality.h"
#include "shapes/mesh_sampling.h"
#include "shapes/reconstruct.h"

namespace {

using namespace shapediff;
using Clock = std::chrono::steady_clock;

const std::vector<std::string> kMeshes = {"elephant.off", "camel.off", "cow.off", "bull.off", "pig.off"};

struct Score {
  double seconds = 0, fscore = 0, chamfer = 0;
  int64_t vertices = 0;
  bool closed = false;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

Score compare(const shapes::TriangleMesh& mesh, const shapes::TriangleMesh& truth, double seconds) {
  Score s;
  s.seconds = seconds;
  s.vertices = mesh.num_vertices();
  s.closed = shapes::mesh_quality(mesh).closed;
  const auto a = shapes::sample_surface(mesh, 50000, 1).points.unsqueeze(0).contiguous();
  const auto b = shapes::sample_surface(truth, 50000, 2).points.unsqueeze(0).contiguous();
  s.fscore = shapes::fscore(a, b, 0.01).fscore.item<double>();
  s.chamfer = shapes::chamfer_distance(a, b).item<double>();
  return s;
}

shapes::TriangleMesh from_open3d(const open3d::geometry::TriangleMesh& m) {
  shapes::TriangleMesh out;
  out.vertices = torch::empty({static_cast<int64_t>(m.vertices_.size()), 3}, torch::kFloat32);
  out.faces = torch::empty({static_cast<int64_t>(m.triangles_.size()), 3}, torch::kLong);
  auto v = out.vertices.accessor<float, 2>();
  auto f = out.faces.accessor<int64_t, 2>();
  for (size_t i = 0; i < m.vertices_.size(); ++i) {
    for (int k = 0; k < 3; ++k) v[static_cast<int64_t>(i)][k] = static_cast<float>(m.vertices_[i][k]);
  }
  for (size_t i = 0; i < m.triangles_.size(); ++i) {
    for (int k = 0; k < 3; ++k) f[static_cast<int64_t>(i)][k] = m.triangles_[i][k];
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: poisson_vs_open3d MESH_DIR [points=100000] [threads=2] [repeats=3]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const int64_t points = argc > 2 ? std::atoll(argv[2]) : 100000;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 2;
  const int repeats = argc > 4 ? std::atoi(argv[4]) : 3;
  at::set_num_threads(threads);
  std::printf("Poisson on %lld points with normals, %d threads, median of %d runs; F-score at 1%% of the diagonal\n\n",
              static_cast<long long>(points), threads, repeats);
  std::printf("| mesh | shapediff s | Open3D s | shapediff F | Open3D F | shapediff CD | Open3D CD | vertices (shapediff / Open3D) | closed (shapediff / Open3D) |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---|---|\n");
  for (const auto& name : kMeshes) {
    const auto path = (std::filesystem::path(dir) / name).string();
    if (!std::filesystem::exists(path)) continue;
    auto raw = io::read_mesh(path);
    auto [lo, hi] = raw.bounds();
    const auto centre = (lo + hi) / 2;
    const double diag = (hi - lo).norm().item<double>();
    const shapes::TriangleMesh truth{(raw.vertices - centre) / diag, raw.faces};
    const auto cloud = shapes::sample_surface(truth, points, 7);

    std::vector<double> ours_t, theirs_t;
    shapes::TriangleMesh ours, theirs;
    for (int r = 0; r < repeats; ++r) {
      auto t0 = Clock::now();
      shapes::ReconstructOptions o;
      ours = shapes::reconstruct(cloud, o).mesh;
      ours_t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());

      open3d::geometry::PointCloud pcd;
      const auto p = cloud.points.to(torch::kFloat64).contiguous();
      const auto n = cloud.normals.to(torch::kFloat64).contiguous();
      const double* pp = p.data_ptr<double>();
      const double* np = n.data_ptr<double>();
      t0 = Clock::now();
      pcd.points_.resize(static_cast<size_t>(points));
      pcd.normals_.resize(static_cast<size_t>(points));
      for (int64_t i = 0; i < points; ++i) {
        pcd.points_[static_cast<size_t>(i)] = {pp[3 * i], pp[3 * i + 1], pp[3 * i + 2]};
        pcd.normals_[static_cast<size_t>(i)] = {np[3 * i], np[3 * i + 1], np[3 * i + 2]};
      }
      auto [mesh, densities] = open3d::geometry::TriangleMesh::CreateFromPointCloudPoisson(pcd, 8, 0.0f, 1.1f, false, threads);
      theirs_t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
      theirs = from_open3d(*mesh);
    }
    const auto a = compare(ours, truth, median(ours_t));
    const auto b = compare(theirs, truth, median(theirs_t));
    std::printf("| %s | %.2f | %.2f | %.4f | %.4f | %.2e | %.2e | %lld / %lld | %s / %s |\n", name.c_str(), a.seconds,
                b.seconds, a.fscore, b.fscore, a.chamfer, b.chamfer, static_cast<long long>(a.vertices),
                static_cast<long long>(b.vertices), a.closed ? "yes" : "no", b.closed ? "yes" : "no");
    std::fflush(stdout);
  }
  return 0;
}

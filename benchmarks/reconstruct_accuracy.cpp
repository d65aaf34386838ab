// Reconstruction accuracy on CGAL's example meshes (scripts/cgal_data.sh): each closed mesh is
// centred and scaled to a unit bounding-box diagonal, 20k surface points are sampled (with their
// normals, and again without), each method rebuilds a mesh, and the result is compared with the
// original surface through 20k fresh samples of each: Chamfer distance (sum of the two mean
// squared distances, in diagonal² units), F-score at 1% of the diagonal, normal consistency
// (mean |cos| between a reconstructed sample's face normal and the nearest original sample's),
// and whether the output is closed. Prints a Markdown table and per-method summaries.
//
//   ./reconstruct_accuracy build/cgal-data/meshes [points=20000] [threads=2]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "io/mesh_io.h"
#include "shapes/chamfer.h"
#include "shapes/mesh_quality.h"
#include "shapes/mesh_sampling.h"
#include "shapes/reconstruct.h"

namespace {

using namespace shapediff;

// Closed CGAL example meshes of a few thousand to a few hundred thousand faces; the first ones
// that load and are closed are used.
const std::vector<std::string> kMeshes = {
    "elephant.off", "camel.off", "cow.off", "bull.off", "triceratops.off", "knot1.off", "eight.off",
    "pig.off", "homer.off", "handle.off", "mushroom.off", "elk.off", "cactus.off", "rotor.off",
    "fandisk.off", "femur.off", "hand.off", "blobby.off", "anchor.off", "spool.off"};
constexpr size_t kMaxMeshes = 12;

shapes::TriangleMesh normalized(const shapes::TriangleMesh& m) {
  auto [lo, hi] = m.bounds();
  const auto centre = (lo + hi) / 2;
  const double diag = (hi - lo).norm().item<double>();
  return shapes::TriangleMesh{(m.vertices - centre) / diag, m.faces};
}

// Index of each point of a [N,3]'s nearest point in b [M,3] (exact, chunked).
torch::Tensor nearest_index(const torch::Tensor& a, const torch::Tensor& b) {
  std::vector<torch::Tensor> parts;
  for (int64_t s = 0; s < a.size(0); s += 2048) {
    parts.push_back(torch::cdist(a.slice(0, s, s + 2048), b).argmin(1));
  }
  return torch::cat(parts);
}

struct Row {
  double cd = 0, f = 0, nc = 0, seconds = 0;
  bool closed = false;
  std::string error;
};

Row evaluate(const shapes::TriangleMesh& truth, const shapes::PointCloud& input, shapes::ReconstructMethod method) {
  Row row;
  const auto t0 = std::chrono::steady_clock::now();
  shapes::ReconstructOptions opt;
  opt.method = method;
  shapes::Reconstruction r;
  try {
    r = shapes::reconstruct(input, opt);
  } catch (const std::exception& e) {
    row.error = e.what();
    return row;
  }
  row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto got = shapes::sample_surface(r.mesh, 20000, uint64_t{101});
  const auto ref = shapes::sample_surface(truth, 20000, uint64_t{202});
  row.cd = shapes::chamfer_distance(got.points.unsqueeze(0), ref.points.unsqueeze(0)).item<double>();
  row.f = shapes::fscore(got.points.unsqueeze(0), ref.points.unsqueeze(0), 0.01).fscore.item<double>();
  const auto idx = nearest_index(got.points, ref.points);
  row.nc = (got.normals * ref.normals.index_select(0, idx)).sum(1).abs().mean().item<double>();
  row.closed = shapes::mesh_quality(r.mesh, false).closed;
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MESH_DIR [points=20000] [threads=2]\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const int64_t points = argc > 2 ? std::atoll(argv[2]) : 20000;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 2;
  at::set_num_threads(threads);
  struct Case {
    const char* label;
    shapes::ReconstructMethod method;
    bool normals;
  };
  const std::vector<Case> cases = {{"poisson, given normals", shapes::ReconstructMethod::Poisson, true},
                                   {"poisson, estimated normals", shapes::ReconstructMethod::Poisson, false},
                                   {"advancing-front", shapes::ReconstructMethod::AdvancingFront, false},
                                   {"scale-space", shapes::ReconstructMethod::ScaleSpace, false}};
  std::map<std::string, std::vector<Row>> by_case;
  std::printf("| mesh | faces | method | CD (diag²) | F@1%% | normal consistency | closed | s |\n");
  std::printf("|---|---:|---|---:|---:|---:|:---:|---:|\n");
  size_t used = 0;
  for (const auto& name : kMeshes) {
    if (used == kMaxMeshes) break;
    shapes::TriangleMesh truth;
    try {
      truth = normalized(io::read_mesh((dir / name).string()));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "skip %s: %s\n", name.c_str(), e.what());
      continue;
    }
    if (!shapes::mesh_quality(truth, false).closed) {
      std::fprintf(stderr, "skip %s: not closed\n", name.c_str());
      continue;
    }
    ++used;
    const auto with_normals = shapes::sample_surface(truth, points, uint64_t{7});
    for (const auto& c : cases) {
      const shapes::PointCloud input = c.normals ? with_normals : shapes::PointCloud{with_normals.points};
      const Row row = evaluate(truth, input, c.method);
      by_case[c.label].push_back(row);
      if (!row.error.empty()) {
        std::printf("| %s | %lld | %s | failed: %s | | | | |\n", name.c_str(), (long long)truth.num_faces(), c.label,
                    row.error.c_str());
        continue;
      }
      std::printf("| %s | %lld | %s | %.2e | %.3f | %.3f | %s | %.1f |\n", name.c_str(), (long long)truth.num_faces(),
                  c.label, row.cd, row.f, row.nc, row.closed ? "yes" : "no", row.seconds);
      std::fflush(stdout);
    }
  }
  std::printf("\n| method | meshes | mean CD (diag²) | mean F@1%% | min F@1%% | mean NC | closed | failed |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& c : cases) {
    const auto& rows = by_case[c.label];
    double cd = 0, f = 0, nc = 0, fmin = 1;
    int closed = 0, failed = 0, ok = 0;
    for (const auto& r : rows) {
      if (!r.error.empty()) {
        ++failed;
        continue;
      }
      ++ok;
      cd += r.cd;
      f += r.f;
      nc += r.nc;
      fmin = std::min(fmin, r.f);
      closed += r.closed;
    }
    std::printf("| %s | %zu | %.2e | %.3f | %.3f | %.3f | %d/%d | %d |\n", c.label, rows.size(), ok ? cd / ok : 0.0,
                ok ? f / ok : 0.0, fmin, ok ? nc / ok : 0.0, closed, ok, failed);
  }
  return 0;
}

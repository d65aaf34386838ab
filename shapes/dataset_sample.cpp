#include "shapes/dataset_sample.h"

#include <stdexcept>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "shapes/mesh_sampling.h"

namespace shapediff::shapes {

void DatasetSampleOptions::validate() const {
  auto fail = [](const std::string& field, const std::string& why) {
    throw std::invalid_argument(field + " " + why);
  };
  if (points < 1) fail("points", "must be >= 1, got " + std::to_string(points));
  if (scans < 0) fail("scans", "must be >= 0, got " + std::to_string(scans));
  if (scans > 0 && scan_points < 1) {
    fail("scan_points", "must be >= 1, got " + std::to_string(scan_points));
  }
  if (scan_width < 8 || scan_height < 8) fail("scan resolution", "must be at least 8x8");
  if (!(camera_distance > 1.0)) {
    fail("camera_distance", "must exceed 1 (the normalized shape's radius), got " +
                                std::to_string(camera_distance));
  }
  if (camera_retries < 0) fail("camera_retries", "must be >= 0");
  if (normalization == NormalizationKind::DatasetGlobal) {
    fail("normalization", "dataset_global is fitted over a dataset, not one shape");
  }
}

torch::Tensor resample_points(const torch::Tensor& points, int64_t m, uint64_t seed) {
  const int64_t p = points.size(0);
  if (p == 0) throw std::invalid_argument("resample_points: the cloud is empty");
  auto gen = at::detail::createCPUGenerator(seed);
  torch::Tensor index;
  if (p >= m) {
    index = at::randperm(p, gen, torch::TensorOptions().dtype(torch::kLong)).slice(0, 0, m);
  } else {
    const auto extra = at::randint(p, {m - p}, gen, torch::TensorOptions().dtype(torch::kLong));
    index = torch::cat({torch::arange(p, torch::kLong), extra});
  }
  return points.index_select(0, index);
}

DatasetSample make_dataset_sample(const TriangleMesh& mesh, uint64_t seed,
                                  const DatasetSampleOptions& o) {
  o.validate();
  mesh.validate("mesh");
  if (mesh.empty()) throw std::invalid_argument("mesh: no faces");

  DatasetSample s;
  switch (o.normalization) {
    case NormalizationKind::UnitSphere:
      s.normalization = Normalization::unit_sphere(mesh.vertices);
      break;
    case NormalizationKind::UnitBox:
      s.normalization = Normalization::unit_box(mesh.vertices);
      break;
    default:
      break;  // identity
  }
  TriangleMesh normalized = mesh;
  normalized.vertices = s.normalization.apply(mesh.vertices).to(torch::kFloat32);
  normalized.vertex_normals = torch::Tensor();

  s.surface = sample_surface(normalized, o.points, seed * 2 + 1);
  if (o.scans == 0) return s;

  // Extra camera draws for views that see nothing; each retry gets fresh positions.
  std::vector<PinholeCamera> cameras;
  std::vector<torch::Tensor> partial, c2w, intrinsics;
  uint64_t camera_seed = seed * 7 + 3;
  ScanOptions scan = o.scan;
  scan.seed = seed * 13 + 5;
  int64_t retries = 0;
  while (static_cast<int64_t>(partial.size()) < o.scans) {
    const int64_t need = o.scans - static_cast<int64_t>(partial.size());
    auto cams = cameras_around(need, o.camera_distance, camera_seed++, o.scan_width,
                               o.scan_height, o.fov_y_degrees);
    for (const auto& cam : cams) {
      VirtualScan v;
      try {
        v = scan_mesh(normalized, cam, scan);
      } catch (const std::invalid_argument& e) {
        if (std::string(e.what()).find("sees nothing") == std::string::npos) throw;
        if (++retries > o.camera_retries) {
          throw std::invalid_argument("mesh: no camera saw the shape after " +
                                      std::to_string(o.camera_retries) + " retries");
        }
        continue;
      }
      scan.seed += 1;
      partial.push_back(resample_points(v.cloud.points, o.scan_points,
                                        seed * 31 + static_cast<uint64_t>(partial.size())));
      c2w.push_back(cam.camera_to_world());
      intrinsics.push_back(torch::tensor({static_cast<double>(cam.width),
                                          static_cast<double>(cam.height), cam.fx, cam.fy,
                                          cam.cx, cam.cy},
                                         torch::kFloat64));
    }
  }
  s.partial = torch::stack(partial);
  s.cam_to_world = torch::stack(c2w);
  s.intrinsics = torch::stack(intrinsics);
  return s;
}

}  // namespace shapediff::shapes

// One training example made from a mesh: the mesh is normalized (recorded), its surface
// sampled with normals, and K virtual depth scans taken from cameras around it, each resampled
// to M points — the partial input for completion. All in the normalized frame.
//
//   DatasetSampleOptions o;   // 2048 points, 2 scans of 1024 points, unit-sphere frame
//   DatasetSample s = make_dataset_sample(mesh, /*seed=*/42, o);
//   s.surface.points  [2048,3]   s.partial [2,1024,3]   s.cam_to_world [2,4,4]
//
// A camera that sees nothing (possible for thin shapes) is replaced by another draw, up to
// `camera_retries` times; then std::invalid_argument names the problem. Deterministic for a
// mesh and seed.
#pragma once

#include <cstdint>

#include <torch/types.h>

#include "shapes/normalization.h"
#include "shapes/point_cloud.h"
#include "shapes/triangle_mesh.h"
#include "shapes/virtual_scan.h"

namespace shapediff::shapes {

struct DatasetSampleOptions {
  int64_t points = 2048;
  int64_t scans = 2;           // K; 0 = no partial scans
  int64_t scan_points = 1024;  // M
  int64_t scan_width = 128;
  int64_t scan_height = 128;
  double fov_y_degrees = 40.0;
  double camera_distance = 3.0;  // in the normalized frame
  ScanOptions scan;              // noise and dropout (seed is derived per shape)
  NormalizationKind normalization = NormalizationKind::UnitSphere;
  int64_t camera_retries = 8;

  void validate() const;  // std::invalid_argument naming the field
};

struct DatasetSample {
  PointCloud surface;          // [N,3] points and normals
  torch::Tensor partial;       // [K,M,3] float32 (undefined when K = 0)
  torch::Tensor cam_to_world;  // [K,4,4] float64
  torch::Tensor intrinsics;    // [K,6] float64: width, height, fx, fy, cx, cy
  Normalization normalization; // source mesh frame -> stored frame
};

DatasetSample make_dataset_sample(const TriangleMesh& mesh, uint64_t seed,
                                  const DatasetSampleOptions& options = {});

// Resamples a cloud [P,3] to exactly m points: a seeded random subset when P >= m, else all
// points plus random repeats. Throws std::invalid_argument for an empty cloud.
torch::Tensor resample_points(const torch::Tensor& points, int64_t m, uint64_t seed);

}  // namespace shapediff::shapes

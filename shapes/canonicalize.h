// Canonicalization of a real scan into a model's frame, recording the similarity transform so
// that results (completions, reconstructions) map back onto the scan:
//   1. statistical outlier removal: a point is dropped when the mean distance to its k nearest
//      neighbours exceeds mean + std_ratio * std of that quantity over the cloud (Open3D's
//      rule: sample std); brute-force kNN for small clouds, a k-d tree for larger ones (outliers
//      far away do not degrade it the way they stretch a uniform grid);
//   2. centring on the inliers' mean and rotating: optional PCA alignment (principal axes, in
//      decreasing variance, onto x, y, z; each of the first two axes signed so that the third
//      moment along it is positive, the third is their cross product: a proper rotation that
//      follows the shape when the scan is rotated), then an optional up-axis change (e.g. a
//      Z-up scan into a Y-up model frame);
//   3. per-shape scaling (unit sphere or unit box, see normalization.h) in the rotated frame,
//      then optionally the model's own normalization (e.g. its DatasetGlobal statistics).
// Everything is computed in double precision on the CPU; the canonical cloud (CPU) keeps the
// input's dtype. Units: the input's, then model units.
//
//   CanonicalizeOptions opt;  opt.up_from = Axis::PosZ;  opt.pca_align = true;
//   CanonicalScan c = canonicalize_scan(scan, opt);
//   auto back = c.transform.invert(completed_points);   // into the scan's frame
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include <torch/types.h>

#include "shapes/normalization.h"
#include "shapes/point_cloud.h"

namespace shapediff::shapes {

enum class Axis { PosX, NegX, PosY, NegY, PosZ, NegZ };
// "+x", "-x", "+y", "-y", "+z", "-z".
std::string to_string(Axis axis);
// Accepts the names above and "x", "y", "z" (positive); throws listing them otherwise.
Axis parse_axis(const std::string& name);

// y = scale * rotation * x + translation (rotation row-major, proper: det +1; scale > 0).
struct SimilarityTransform {
  std::array<double, 9> rotation{1, 0, 0, 0, 1, 0, 0, 0, 1};
  double scale = 1.0;
  std::array<double, 3> translation{0, 0, 0};

  // points [..., 3], any floating dtype and device; the result keeps both.
  torch::Tensor apply(const torch::Tensor& points) const;
  torch::Tensor invert(const torch::Tensor& points) const;
  // Directions (normals) only rotate.
  torch::Tensor apply_to_directions(const torch::Tensor& directions) const;
  torch::Tensor invert_directions(const torch::Tensor& directions) const;
  // Homogeneous [4,4] float64 matrix of apply.
  torch::Tensor matrix() const;
  SimilarityTransform inverse() const;
};

// Rotation (row-major) taking the direction `from` onto `to` by the smallest angle (about the
// next axis for opposite directions); identity when equal.
std::array<double, 9> axis_change_rotation(Axis from, Axis to);

struct OutlierOptions {
  int64_t neighbors = 16;  // k
  double std_ratio = 2.0;
  int64_t brute_force_max = 2048;  // clouds up to this size use brute-force kNN
};

// Mean distance from each point to its k nearest other points, [N] float64. Requires N > k.
torch::Tensor knn_mean_distance(const torch::Tensor& points, int64_t k,
                                int64_t brute_force_max = 2048);
// Inlier mask [N] bool of the statistical outlier rule above.
torch::Tensor statistical_outlier_mask(const torch::Tensor& points,
                                       const OutlierOptions& options = {});

struct CanonicalizeOptions {
  bool remove_outliers = true;
  OutlierOptions outliers;
  bool pca_align = false;
  Axis up_from = Axis::PosY;  // the scan's up direction (after PCA alignment when enabled)
  Axis up_to = Axis::PosY;    // the model's up direction
  // UnitSphere or UnitBox; Identity keeps the scale (the cloud is only centred and rotated).
  NormalizationKind scaling = NormalizationKind::UnitSphere;
  SphereCenter sphere_center = SphereCenter::BoundingBox;
  // Applied last, e.g. the DatasetGlobal normalization the model was trained with.
  std::optional<Normalization> model_normalization;
};

struct CanonicalScan {
  PointCloud cloud;               // the inliers in the canonical frame (normals rotated)
  torch::Tensor kept;             // [M] int64, the inliers' rows in the input
  SimilarityTransform transform;  // input frame -> canonical frame
};

// Throws std::invalid_argument for an invalid or empty cloud, bad options, or a cloud whose
// inliers all coincide.
CanonicalScan canonicalize_scan(const PointCloud& scan, const CanonicalizeOptions& options = {});

}  // namespace shapediff::shapes

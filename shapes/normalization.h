// Recorded, invertible point normalizations: apply(p) = (p - center) / scale, invert(q) =
// q * scale + center, on [..., 3] tensors of any floating dtype and device (the result keeps
// both). Kinds:
//  - UnitSphere:    per shape; centre = bounding-box centre or mean, scale = max distance to it,
//                   so the result fits the unit ball and touches its boundary.
//  - UnitBox:       per shape; centre = bounding-box centre, scale = max half-extent, so the
//                   result fits [-1,1]^3 with one axis reaching +-1.
//  - DatasetGlobal: PointFlow / PVD; centre = per-axis mean over every point of the training
//                   set, scale = standard deviation over all coordinates pooled (numpy's
//                   all_points.reshape(-1).std(), around the mean of the pooled coordinates).
//  - Identity:      centre 0, scale 1.
// JSON form: {"kind": "unit_sphere", "center": [x, y, z], "scale": s}.
//
//   auto norm = Normalization::unit_sphere(cloud.points);
//   auto model_in = norm.apply(cloud.points);  ...  auto back = norm.invert(generated);
//   DatasetStatistics stats;  for (auto& pc : train) stats.add(pc.points);
//   Normalization global = stats.normalization();
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>
#include <torch/types.h>

namespace shapediff::shapes {

enum class NormalizationKind { Identity, UnitSphere, UnitBox, DatasetGlobal };
// Centre of a UnitSphere normalization.
enum class SphereCenter { BoundingBox, Mean };

// "identity", "unit_sphere", "unit_box", "dataset_global".
std::string to_string(NormalizationKind kind);
// Throws std::invalid_argument listing the accepted names.
NormalizationKind parse_normalization_kind(const std::string& name);

struct Normalization {
  NormalizationKind kind = NormalizationKind::Identity;
  std::array<double, 3> center{0, 0, 0};
  double scale = 1.0;

  torch::Tensor apply(const torch::Tensor& points) const;
  torch::Tensor invert(const torch::Tensor& points) const;

  // Finite centre, finite scale > 0.
  void validate(const std::string& context) const;
  nlohmann::json to_json() const;
  // Throws std::invalid_argument naming `context` and the missing or bad field.
  static Normalization from_json(const nlohmann::json& json,
                                 const std::string& context = "normalization");

  // Fitted to one shape's points [N,3]; an empty cloud, NaN/Inf or coincident points throw.
  static Normalization unit_sphere(const torch::Tensor& points,
                                   SphereCenter center = SphereCenter::BoundingBox);
  static Normalization unit_box(const torch::Tensor& points);
};

// Accumulates the DatasetGlobal statistics one shape (or batch) at a time in double precision
// (pairwise merging of counts, means and squared deviations, so large sets lose no accuracy).
class DatasetStatistics {
 public:
  // points [N,3] or [B,N,3].
  void add(const torch::Tensor& points);
  int64_t num_points() const { return count_; }
  // Throws std::invalid_argument when nothing was added or every coordinate is equal.
  Normalization normalization() const;

 private:
  int64_t count_ = 0;  // points
  std::array<double, 3> axis_mean_{0, 0, 0};
  double pooled_mean_ = 0;  // mean over all 3 * count_ coordinates
  double pooled_m2_ = 0;    // sum of squared deviations from pooled_mean_
};

}  // namespace shapediff::shapes

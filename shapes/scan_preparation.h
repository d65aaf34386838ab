// Bringing a real scan into a model's frame and back: non-finite points dropped, statistical
// outliers removed, an optional up-axis change (scanners often record z-up; the toolkit's
// shapes are y-up), then a unit-sphere normalization estimated from the scan itself (bounding-box
// centre, farthest point at radius `fill`). ScanFrame maps scan coordinates to that frame and
// back, so completed shapes overlay the input.
//
//   ScanPrepOptions o;                       // k = 16 neighbours, 2.0 standard deviations
//   o.up = UpAxis::Z;
//   PreparedScan s = prepare_scan(cloud.points, o);   // s.points [M,3] in the unit frame
//   auto back = s.frame.to_scan(completed);           // [..., 3] in the scan's coordinates
//
// Outliers (Rusu et al.'s statistical filter): a point whose mean distance to its k nearest
// neighbours exceeds the mean of that statistic over the cloud by more than std_ratio standard
// deviations. Units are the scan's own; a scan a kilometre away or a millimetre wide is fine.
#pragma once

#include <cstdint>
#include <string>

#include <torch/types.h>

namespace shapediff::shapes {

enum class UpAxis { Y, Z, X, NegY, NegZ, NegX };
UpAxis parse_up_axis(const std::string& name);  // y, z, x, -y, -z, -x
std::string to_string(UpAxis axis);

struct ScanPrepOptions {
  int64_t neighbors = 16;   // outlier filter k (0 = no filter)
  double std_ratio = 2.0;   // outlier threshold in standard deviations
  UpAxis up = UpAxis::Y;    // the scan's up axis
  double fill = 1.0;        // radius the scan's farthest point gets in the unit frame
  int64_t min_points = 10;  // fewer finite points than this: refused
};

// Scan coordinates <-> the unit frame: unit = R (p - center) / scale, R the up-axis rotation.
struct ScanFrame {
  torch::Tensor rotation;  // [3,3] float64: scan axes -> y-up axes
  torch::Tensor center;    // [3] float64, scan coordinates
  double scale = 1.0;

  torch::Tensor to_unit(const torch::Tensor& points) const;  // [...,3] -> float32
  torch::Tensor to_scan(const torch::Tensor& points) const;  // [...,3] -> float32
};

struct PreparedScan {
  torch::Tensor points;        // [M,3] float32, unit frame (outliers removed)
  torch::Tensor kept;          // [M] int64: rows of the input kept
  int64_t nonfinite = 0;       // points dropped for NaN/Inf coordinates
  int64_t outliers = 0;        // points dropped by the statistical filter
  ScanFrame frame;
};

// The outlier filter alone: a keep-mask [N] bool for points [N,3] (finite). k >= N - 1 keeps all.
torch::Tensor statistical_inliers(const torch::Tensor& points, int64_t neighbors, double std_ratio);

// Throws std::invalid_argument for a tensor that is not [N,3], fewer than min_points finite
// points (naming how many), or a scan without extent (all points in one spot).
PreparedScan prepare_scan(const torch::Tensor& points, const ScanPrepOptions& options = {});

}  // namespace shapediff::shapes

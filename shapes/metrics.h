// Generative-model metrics between a set of generated clouds and a set of reference clouds,
// with PointFlow's definitions (its compute_all_metrics and jsd_between_point_cloud_sets, which
// PVD reuses), computed from pairwise Chamfer (shapes/chamfer.h) and EMD (shapes/emd.h)
// matrices:
//  - MMD:   mean over reference shapes of the distance to the closest generated shape.
//  - COV:   fraction of reference shapes that are the closest reference of at least one
//           generated shape.
//  - 1-NNA: accuracy of the leave-one-out 1-nearest-neighbour classifier that labels each shape
//           of generated U reference with the set of its nearest other shape (0.5 is ideal).
//  - JSD:   Jensen-Shannon divergence (base 2) between the point-occupancy histograms of the
//           two sets on a 28^3 grid: cell centres -h + i * 2h / 27 (i = 0..27) per axis, only
//           the cells whose centre lies in the ball of radius h (PointFlow: h = 0.5, the unit
//           cube); every point counts in its nearest kept cell, points outside included.
// Ties go to the lowest index (in PointFlow's [reference; generated] order for 1-NNA), so
// results do not depend on threads.
//
// Normalization protocol (EvalNormalization), applied to both sets before any metric and named
// in the result: None (PointFlow/PVD: both sets in the data's own frame), UnitBox / UnitSphere
// (each shape on its own, shapes/normalization.h: bounding-box centre, max half-extent 1 /
// max radius 1), Reference (one transform for both sets, fitted to the reference set as
// PointFlow normalizes its training data: per-axis mean, pooled standard deviation).
//
//   EvalOptions o;  o.normalization = EvalNormalization::UnitSphere;
//   o.emd_options.method = EmdMethod::Approximate;
//   EvalResult r = evaluate_sets(generated, reference, o);   // [G,N,3], [R,N,3]
//   std::cout << r.to_json().dump(2);                         // {"metrics": {"1-NNA-CD": ...}}
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>
#include <torch/types.h>

#include "shapes/chamfer.h"
#include "shapes/emd.h"

namespace shapediff::shapes {

struct MmdCoverage {
  double mmd = 0;
  double coverage = 0;
};

// gen_ref: distances [G,R] (generated x reference), float64 or float32, G, R >= 1.
MmdCoverage mmd_and_coverage(const torch::Tensor& gen_ref);

// gen_gen [G,G], gen_ref [G,R], ref_ref [R,R] with G + R >= 2; diagonals are ignored.
double one_nn_accuracy(const torch::Tensor& gen_gen, const torch::Tensor& gen_ref,
                       const torch::Tensor& ref_ref);

struct JsdGrid {
  int64_t resolution = 28;  // cells per axis, >= 2
  double half_extent = 0.5;  // h > 0: the grid spans [-h, h]^3
  bool in_sphere = true;     // keep only the cells whose centre is within h of the origin
};

// Points per kept cell, summed over every cloud of `clouds` [K,N,3]: float64 [cells], cells in
// C order of (x, y, z) index.
torch::Tensor occupancy_counts(const torch::Tensor& clouds, const JsdGrid& grid = {});

// JSD in bits between two histograms of equal length (each normalized to sum 1 first; both
// need a positive sum).
double jensen_shannon_divergence(const torch::Tensor& p, const torch::Tensor& q);

double jsd_between_sets(const torch::Tensor& generated, const torch::Tensor& reference,
                        const JsdGrid& grid = {});

enum class EvalNormalization { None, UnitBox, UnitSphere, Reference };

// "none", "unit_box", "unit_sphere", "reference"; the parser lists them on error.
std::string to_string(EvalNormalization n);
EvalNormalization parse_eval_normalization(const std::string& name);

// Both sets after the protocol (new tensors; float32). A degenerate shape (all points at one
// place) cannot be normalized per shape: std::invalid_argument naming the set and shape index.
std::pair<torch::Tensor, torch::Tensor> normalize_sets(const torch::Tensor& generated,
                                                       const torch::Tensor& reference,
                                                       EvalNormalization normalization);

struct EvalOptions {
  EvalNormalization normalization = EvalNormalization::None;
  bool cd = true;   // MMD/COV/1-NNA from Chamfer distances
  bool emd = true;  // MMD/COV/1-NNA from EMD (and EMD in `paired`); needs equal point counts
  bool jsd = true;
  // Also compare generated[k] with reference[k] (completion, reconstruction): mean CD, EMD and
  // F-score over the pairs. Needs G == R.
  bool paired = false;
  EmdOptions emd_options;
  double fscore_threshold = 0.01;  // Euclidean, model units after normalization
  int64_t jsd_resolution = 28;
  // 0: the radius of the smallest origin-centred ball holding the (normalized) reference set,
  // so its points all fall in kept cells; PointFlow's fixed value is 0.5.
  double jsd_half_extent = 0;
  // Called on the calling thread as pair matrices fill: stage is "CD" or "EMD"; counts are
  // pairs over all three matrices of that stage.
  std::function<void(const std::string& stage, int64_t done, int64_t total)> progress;
};

struct SetScores {
  double mmd = 0, coverage = 0, nna = 0;  // MMD, COV, 1-NNA
};

struct EvalResult {
  EvalNormalization normalization = EvalNormalization::None;
  int64_t generated = 0, reference = 0;                // shapes
  int64_t generated_points = 0, reference_points = 0;  // points per shape
  std::optional<SetScores> cd;           // from Chamfer distances
  std::optional<SetScores> emd;          // from EMD
  std::optional<EmdOptions> emd_options;  // how EMD was computed, when it was
  double emd_max_gap = 0;                // the largest certified gap of any EMD value used
  std::optional<double> jsd;
  JsdGrid jsd_grid;  // the grid used (half_extent resolved)
  struct Paired {
    double cd = 0;
    std::optional<double> emd;
    double fscore = 0, precision = 0, recall = 0;
    double threshold = 0;
  };
  std::optional<Paired> paired;

  // {"normalization": "unit_sphere", "generated": {"count", "points"}, "reference": {...},
  //  "metrics": {"MMD-CD", "COV-CD", "1-NNA-CD", "MMD-EMD", "COV-EMD", "1-NNA-EMD", "JSD"} (those
  //  computed), "chamfer": "<definition>", "emd": {"method", "ground", "max_gap"} or null,
  //  "jsd_grid": {"resolution", "half_extent", "in_sphere"} or null,
  //  "paired": {"CD", "EMD", "F-score", "precision", "recall", "threshold"} or null}
  nlohmann::json to_json() const;
};

// generated [G,N,3], reference [R,M,3] (M == N when options.emd). Throws std::invalid_argument
// for bad sets (shapes, NaN/Inf, empty) or options.
EvalResult evaluate_sets(const torch::Tensor& generated, const torch::Tensor& reference,
                         const EvalOptions& options = {});

}  // namespace shapediff::shapes

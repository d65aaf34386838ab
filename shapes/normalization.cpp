#include "shapes/normalization.h"

#include <cmath>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "shapes/validation.h"

namespace shapediff::shapes {
namespace {

constexpr const char* kKindNames[] = {"identity", "unit_sphere", "unit_box", "dataset_global"};

void check_points_last_dim(const torch::Tensor& points, const std::string& context) {
  if (!points.defined() || points.dim() < 1 || points.size(-1) != 3 ||
      !at::isFloatingType(points.scalar_type())) {
    throw std::invalid_argument(context + ": points must be a floating [..., 3] tensor, got " +
                                (points.defined() ? c10::str(points.sizes()) : "nothing"));
  }
}

// Validated [N,3] float64 CPU copy of one shape's points.
torch::Tensor shape_points(const torch::Tensor& points, const std::string& context) {
  detail::check_matrix(points, 3, context, "points");
  detail::check_finite(points, context, "points");
  if (points.size(0) == 0) throw std::invalid_argument(context + ": points is empty");
  return points.to(torch::kCPU, torch::kFloat64);
}

std::array<double, 3> to_array(const torch::Tensor& t) {
  const auto c = t.to(torch::kCPU, torch::kFloat64).contiguous();
  return {c[0].item<double>(), c[1].item<double>(), c[2].item<double>()};
}

Normalization fitted(NormalizationKind kind, const torch::Tensor& center, double scale,
                     const std::string& context) {
  if (!(scale > 0)) throw std::invalid_argument(context + ": all points coincide (scale 0)");
  Normalization n;
  n.kind = kind;
  n.center = to_array(center);
  n.scale = scale;
  return n;
}

}  // namespace

std::string to_string(NormalizationKind kind) { return kKindNames[static_cast<int>(kind)]; }

NormalizationKind parse_normalization_kind(const std::string& name) {
  for (int i = 0; i < 4; ++i) {
    if (name == kKindNames[i]) return static_cast<NormalizationKind>(i);
  }
  throw std::invalid_argument("normalization kind '" + name +
                              "' is not one of identity, unit_sphere, unit_box, dataset_global");
}

torch::Tensor Normalization::apply(const torch::Tensor& points) const {
  check_points_last_dim(points, "Normalization::apply");
  const auto c =
      torch::tensor({center[0], center[1], center[2]}, torch::kFloat64).to(points.options());
  return (points - c) / scale;
}

torch::Tensor Normalization::invert(const torch::Tensor& points) const {
  check_points_last_dim(points, "Normalization::invert");
  const auto c =
      torch::tensor({center[0], center[1], center[2]}, torch::kFloat64).to(points.options());
  return points * scale + c;
}

void Normalization::validate(const std::string& context) const {
  for (int d = 0; d < 3; ++d) {
    if (!std::isfinite(center[d])) {
      throw std::invalid_argument(context + ": center[" + std::to_string(d) + "] is not finite");
    }
  }
  if (!(scale > 0) || !std::isfinite(scale)) {
    throw std::invalid_argument(context + ": scale must be finite and > 0, got " +
                                std::to_string(scale));
  }
}

nlohmann::json Normalization::to_json() const {
  return {
      {"kind", to_string(kind)}, {"center", {center[0], center[1], center[2]}}, {"scale", scale}};
}

Normalization Normalization::from_json(const nlohmann::json& json, const std::string& context) {
  if (!json.is_object()) throw std::invalid_argument(context + ": expected a JSON object");
  for (const char* field : {"kind", "center", "scale"}) {
    if (!json.contains(field))
      throw std::invalid_argument(context + ": field '" + field + "' is missing");
  }
  Normalization n;
  const auto& kind = json.at("kind");
  if (!kind.is_string()) throw std::invalid_argument(context + ": field 'kind' must be a string");
  try {
    n.kind = parse_normalization_kind(kind.get<std::string>());
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(context + ": field 'kind': " + e.what());
  }
  const auto& center = json.at("center");
  if (!center.is_array() || center.size() != 3) {
    throw std::invalid_argument(context + ": field 'center' must be an array of 3 numbers, got " +
                                center.dump());
  }
  for (int d = 0; d < 3; ++d) {
    if (!center[d].is_number()) {
      throw std::invalid_argument(context + ": field 'center' must be an array of 3 numbers, got " +
                                  center.dump());
    }
    n.center[d] = center[d].get<double>();
  }
  const auto& scale = json.at("scale");
  if (!scale.is_number()) {
    throw std::invalid_argument(context + ": field 'scale' must be a number, got " + scale.dump());
  }
  n.scale = scale.get<double>();
  n.validate(context);
  return n;
}

Normalization Normalization::unit_sphere(const torch::Tensor& points, SphereCenter center) {
  const std::string context = "Normalization::unit_sphere";
  const auto p = shape_points(points, context);
  const auto c = center == SphereCenter::Mean
                     ? p.mean(0)
                     : 0.5 * (std::get<0>(p.min(0)) + std::get<0>(p.max(0)));
  const double radius = (p - c).norm(2, 1).max().item<double>();
  return fitted(NormalizationKind::UnitSphere, c, radius, context);
}

Normalization Normalization::unit_box(const torch::Tensor& points) {
  const std::string context = "Normalization::unit_box";
  const auto p = shape_points(points, context);
  const auto lo = std::get<0>(p.min(0));
  const auto hi = std::get<0>(p.max(0));
  const double half = (0.5 * (hi - lo)).max().item<double>();
  return fitted(NormalizationKind::UnitBox, 0.5 * (lo + hi), half, context);
}

void DatasetStatistics::add(const torch::Tensor& points) {
  const std::string context = "DatasetStatistics::add";
  if (!points.defined() || (points.dim() != 2 && points.dim() != 3)) {
    throw std::invalid_argument(context + ": points must be [N,3] or [B,N,3], got " +
                                (points.defined() ? c10::str(points.sizes()) : "nothing"));
  }
  const auto flat = points.reshape({-1, points.size(-1)});
  detail::check_matrix(flat, 3, context, "points");
  detail::check_finite(flat, context, "points");
  const int64_t n = flat.size(0);
  if (n == 0) return;
  const auto p = flat.to(torch::kCPU, torch::kFloat64);
  const auto axis_mean = to_array(p.mean(0));
  const double pooled_mean = p.mean().item<double>();
  const double pooled_m2 = (p - pooled_mean).square().sum().item<double>();
  // Chan et al.'s pairwise update of (count, mean, M2).
  const double na = static_cast<double>(count_), nb = static_cast<double>(n), nt = na + nb;
  for (int d = 0; d < 3; ++d) axis_mean_[d] += (axis_mean[d] - axis_mean_[d]) * nb / nt;
  const double delta = pooled_mean - pooled_mean_;
  pooled_mean_ += delta * nb / nt;
  pooled_m2_ += pooled_m2 + delta * delta * (3 * na) * (3 * nb) / (3 * nt);
  count_ += n;
}

Normalization DatasetStatistics::normalization() const {
  if (count_ == 0) throw std::invalid_argument("DatasetStatistics: no points were added");
  const double std_dev = std::sqrt(pooled_m2_ / (3.0 * static_cast<double>(count_)));
  if (!(std_dev > 0))
    throw std::invalid_argument("DatasetStatistics: every coordinate is equal (std 0)");
  Normalization n;
  n.kind = NormalizationKind::DatasetGlobal;
  n.center = axis_mean_;
  n.scale = std_dev;
  return n;
}

}  // namespace shapediff::shapes

#include "viewer/colouring.h"

#include <stdexcept>

#include <torch/torch.h>

namespace shapediff::viewer {

ColourMode parse_colour_mode(const std::string& name) {
  if (name == "displacement") return ColourMode::kDisplacement;
  if (name == "known") return ColourMode::kKnown;
  if (name == "height") return ColourMode::kHeight;
  throw std::invalid_argument("colour mode '" + name + "' (choose from: displacement, known, height)");
}

std::string to_string(ColourMode mode) {
  switch (mode) {
    case ColourMode::kDisplacement: return "displacement";
    case ColourMode::kKnown: return "known";
    case ColourMode::kHeight: return "height";
  }
  return "displacement";
}

ColourMode next_colour_mode(ColourMode mode) {
  switch (mode) {
    case ColourMode::kDisplacement: return ColourMode::kKnown;
    case ColourMode::kKnown: return ColourMode::kHeight;
    case ColourMode::kHeight: return ColourMode::kDisplacement;
  }
  return ColourMode::kDisplacement;
}

torch::Tensor colour_ramp(const torch::Tensor& v) {
  // Piecewise-linear through a viridis-like sequence: dark blue, blue, teal, green, yellow.
  static const float kStops[5][3] = {{0.27f, 0.00f, 0.33f}, {0.23f, 0.32f, 0.55f},
                                     {0.13f, 0.57f, 0.55f}, {0.37f, 0.79f, 0.38f},
                                     {0.99f, 0.91f, 0.14f}};
  auto stops = torch::from_blob(const_cast<float*>(&kStops[0][0]), {5, 3}, torch::kFloat32).clone();
  auto s = v.to(torch::kFloat32).clamp(0, 1) * 4;
  auto lo = s.floor().clamp_max(3).to(torch::kLong);
  auto w = (s - lo.to(torch::kFloat32)).unsqueeze(1);
  return stops.index({lo}) * (1 - w) + stops.index({lo + 1}) * w;
}

double colour_scale(const torch::Tensor& final_points) {
  if (final_points.size(0) < 2) return 1.0;
  const double d = (std::get<0>(final_points.max(0)) - std::get<0>(final_points.min(0))).norm().item<double>();
  return d > 0 ? d / 2 : 1.0;
}

torch::Tensor point_colours(ColourMode mode, const torch::Tensor& points,
                            const torch::Tensor& final_points, const torch::Tensor& known,
                            double scale) {
  switch (mode) {
    case ColourMode::kDisplacement:
      return colour_ramp(1 - (points - final_points).norm(2, 1) / scale);
    case ColourMode::kHeight: {
      const auto y = final_points.select(1, 1);
      const double lo = y.min().item<double>(), range = y.max().item<double>() - lo;
      return colour_ramp((points.select(1, 1) - lo) / (range > 0 ? range : scale));
    }
    case ColourMode::kKnown: {
      auto generated = torch::tensor({0.20f, 0.45f, 0.85f}).expand({points.size(0), 3});
      if (!known.defined()) return generated.clone();
      auto input = torch::tensor({0.95f, 0.50f, 0.10f}).expand({points.size(0), 3});
      return torch::where(known.unsqueeze(1), input, generated);
    }
  }
  return torch::Tensor();
}

}  // namespace shapediff::viewer

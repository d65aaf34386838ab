// Per-point colours for the viewer: float [N,3] in [0,1].
//   displacement: how far each point still is from where it ends (the trajectory's final
//                 x_t), through a dark-purple -> teal -> yellow colour ramp: yellow in place,
//                 darkest at `scale` (half the final shape's bounding-box diagonal) or further.
//   known:        partial input (orange) versus generated points (blue); all blue when the
//                 trajectory has no `known` mask.
//   height:       the y coordinate over the final shape's y extent, through the same ramp.
//
//   auto rgb = viewer::point_colours(ColourMode::kDisplacement, x_t, x_final, {}, scale);
#pragma once

#include <torch/types.h>

#include <string>

namespace shapediff::viewer {

enum class ColourMode { kDisplacement, kKnown, kHeight };

// "displacement", "known", "height"; std::invalid_argument listing them otherwise.
ColourMode parse_colour_mode(const std::string& name);
std::string to_string(ColourMode mode);
ColourMode next_colour_mode(ColourMode mode);

// The colour ramp at v (clamped to [0,1]): v [N] -> [N,3].
torch::Tensor colour_ramp(const torch::Tensor& v);

// The scale that displacement and height colours are relative to: half the bounding-box
// diagonal of `final_points` [N,3] (1 for a single point).
double colour_scale(const torch::Tensor& final_points);

// `points`, `final_points` [N,3] float; `known` [N] bool or undefined.
torch::Tensor point_colours(ColourMode mode, const torch::Tensor& points,
                            const torch::Tensor& final_points, const torch::Tensor& known,
                            double scale);

}  // namespace shapediff::viewer

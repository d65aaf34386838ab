// Synthetic trajectories for the viewer tests: a torus that noise shrinks away from over F
// frames, the way a sampler's x_t converges.
#pragma once

#include <torch/torch.h>

#include <cmath>

#include "viewer/trajectory.h"

namespace shapediff::viewer::test {

// [N,3] points on a torus (radii 0.6 and 0.25) in the xz plane, seeded.
inline torch::Tensor torus_points(int64_t n, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto u = torch::rand({n}, gen) * 2 * M_PI, v = torch::rand({n}, gen) * 2 * M_PI;
  auto r = 0.6 + 0.25 * torch::cos(v);
  return torch::stack({r * torch::cos(u), 0.25 * torch::sin(v), r * torch::sin(u)}, 1).to(torch::kFloat32);
}

// F frames of B tori with N points; frame f carries noise of std (F-1-f)/(F-1) (the last
// frame is the clean shape). `known` marks the first quarter of each shape's points.
inline Trajectory torus_trajectory(int64_t frames, int64_t shapes, int64_t n, bool with_known = true,
                                   uint64_t seed = 0) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed + 1000);
  std::vector<torch::Tensor> clean;
  for (int64_t b = 0; b < shapes; ++b) clean.push_back(torus_points(n, seed + b));
  auto target = torch::stack(clean);  // [B,N,3]
  std::vector<torch::Tensor> xs, x0s;
  for (int64_t f = 0; f < frames; ++f) {
    const double sigma = frames == 1 ? 0.0 : static_cast<double>(frames - 1 - f) / static_cast<double>(frames - 1);
    xs.push_back(target + sigma * torch::randn(target.sizes(), gen));
    x0s.push_back(target + 0.3 * sigma * torch::randn(target.sizes(), gen));
  }
  Trajectory t;
  t.x = torch::stack(xs);
  t.x0 = torch::stack(x0s);
  t.step = torch::arange(1, frames + 1, torch::kLong) * 5;
  t.timestep = 1000.0 - torch::arange(frames, torch::kDouble) * 200.0;
  if (with_known) {
    t.known = torch::zeros({shapes, n}, torch::kBool);
    t.known.slice(1, 0, n / 4).fill_(true);
  }
  return t;
}

}  // namespace shapediff::viewer::test

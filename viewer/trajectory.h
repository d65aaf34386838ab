// A saved denoising trajectory, as `shapediff sample --trajectory K` writes trajectory.npz:
//   x        [F,B,N,3] float32  the sample x_t after each recorded step (dataset frame)
//   x0       [F,B,N,3] float32  the step's estimate of the clean shape
//   step     [F]       int64    1-based sampler step of each frame
//   timestep [F]       float64  the timestep each recorded step started from
//   known    [B,N]     bool     optional: true where the point was the partial input
//                               (completion); uint8 0/1 is accepted too
// F frames of B shapes with N points each. Integer / float arrays of other widths are
// converted (NumPy writes int32 or float32 as readily).
//
//   viewer::Trajectory t = viewer::read_trajectory("out/trajectory.npz");
//   t.x[t.num_frames() - 1][0];   // [N,3] the last recorded x_t of shape 0
#pragma once

#include <torch/types.h>

#include <string>

namespace shapediff::viewer {

struct Trajectory {
  torch::Tensor x;         // [F,B,N,3] float32
  torch::Tensor x0;        // [F,B,N,3] float32
  torch::Tensor step;      // [F] int64
  torch::Tensor timestep;  // [F] float64
  torch::Tensor known;     // [B,N] bool, or undefined

  int64_t num_frames() const { return x.size(0); }
  int64_t num_shapes() const { return x.size(1); }
  int64_t num_points() const { return x.size(2); }
  bool has_known() const { return known.defined(); }

  // Throws std::runtime_error "<context>: array '<name>' ..." (one line) for a missing array, a
  // shape that disagrees with x, no frames or points, or non-finite coordinates. Converts the
  // dtypes listed above in place.
  void validate(const std::string& context);
};

// Reads and validates trajectory.npz; std::runtime_error naming the file (and the array) for
// a missing, corrupt or inconsistent file.
Trajectory read_trajectory(const std::string& path);

// How much noise frame `f` of shape `b` still carries: the RMS distance between x_t and the
// frame's clean-shape estimate x0 (the same units as the points). Files hold no schedule, so
// this measured value stands in for sigma.
double noise_rms(const Trajectory& t, int64_t f, int64_t b);

}  // namespace shapediff::viewer

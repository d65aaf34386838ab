// Completing a partial point cloud with a point model, in the model's frame.
//
// Correspondence: the partial cloud (any number M of points) is resampled to K known points —
// farthest-point sampling when M >= K (deterministic), otherwise all M points plus K - M
// repeats drawn with the seed — and the known points are the first K of the N model points
// ([0, K) known, [K, N) generated). Every completion keeps them bit for bit.
//
// Methods:
//   Conditional   a completion model (PointTask::Completion, PVD's scheme): the known points are
//                 fed clean at every step and only the N - K free points are noised and
//                 denoised; K is the model's known_points.
//   Replacement, RePaint, SDEdit   training-free with a generation model, through
//                 diffusion/completion.h (K defaults to N / 4; SDEdit starts from the known
//                 points repeated to N points).
//
// A start shape (`init`, e.g. the training shape retrieval finds for the scan) turns Conditional
// and SDEdit into refinements of it: the free rows start from the init's points (resampled to
// N - K as the partial is) noised to the level at fraction `strength` of the schedule, and are
// denoised from there with the known points fixed.
//
//   PointCompletionOptions o;
//   o.method = PointCompletionMethod::Replacement;
//   o.samples = 4;
//   auto r = complete_points(model, model.to_model_frame(partial), o);
//   r.points;  // [4, N, 3]; r.points[:, :K] == r.known
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "diffusion/completion.h"
#include "diffusion/point_model.h"
#include "diffusion/sampler.h"

namespace shapediff::diffusion {

enum class PointCompletionMethod { Conditional, Replacement, RePaint, SDEdit };

// conditional, replacement, repaint, sdedit
PointCompletionMethod parse_point_completion_method(const std::string& name);
std::string to_string(PointCompletionMethod method);
std::vector<std::string> point_completion_method_names();
// The method a model runs when none is asked for: conditional for completion models,
// replacement for generation models.
PointCompletionMethod default_completion_method(const PointModel& model);

struct PointCompletionOptions {
  PointCompletionMethod method = PointCompletionMethod::Replacement;
  SamplerKind sampler = SamplerKind::DDPM;
  SamplerOptions sampler_options = clip_free();  // clip_sample off: points are not in [-1, 1]
  int64_t steps = 100;
  double strength = 0.7;      // SDEdit, and Conditional with an init: the start's noise level
  torch::Tensor init;         // [P,3] model frame, P >= 1: the free rows' start (conditional, sdedit)
  int64_t samples = 1;        // completions of the one partial cloud
  int64_t known_points = 0;   // training-free: 0 = N / 4; conditional: must be 0 or the model's
  int64_t points = 0;         // total points per completion; 0 = the model's
  std::optional<int64_t> label;  // class label; unset = the null (unconditional) label
  double guidance = 1.0;
  uint64_t seed = 0;
  torch::Device device = torch::kCPU;
  int64_t record_every = 0;   // trajectory frames
  std::function<void(int64_t done, int64_t total)> on_progress;
  // Called after every sampler step with the whole clouds (known points first) [S,N,3] in the
  // model frame: live views. Recording (record_every) is unaffected.
  std::function<void(const TrajectoryFrame&)> on_step;

  static SamplerOptions clip_free() {
    SamplerOptions o;
    o.clip_sample = false;
    return o;
  }
};

struct PointCompletions {
  torch::Tensor points;  // [S,N,3] float32 CPU, model frame; rows [0, K) are `known`
  torch::Tensor known;   // [K,3] float32 CPU
  // With record_every: x_t and predicted x0 of the whole cloud [F,S,N,3], step [F], timestep [F].
  torch::Tensor trajectory, trajectory_x0, trajectory_steps, trajectory_timesteps;
};

// The partial cloud resampled to k points (see the correspondence above). partial: [M,3], M >= 1.
torch::Tensor resample_partial(const torch::Tensor& partial, int64_t k, uint64_t seed);

// Throws std::invalid_argument for an empty or non-finite partial cloud, a method the model
// cannot run (conditional on a generation model, a training-free method on a completion
// model), known_points outside [1, N - 1], an unknown label, an init with another method than
// conditional or sdedit (or not [P,3] finite), a strength outside (0, 1], or a strategy the
// sampler refuses.
PointCompletions complete_points(PointModel& model, const torch::Tensor& partial,
                                 const PointCompletionOptions& options);

// Total mutual difference of S completions [S,N,3]: the sum over completions of their mean
// Chamfer distance to the other S - 1 (Wu et al.'s diversity measure; 0 for S = 1).
double total_mutual_difference(const torch::Tensor& completions);
// The index of the completion [S,N,3] with the least summed Chamfer distance to the others:
// a pick among several completions that needs no ground truth (0 for S = 1).
int64_t medoid_completion(const torch::Tensor& completions);

}  // namespace shapediff::diffusion

// The generic reverse-process loop: any Sampler, any Denoiser, any tensor shape.
//
//   SampleLoopOptions o;
//   o.num_inference_steps = 50;
//   o.record_every = 5;                                    // trajectory for the viewer
//   o.on_frame = [&](const TrajectoryFrame& f) { frames.push_back(f); };
//   o.on_progress = [](int64_t done, int64_t total) { ... };
//   auto x0 = sample(*sampler, denoiser, {16, 2048, 3}, torch::kFloat32, noise, o);
//
// The denoiser receives the sampler's scaled model input and the timestep as a 0-d float64
// tensor holding the value diffusers would pass (for the score-SDE sampler: the noise level
// sigma). It returns an output of x's shape in the schedule's prediction type (a score for the
// score-SDE sampler). RePaint's forward jumps run undo_step instead of the denoiser.
#pragma once

#include <functional>

#include <torch/types.h>

#include "diffusion/sampler.h"

namespace shapediff::diffusion {

using Denoiser = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& t)>;

// Classifier-free guidance: uncond + scale * (cond - uncond). scale 1 calls only `conditional`.
Denoiser guided(Denoiser conditional, Denoiser unconditional, double scale);

struct TrajectoryFrame {
  int64_t step = 0;        // 1-based index of the sampler step just taken
  int64_t num_steps = 0;   // sampler steps in the run (timesteps().size(0))
  double timestep = 0.0;   // the timestep the step started from
  torch::Tensor x;         // the sample after the step, x_{t-1}
  torch::Tensor pred_x0;   // the step's estimate of the clean sample (may be undefined)
};

struct SampleLoopOptions {
  int64_t num_inference_steps = 50;
  // CFG: when `unconditional` is set and guidance_scale != 1, the denoiser is combined as in
  // guided(denoiser, unconditional, guidance_scale).
  Denoiser unconditional;
  double guidance_scale = 1.0;
  // Trajectory recording: on_frame every `record_every` steps and after the last (0 = off).
  int64_t record_every = 0;
  std::function<void(const TrajectoryFrame&)> on_frame;
  std::function<void(int64_t done, int64_t total)> on_progress;
  // Start partway through the schedule (SDEdit): sample_from's x is then the sample at
  // timesteps()[start_index], already at that noise level (not scaled by init_noise_sigma).
  int64_t start_index = 0;
  // Called after every step with the new sample and the step's index i in timesteps(); returns
  // the sample to go on with. Completion re-imposes the known region here (diffusion/completion.h).
  std::function<torch::Tensor(const torch::Tensor& x, int64_t i)> after_step;
};

// Runs set_timesteps, draws x_T ~ N(0, init_noise_sigma^2) of `shape` from `noise`, and denoises.
torch::Tensor sample(Sampler& sampler, const Denoiser& denoiser, at::IntArrayRef shape,
                     const torch::TensorOptions& options, NoiseSource& noise,
                     const SampleLoopOptions& loop = {});

// The same from a given standard-normal x_T (scaled by init_noise_sigma here).
torch::Tensor sample_from(Sampler& sampler, const Denoiser& denoiser, const torch::Tensor& x_T,
                          NoiseSource& noise, const SampleLoopOptions& loop = {});

}  // namespace shapediff::diffusion

// The denoising training objective, for every prediction type, with an element mask and
// optional min-SNR weighting (Hang et al. 2023).
//
//   at::Generator gen = at::detail::createCPUGenerator(seed);
//   auto batch = make_noised_batch(schedule, x0, noise, random_timesteps(B, T, gen));
//   auto out = model(batch.x_t, batch.timesteps);
//   LossOptions lo;  lo.min_snr_gamma = 5.0;
//   auto loss = diffusion_loss(schedule, out, batch, mask, lo);   // 0-d tensor
//
// Shapes: x0 is [B, ...] (images [B,C,H,W], points [B,N,3], voxels [B,C,D,H,W]); timesteps
// integer [B]. For sparse features [N,C], pass one timestep per row ([N]). The mask, when
// defined, is 0/1 (or weights) of x0's leading dimensions (e.g. [B,N] for [B,N,3]) or x0's
// full shape: only masked elements count, and the loss is their mean.
#pragma once

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include "diffusion/noise_schedule.h"
#include "diffusion/noise_source.h"

namespace shapediff::diffusion {

struct LossOptions {
  // 0 disables min-SNR weighting; 5 is the paper's choice.
  double min_snr_gamma = 0.0;
};

struct NoisedBatch {
  torch::Tensor x_t;        // add_noise(x0, noise, timesteps)
  torch::Tensor noise;      // epsilon
  torch::Tensor timesteps;  // int64 [B], on x0's device
  torch::Tensor target;     // what the model should output for the schedule's prediction type
};

// Uniform integer timesteps in [0, T) from a CPU generator, [batch] int64.
torch::Tensor random_timesteps(int64_t batch, int64_t num_train_timesteps, at::Generator& gen);

// The regression target of `prediction` for x0 noised with `noise` at `timesteps`.
torch::Tensor prediction_target(const NoiseSchedule& schedule, const torch::Tensor& x0,
                                const torch::Tensor& noise, const torch::Tensor& timesteps,
                                Prediction prediction);

// Noises x0 at `timesteps` with one draw from `noise` and builds the target for the schedule's
// prediction type.
NoisedBatch make_noised_batch(const NoiseSchedule& schedule, const torch::Tensor& x0,
                              NoiseSource& noise, const torch::Tensor& timesteps);

// Per-sample loss weights [B] for min-SNR-gamma (ones when gamma is 0).
torch::Tensor min_snr_weights(const NoiseSchedule& schedule, const torch::Tensor& timesteps,
                              Prediction prediction, double gamma);

// Masked, optionally SNR-weighted mean squared error between model_output and batch.target.
torch::Tensor diffusion_loss(const NoiseSchedule& schedule, const torch::Tensor& model_output,
                             const NoisedBatch& batch, const torch::Tensor& mask = {},
                             const LossOptions& options = {});

}  // namespace shapediff::diffusion

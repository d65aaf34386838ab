// NoiseSchedule: the immutable tables of a discrete forward process and the conversions
// between what a denoiser can predict.
//
// Tables follow diffusers bit for bit: betas, alphas and alphas_cumprod are computed in float32
// exactly as diffusers does (so samplers match its reference numbers), and exposed as float32
// CPU tensors of shape [T]. Per-sample math (`add_noise`, conversions) runs on the sample's
// device and dtype; the `timesteps` argument is an integer tensor [B] (or a 0-d tensor), and
// coefficients broadcast over every trailing dimension, so it works for images [B,C,H,W],
// point sets [B,N,3], voxel grids [B,C,D,H,W] alike. For sparse features [N,C] pass a
// per-row timestep tensor [N].
//
//   NoiseSchedule s(ScheduleConfig{});
//   auto x_t = s.add_noise(x0, eps, t);          // sqrt(a_t) x0 + sqrt(1 - a_t) eps
//   auto x0_hat = s.to_sample(model_out, x_t, t, Prediction::Velocity);
#pragma once

#include <torch/types.h>

#include "diffusion/schedule_config.h"

namespace shapediff::diffusion {

class NoiseSchedule {
 public:
  explicit NoiseSchedule(ScheduleConfig config = {});

  const ScheduleConfig& config() const { return config_; }
  int64_t num_train_timesteps() const { return config_.num_train_timesteps; }
  Prediction prediction() const { return config_.prediction; }

  const torch::Tensor& betas() const { return betas_; }                    // [T] float32
  const torch::Tensor& alphas() const { return alphas_; }                  // [T] float32
  const torch::Tensor& alphas_cumprod() const { return alphas_cumprod_; }  // [T] float32
  // Karras-style noise levels sigma_t = sqrt((1 - a_t) / a_t), [T] float32.
  torch::Tensor sigmas() const;
  // Signal-to-noise ratio a_t / (1 - a_t), [T] float64 (inf where a_t == 1).
  torch::Tensor snr() const;

  // Scalar lookups (the float32 table value, widened).
  double alpha_cumprod(int64_t t) const;
  double beta(int64_t t) const;

  // Forward process q(x_t | x0). timesteps: integer tensor [B] or 0-d.
  torch::Tensor add_noise(const torch::Tensor& x0, const torch::Tensor& noise,
                          const torch::Tensor& timesteps) const;
  // v = sqrt(a_t) eps - sqrt(1 - a_t) x0 (Salimans & Ho).
  torch::Tensor velocity(const torch::Tensor& x0, const torch::Tensor& noise,
                         const torch::Tensor& timesteps) const;

  // Conversions of a model output of type `from` at x_t into x0 / epsilon / v.
  torch::Tensor to_sample(const torch::Tensor& model_output, const torch::Tensor& x_t,
                          const torch::Tensor& timesteps, Prediction from) const;
  torch::Tensor to_epsilon(const torch::Tensor& model_output, const torch::Tensor& x_t,
                           const torch::Tensor& timesteps, Prediction from) const;
  torch::Tensor to_velocity(const torch::Tensor& model_output, const torch::Tensor& x_t,
                            const torch::Tensor& timesteps, Prediction from) const;
  // Any prediction into any other.
  torch::Tensor convert(const torch::Tensor& model_output, const torch::Tensor& x_t,
                        const torch::Tensor& timesteps, Prediction from, Prediction to) const;

  // sqrt(a_t) and sqrt(1 - a_t) gathered for `timesteps` and shaped [B,1,...,1] to broadcast
  // against `like` (rank of `like`, on its device and dtype).
  std::pair<torch::Tensor, torch::Tensor> coefficients(const torch::Tensor& timesteps,
                                                       const torch::Tensor& like) const;

 private:
  ScheduleConfig config_;
  torch::Tensor betas_, alphas_, alphas_cumprod_;
};

// The beta table of a config, float32 [T], computed the way diffusers computes it.
torch::Tensor make_betas(const ScheduleConfig& config);
// Rescales betas to zero terminal SNR (Lin et al. 2023, Algorithm 1), in float32.
torch::Tensor rescale_zero_terminal_snr(const torch::Tensor& betas);

}  // namespace shapediff::diffusion

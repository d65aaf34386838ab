// DDIMSampler: Song et al. 2021 implicit sampler with eta (diffusers' DDIMScheduler).
//
// Each step turns the model output (epsilon, sample or v, per the schedule's prediction) into
// an x0 and an epsilon estimate, optionally clips x0 to +-clip_sample_range, and moves to the
// previous timestep t - T / S along eq. 12 of the paper:
//   x_prev = sqrt(a_prev) x0 + sqrt(1 - a_prev - std^2) eps + std * noise,
//   std = eta * sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).
// eta = 0 is deterministic and draws no noise; eta = 1 matches DDPM's posterior variance. Past
// the first training step a_prev is 1 (set_alpha_to_one) or a_0. eta above 1 is rejected: the
// square root above turns negative and diffusers would produce NaN.
// Works on any shape: x and model_output have the same shape ([B,C,H,W], [B,N,3], [N,C], ...).
//
//   SamplerOptions o;
//   o.spacing = Spacing::Trailing;
//   o.set_alpha_to_one = false;
//   DDIMSampler ddim(ScheduleConfig{}, o);
//   ddim.set_timesteps(50);  // 999, 979, ..., 19
#pragma once

#include <optional>
#include <vector>

#include "diffusion/sampler.h"

namespace shapediff::diffusion {

class DDIMSampler : public Sampler {
 public:
  DDIMSampler(const ScheduleConfig& schedule, const SamplerOptions& options);
  SamplerKind kind() const override { return SamplerKind::DDIM; }
  void set_timesteps(int64_t num_inference_steps) override;
  StepOutput step(const torch::Tensor& model_output, const torch::Tensor& t,
                  const torch::Tensor& x, NoiseSource& noise) override;

 private:
  SamplerOptions options_;
  std::vector<double> alphas_cumprod_;  // the float32 table, widened once
  double final_alpha_cumprod_;          // a_prev past the first training step
};

// The noise-free part of one DDIM update from alpha_cumprod a_t to a_prev, shared with
// RePaint's unknown region. `clip_range` clips the x0 estimate when set.
struct DdimUpdate {
  torch::Tensor mean;                  // sqrt(a_prev) x0 + sqrt(1 - a_prev - std^2) eps
  torch::Tensor pred_original_sample;  // x0 (clipped)
  double std_dev = 0.0;                // eta times the DDIM standard deviation
};
DdimUpdate ddim_update(const torch::Tensor& model_output, const torch::Tensor& x,
                       Prediction prediction, double a_t, double a_prev, double eta,
                       std::optional<double> clip_range);

}  // namespace shapediff::diffusion

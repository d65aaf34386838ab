// DDPMSampler: ancestral sampling of Ho et al. 2020 (diffusers' DDPMScheduler).
//
// Each step estimates x0 from the model output (epsilon, sample or v, per the schedule's
// prediction), optionally clips it to +-clip_sample_range, takes the posterior mean of
// q(x_{t-1} | x_t, x0) and adds Gaussian noise of the chosen variance: FixedSmall is the
// posterior variance (1 - a_prev) / (1 - a_t) * beta_t, FixedLarge is beta_t itself. As in
// diffusers the previous timestep is t - T / S (T training steps, S inference steps) for every
// spacing, and noise is drawn only while t > 0, so the last step of a run is deterministic.
// Works on any shape: x and model_output have the same shape ([B,C,H,W], [B,N,3], [N,C], ...).
//
//   SamplerOptions o;
//   o.variance_type = VarianceType::FixedLarge;
//   DDPMSampler ddpm(ScheduleConfig{}, o);
//   ddpm.set_timesteps(100);  // leading spacing: 990, 980, ..., 0
#pragma once

#include <vector>

#include "diffusion/sampler.h"

namespace shapediff::diffusion {

class DDPMSampler : public Sampler {
 public:
  DDPMSampler(const ScheduleConfig& schedule, const SamplerOptions& options);
  SamplerKind kind() const override { return SamplerKind::DDPM; }
  void set_timesteps(int64_t num_inference_steps) override;
  StepOutput step(const torch::Tensor& model_output, const torch::Tensor& t,
                  const torch::Tensor& x, NoiseSource& noise) override;

 private:
  SamplerOptions options_;
  std::vector<double> alphas_cumprod_;  // the float32 table, widened once
};

}  // namespace shapediff::diffusion

// EulerAncestralSampler: Euler steps with ancestral noise on Karras sigmas (diffusers'
// EulerAncestralDiscreteScheduler).
//
// Timesteps and sigmas are those of EulerSampler without Karras spacing (Linspace by default,
// Leading and Trailing as diffusers; sigmas() is [S+1] ending in 0). Each step splits the move
// from sigma to sigma_next into a deterministic part down to
//   sigma_down = sigma_next^2 / sigma
// and fresh noise of standard deviation sigma_up = sigma_next sqrt(sigma^2 - sigma_next^2) / sigma,
// so the marginal noise level is sigma_next again. It draws exactly one noise tensor per step
// (the last step included, whose sigma_up is 0), like diffusers. Predictions epsilon, v and
// sample; use_karras_sigmas is rejected as diffusers has no such option for this scheduler.
// Any shape and device, float32 or float64.
//
//   EulerAncestralSampler sampler(ScheduleConfig{}, SamplerOptions{});
//   sampler.set_timesteps(30);
//   GeneratorNoise noise(7);
//   auto out = sampler.step(model_output, sampler.timesteps()[0], x, noise);
#pragma once

#include <vector>

#include "diffusion/sampler.h"

namespace shapediff::diffusion {

class EulerAncestralSampler : public Sampler {
 public:
  EulerAncestralSampler(const ScheduleConfig& schedule, const SamplerOptions& options);
  SamplerKind kind() const override { return SamplerKind::EulerAncestral; }
  void set_timesteps(int64_t num_inference_steps) override;
  StepOutput step(const torch::Tensor& model_output, const torch::Tensor& t,
                  const torch::Tensor& x, NoiseSource& noise) override;
  torch::Tensor scale_model_input(const torch::Tensor& x, const torch::Tensor& t) override;
  double init_noise_sigma() const override;

 private:
  SamplerOptions options_;
  std::vector<float> training_sigmas_;  // [T]
  std::vector<double> step_sigmas_;     // sigmas_ widened once: [S+1]
};

}  // namespace shapediff::diffusion

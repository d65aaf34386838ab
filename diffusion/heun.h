// HeunSampler: Heun's 2nd-order method of Karras et al. 2022 (Algorithm 1 without churn) on the
// noise levels sigma_t = sqrt((1 - a_t) / a_t) (diffusers' HeunDiscreteScheduler).
//
// Every solver step takes two model calls, so the schedule is laid out as diffusers does:
// timesteps() = [t0, t1, t1, ..., t_{S-1}, t_{S-1}] ([2S-1], float32-rounded) and
// sigmas() = [s0, s1, s1, ..., s_{S-1}, s_{S-1}, 0] ([2S]). The first call of a step is an Euler
// step from sigma to sigma_next (its derivative, step size and starting sample are kept); the
// second call, made at the Euler prediction, averages both derivatives and restarts from the
// kept sample. The last step (sigma_next = 0) is a plain Euler step. Timesteps and sigmas come
// from the same schedule as EulerSampler (Linspace, Leading or Trailing; use_karras_sigmas),
// except that Linspace timesteps are interpolated at their float64 values, as diffusers does.
// Predictions epsilon, v and sample; clip_sample is not applied (diffusers' Heun default).
// Under zero_terminal_snr the last a_t is set to 2^-24 as for Euler. Any shape and device,
// float32 or float64. Like diffusers, the first call keeps a reference to its x: rebind the
// sample between the two calls rather than overwriting it in place.
//
//   HeunSampler heun(ScheduleConfig{}, SamplerOptions{});
//   heun.set_timesteps(20);  // 39 model calls
//   for (int64_t i = 0; i < heun.timesteps().size(0); ++i) { ... heun.step(...) ... }
#pragma once

#include <vector>

#include "diffusion/sampler.h"

namespace shapediff::diffusion {

class HeunSampler : public Sampler {
 public:
  HeunSampler(const ScheduleConfig& schedule, const SamplerOptions& options);
  SamplerKind kind() const override { return SamplerKind::Heun; }
  void set_timesteps(int64_t num_inference_steps) override;
  StepOutput step(const torch::Tensor& model_output, const torch::Tensor& t,
                  const torch::Tensor& x, NoiseSource& noise) override;
  torch::Tensor scale_model_input(const torch::Tensor& x, const torch::Tensor& t) override;
  double init_noise_sigma() const override;
  int order() const override { return 2; }
  // True between the two calls of a solver step.
  bool in_second_stage() const { return first_derivative_.defined(); }

 private:
  SamplerOptions options_;
  std::vector<float> training_sigmas_;  // [T]
  std::vector<double> step_sigmas_;     // sigmas_ widened once: [2S]
  // Left by the first call of a step for the second.
  torch::Tensor first_derivative_;
  torch::Tensor first_sample_;
  double first_dt_ = 0.0;
};

}  // namespace shapediff::diffusion

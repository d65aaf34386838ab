// EulerSampler: the Euler method of Karras et al. 2022 (Algorithm 2 without churn) on the noise
// levels sigma_t = sqrt((1 - a_t) / a_t) of a discrete schedule (diffusers'
// EulerDiscreteScheduler).
//
// set_timesteps(S) picks S fractional training timesteps (Linspace by default; Leading and
// Trailing as diffusers), interpolates sigma at them (np.interp over the float32 table), or,
// with use_karras_sigmas, spaces sigma by Karras' rho = 7 ramp between the interpolated ends and
// maps each sigma back to a fractional timestep. timesteps() holds the float32-rounded values
// handed to the model ([S]); sigmas() holds [S+1] float32 noise levels ending in 0.
// The model sees x / sqrt(sigma^2 + 1) (scale_model_input); the step converts its output
// (epsilon, v or sample) to a denoised x0 and moves along the probability-flow ODE:
//   x_next = x0 + (sigma_next / sigma) (x - x0).
// Deterministic: no noise is drawn. Works on any shape and device, float32 or float64.
// With zero_terminal_snr the last a_t is set to 2^-24 (as diffusers does) so sigma stays finite.
//
//   SamplerOptions o;
//   o.use_karras_sigmas = true;
//   EulerSampler euler(ScheduleConfig{}, o);
//   euler.set_timesteps(30);
//   auto x = noise.next(shape, opts) * euler.init_noise_sigma();
//
// This header also holds the sigma-schedule helpers shared with EulerAncestralSampler and
// HeunSampler.
#pragma once

#include <vector>

#include "diffusion/sampler.h"

namespace shapediff::diffusion {

// The training noise levels sqrt((1 - a_t) / a_t), [T], computed in float32 as diffusers does;
// under zero terminal SNR the last a_t is first replaced by 2^-24.
std::vector<float> training_sigmas(const NoiseSchedule& schedule);

// Inference timesteps and their sigmas before diffusers' final float32 cast (the trailing 0 of
// the sigmas is not included). `float32_linspace`: round Linspace timesteps to float32 before
// interpolating (Euler and Euler ancestral do; Heun interpolates at the float64 values).
struct SigmaSchedule {
  std::vector<double> timesteps;  // [S], descending, fractional
  std::vector<double> sigmas;     // [S], descending
};
SigmaSchedule make_sigma_schedule(const std::vector<float>& training_sigmas,
                                  int64_t num_inference_steps, Spacing spacing,
                                  int64_t steps_offset, bool karras, bool float32_linspace);

// diffusers' init_noise_sigma of the sigma samplers: the largest sigma for Linspace and Trailing,
// sqrt(max^2 + 1) for Leading (evaluated in float32).
double sigma_init_noise(double max_sigma, Spacing spacing);

// The denoised estimate x0 from a model output at noise level sigma, in x's dtype:
// epsilon: x - sigma * out; v: -sigma / sqrt(sigma^2 + 1) * out + x / (sigma^2 + 1);
// sample: out itself (not copied).
torch::Tensor sigma_denoised(const torch::Tensor& model_output, const torch::Tensor& x,
                             double sigma, Prediction prediction);

// Each value rounded to float32 (the precision diffusers keeps), widened back to double.
std::vector<double> float32_rounded(const std::vector<double>& values);

// x / sqrt(sigma^2 + 1), the denoiser input of the sigma samplers (factor in float32).
torch::Tensor sigma_scaled_input(const torch::Tensor& x, double sigma);

// Shared argument checks of the sigma samplers' step(); returns model_output in x's dtype.
torch::Tensor checked_model_output(const char* sampler, const torch::Tensor& model_output,
                                   const torch::Tensor& x, int64_t num_inference_steps);

class EulerSampler : public Sampler {
 public:
  EulerSampler(const ScheduleConfig& schedule, const SamplerOptions& options);
  SamplerKind kind() const override { return SamplerKind::Euler; }
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

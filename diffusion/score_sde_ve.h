// ScoreSdeVeSampler: predictor-corrector sampling of the variance-exploding score SDE of Song et
// al. 2021 (diffusers' ScoreSdeVeScheduler). The denoiser is a score model s(x, sigma) ~
// grad_x log p_sigma(x), called at the continuous noise level sigmas()[i] of step i.
//
// set_timesteps(S): continuous times t_i = linspace(1, sampling_eps, S) in float32 (timesteps(),
// [S]); sigmas()[i] = sigma_min (sigma_max / sigma_min)^t_i ([S], one per step, float32); and the
// discrete ladder exp(linspace(log sigma_min, log sigma_max, S)) the predictor steps along.
// step_pred at t uses the rung k = trunc(t (S - 1)) (float32 arithmetic, like diffusers):
//   g^2 = sigma_k^2 - sigma_{k-1}^2 (sigma_{-1} = 0),  mean = x + g^2 score,  x' = mean + g z.
// step_correct is one Langevin step with the step size 2 (snr |z| / |score|)^2, norms taken per
// batch entry (first dimension) and averaged:  x' = x + e score + sqrt(2 e) z.
// Each of step_pred and step_correct draws exactly one noise tensor. step() is step_pred.
// init_noise_sigma() is sigma_max; num_train_timesteps plays no part in the sampling math.
// x needs a leading batch dimension ([B,...] or sparse [N,C]); any device, float32 or float64.
//
//   SamplerOptions o;
//   o.sigma_max = 50.0;
//   ScoreSdeVeSampler sde(ScheduleConfig{}, o);
//   sde.set_timesteps(30);
//   for (int64_t i = 0; i < 30; ++i) {
//     const double sigma = sde.sigmas()[i].item<double>();
//     x = sde.step_correct(score(x, sigma), x, noise);
//     x = sde.step_pred(score(x, sigma), sde.timesteps()[i], x, noise).prev_sample;
//   }
#pragma once

#include <vector>

#include "diffusion/sampler.h"

namespace shapediff::diffusion {

class ScoreSdeVeSampler : public Sampler {
 public:
  ScoreSdeVeSampler(const ScheduleConfig& schedule, const SamplerOptions& options);
  SamplerKind kind() const override { return SamplerKind::ScoreSdeVe; }
  // Accepts any n >= 1 (the VE schedule is continuous, not tied to the training steps).
  void set_timesteps(int64_t num_inference_steps) override;
  StepOutput step(const torch::Tensor& model_output, const torch::Tensor& t,
                  const torch::Tensor& x, NoiseSource& noise) override;
  double init_noise_sigma() const override;
  // Reverse-diffusion predictor: StepOutput.prev_sample and .prev_sample_mean.
  StepOutput step_pred(const torch::Tensor& score, const torch::Tensor& t, const torch::Tensor& x,
                       NoiseSource& noise);
  // One Langevin corrector step at the current noise level; returns the corrected sample.
  torch::Tensor step_correct(const torch::Tensor& score, const torch::Tensor& x,
                             NoiseSource& noise);
  // The discrete sigma ladder of the predictor, [S] float32 values.
  const std::vector<double>& discrete_sigmas() const { return discrete_sigmas_; }
  // Corrector steps per predictor step that the sample loop runs (options.correct_steps).
  int64_t correct_steps() const { return options_.correct_steps; }

 private:
  void check_inputs(const char* what, const torch::Tensor& score, const torch::Tensor& x) const;

  SamplerOptions options_;
  std::vector<double> discrete_sigmas_;
};

}  // namespace shapediff::diffusion

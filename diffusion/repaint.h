// RePaintSampler: Lugmayr et al. 2022 resampling schedule for inpainting (diffusers'
// RePaintScheduler).
//
// set_timesteps(S) builds the jump schedule: inference indices walk down S-1, ..., 0, and
// every jump_length indices (at 0, jump_length, 2 jump_length, ... below S - jump_length) the
// walk climbs back up jump_length indices, jump_n_sample - 1 times, before going on down.
// Indices are scaled by T / S into training steps. Where timesteps() rises the caller runs
// undo_step() (re-noising, one noise draw per training step crossed) instead of the model.
//
// step() takes the model output at x_t and builds x_prev from two parts, with one noise draw:
//   unknown = a DDIM step (eta, clip_sample) from the model output,
//   known   = sqrt(a_prev) * known_values + sqrt(1 - a_prev) * noise,
//   x_prev  = mask * known + (1 - mask) * unknown.
// The model output is read per the schedule's prediction (diffusers' RePaint knows only
// epsilon; sample and v are converted the way DDIM converts them). spacing and
// steps_offset do not apply. Shapes: x and model_output the same ([B,C,H,W], [B,N,3], [N,C],
// ...); known values and mask (1 = known) broadcast to x.
//
//   SamplerOptions o;
//   o.jump_length = 5;
//   o.jump_n_sample = 3;
//   RePaintSampler repaint(ScheduleConfig{}, o);
//   repaint.set_timesteps(50);
//   repaint.set_known(partial_scan, mask);
//   x = repaint.step(model(x, t), t, x, noise).prev_sample;  // where t falls
//   x = repaint.undo_step(x, t_before, noise);              // where t rises
#pragma once

#include <vector>

#include "diffusion/sampler.h"

namespace shapediff::diffusion {

class RePaintSampler : public Sampler {
 public:
  RePaintSampler(const ScheduleConfig& schedule, const SamplerOptions& options);
  SamplerKind kind() const override { return SamplerKind::RePaint; }
  // Throws std::invalid_argument for n outside [1, T], and naming jump_length when
  // jump_length >= n would silently skip the requested resampling (jump_n_sample > 1, n > 1).
  void set_timesteps(int64_t num_inference_steps) override;
  // Throws std::invalid_argument when set_known() has not been called.
  StepOutput step(const torch::Tensor& model_output, const torch::Tensor& t,
                  const torch::Tensor& x, NoiseSource& noise) override;
  // The known values and mask (1 = known) that step() blends in; shapes broadcast to x.
  void set_known(const torch::Tensor& known, const torch::Tensor& mask);
  // Re-noises x from timestep t to the next higher inference timestep t + T / S.
  torch::Tensor undo_step(const torch::Tensor& x, const torch::Tensor& t, NoiseSource& noise);

 private:
  int64_t train_step(const torch::Tensor& t, const char* what) const;
  // Moves the known values and mask to x's device, dtype and shape once per run.
  void fit_known_to(const torch::Tensor& x);

  SamplerOptions options_;
  std::vector<double> alphas_cumprod_;  // the float32 tables, widened once
  std::vector<double> betas_;
  torch::Tensor known_input_, mask_input_;     // as given to set_known
  torch::Tensor known_, mask_, unknown_weight_;  // fitted to the sample; 1 - mask_ beside it
};

}  // namespace shapediff::diffusion

// UniPCSampler: UniPC multistep predictor-corrector, B(h) = e^h - 1 ("bh2"), on the data
// prediction x0 (diffusers' UniPCMultistepScheduler with predict_x0 and solver_type bh2).
//
// Each step first corrects the sample the previous step predicted (UniC, using this step's model
// output, so no extra model call), then predicts the next sample (UniP) with up to
// `solver_order` (1-3) past data predictions. The corrector runs on every step of a run but the
// first. The schedule matches diffusers' default "final_sigmas_type zero": sigmas() has S+1
// entries and ends in 0; timesteps use Linspace spacing unless options say otherwise (Leading,
// Trailing, or Karras sigmas). With lower_order_final the order drops towards the end
// (min(solver_order, steps left)). The step onto sigma 0 is always first order: its log-SNR step
// is infinite, and the higher-order update diffusers takes there without lower_order_final
// returns inf/NaN.
//
// x may be any shape ([B,C,H,W], [B,N,3], [B,C,D,H,W], sparse features [N,C]); every step runs on
// x's device and dtype; coefficients are computed on the host in double.
//
//   SamplerOptions o;               // solver_order 2, lower_order_final, linspace
//   UniPCSampler sampler(schedule_config, o);
//   sampler.set_timesteps(20);
#pragma once

#include <array>
#include <vector>

#include "diffusion/sampler.h"

namespace shapediff::diffusion {

class UniPCSampler : public Sampler {
 public:
  UniPCSampler(const ScheduleConfig& schedule, const SamplerOptions& options);
  SamplerKind kind() const override { return SamplerKind::UniPC; }
  void set_timesteps(int64_t num_inference_steps) override;
  StepOutput step(const torch::Tensor& model_output, const torch::Tensor& t,
                  const torch::Tensor& x, NoiseSource& noise) override;

 private:
  // UniC: the sample at step i, recomputed from last_sample_ with this step's data prediction
  // x0 (the previous prediction becomes the corrected one).
  torch::Tensor correct(const torch::Tensor& x0, int64_t i) const;
  // UniP: the sample at step i + 1 from `sample` at step i, of order `order`.
  torch::Tensor predict(const torch::Tensor& sample, int64_t i, int64_t order) const;

  SamplerOptions options_;
  std::vector<double> sigma_values_;  // sigmas_ as host doubles
  std::vector<double> lambdas_;       // log-SNR of each sigma (+inf for the final 0)
  // Data predictions of the latest steps, newest first; shifting moves handles, not data.
  std::array<torch::Tensor, 3> history_;
  torch::Tensor last_sample_;  // the sample the last prediction started from
  int64_t last_order_ = 0;     // order of the last prediction
  int64_t lower_order_nums_ = 0;
};

}  // namespace shapediff::diffusion

#include "diffusion/ddpm.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <torch/torch.h>

namespace shapediff::diffusion {
DDPMSampler::DDPMSampler(const ScheduleConfig& schedule, const SamplerOptions& options)
    : Sampler(NoiseSchedule(schedule)), options_(options) {
  options_.validate();
  alphas_cumprod_ = detail::table_values(schedule_.alphas_cumprod());
}

void DDPMSampler::set_timesteps(int64_t n) {
  check_num_steps(n);
  const int64_t T = schedule_.num_train_timesteps();
  const Spacing spacing = options_.spacing.value_or(Spacing::Leading);
  auto timesteps = spaced_timesteps(T, n, spacing, options_.steps_offset);
  const double first = timesteps[0].item<double>();
  if (first >= static_cast<double>(T)) {
    throw std::invalid_argument("steps_offset " + std::to_string(options_.steps_offset) +
                                " puts timestep " + std::to_string(static_cast<int64_t>(first)) +
                                " past the last training step " + std::to_string(T - 1) +
                                " for " + std::to_string(n) + " leading steps");
  }
  timesteps_ = std::move(timesteps);
  num_inference_steps_ = n;
  reset_step_index();
}

StepOutput DDPMSampler::step(const torch::Tensor& model_output, const torch::Tensor& t,
                             const torch::Tensor& x, NoiseSource& noise) {
  if (num_inference_steps_ == 0) {
    throw std::runtime_error("DDPM: set_timesteps(n) must be called before step");
  }
  if (model_output.sizes() != x.sizes()) {
    throw std::invalid_argument("DDPM: model_output shape " + detail::shape_string(model_output.sizes()) +
                                " differs from sample shape " + detail::shape_string(x.sizes()));
  }
  const int64_t T = schedule_.num_train_timesteps();
  const double tv = timestep_value(t);
  const auto ti = static_cast<int64_t>(std::llround(tv));
  if (ti < 0 || ti >= T || static_cast<double>(ti) != tv) {
    throw std::invalid_argument("DDPM: timestep " + std::to_string(tv) +
                                " is not a training step in [0, " + std::to_string(T) + ")");
  }
  const int64_t prev = ti - T / num_inference_steps_;

  const double a_t = alphas_cumprod_[static_cast<size_t>(ti)];
  const double a_prev = prev >= 0 ? alphas_cumprod_[static_cast<size_t>(prev)] : 1.0;
  const double beta_t = 1.0 - a_t;
  const double beta_prev = 1.0 - a_prev;
  const double alpha_step = a_t / a_prev;
  const double beta_step = 1.0 - alpha_step;

  const auto mo = model_output.scalar_type() == x.scalar_type()
                      ? model_output
                      : model_output.to(x.scalar_type());
  torch::Tensor x0;
  bool owned = true;
  switch (schedule_.prediction()) {
    case Prediction::Epsilon:
      x0 = torch::add(x, mo, -std::sqrt(beta_t)).div_(std::sqrt(a_t));
      break;
    case Prediction::Sample:
      x0 = mo;
      owned = false;
      break;
    case Prediction::Velocity:
      x0 = torch::mul(x, std::sqrt(a_t)).add_(mo, -std::sqrt(beta_t));
      break;
  }
  if (options_.clip_sample) {
    const double r = options_.clip_sample_range;
    x0 = owned ? x0.clamp_(-r, r) : x0.clamp(-r, r);
  }

  // Posterior mean of q(x_prev | x_t, x0) (Ho et al. eq. 7).
  const double x0_coeff = std::sqrt(a_prev) * beta_step / beta_t;
  const double xt_coeff = std::sqrt(alpha_step) * beta_prev / beta_t;
  auto prev_sample = torch::mul(x0, x0_coeff).add_(x, xt_coeff);

  if (ti > 0) {
    const double variance = options_.variance_type == VarianceType::FixedLarge
                                ? beta_step
                                : std::max(beta_prev / beta_t * beta_step, 1e-20);
    prev_sample.add_(noise.next_like(x), std::sqrt(variance));
  }
  return {prev_sample, x0, {}};
}

}  // namespace shapediff::diffusion

#include "diffusion/euler_ancestral.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <torch/torch.h>

#include "diffusion/euler.h"

namespace shapediff::diffusion {

EulerAncestralSampler::EulerAncestralSampler(const ScheduleConfig& schedule,
                                             const SamplerOptions& options)
    : Sampler(NoiseSchedule(schedule)), options_(options) {
  options_.validate();
  if (options_.use_karras_sigmas) {
    throw std::invalid_argument(
        "use_karras_sigmas is not supported by euler_ancestral (diffusers' "
        "EulerAncestralDiscreteScheduler has no Karras sigmas); use euler or heun");
  }
  training_sigmas_ = training_sigmas(schedule_);
}

void EulerAncestralSampler::set_timesteps(int64_t n) {
  check_num_steps(n);
  const auto plan = make_sigma_schedule(training_sigmas_, n,
                                        options_.spacing.value_or(Spacing::Linspace),
                                        options_.steps_offset, /*karras=*/false, true);
  step_sigmas_ = float32_rounded(plan.sigmas);
  step_sigmas_.push_back(0.0);
  timesteps_ = torch::tensor(float32_rounded(plan.timesteps), torch::kFloat64);
  sigmas_ = torch::tensor(step_sigmas_, torch::kFloat64);
  num_inference_steps_ = n;
  reset_step_index();
}

torch::Tensor EulerAncestralSampler::scale_model_input(const torch::Tensor& x,
                                                       const torch::Tensor& t) {
  return sigma_scaled_input(x, step_sigmas_.at(static_cast<size_t>(current_step_index(t))));
}

StepOutput EulerAncestralSampler::step(const torch::Tensor& model_output, const torch::Tensor& t,
                                       const torch::Tensor& x, NoiseSource& noise) {
  const auto out = checked_model_output("EulerAncestral", model_output, x, num_inference_steps_);
  const int64_t i = current_step_index(t);
  if (i >= num_inference_steps_) {
    throw std::runtime_error(
        "EulerAncestral: step called past the last timestep; call set_timesteps");
  }
  const double sigma = step_sigmas_[static_cast<size_t>(i)];
  const double sigma_next = step_sigmas_[static_cast<size_t>(i + 1)];
  const double sigma_up =
      sigma_next * std::sqrt(std::max(sigma * sigma - sigma_next * sigma_next, 0.0)) / sigma;
  const double sigma_down = sigma_next * sigma_next / sigma;

  auto x0 = sigma_denoised(out, x, sigma, schedule_.prediction());
  const double ratio = sigma_down / sigma;
  auto prev = torch::mul(x0, 1.0 - ratio).add_(x, ratio);
  prev.add_(noise.next_like(x), sigma_up);
  advance_step_index();
  return {prev, x0, {}};
}

double EulerAncestralSampler::init_noise_sigma() const {
  const double max_sigma =
      step_sigmas_.empty() ? *std::max_element(training_sigmas_.begin(), training_sigmas_.end())
                           : *std::max_element(step_sigmas_.begin(), step_sigmas_.end());
  return sigma_init_noise(max_sigma, options_.spacing.value_or(Spacing::Linspace));
}

}  // namespace shapediff::diffusion

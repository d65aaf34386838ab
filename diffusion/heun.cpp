#include "diffusion/heun.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <torch/torch.h>

#include "diffusion/euler.h"

namespace shapediff::diffusion {

HeunSampler::HeunSampler(const ScheduleConfig& schedule, const SamplerOptions& options)
    : Sampler(NoiseSchedule(schedule)), options_(options) {
  options_.validate();
  training_sigmas_ = training_sigmas(schedule_);
}

void HeunSampler::set_timesteps(int64_t n) {
  check_num_steps(n);
  const auto plan = make_sigma_schedule(training_sigmas_, n,
                                        options_.spacing.value_or(Spacing::Linspace),
                                        options_.steps_offset, options_.use_karras_sigmas,
                                        /*float32_linspace=*/false);
  const auto timesteps = float32_rounded(plan.timesteps);
  const auto sigmas = float32_rounded(plan.sigmas);
  std::vector<double> doubled_timesteps{timesteps.front()};
  step_sigmas_.assign(1, sigmas.front());
  for (size_t i = 1; i < timesteps.size(); ++i) {
    doubled_timesteps.insert(doubled_timesteps.end(), 2, timesteps[i]);
    step_sigmas_.insert(step_sigmas_.end(), 2, sigmas[i]);
  }
  step_sigmas_.push_back(0.0);
  timesteps_ = torch::tensor(doubled_timesteps, torch::kFloat64);
  sigmas_ = torch::tensor(step_sigmas_, torch::kFloat64);
  num_inference_steps_ = n;
  first_derivative_ = torch::Tensor();
  first_sample_ = torch::Tensor();
  first_dt_ = 0.0;
  reset_step_index();
}

torch::Tensor HeunSampler::scale_model_input(const torch::Tensor& x, const torch::Tensor& t) {
  return sigma_scaled_input(x, step_sigmas_.at(static_cast<size_t>(current_step_index(t))));
}

StepOutput HeunSampler::step(const torch::Tensor& model_output, const torch::Tensor& t,
                             const torch::Tensor& x, NoiseSource& /*noise*/) {
  const auto out = checked_model_output("Heun", model_output, x, num_inference_steps_);
  const int64_t i = current_step_index(t);
  if (i + 1 >= static_cast<int64_t>(step_sigmas_.size())) {
    throw std::runtime_error("Heun: step called past the last timestep; call set_timesteps");
  }
  const auto prediction = schedule_.prediction();
  torch::Tensor prev, x0;
  if (!in_second_stage()) {
    const double sigma = step_sigmas_[static_cast<size_t>(i)];
    const double sigma_next = step_sigmas_[static_cast<size_t>(i + 1)];
    x0 = sigma_denoised(out, x, sigma, prediction);
    auto derivative = torch::sub(x, x0).div_(sigma);
    prev = torch::add(x, derivative, sigma_next - sigma);
    // The final step (to sigma 0) has no second stage.
    if (i + 2 < static_cast<int64_t>(step_sigmas_.size())) {
      first_derivative_ = std::move(derivative);
      first_dt_ = sigma_next - sigma;
      first_sample_ = x;
    }
  } else {
    // x sits at the Euler prediction, whose noise level is sigmas_[i].
    const double sigma_next = step_sigmas_[static_cast<size_t>(i)];
    x0 = sigma_denoised(out, x, sigma_next, prediction);
    const double half_dt = 0.5 * first_dt_;
    prev = torch::sub(x, x0)
               .mul_(half_dt / sigma_next)
               .add_(first_derivative_, half_dt)
               .add_(first_sample_);
    first_derivative_ = torch::Tensor();
    first_sample_ = torch::Tensor();
  }
  advance_step_index();
  return {prev, x0, {}};
}

double HeunSampler::init_noise_sigma() const {
  const double max_sigma =
      step_sigmas_.empty() ? *std::max_element(training_sigmas_.begin(), training_sigmas_.end())
                           : *std::max_element(step_sigmas_.begin(), step_sigmas_.end());
  return sigma_init_noise(max_sigma, options_.spacing.value_or(Spacing::Linspace));
}

}  // namespace shapediff::diffusion

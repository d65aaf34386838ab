#include "diffusion/ddim.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include <torch/torch.h>

namespace shapediff::diffusion {
DdimUpdate ddim_update(const torch::Tensor& model_output, const torch::Tensor& x,
                       Prediction prediction, double a_t, double a_prev, double eta,
                       std::optional<double> clip_range) {
  const double beta_t = 1.0 - a_t;
  const double sqrt_a = std::sqrt(a_t);
  const double sqrt_b = std::sqrt(beta_t);
  const auto mo = model_output.scalar_type() == x.scalar_type()
                      ? model_output
                      : model_output.to(x.scalar_type());
  // epsilon is taken from the unclipped x0, as diffusers does.
  torch::Tensor x0, eps;
  bool x0_owned = true;
  switch (prediction) {
    case Prediction::Epsilon:
      x0 = torch::add(x, mo, -sqrt_b).div_(sqrt_a);
      eps = mo;
      break;
    case Prediction::Sample:
      x0 = mo;
      x0_owned = false;
      eps = torch::add(x, mo, -sqrt_a).div_(sqrt_b);
      break;
    case Prediction::Velocity:
      x0 = torch::mul(x, sqrt_a).add_(mo, -sqrt_b);
      eps = torch::mul(mo, sqrt_a).add_(x, sqrt_b);
      break;
  }
  if (clip_range) {
    x0 = x0_owned ? x0.clamp_(-*clip_range, *clip_range) : x0.clamp(-*clip_range, *clip_range);
  }
  const double variance = (1.0 - a_prev) / beta_t * (1.0 - a_t / a_prev);
  const double std_dev = eta * std::sqrt(std::max(variance, 0.0));
  // Rounding can leave a tiny negative at eta = 1 where the exact value is 0.
  const double direction = std::sqrt(std::max(1.0 - a_prev - std_dev * std_dev, 0.0));
  auto mean = torch::mul(x0, std::sqrt(a_prev)).add_(eps, direction);
  return {mean, x0, std_dev};
}

DDIMSampler::DDIMSampler(const ScheduleConfig& schedule, const SamplerOptions& options)
    : Sampler(NoiseSchedule(schedule)), options_(options) {
  options_.validate();
  if (options_.eta > 1.0) {
    std::ostringstream os;
    os << "eta must be in [0, 1] for DDIM (above 1 the step's square root is negative), got "
       << options_.eta;
    throw std::invalid_argument(os.str());
  }
  alphas_cumprod_ = detail::table_values(schedule_.alphas_cumprod());
  final_alpha_cumprod_ = options_.set_alpha_to_one ? 1.0 : alphas_cumprod_.front();
}

void DDIMSampler::set_timesteps(int64_t n) {
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

StepOutput DDIMSampler::step(const torch::Tensor& model_output, const torch::Tensor& t,
                             const torch::Tensor& x, NoiseSource& noise) {
  if (num_inference_steps_ == 0) {
    throw std::runtime_error("DDIM: set_timesteps(n) must be called before step");
  }
  if (model_output.sizes() != x.sizes()) {
    throw std::invalid_argument("DDIM: model_output shape " + detail::shape_string(model_output.sizes()) +
                                " differs from sample shape " + detail::shape_string(x.sizes()));
  }
  const int64_t T = schedule_.num_train_timesteps();
  const double tv = timestep_value(t);
  const auto ti = static_cast<int64_t>(std::llround(tv));
  if (ti < 0 || ti >= T || static_cast<double>(ti) != tv) {
    throw std::invalid_argument("DDIM: timestep " + std::to_string(tv) +
                                " is not a training step in [0, " + std::to_string(T) + ")");
  }
  const int64_t prev = ti - T / num_inference_steps_;
  const double a_t = alphas_cumprod_[static_cast<size_t>(ti)];
  const double a_prev = prev >= 0 ? alphas_cumprod_[static_cast<size_t>(prev)]
                                  : final_alpha_cumprod_;
  const std::optional<double> clip =
      options_.clip_sample ? std::optional<double>(options_.clip_sample_range) : std::nullopt;
  auto update = ddim_update(model_output, x, schedule_.prediction(), a_t, a_prev, options_.eta,
                            clip);
  if (options_.eta > 0.0) update.mean.add_(noise.next_like(x), update.std_dev);
  return {update.mean, update.pred_original_sample, {}};
}

}  // namespace shapediff::diffusion

#include "diffusion/score_sde_ve.h"

#include <cmath>
#include <stdexcept>

#include <torch/torch.h>

namespace shapediff::diffusion {
namespace {

// Mean over the first dimension of each entry's L2 norm, as a 0-d tensor on t's device.
torch::Tensor mean_batch_norm(const torch::Tensor& t) {
  return t.reshape({t.size(0), -1}).norm(2, {1}).mean();
}

}  // namespace

ScoreSdeVeSampler::ScoreSdeVeSampler(const ScheduleConfig& schedule,
                                     const SamplerOptions& options)
    : Sampler(NoiseSchedule(schedule)), options_(options) {
  options_.validate();
}

void ScoreSdeVeSampler::set_timesteps(int64_t n) {
  if (n < 1) {
    throw std::invalid_argument("num_inference_steps must be >= 1, got " + std::to_string(n));
  }
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  // Built with torch's own float32 linspace/pow/exp so the values are diffusers'.
  const auto t = torch::linspace(1.0, options_.sampling_eps, n, f32);
  const auto sigmas = torch::pow(options_.sigma_max / options_.sigma_min, t) * options_.sigma_min;
  const auto log_ladder =
      torch::linspace(std::log(options_.sigma_min), std::log(options_.sigma_max), n, f32);
  const auto ladder = torch::exp(log_ladder).to(torch::kFloat64).contiguous();
  timesteps_ = t.to(torch::kFloat64);
  sigmas_ = sigmas.to(torch::kFloat64);
  discrete_sigmas_.assign(ladder.data_ptr<double>(), ladder.data_ptr<double>() + n);
  num_inference_steps_ = n;
  reset_step_index();
}

void ScoreSdeVeSampler::check_inputs(const char* what, const torch::Tensor& score,
                                     const torch::Tensor& x) const {
  if (num_inference_steps_ == 0) {
    throw std::runtime_error(std::string("ScoreSdeVe: set_timesteps(n) must be called before ") +
                             what);
  }
  if (score.sizes() != x.sizes()) {
    throw std::invalid_argument(std::string("ScoreSdeVe: ") + what + ": score shape " +
                                detail::shape_string(score.sizes()) + " differs from sample shape " +
                                detail::shape_string(x.sizes()));
  }
  if (x.dim() < 1 || x.size(0) < 1) {
    throw std::invalid_argument(std::string("ScoreSdeVe: ") + what +
                                ": the sample needs a non-empty batch dimension, got shape " +
                                detail::shape_string(x.sizes()));
  }
}

StepOutput ScoreSdeVeSampler::step(const torch::Tensor& model_output, const torch::Tensor& t,
                                   const torch::Tensor& x, NoiseSource& noise) {
  return step_pred(model_output, t, x, noise);
}

StepOutput ScoreSdeVeSampler::step_pred(const torch::Tensor& score, const torch::Tensor& t,
                                        const torch::Tensor& x, NoiseSource& noise) {
  check_inputs("step_pred", score, x);
  const auto time = static_cast<float>(timestep_value(t));
  if (!(time >= 0.0f && time <= 1.0f)) {
    throw std::invalid_argument("ScoreSdeVe: step_pred: timestep " + std::to_string(time) +
                                " is outside [0, 1]");
  }
  // diffusers truncates t (S - 1) computed in float32 to pick the rung.
  const float scaled = time * static_cast<float>(num_inference_steps_ - 1);
  const auto k = static_cast<int64_t>(scaled);
  // g and g^2 in float32 and products before sums, in diffusers' order: the predictor-corrector
  // chain amplifies rounding differences (by up to ~g^2 |d score / dx| per step).
  const auto sigma = static_cast<float>(discrete_sigmas_[static_cast<size_t>(k)]);
  const float adjacent =
      k == 0 ? 0.0f : static_cast<float>(discrete_sigmas_[static_cast<size_t>(k - 1)]);
  const float g = std::sqrt(sigma * sigma - adjacent * adjacent);
  const float g2 = g * g;

  const auto s = score.scalar_type() == x.scalar_type() ? score : score.to(x.scalar_type());
  auto mean = torch::mul(s, static_cast<double>(g2)).add_(x);
  auto prev = torch::mul(noise.next_like(x), static_cast<double>(g)).add_(mean);
  return {prev, {}, mean};
}

torch::Tensor ScoreSdeVeSampler::step_correct(const torch::Tensor& score, const torch::Tensor& x,
                                              NoiseSource& noise) {
  check_inputs("step_correct", score, x);
  const auto s = score.scalar_type() == x.scalar_type() ? score : score.to(x.scalar_type());
  const auto z = noise.next_like(x);
  // A 0-d tensor on x's device, so the loop never waits on the host.
  const auto step_size =
      mean_batch_norm(z).mul_(options_.snr).div_(mean_batch_norm(s)).square_().mul_(2.0);
  auto mean = torch::mul(s, step_size).add_(x);
  return torch::mul(z, step_size.mul(2.0).sqrt_()).add_(mean);
}

double ScoreSdeVeSampler::init_noise_sigma() const { return options_.sigma_max; }

}  // namespace shapediff::diffusion

#include "diffusion/euler.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <torch/torch.h>

namespace shapediff::diffusion {
namespace {

constexpr double kKarrasRho = 7.0;

// np.interp(x, arange(T), table): clamped at both ends, exact at the nodes.
double interp_sigma(const std::vector<float>& table, double x) {
  const auto last = static_cast<int64_t>(table.size()) - 1;
  if (!(x > 0.0)) return table.front();
  if (x >= static_cast<double>(last)) return table.back();
  const auto j = static_cast<int64_t>(std::floor(x));
  const double low = table[static_cast<size_t>(j)];
  if (x == static_cast<double>(j)) return low;
  const double slope = static_cast<double>(table[static_cast<size_t>(j + 1)]) - low;
  return slope * (x - static_cast<double>(j)) + low;
}

// Karras et al.'s noise levels: a linear ramp in sigma^(1/rho) from sigma_max to sigma_min.
std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int64_t n) {
  const double min_inv = std::pow(sigma_min, 1.0 / kKarrasRho);
  const double max_inv = std::pow(sigma_max, 1.0 / kKarrasRho);
  const double step = n > 1 ? 1.0 / static_cast<double>(n - 1) : 0.0;
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double ramp = i == n - 1 && n > 1 ? 1.0 : static_cast<double>(i) * step;
    out[static_cast<size_t>(i)] = std::pow(max_inv + ramp * (min_inv - max_inv), kKarrasRho);
  }
  return out;
}

// The fractional training timestep whose (log-interpolated) sigma is `sigma`. The log table is
// float32 and the bracket width is taken in float32, as diffusers' NumPy code does.
double sigma_to_timestep(double sigma, const std::vector<float>& log_sigmas) {
  const double log_sigma = std::log(std::max(sigma, 1e-10));
  const auto count = static_cast<int64_t>(log_sigmas.size());
  int64_t low = 0;
  for (int64_t k = 0; k < count; ++k) {
    if (log_sigma - static_cast<double>(log_sigmas[static_cast<size_t>(k)]) >= 0.0) low = k;
  }
  low = std::min(low, count - 2);
  const float low_value = log_sigmas[static_cast<size_t>(low)];
  const float high_value = log_sigmas[static_cast<size_t>(low + 1)];
  const float width = low_value - high_value;
  double w = (static_cast<double>(low_value) - log_sigma) / static_cast<double>(width);
  w = std::clamp(w, 0.0, 1.0);
  return (1.0 - w) * static_cast<double>(low) + w * static_cast<double>(low + 1);
}

std::vector<double> inference_timesteps(int64_t T, int64_t n, Spacing spacing,
                                        int64_t steps_offset, bool float32_linspace) {
  if (spacing != Spacing::Linspace) {
    const auto t = spaced_timesteps(T, n, spacing, steps_offset).contiguous();
    return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  }
  // np.linspace(0, T - 1, n): i * step, with the end point exact.
  std::vector<double> out(static_cast<size_t>(n));
  const double step = n > 1 ? static_cast<double>(T - 1) / static_cast<double>(n - 1) : 0.0;
  for (int64_t i = 0; i < n; ++i) {
    double v = i == n - 1 && n > 1 ? static_cast<double>(T - 1) : static_cast<double>(i) * step;
    if (float32_linspace) v = static_cast<float>(v);
    out[static_cast<size_t>(n - 1 - i)] = v;
  }
  return out;
}

}  // namespace

std::vector<float> training_sigmas(const NoiseSchedule& schedule) {
  auto ac = schedule.alphas_cumprod().clone();
  if (schedule.config().zero_terminal_snr) ac[-1] = std::ldexp(1.0, -24);
  const auto sigmas = ((1.0 - ac) / ac).pow(0.5).contiguous();
  return std::vector<float>(sigmas.data_ptr<float>(), sigmas.data_ptr<float>() + sigmas.numel());
}

SigmaSchedule make_sigma_schedule(const std::vector<float>& table, int64_t n, Spacing spacing,
                                  int64_t steps_offset, bool karras, bool float32_linspace) {
  TORCH_CHECK(table.size() >= 2, "sigma table needs at least 2 entries");
  TORCH_CHECK(n >= 1, "num_inference_steps must be >= 1, got ", n);
  const auto T = static_cast<int64_t>(table.size());
  SigmaSchedule out;
  out.timesteps = inference_timesteps(T, n, spacing, steps_offset, float32_linspace);
  out.sigmas.reserve(static_cast<size_t>(n));
  for (double t : out.timesteps) out.sigmas.push_back(interp_sigma(table, t));
  if (karras) {
    out.sigmas = karras_sigmas(out.sigmas.back(), out.sigmas.front(), n);
    std::vector<float> log_sigmas(table.size());
    std::transform(table.begin(), table.end(), log_sigmas.begin(),
                   [](float s) { return std::log(s); });
    for (size_t i = 0; i < out.sigmas.size(); ++i) {
      out.timesteps[i] = sigma_to_timestep(out.sigmas[i], log_sigmas);
    }
  }
  return out;
}

double sigma_init_noise(double max_sigma, Spacing spacing) {
  if (spacing != Spacing::Leading) return max_sigma;
  const auto m = static_cast<float>(max_sigma);
  return static_cast<double>(std::sqrt(m * m + 1.0f));
}

torch::Tensor sigma_denoised(const torch::Tensor& model_output, const torch::Tensor& x,
                             double sigma, Prediction prediction) {
  switch (prediction) {
    case Prediction::Epsilon:
      return torch::add(x, model_output, -sigma);
    case Prediction::Velocity: {
      const double s2 = sigma * sigma + 1.0;
      return torch::mul(model_output, -sigma / std::sqrt(s2)).add_(x, 1.0 / s2);
    }
    case Prediction::Sample:
      return model_output;
  }
  throw std::invalid_argument("unhandled prediction type");
}

std::vector<double> float32_rounded(const std::vector<double>& values) {
  std::vector<double> out(values.size());
  std::transform(values.begin(), values.end(), out.begin(),
                 [](double v) { return static_cast<double>(static_cast<float>(v)); });
  return out;
}

torch::Tensor sigma_scaled_input(const torch::Tensor& x, double sigma) {
  const auto s = static_cast<float>(sigma);
  return x / static_cast<double>(std::sqrt(s * s + 1.0f));
}

torch::Tensor checked_model_output(const char* sampler, const torch::Tensor& model_output,
                                   const torch::Tensor& x, int64_t num_inference_steps) {
  if (num_inference_steps == 0) {
    throw std::runtime_error(std::string(sampler) +
                             ": set_timesteps(n) must be called before step");
  }
  if (model_output.sizes() != x.sizes()) {
    throw std::invalid_argument(std::string(sampler) + ": model_output shape " +
                                detail::shape_string(model_output.sizes()) +
                                " differs from sample shape " + detail::shape_string(x.sizes()));
  }
  return model_output.scalar_type() == x.scalar_type() ? model_output
                                                       : model_output.to(x.scalar_type());
}

EulerSampler::EulerSampler(const ScheduleConfig& schedule, const SamplerOptions& options)
    : Sampler(NoiseSchedule(schedule)), options_(options) {
  options_.validate();
  training_sigmas_ = training_sigmas(schedule_);
}

void EulerSampler::set_timesteps(int64_t n) {
  check_num_steps(n);
  const auto plan =
      make_sigma_schedule(training_sigmas_, n, options_.spacing.value_or(Spacing::Linspace),
                          options_.steps_offset, options_.use_karras_sigmas, true);
  step_sigmas_ = float32_rounded(plan.sigmas);
  step_sigmas_.push_back(0.0);
  timesteps_ = torch::tensor(float32_rounded(plan.timesteps), torch::kFloat64);
  sigmas_ = torch::tensor(step_sigmas_, torch::kFloat64);
  num_inference_steps_ = n;
  reset_step_index();
}

torch::Tensor EulerSampler::scale_model_input(const torch::Tensor& x, const torch::Tensor& t) {
  return sigma_scaled_input(x, step_sigmas_.at(static_cast<size_t>(current_step_index(t))));
}

StepOutput EulerSampler::step(const torch::Tensor& model_output, const torch::Tensor& t,
                              const torch::Tensor& x, NoiseSource& /*noise*/) {
  const auto out = checked_model_output("Euler", model_output, x, num_inference_steps_);
  const int64_t i = current_step_index(t);
  if (i >= num_inference_steps_) {
    throw std::runtime_error("Euler: step called past the last timestep; call set_timesteps");
  }
  const double sigma = step_sigmas_[static_cast<size_t>(i)];
  const double sigma_next = step_sigmas_[static_cast<size_t>(i + 1)];
  auto x0 = sigma_denoised(out, x, sigma, schedule_.prediction());
  // x_next = x0 + (sigma_next / sigma) (x - x0): the Euler step of dx/dsigma = (x - x0) / sigma.
  const double ratio = sigma_next / sigma;
  auto prev = torch::mul(x0, 1.0 - ratio).add_(x, ratio);
  advance_step_index();
  return {prev, x0, {}};
}

double EulerSampler::init_noise_sigma() const {
  // Before set_timesteps diffusers' table is the whole training schedule.
  const double max_sigma =
      step_sigmas_.empty() ? *std::max_element(training_sigmas_.begin(), training_sigmas_.end())
                           : *std::max_element(step_sigmas_.begin(), step_sigmas_.end());
  return sigma_init_noise(max_sigma, options_.spacing.value_or(Spacing::Linspace));
}

}  // namespace shapediff::diffusion

#include "diffusion/noise_schedule.h"

#include <cmath>
#include <stdexcept>

#include <torch/torch.h>

namespace shapediff::diffusion {
namespace {

torch::Tensor cosine_betas(int64_t n) {
  // Nichol & Dhariwal's alpha_bar, evaluated in double and capped at 0.999 like diffusers.
  auto alpha_bar = [](double t) {
    const double c = std::cos((t + 0.008) / 1.008 * M_PI / 2.0);
    return c * c;
  };
  std::vector<float> betas(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double t1 = static_cast<double>(i) / static_cast<double>(n);
    const double t2 = static_cast<double>(i + 1) / static_cast<double>(n);
    betas[static_cast<size_t>(i)] =
        static_cast<float>(std::min(1.0 - alpha_bar(t2) / alpha_bar(t1), 0.999));
  }
  return torch::tensor(betas, torch::kFloat32);
}

}  // namespace

torch::Tensor make_betas(const ScheduleConfig& c) {
  c.validate();
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  const int64_t n = c.num_train_timesteps;
  switch (c.beta_schedule) {
    case BetaSchedule::Linear:
      return torch::linspace(c.beta_start, c.beta_end, n, f32);
    case BetaSchedule::ScaledLinear:
      return torch::linspace(std::sqrt(c.beta_start), std::sqrt(c.beta_end), n, f32).pow(2);
    case BetaSchedule::Cosine:
      return cosine_betas(n);
    case BetaSchedule::Sigmoid:
      return torch::sigmoid(torch::linspace(-6.0, 6.0, n, f32)) * (c.beta_end - c.beta_start) +
             c.beta_start;
    case BetaSchedule::Custom:
      return torch::tensor(c.trained_betas, torch::kFloat64).to(torch::kFloat32);
  }
  throw std::invalid_argument("unhandled beta schedule");
}

torch::Tensor rescale_zero_terminal_snr(const torch::Tensor& betas) {
  const auto alphas_cumprod = torch::cumprod(1.0 - betas, 0);
  auto sqrt_ab = alphas_cumprod.sqrt();
  const auto first = sqrt_ab[0].clone();
  const auto last = sqrt_ab[-1].clone();
  sqrt_ab = (sqrt_ab - last) * (first / (first - last));
  const auto ab = sqrt_ab.pow(2);
  const auto alphas = torch::cat({ab.slice(0, 0, 1), ab.slice(0, 1) / ab.slice(0, 0, -1)});
  return 1.0 - alphas;
}

NoiseSchedule::NoiseSchedule(ScheduleConfig config) : config_(std::move(config)) {
  betas_ = make_betas(config_);
  if (config_.zero_terminal_snr) betas_ = rescale_zero_terminal_snr(betas_);
  alphas_ = 1.0 - betas_;
  alphas_cumprod_ = torch::cumprod(alphas_, 0);
}

torch::Tensor NoiseSchedule::sigmas() const {
  return ((1.0 - alphas_cumprod_) / alphas_cumprod_).pow(0.5);
}

torch::Tensor NoiseSchedule::snr() const {
  const auto ac = alphas_cumprod_.to(torch::kFloat64);
  return ac / (1.0 - ac);
}

double NoiseSchedule::alpha_cumprod(int64_t t) const {
  TORCH_CHECK(t >= 0 && t < num_train_timesteps(), "timestep ", t, " outside [0, ",
              num_train_timesteps(), ")");
  return static_cast<double>(alphas_cumprod_[t].item<float>());
}

double NoiseSchedule::beta(int64_t t) const {
  TORCH_CHECK(t >= 0 && t < num_train_timesteps(), "timestep ", t, " outside [0, ",
              num_train_timesteps(), ")");
  return static_cast<double>(betas_[t].item<float>());
}

std::pair<torch::Tensor, torch::Tensor> NoiseSchedule::coefficients(
    const torch::Tensor& timesteps, const torch::Tensor& like) const {
  TORCH_CHECK(!at::isFloatingType(timesteps.scalar_type()),
              "timesteps must be an integer tensor, got ", timesteps.scalar_type());
  auto t = timesteps.reshape({-1}).to(torch::kLong).cpu();
  TORCH_CHECK(t.numel() > 0, "timesteps is empty");
  const int64_t lo = t.min().item<int64_t>();
  const int64_t hi = t.max().item<int64_t>();
  TORCH_CHECK(lo >= 0 && hi < num_train_timesteps(), "timestep outside [0, ",
              num_train_timesteps(), "): got range [", lo, ", ", hi, "]");
  TORCH_CHECK(t.numel() == 1 || (like.dim() >= 1 && like.size(0) == t.numel()),
              "timesteps has ", t.numel(), " entries but the sample's first dimension is ",
              like.dim() >= 1 ? like.size(0) : 0);
  const auto ac = alphas_cumprod_.index_select(0, t).to(like.device(), like.scalar_type());
  std::vector<int64_t> shape(static_cast<size_t>(std::max<int64_t>(like.dim(), 1)), 1);
  shape[0] = t.numel();
  return {ac.pow(0.5).reshape(shape), (1.0 - ac).pow(0.5).reshape(shape)};
}

torch::Tensor NoiseSchedule::add_noise(const torch::Tensor& x0, const torch::Tensor& noise,
                                       const torch::Tensor& timesteps) const {
  TORCH_CHECK(x0.sizes() == noise.sizes(), "add_noise: x0 ", x0.sizes(), " and noise ",
              noise.sizes(), " differ in shape");
  const auto [a, s] = coefficients(timesteps, x0);
  return a * x0 + s * noise;
}

torch::Tensor NoiseSchedule::velocity(const torch::Tensor& x0, const torch::Tensor& noise,
                                      const torch::Tensor& timesteps) const {
  TORCH_CHECK(x0.sizes() == noise.sizes(), "velocity: x0 ", x0.sizes(), " and noise ",
              noise.sizes(), " differ in shape");
  const auto [a, s] = coefficients(timesteps, x0);
  return a * noise - s * x0;
}

torch::Tensor NoiseSchedule::to_sample(const torch::Tensor& out, const torch::Tensor& x_t,
                                       const torch::Tensor& timesteps, Prediction from) const {
  return convert(out, x_t, timesteps, from, Prediction::Sample);
}
torch::Tensor NoiseSchedule::to_epsilon(const torch::Tensor& out, const torch::Tensor& x_t,
                                        const torch::Tensor& timesteps, Prediction from) const {
  return convert(out, x_t, timesteps, from, Prediction::Epsilon);
}
torch::Tensor NoiseSchedule::to_velocity(const torch::Tensor& out, const torch::Tensor& x_t,
                                         const torch::Tensor& timesteps, Prediction from) const {
  return convert(out, x_t, timesteps, from, Prediction::Velocity);
}

torch::Tensor NoiseSchedule::convert(const torch::Tensor& out, const torch::Tensor& x_t,
                                     const torch::Tensor& timesteps, Prediction from,
                                     Prediction to) const {
  TORCH_CHECK(out.sizes() == x_t.sizes(), "model output ", out.sizes(), " and sample ",
              x_t.sizes(), " differ in shape");
  if (from == to) return out;
  const auto [a, s] = coefficients(timesteps, x_t);
  // x_t = a x0 + s eps and v = a eps - s x0, with a^2 + s^2 = 1.
  torch::Tensor x0, eps;
  switch (from) {
    case Prediction::Epsilon:
      eps = out;
      x0 = (x_t - s * eps) / a;
      break;
    case Prediction::Sample:
      x0 = out;
      eps = (x_t - a * x0) / s;
      break;
    case Prediction::Velocity:
      x0 = a * x_t - s * out;
      eps = a * out + s * x_t;
      break;
  }
  switch (to) {
    case Prediction::Epsilon:
      return eps;
    case Prediction::Sample:
      return x0;
    case Prediction::Velocity:
      return a * eps - s * x0;
  }
  throw std::invalid_argument("unhandled prediction type");
}

}  // namespace shapediff::diffusion

#include "diffusion/dpm_solver.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include <torch/torch.h>

namespace shapediff::diffusion {
namespace {

// numpy.linspace(start, stop, num)[i], evaluated the way numpy does (i * step + start, the last
// point exactly `stop`), so that rounding ties land where diffusers' land.
double numpy_linspace(double start, double stop, int64_t num, int64_t i) {
  if (num == 1) return start;
  if (i == num - 1) return stop;
  const double step = (stop - start) / static_cast<double>(num - 1);
  if (step == 0.0) {
    return static_cast<double>(i) / static_cast<double>(num - 1) * (stop - start) + start;
  }
  return static_cast<double>(i) * step + start;
}

// numpy.arange(start, stop, step) for a float step: length ceil((stop - start) / step), filled as
// start + i * (second - start).
std::vector<double> numpy_arange(double start, double stop, double step) {
  const double len = std::ceil((stop - start) / step);
  std::vector<double> out(len > 0 ? static_cast<size_t>(len) : 0);
  if (out.empty()) return out;
  out[0] = start;
  if (out.size() > 1) out[1] = start + step;
  const double delta = start + step - start;
  for (size_t i = 2; i < out.size(); ++i) out[i] = start + static_cast<double>(i) * delta;
  return out;
}

// numpy's round(): ties to even.
double round_half_even(double v) { return std::nearbyint(v); }

// Fractional timestep of a noise level, interpolating log sigma between the two training steps
// around it (diffusers' _sigma_to_t). log_sigmas ascends with t.
double sigma_to_t(double sigma, const std::vector<double>& log_sigmas) {
  const double log_sigma = std::log(std::max(sigma, 1e-10));
  const int64_t n = static_cast<int64_t>(log_sigmas.size());
  int64_t low = 0;
  for (int64_t j = 0; j < n; ++j) {
    if (log_sigma - log_sigmas[static_cast<size_t>(j)] >= 0) low = j;
  }
  low = std::min(low, n - 2);
  const double lo = log_sigmas[static_cast<size_t>(low)];
  const double hi = log_sigmas[static_cast<size_t>(low + 1)];
  const double w = std::clamp((lo - log_sigma) / (lo - hi), 0.0, 1.0);
  return (1.0 - w) * static_cast<double>(low) + w * static_cast<double>(low + 1);
}

// Karras et al. (2022) noise levels from sigma_max down to sigma_min, rho = 7.
std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int64_t n) {
  constexpr double kRho = 7.0;
  const double min_inv = std::pow(sigma_min, 1.0 / kRho);
  const double max_inv = std::pow(sigma_max, 1.0 / kRho);
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double ramp = numpy_linspace(0.0, 1.0, n, i);
    out[static_cast<size_t>(i)] = std::pow(max_inv + ramp * (min_inv - max_inv), kRho);
  }
  return out;
}

std::vector<double> to_doubles(const torch::Tensor& t) {
  const auto flat = t.to(torch::kFloat64).contiguous();
  const double* p = flat.data_ptr<double>();
  return std::vector<double>(p, p + flat.numel());
}

}  // namespace

MultistepSchedule multistep_schedule(const NoiseSchedule& schedule, int64_t n, Spacing spacing,
                                     int64_t steps_offset, bool karras) {
  const int64_t T = schedule.num_train_timesteps();
  auto alphas_cumprod = schedule.alphas_cumprod().clone();
  if (schedule.config().zero_terminal_snr) alphas_cumprod[T - 1] = std::ldexp(1.0, -24);
  const auto table_f32 = ((1.0 - alphas_cumprod) / alphas_cumprod).pow(0.5);
  const auto table = to_doubles(table_f32);

  std::vector<double> timesteps;
  std::vector<double> sigmas;
  if (karras) {
    const auto log_sigmas = to_doubles(table_f32.log());
    sigmas = karras_sigmas(table.front(), table.back(), n);
    for (double s : sigmas) timesteps.push_back(round_half_even(sigma_to_t(s, log_sigmas)));
  } else {
    switch (spacing) {
      case Spacing::Linspace:
        for (int64_t i = n; i >= 1; --i) {
          timesteps.push_back(
              round_half_even(numpy_linspace(0.0, static_cast<double>(T - 1), n + 1, i)));
        }
        break;
      case Spacing::Leading: {
        const int64_t ratio = T / (n + 1);
        if (n * ratio + steps_offset > T - 1) {
          throw std::invalid_argument(
              "steps_offset " + std::to_string(steps_offset) + " puts the first of " +
              std::to_string(n) + " leading timesteps at " + std::to_string(n * ratio + steps_offset) +
              ", past the last training step " + std::to_string(T - 1));
        }
        for (int64_t i = n; i >= 1; --i) {
          timesteps.push_back(static_cast<double>(i * ratio + steps_offset));
        }
        break;
      }
      case Spacing::Trailing: {
        const double ratio = static_cast<double>(T) / static_cast<double>(n);
        auto values = numpy_arange(static_cast<double>(T), 0.0, -ratio);
        // T / (T / n) can round up past n (e.g. T = 1000, n = 61), and numpy then appends a
        // point at ~0 that diffusers turns into timestep -1; keep the n real steps.
        values.resize(static_cast<size_t>(std::min<int64_t>(n, static_cast<int64_t>(values.size()))));
        for (double v : values) timesteps.push_back(round_half_even(v) - 1.0);
        break;
      }
    }
    for (double t : timesteps) sigmas.push_back(table[static_cast<size_t>(t)]);
  }
  sigmas.push_back(0.0);

  MultistepSchedule out;
  out.timesteps = torch::tensor(timesteps, torch::kFloat64);
  // diffusers keeps its sigmas in float32.
  out.sigmas = torch::tensor(sigmas, torch::kFloat64).to(torch::kFloat32).to(torch::kFloat64);
  return out;
}

VpLevel vp_level(double sigma) {
  const double alpha = 1.0 / std::sqrt(sigma * sigma + 1.0);
  const double sigma_t = sigma * alpha;
  return {alpha, sigma_t, std::log(alpha) - std::log(sigma_t)};
}

torch::Tensor data_prediction(const torch::Tensor& model_output, const torch::Tensor& x,
                              double sigma, Prediction prediction) {
  TORCH_CHECK(model_output.sizes() == x.sizes(), "model output ", model_output.sizes(),
              " and sample ", x.sizes(), " differ in shape");
  const VpLevel v = vp_level(sigma);
  switch (prediction) {
    case Prediction::Epsilon:
      return torch::sub(x, model_output, v.sigma_t).div_(v.alpha);
    case Prediction::Sample:
      return model_output;
    case Prediction::Velocity:
      return torch::mul(x, v.alpha).sub_(model_output, v.sigma_t);
  }
  throw std::invalid_argument("unhandled prediction type");
}

torch::Tensor linear_combination(const torch::Tensor& x, double cx,
                                 const std::vector<std::pair<torch::Tensor, double>>& terms) {
  auto out = torch::mul(x, cx);
  for (const auto& [t, c] : terms) out.add_(t, c);
  return out;
}

DPMSolverSampler::DPMSolverSampler(const ScheduleConfig& schedule, const SamplerOptions& options)
    : Sampler(NoiseSchedule(schedule)), options_(options) {
  options_.validate();
  if (options_.algorithm == DpmAlgorithm::SdeDpmSolverPP && options_.solver_order == 3) {
    throw std::invalid_argument(
        "solver_order 3 is not supported with algorithm_type sde-dpmsolver++ (its multistep "
        "update exists for orders 1 and 2 only); use solver_order 1 or 2, or algorithm_type "
        "dpmsolver++");
  }
}

void DPMSolverSampler::set_timesteps(int64_t num_inference_steps) {
  check_num_steps(num_inference_steps);
  const auto s = multistep_schedule(schedule_, num_inference_steps,
                                    options_.spacing.value_or(Spacing::Linspace),
                                    options_.steps_offset, options_.use_karras_sigmas);
  timesteps_ = s.timesteps;
  sigmas_ = s.sigmas;
  sigma_values_ = to_doubles(sigmas_);
  num_inference_steps_ = timesteps_.size(0);
  history_ = {};
  lower_order_nums_ = 0;
  reset_step_index();
}

StepOutput DPMSolverSampler::step(const torch::Tensor& model_output, const torch::Tensor& t,
                                  const torch::Tensor& x, NoiseSource& noise) {
  TORCH_CHECK(timesteps_.defined(), "set_timesteps must be called before step");
  const int64_t i = current_step_index(t);
  const int64_t S = timesteps_.size(0);
  TORCH_CHECK(i < S, "step called ", i + 1, " times on a schedule of ", S, " steps");
  const int64_t order = options_.solver_order;
  const bool sde = options_.algorithm == DpmAlgorithm::SdeDpmSolverPP;

  // The last step lands on sigma 0 where only the first-order update is finite; the second to
  // last drops to second order on short schedules (diffusers' lower_order_final rule).
  const bool final_first_order = i == S - 1;
  const bool second_order_cap = i == S - 2 && options_.lower_order_final && S < 15;

  auto x0 = data_prediction(model_output, x, sigma_values_[static_cast<size_t>(i)],
                            schedule_.prediction());
  for (int64_t k = order - 1; k > 0; --k) history_[k] = std::move(history_[k - 1]);
  history_[0] = x0;

  torch::Tensor z;
  if (sde) z = noise.next(x.sizes(), x.options());

  int64_t this_order = 3;
  if (order == 1 || lower_order_nums_ < 1 || final_first_order) {
    this_order = 1;
  } else if (order == 2 || lower_order_nums_ < 2 || second_order_cap) {
    this_order = 2;
  }

  const VpLevel lt = vp_level(sigma_values_[static_cast<size_t>(i + 1)]);
  const VpLevel l0 = vp_level(sigma_values_[static_cast<size_t>(i)]);
  const double h = lt.lambda - l0.lambda;
  const double em1 = std::expm1(-h);  // exp(-h) - 1, -1 when landing on sigma 0

  // Every update is cx x + c0 m0 + c1 m1 + c2 m2 (+ cz z); D1 and D2 are expanded into the
  // history so the step touches each tensor once.
  double cx = lt.sigma_t / l0.sigma_t;
  double c0 = 0.0, c1 = 0.0, c2 = 0.0, cz = 0.0;
  double base = -lt.alpha * em1;  // weight of D0
  if (sde) {
    cx *= std::exp(-h);
    base = -lt.alpha * std::expm1(-2.0 * h);
    cz = lt.sigma_t * std::sqrt(-std::expm1(-2.0 * h));
  }
  std::vector<std::pair<torch::Tensor, double>> terms;
  if (this_order == 1) {
    c0 = base;
  } else if (this_order == 2) {
    const double r0 = (l0.lambda - vp_level(sigma_values_[static_cast<size_t>(i - 1)]).lambda) / h;
    // Midpoint: x_t = cx x + base D0 + base/2 D1, D1 = (m0 - m1) / r0.
    const double d1 = 0.5 * base / r0;
    c0 = base + d1;
    c1 = -d1;
  } else {
    const double lambda_s1 = vp_level(sigma_values_[static_cast<size_t>(i - 1)]).lambda;
    const double lambda_s2 = vp_level(sigma_values_[static_cast<size_t>(i - 2)]).lambda;
    const double r0 = (l0.lambda - lambda_s1) / h;
    const double r1 = (lambda_s1 - lambda_s2) / h;
    // x_t = cx x + A D0 + B D1 + C D2 with D1 = (1 + p) D1_0 - p D1_1, D2 = q (D1_0 - D1_1),
    // D1_0 = (m0 - m1) / r0, D1_1 = (m1 - m2) / r1.
    const double A = base;
    const double B = lt.alpha * (em1 / h + 1.0);
    const double C = -lt.alpha * ((em1 + h) / (h * h) - 0.5);
    const double p = r0 / (r0 + r1);
    const double q = 1.0 / (r0 + r1);
    const double u = B * (1.0 + p) + C * q;  // weight of D1_0
    const double v = B * p + C * q;          // weight of -D1_1
    c0 = A + u / r0;
    c1 = -u / r0 - v / r1;
    c2 = v / r1;
  }
  terms.emplace_back(history_[0], c0);
  if (this_order >= 2) terms.emplace_back(history_[1], c1);
  if (this_order >= 3) terms.emplace_back(history_[2], c2);
  if (sde) terms.emplace_back(z, cz);
  auto prev = linear_combination(x, cx, terms);

  if (lower_order_nums_ < order) ++lower_order_nums_;
  advance_step_index();
  return {prev, x0, {}};
}

}  // namespace shapediff::diffusion

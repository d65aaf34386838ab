#include "diffusion/unipc.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <torch/torch.h>

#include "diffusion/dpm_solver.h"

namespace shapediff::diffusion {
namespace {

// The B(h) = e^h - 1 coefficients of UniPC in the data-prediction form (hh = -h):
// h_phi_1 = e^hh - 1 and b_k = k! h phi_{k+1}(hh) / B(h) for k = 0..order-1.
struct BhCoefficients {
  double h_phi_1 = 0.0;
  double b_h = 0.0;
  std::array<double, 3> b{};
};

BhCoefficients bh2_coefficients(double h, int64_t order) {
  BhCoefficients c;
  const double hh = -h;
  c.h_phi_1 = std::expm1(hh);
  c.b_h = c.h_phi_1;
  double h_phi_k = c.h_phi_1 / hh - 1.0;
  double factorial = 1.0;
  for (int64_t k = 1; k <= order; ++k) {
    c.b[static_cast<size_t>(k - 1)] = h_phi_k * factorial / c.b_h;
    factorial *= static_cast<double>(k + 1);
    h_phi_k = h_phi_k / hh - 1.0 / factorial;
  }
  return c;
}

// Solves sum_c rks[c]^r rho[c] = b[r] for r, c < m (m <= 3) by Gaussian elimination with
// partial pivoting.
std::array<double, 3> solve_vandermonde(const std::array<double, 3>& rks,
                                        const std::array<double, 3>& b, int64_t m) {
  const auto n = static_cast<size_t>(m);
  std::array<std::array<double, 4>, 3> a{};
  for (size_t r = 0; r < n; ++r) {
    for (size_t c = 0; c < n; ++c) a[r][c] = std::pow(rks[c], static_cast<double>(r));
    a[r][3] = b[r];
  }
  for (size_t col = 0; col < n; ++col) {
    size_t pivot = col;
    for (size_t r = col + 1; r < n; ++r) {
      if (std::abs(a[r][col]) > std::abs(a[pivot][col])) pivot = r;
    }
    std::swap(a[col], a[pivot]);
    for (size_t r = col + 1; r < n; ++r) {
      const double f = a[r][col] / a[col][col];
      for (size_t c = col; c < n; ++c) a[r][c] -= f * a[col][c];
      a[r][3] -= f * a[col][3];
    }
  }
  std::array<double, 3> x{};
  for (size_t r = n; r-- > 0;) {
    double s = a[r][3];
    for (size_t c = r + 1; c < n; ++c) s -= a[r][c] * x[c];
    x[r] = s / a[r][r];
  }
  return x;
}

}  // namespace

UniPCSampler::UniPCSampler(const ScheduleConfig& schedule, const SamplerOptions& options)
    : Sampler(NoiseSchedule(schedule)), options_(options) {
  options_.validate();
}

void UniPCSampler::set_timesteps(int64_t num_inference_steps) {
  check_num_steps(num_inference_steps);
  const auto s = multistep_schedule(schedule_, num_inference_steps,
                                    options_.spacing.value_or(Spacing::Linspace),
                                    options_.steps_offset, options_.use_karras_sigmas);
  timesteps_ = s.timesteps;
  sigmas_ = s.sigmas;
  num_inference_steps_ = timesteps_.size(0);
  const auto flat = sigmas_.contiguous();
  sigma_values_.assign(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
  lambdas_.clear();
  for (double sigma : sigma_values_) lambdas_.push_back(vp_level(sigma).lambda);
  history_ = {};
  last_sample_ = torch::Tensor();
  last_order_ = 0;
  lower_order_nums_ = 0;
  reset_step_index();
}

torch::Tensor UniPCSampler::correct(const torch::Tensor& x0, int64_t i) const {
  const int64_t order = last_order_;
  const auto iu = static_cast<size_t>(i);
  const VpLevel lt = vp_level(sigma_values_[iu]);
  const VpLevel l0 = vp_level(sigma_values_[iu - 1]);
  const double h = lambdas_[iu] - lambdas_[iu - 1];

  std::array<double, 3> rks{};
  for (int64_t k = 0; k + 1 < order; ++k) {
    rks[static_cast<size_t>(k)] = (lambdas_[static_cast<size_t>(i - k - 2)] - lambdas_[iu - 1]) / h;
  }
  rks[static_cast<size_t>(order - 1)] = 1.0;
  const auto bh = bh2_coefficients(h, order);
  std::array<double, 3> rhos{0.5, 0.0, 0.0};
  if (order > 1) rhos = solve_vandermonde(rks, bh.b, order);

  // x_t = cx x_last - alpha h_phi_1 m0 - g (sum_k rho_k (m_{k+1} - m0) / r_k + rho_last (x0 - m0))
  const double g = lt.alpha * bh.b_h;
  const double rho_last = rhos[static_cast<size_t>(order - 1)];
  double c_m0 = -lt.alpha * bh.h_phi_1 + g * rho_last;
  std::vector<std::pair<torch::Tensor, double>> terms;
  for (int64_t k = 0; k + 1 < order; ++k) {
    const double w = g * rhos[static_cast<size_t>(k)] / rks[static_cast<size_t>(k)];
    c_m0 += w;
    terms.emplace_back(history_[static_cast<size_t>(k + 1)], -w);
  }
  terms.emplace_back(history_[0], c_m0);
  terms.emplace_back(x0, -g * rho_last);
  return linear_combination(last_sample_, lt.sigma_t / l0.sigma_t, terms);
}

torch::Tensor UniPCSampler::predict(const torch::Tensor& sample, int64_t i, int64_t order) const {
  const auto iu = static_cast<size_t>(i);
  const VpLevel lt = vp_level(sigma_values_[iu + 1]);
  const VpLevel l0 = vp_level(sigma_values_[iu]);
  const double h = lambdas_[iu + 1] - lambdas_[iu];

  std::array<double, 3> rks{};
  for (int64_t k = 0; k + 1 < order; ++k) {
    rks[static_cast<size_t>(k)] = (lambdas_[static_cast<size_t>(i - k - 1)] - lambdas_[iu]) / h;
  }
  const auto bh = bh2_coefficients(h, order);
  std::array<double, 3> rhos{0.5, 0.0, 0.0};
  if (order == 3) rhos = solve_vandermonde(rks, bh.b, 2);

  // x_t = cx x - alpha h_phi_1 m0 - g sum_k rho_k (m_{k+1} - m0) / r_k
  const double g = lt.alpha * bh.b_h;
  double c_m0 = -lt.alpha * bh.h_phi_1;
  std::vector<std::pair<torch::Tensor, double>> terms;
  for (int64_t k = 0; k + 1 < order; ++k) {
    const double w = g * rhos[static_cast<size_t>(k)] / rks[static_cast<size_t>(k)];
    c_m0 += w;
    terms.emplace_back(history_[static_cast<size_t>(k + 1)], -w);
  }
  terms.emplace_back(history_[0], c_m0);
  return linear_combination(sample, lt.sigma_t / l0.sigma_t, terms);
}

StepOutput UniPCSampler::step(const torch::Tensor& model_output, const torch::Tensor& t,
                              const torch::Tensor& x, NoiseSource& /*noise*/) {
  TORCH_CHECK(timesteps_.defined(), "set_timesteps must be called before step");
  const int64_t i = current_step_index(t);
  const int64_t S = timesteps_.size(0);
  TORCH_CHECK(i < S, "step called ", i + 1, " times on a schedule of ", S, " steps");
  const int64_t order = options_.solver_order;

  auto x0 = data_prediction(model_output, x, sigma_values_[static_cast<size_t>(i)],
                            schedule_.prediction());
  // A run that starts mid-schedule has nothing to correct on its first step.
  const auto sample = (i > 0 && last_sample_.defined()) ? correct(x0, i) : x;

  for (int64_t k = order - 1; k > 0; --k) {
    history_[static_cast<size_t>(k)] = std::move(history_[static_cast<size_t>(k - 1)]);
  }
  history_[0] = x0;

  int64_t this_order = options_.lower_order_final ? std::min(order, S - i) : order;
  this_order = std::min(this_order, lower_order_nums_ + 1);
  // Landing on sigma 0 makes the step in log-SNR infinite: only the first-order update is finite.
  if (sigma_values_[static_cast<size_t>(i + 1)] == 0.0) this_order = 1;

  last_sample_ = sample;
  last_order_ = this_order;
  auto prev = predict(sample, i, this_order);

  if (lower_order_nums_ < order) ++lower_order_nums_;
  advance_step_index();
  return {prev, x0, {}};
}

}  // namespace shapediff::diffusion

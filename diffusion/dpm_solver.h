// DPMSolverSampler: DPM-Solver++ multistep, orders 1-3 (diffusers' DPMSolverMultistepScheduler).
//
// The solver integrates the data prediction x0 (epsilon, sample and v outputs are converted to
// it) in log-SNR time lambda = -log(sigma), where sigma = sqrt((1 - a_t) / a_t) is the Karras
// noise level of timestep t. Two algorithms:
//   DpmSolverPP     the deterministic ODE solver, orders 1-3;
//   SdeDpmSolverPP  its SDE variant, orders 1-2, drawing one noise tensor shaped like x on every
//                   step (where diffusers draws it, so seeded runs replay diffusers' runs).
// The schedule is diffusers' default "final_sigmas_type zero": sigmas() has S+1 entries and ends
// in 0, and the last step is always first order (it lands on x0). With lower_order_final and
// fewer than 15 steps the second-to-last step is at most second order too. Multistep order warms
// up over the first steps (1, 2, then 3).
//
// x may be any shape ([B,C,H,W], [B,N,3], [B,C,D,H,W], sparse features [N,C]); every step runs on
// x's device and dtype; the per-step coefficients are computed on the host in double.
//
//   SamplerOptions o;
//   o.solver_order = 2;              // DPM++ 2M
//   o.use_karras_sigmas = true;      // DPM++ 2M Karras
//   DPMSolverSampler sampler(schedule_config, o);
//   sampler.set_timesteps(20);
#pragma once

#include <array>
#include <vector>

#include "diffusion/sampler.h"

namespace shapediff::diffusion {

class DPMSolverSampler : public Sampler {
 public:
  // Throws std::invalid_argument for invalid options and for solver_order 3 with
  // sde-dpmsolver++ (no third-order SDE update).
  DPMSolverSampler(const ScheduleConfig& schedule, const SamplerOptions& options);
  SamplerKind kind() const override { return SamplerKind::DPMSolverMultistep; }
  void set_timesteps(int64_t num_inference_steps) override;
  StepOutput step(const torch::Tensor& model_output, const torch::Tensor& t,
                  const torch::Tensor& x, NoiseSource& noise) override;

 private:
  SamplerOptions options_;
  std::vector<double> sigma_values_;  // sigmas_ as host doubles, read every step
  // Data predictions of the latest steps, newest first; shifting moves handles, not data.
  std::array<torch::Tensor, 3> history_;
  int64_t lower_order_nums_ = 0;
};

// Pieces shared by the multistep solvers (DPM-Solver++ and UniPC build their schedules and
// read their noise levels the same way).

// Timesteps [S] (integers as float64, descending) and sigmas [S+1] (float32 values widened to
// float64, ending in 0) of diffusers' DPM-Solver/UniPC set_timesteps: `spacing` picks the
// timesteps (Linspace, Leading with `steps_offset`, Trailing), or, with `karras`, Karras et al.
// sigmas between the schedule's extremes (rho = 7) mapped back to the nearest timesteps.
// With zero terminal SNR the last alpha_cumprod counts as 2^-24, as in diffusers, so that
// the first sigma stays finite.
struct MultistepSchedule {
  torch::Tensor timesteps;
  torch::Tensor sigmas;
};
MultistepSchedule multistep_schedule(const NoiseSchedule& schedule, int64_t num_inference_steps,
                                     Spacing spacing, int64_t steps_offset, bool karras);

// The variance-preserving view of a noise level sigma: x_t = alpha x0 + sigma_t eps with
// alpha = 1 / sqrt(1 + sigma^2), sigma_t = sigma alpha, and lambda = log(alpha / sigma_t)
// (+inf at sigma = 0).
struct VpLevel {
  double alpha;
  double sigma_t;
  double lambda;
};
VpLevel vp_level(double sigma);

// x0 from a model output of type `prediction` at x with noise level sigma (> 0 for epsilon).
// A Sample prediction is returned as is (no copy).
torch::Tensor data_prediction(const torch::Tensor& model_output, const torch::Tensor& x,
                              double sigma, Prediction prediction);

// cx * x + sum_k terms[k].second * terms[k].first, with one allocation.
torch::Tensor linear_combination(const torch::Tensor& x, double cx,
                                 const std::vector<std::pair<torch::Tensor, double>>& terms);

}  // namespace shapediff::diffusion

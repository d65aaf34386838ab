// Sampler: one reverse-process solver (DDPM, DDIM, DPM-Solver++, ...), behind diffusers'
// scheduler contract, shape-agnostic: x may be an image batch [B,C,H,W], point sets [B,N,3],
// voxel grids [B,C,D,H,W] or sparse features [N,C]; any device; float32 or float64.
//
//   auto sampler = make_sampler(SamplerKind::DDIM, schedule_config, options);
//   sampler->set_timesteps(50);
//   auto x = noise.next(shape, opts) * sampler->init_noise_sigma();
//   for (int64_t i = 0; i < sampler->timesteps().size(0); ++i) {
//     auto t = sampler->timesteps()[i];
//     auto out = denoiser(sampler->scale_model_input(x, t), t);
//     x = sampler->step(out, t, x, noise).prev_sample;
//   }
//
// Timesteps are a CPU float64 tensor [S] holding the values diffusers would pass to the model
// (integers for DDPM/DDIM/DPM/UniPC, fractional float32 values for the Karras-sigma samplers).
// A Sampler is stateful across one run (multistep history, step counter): call set_timesteps
// before each new run.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "diffusion/noise_schedule.h"
#include "diffusion/noise_source.h"

namespace shapediff::diffusion {

struct StepOutput {
  torch::Tensor prev_sample;           // x_{t-1}
  torch::Tensor pred_original_sample;  // the x0 estimate of this step (undefined if none)
  torch::Tensor prev_sample_mean;      // score-SDE predictor: x_{t-1} before its noise
};

enum class SamplerKind {
  DDPM,
  DDIM,
  DPMSolverMultistep,
  UniPC,
  Euler,
  EulerAncestral,
  Heun,
  ScoreSdeVe,
  RePaint,
};

enum class VarianceType { FixedSmall, FixedLarge };
enum class DpmAlgorithm { DpmSolverPP, SdeDpmSolverPP };

// Sampler settings. Unset optionals take the sampler's own diffusers default.
struct SamplerOptions {
  std::optional<Spacing> spacing;  // DDPM/DDIM/RePaint: Leading; the others: Linspace
  int64_t steps_offset = 0;
  // DDPM, DDIM, RePaint
  bool clip_sample = true;
  double clip_sample_range = 1.0;
  // DDPM
  VarianceType variance_type = VarianceType::FixedSmall;
  // DDIM (eta also drives RePaint)
  double eta = 0.0;
  bool set_alpha_to_one = true;
  // DPM-Solver++ / UniPC
  int64_t solver_order = 2;
  DpmAlgorithm algorithm = DpmAlgorithm::DpmSolverPP;
  bool lower_order_final = true;
  // DPM-Solver++, Euler, Heun
  bool use_karras_sigmas = false;
  // RePaint
  int64_t jump_length = 10;
  int64_t jump_n_sample = 10;
  // Score-SDE VE
  double sigma_min = 0.01;
  double sigma_max = 1348.0;
  double snr = 0.15;
  double sampling_eps = 1e-5;
  int64_t correct_steps = 1;

  // Throws std::invalid_argument naming the field for values no sampler accepts.
  void validate() const;
};

class Sampler {
 public:
  explicit Sampler(NoiseSchedule schedule) : schedule_(std::move(schedule)) {}
  virtual ~Sampler() = default;
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  virtual SamplerKind kind() const = 0;
  // Chooses the inference timesteps; resets per-run state. Throws std::invalid_argument for
  // n < 1 or n > num_train_timesteps.
  virtual void set_timesteps(int64_t num_inference_steps) = 0;
  const torch::Tensor& timesteps() const { return timesteps_; }
  // Noise levels per step for the sigma-based samplers (float32 values, [S+1]); undefined
  // for samplers that have none.
  const torch::Tensor& sigmas() const { return sigmas_; }
  int64_t num_inference_steps() const { return num_inference_steps_; }

  // Scales the denoiser input (identity except for the Karras-sigma samplers).
  virtual torch::Tensor scale_model_input(const torch::Tensor& x, const torch::Tensor& t) {
    (void)t;
    return x;
  }
  // One reverse step from x at timestep t given the denoiser output there.
  virtual StepOutput step(const torch::Tensor& model_output, const torch::Tensor& t,
                          const torch::Tensor& x, NoiseSource& noise) = 0;
  // Model calls per solver step (Heun: 2).
  virtual int order() const { return 1; }
  // Standard deviation of the initial noise x_T.
  virtual double init_noise_sigma() const { return 1.0; }

  const NoiseSchedule& schedule() const { return schedule_; }

 protected:
  void check_num_steps(int64_t n) const;
  // The position of the step being taken: looked up from t on the first step of a run
  // (diffusers' rule: the second match when t occurs twice), then advanced one per step.
  int64_t current_step_index(const torch::Tensor& t);
  void advance_step_index() { ++step_index_; }
  void reset_step_index() { step_index_ = -1; }

  NoiseSchedule schedule_;
  torch::Tensor timesteps_;  // [S] float64 CPU
  torch::Tensor sigmas_;     // [S+1] float64 CPU (float32-rounded values) or undefined
  int64_t num_inference_steps_ = 0;
  int64_t step_index_ = -1;
};

// Builds a sampler. Throws std::invalid_argument on settings the sampler rejects (e.g.
// solver_order 4), naming the field and value.
std::unique_ptr<Sampler> make_sampler(SamplerKind kind, const ScheduleConfig& schedule,
                                      const SamplerOptions& options = {});

SamplerKind parse_sampler_kind(const std::string& name);
std::string to_string(SamplerKind kind);
std::vector<std::string> sampler_names();
VarianceType parse_variance_type(const std::string& name);
DpmAlgorithm parse_dpm_algorithm(const std::string& name);

// Inference timesteps out of [0, T) for `spacing`, descending, as diffusers' DDPM/DDIM do
// (integer steps; `steps_offset` added for Leading).
torch::Tensor spaced_timesteps(int64_t num_train_timesteps, int64_t num_inference_steps,
                               Spacing spacing, int64_t steps_offset);
// Converts any 0-d/1-element tensor timestep to a double.
double timestep_value(const torch::Tensor& t);

namespace detail {
// A 1-D schedule table's values widened to double (exact for the float32 tables).
std::vector<double> table_values(const torch::Tensor& table);
// "[2,64,3]", for error messages.
std::string shape_string(at::IntArrayRef sizes);
}  // namespace detail

}  // namespace shapediff::diffusion

// ScheduleConfig: how the forward (noising) process of a diffusion model is defined —
// the beta schedule over `num_train_timesteps` discrete steps and what the network predicts.
// Field names and defaults follow diffusers' scheduler configs so configs translate one to one.
//
//   ScheduleConfig c;                      // linear betas 1e-4..0.02 over 1000 steps, epsilon
//   c.beta_schedule = BetaSchedule::Cosine; // squaredcos_cap_v2
//   c.prediction = Prediction::Velocity;
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace shapediff::diffusion {

enum class BetaSchedule {
  Linear,        // betas linear in [beta_start, beta_end]
  ScaledLinear,  // sqrt(betas) linear (Stable Diffusion)
  Cosine,        // squaredcos_cap_v2 (Nichol & Dhariwal), betas capped at 0.999
  Sigmoid,       // sigmoid(linspace(-6, 6)) scaled into [beta_start, beta_end]
  Custom,        // `trained_betas` given explicitly (e.g. read from a file)
};

// What the denoiser outputs: the noise (epsilon), the clean sample x0, or v = a*eps - s*x0.
enum class Prediction { Epsilon, Sample, Velocity };

// How inference timesteps are picked out of the training steps (diffusers' timestep_spacing).
enum class Spacing { Leading, Trailing, Linspace };

struct ScheduleConfig {
  int64_t num_train_timesteps = 1000;
  double beta_start = 1e-4;
  double beta_end = 0.02;
  BetaSchedule beta_schedule = BetaSchedule::Linear;
  std::vector<double> trained_betas;  // used when beta_schedule == Custom
  Prediction prediction = Prediction::Epsilon;
  bool zero_terminal_snr = false;  // rescale betas so the last step has SNR 0 (Lin et al. 2023)

  // Throws std::invalid_argument naming the offending field and value.
  void validate() const;
};

// String names used at the CLI/JSON boundary (diffusers' spellings). parse_* throw
// std::invalid_argument listing the accepted values.
BetaSchedule parse_beta_schedule(const std::string& name);
Prediction parse_prediction(const std::string& name);
Spacing parse_spacing(const std::string& name);
std::string to_string(BetaSchedule s);
std::string to_string(Prediction p);
std::string to_string(Spacing s);

// Reads betas from a text file: whitespace/comma/newline separated numbers, '#' comments.
// Throws std::runtime_error naming the file (and line) on a missing file or bad value.
std::vector<double> read_betas_file(const std::string& path);

}  // namespace shapediff::diffusion

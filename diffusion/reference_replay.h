// Replays reference scheduler runs (diffusers' schema, see shared/reference) through
// shapediff's samplers and reports the largest deviation of each case.
//
// The document gives a toy denoiser, an initial sample and a noise formula, all closed-form
// in a few constants, so any run can be replayed exactly: the k-th noise request of a run
// is sin(r*i + s*k + u) over flat index i. Each case names a diffusers scheduler and its
// config; the replay compares timesteps, sigmas, the sample after the first step, the final
// sample and the number of noise (and model) calls.
//
//   auto results = replay_reference_file("diffusers_schedulers.json");
//   bool ok = std::all_of(results.begin(), results.end(), [](auto& r) { return r.passed; });
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "diffusion/sampler.h"

namespace shapediff::diffusion {

struct ReplayOptions {
  double tolerance = 1e-4;  // absolute, relative where |reference| > 1
  torch::Dtype dtype = torch::kFloat32;
  torch::Device device = torch::kCPU;
  std::string filter;  // only cases whose name contains this
  // A failed case is run again in the other precision; where the two runs of our own code
  // disagree by more than the tolerance, the case amplifies last-bit rounding differences
  // (different SIMD widths, libm, GPU reductions) and is reported as rounding-sensitive.
  bool check_rounding = true;
};

struct ReplayResult {
  std::string name;
  double max_error = 0.0;  // over every compared value, scaled by max(1, |reference|)
  bool passed = false;
  std::string failure;     // the first check that failed; empty when passed
  // Set on a failed case only: the same run in the other precision moved the final sample by
  // `rounding_spread` (> tolerance), so no implementation can match the reference there except
  // with bit-identical arithmetic. A failure that is not rounding-sensitive is a real mismatch.
  bool rounding_sensitive = false;
  double rounding_spread = 0.0;
  torch::Tensor final_sample;  // the compared final sample (CPU, float64); undefined if none
};

// A case's diffusers config translated into shapediff's; throws std::invalid_argument naming
// the case and field for values shapediff does not support.
struct ReplayConfig {
  SamplerKind kind;
  ScheduleConfig schedule;
  SamplerOptions options;
};
ReplayConfig translate_case_config(const nlohmann::json& test_case);

// Throws std::runtime_error naming the field for a document that does not follow the schema.
std::vector<ReplayResult> replay_reference(const nlohmann::json& doc,
                                           const ReplayOptions& options = {});
std::vector<ReplayResult> replay_reference_file(const std::string& path,
                                                const ReplayOptions& options = {});

}  // namespace shapediff::diffusion

// Training-free completion (inpainting) with any unconditional or class-conditional denoiser:
// the part of the sample that is known is kept, the rest is generated to fit it. One
// implementation serves point clouds ([B,N,3] with known points), voxel grids and images
// ([B,C,H,W] with known pixels): the known values and a mask (1 = known) broadcast to x.
//
// Strategies:
//   Replacement  after every sampler step the known region is overwritten by the known values
//                noised to the level the sample is now at (q(x_t | x0) for the DDPM-family
//                samplers, x0 + sigma eps for the sigma samplers), and by the clean values after
//                the last step. Works with every sampler except score_sde_ve.
//   RePaint      Lugmayr et al.'s resampling: the RePaint sampler's DDIM steps blend the
//                known region in, and every `jump_length` steps the sample is re-noised and
//                denoised again `jump_n_sample` times. Defined on DDPM/DDIM steps only: with
//                sampler ddim it uses the sampler options' eta, with ddpm eta = 1; any other
//                sampler is refused.
//   SDEdit       Meng et al.: start from `init` (default: the known values where known, as given
//                elsewhere) noised to the level of the step at fraction `strength` of the
//                schedule, and denoise from there; with keep_known the known region is also
//                replaced after every step as in Replacement. Works with every sampler except
//                score_sde_ve.
//
//   CompletionOptions o;
//   o.strategy = CompletionStrategy::Replacement;
//   o.sampler = SamplerKind::DDPM;
//   o.steps = 100;
//   GeneratorNoise noise(0);
//   auto x = complete(denoiser, schedule_config, known, mask, {4, 2048, 3}, noise, o);
//   // x[mask] == known exactly.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "diffusion/noise_source.h"
#include "diffusion/sample_loop.h"
#include "diffusion/sampler.h"
#include "diffusion/schedule_config.h"

namespace shapediff::diffusion {

enum class CompletionStrategy { Replacement, RePaint, SDEdit };

CompletionStrategy parse_completion_strategy(const std::string& name);  // replacement, repaint, sdedit
std::string to_string(CompletionStrategy strategy);
std::vector<std::string> completion_strategy_names();

struct CompletionOptions {
  CompletionStrategy strategy = CompletionStrategy::Replacement;
  SamplerKind sampler = SamplerKind::DDPM;
  SamplerOptions sampler_options;  // jump_length / jump_n_sample / eta drive RePaint
  int64_t steps = 100;             // inference steps (RePaint: before the jumps)
  double strength = 0.7;           // SDEdit: start at this fraction of the schedule, in (0, 1]
  bool keep_known = true;          // SDEdit: also replace the known region after every step
  torch::Tensor init;              // SDEdit start (x-shaped, or broadcast to it); default known
  // Replacement with a linear projection P instead of the mask (ILVR, Choi et al. 2021): after
  // every step x <- P(known at the step's level) + x - P(x), and the result is P(known) + x -
  // P(x), so P(result) = P(known) exactly. Super-resolution uses P = upsample(downsample(.)) with
  // known = the upsampled low-resolution image. When set, `mask` is ignored (pass any tensor
  // that broadcasts, e.g. ones).
  std::function<torch::Tensor(const torch::Tensor&)> projection;
  int64_t record_every = 0;        // trajectory frames (as in SampleLoopOptions)
  std::function<void(const TrajectoryFrame&)> on_frame;
  std::function<void(int64_t done, int64_t total)> on_progress;
};

// Completes samples of `shape` (dtype/device of `known`). `known` and `mask` broadcast to
// `shape`; mask is 1 (or true) where the value is known. The denoiser sees the sampler's model
// input, as in sample(). Throws std::invalid_argument for a strategy the sampler cannot run, a
// strength outside (0, 1], or shapes that do not broadcast, naming the value.
torch::Tensor complete(const Denoiser& denoiser, const ScheduleConfig& schedule,
                       const torch::Tensor& known, const torch::Tensor& mask,
                       at::IntArrayRef shape, NoiseSource& noise, const CompletionOptions& options);

// The step index SDEdit starts from for `strength` on a sampler whose set_timesteps has run:
// floor(S * (1 - strength)), moved to the first call of a Heun step pair.
int64_t sdedit_start_index(const Sampler& sampler, double strength);

}  // namespace shapediff::diffusion

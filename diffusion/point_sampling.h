// Generating point clouds with a trained point denoiser (PVCNN) and any sampler of the core,
// with classifier-free guidance and the denoising trajectory for the viewer.
//
//   PointSampleOptions o;
//   o.count = 16;  o.num_points = 2048;  o.sampler = SamplerKind::DPMSolverMultistep;
//   o.steps = 25;  o.label = 2;  o.guidance = 2.0;  o.seed = 7;  o.trajectory_every = 5;
//   PointSamples s = sample_points(net, schedule_config, o);
//   s.points      [K,N,3]  the shapes (the model's training frame)
//   s.labels      [K]      int64 (the null label for unconditional shapes)
//   s.trajectory  [F,K,N,3] x_t after recorded steps, s.trajectory_x0 [F,K,N,3] the x0
//                 estimates, s.trajectory_steps [F] (1-based step), s.trajectory_timesteps [F]
//
// Shapes are generated in batches of `batch_size`; batch j draws its noise from a generator
// seeded with seed + j, so a given (seed, batch_size) always gives the same shapes.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include <torch/types.h>

#include "diffusion/sample_loop.h"
#include "diffusion/sampler.h"
#include "diffusion/schedule_config.h"
#include "networks/pvcnn.h"
#include "networks/unet.h"

namespace shapediff::diffusion {

struct PointSampleOptions {
  int64_t count = 16;        // shapes to generate, >= 1
  int64_t num_points = 2048; // points per shape
  SamplerKind sampler = SamplerKind::DPMSolverMultistep;
  SamplerOptions sampler_options = point_sampler_defaults();
  int64_t steps = 25;
  std::optional<int64_t> label;  // class index; unset: unconditional (null label)
  double guidance = 1.0;         // classifier-free guidance scale (needs a label)
  uint64_t seed = 0;
  int64_t trajectory_every = 0;  // record every k steps (0: off)
  int64_t batch_size = 16;
  torch::Device device = torch::kCPU;
  std::function<void(int64_t done, int64_t total)> on_progress;  // sampler steps over all batches
  // After every sampler step of batch `batch` (frame.x, frame.pred_x0: [b,N,3] on `device`, the
  // model's frame), on the sampling thread: for live views (viewer/live_view.h).
  std::function<void(const TrajectoryFrame& frame, int64_t batch)> on_step;

  // Point clouds are not clipped to [-1, 1] the way images are (PVD does not clip either).
  static SamplerOptions point_sampler_defaults();
};

struct PointSamples {
  torch::Tensor points;                // [K,N,3] float32, CPU; sample_grids: [K,1,G,G,G]
  torch::Tensor labels;                // [K] int64
  torch::Tensor trajectory;            // [F,K,N,3] or undefined
  torch::Tensor trajectory_x0;         // [F,K,N,3] or undefined
  torch::Tensor trajectory_steps;      // [F] int64
  torch::Tensor trajectory_timesteps;  // [F] float64
};

// Throws std::invalid_argument naming the option for count < 1, steps outside
// [1, num_train_timesteps], a label outside [0, num_classes) or on an unconditional model,
// guidance != 1 without a label, and the samplers that need something else than a denoiser of
// this schedule (score-SDE VE wants a score model, RePaint a known region: see completion).
PointSamples sample_points(networks::PVCNN& net, const ScheduleConfig& schedule,
                           const PointSampleOptions& options);

// A voxel model's truncated signed-distance grids (diffusion/point_model.h), G cells a side:
// the same sampler loop, guidance, seeds and trajectory as sample_points (options.num_points is
// unused; trajectory frames are [F,K,1,G,G,G]).
PointSamples sample_grids(networks::UNet& net, int64_t grid, int64_t num_classes,
                          const ScheduleConfig& schedule, const PointSampleOptions& options);

// An image model's images [K, C, S, S] in [-1, 1] (`points` holds them), the same loop again.
PointSamples sample_images(networks::UNet& net, int64_t size, int64_t channels, int64_t num_classes,
                           const ScheduleConfig& schedule, const PointSampleOptions& options);

}  // namespace shapediff::diffusion

// Training a point-cloud diffusion model (PVCNN denoiser) on a shapediff dataset folder.
//
// Each optimizer step draws grad_accumulation batches of the dataset split ([B,N,3] points,
// [B] labels), maps them into the model frame (PointModelConfig::normalization), noises them at
// uniform timesteps, replaces labels by the null label with probability cfg_dropout (classifier-
// free guidance), and regresses the schedule's prediction target (diffusion/training_loss.h).
// Then: gradient clipping by global norm, Adam/AdamW at the step's learning rate
// (diffusion/lr_schedule.h), the EMA update (diffusion/ema.h).
//
// The run folder (diffusion/training_run.h) gets checkpoints every checkpoint_every steps and
// at the end, each written atomically and holding everything a run depends on: weights, EMA,
// optimizer state, the states of every random generator (noise, timesteps, label dropout, and
// torch's default generators, which dropout draws from), the step and the loader position.
// Resuming therefore continues exactly: N steps in one go and N/2 + resume give identical
// weights (same device and thread count). A run killed at any moment loses at most the steps
// since its last checkpoint. A non-finite loss or gradient norm stops the run with
// std::runtime_error naming the step and the last good checkpoint, which is kept untouched.
//
// Training reseeds torch's default generators (the initial weights and dropout draw from them).
//
// Data parallel (diffusion/data_parallel.h): every rank draws the same global batch (data,
// noise, timesteps, label dropout: the single-process streams) and trains on its own slice of
// rows; gradients are averaged over the ranks before clipping, so N ranks with a global batch B
// follow the single-process run with batch B up to float summation order (exactly so when the
// network has no dropout). Rank 0 writes the run folder; the others only read it (on resume),
// so it must be on a filesystem every rank sees. A run resumes with any number of ranks.
//
//   PointTrainingOptions o;
//   o.config = PointTrainingConfig::from_json(io::read_json("configs/points-tiny.json"), "tiny");
//   o.data_dir = "data/procedural";  o.run_dir = "runs/tiny";
//   o.on_step = [](const TrainingProgress& p) { std::cout << p.step << " " << p.loss << "\n"; return true; };
//   auto result = train_point_model(o);        // result.model_path = "runs/tiny/model.pt"
//   auto model = load_point_model(result.model_path);
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "diffusion/point_training_config.h"

namespace shapediff::diffusion {

// What the trainer reports after each optimizer step.
struct TrainingProgress {
  int64_t step = 0;         // optimizer steps done, from 1
  int64_t start_step = 0;   // the step this session started from (0, or the resumed checkpoint)
  int64_t total_steps = 0;
  double loss = 0;          // mean over the step's batches
  double lr = 0;
  double grad_norm = 0;     // before clipping
  double steps_per_second = 0;  // over this session
};

struct PointTrainingOptions {
  std::string data_dir;  // a shapediff dataset folder (io/shape_dataset.h)
  std::string run_dir;   // created if needed
  // Required for a new run. On resume the run's own config is used; when given it must agree
  // with it (training.steps and training.device may differ), else std::invalid_argument names
  // the first difference ("preset small vs tiny", "training.lr 0.001 vs 0.002").
  std::optional<PointTrainingConfig> config;
  bool resume = false;
  std::optional<int64_t> steps;        // overrides training.steps (a resumed run may extend)
  std::optional<std::string> device;   // overrides training.device
  // A new run starts from this model file's weights (raw and EMA) instead of a random init: to
  // train a shipped model further on another machine, where its run folder is not. The model
  // must match the run's architecture, task, classes and schedule (std::invalid_argument names
  // the first difference); optimizer moments start at zero.
  std::string init_from;
  // Called once before the first step of this session (progress displays).
  std::function<void(int64_t start_step, int64_t total_steps)> on_start;
  // Called after every optimizer step; returning false stops the run after writing a
  // checkpoint (for interruption and tests). The model file is exported only when every step
  // is done.
  std::function<bool(const TrainingProgress&)> on_step;
  // Data-parallel group (null: a single process). on_step runs on every rank; when any rank
  // asks to stop, all stop at the same step.
  std::shared_ptr<class DataParallel> parallel;
};

struct PointTrainingResult {
  int64_t start_step = 0;
  int64_t step = 0;  // optimizer steps done
  bool completed = false;
  double loss = 0;   // of the last step
  double steps_per_second = 0;
  std::string checkpoint_path;  // the last checkpoint written
  std::string model_path;       // RUN/model.pt when completed, else empty
};

// Throws std::invalid_argument for bad options and data (a dataset whose point count differs
// from data.points, an existing run without `resume`, a resume without checkpoints, a
// checkpoint of another architecture, a truncated checkpoint) and std::runtime_error when the
// loss diverges.
PointTrainingResult train_point_model(const PointTrainingOptions& options);

}  // namespace shapediff::diffusion

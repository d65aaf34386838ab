// The layout of a training run folder and the kinds of model archive, shared by the trainer
// (which writes them) and the model loader (which reads them):
//   RUN/config.json                    the resolved training config
//   RUN/checkpoints/step-00001000.pt   checkpoints, named by optimizer steps done (8 digits)
//   RUN/log.jsonl                      one JSON object per logged step
//   RUN/loss.png                       the loss curve, redrawn at each checkpoint
//   RUN/model.pt                       the EMA weights, exported when the run completes
//
//   auto latest = latest_checkpoint("runs/tiny");   // nullopt when there is none
//   if (latest) std::cout << latest->step << " " << latest->path;
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shapediff::diffusion {

// The "format" value of a model file and of a training checkpoint.
inline constexpr char kPointModelFormat[] = "shapediff-point-model";
inline constexpr char kPointCheckpointFormat[] = "shapediff-point-checkpoint";

std::string run_config_path(const std::string& run);
std::string run_log_path(const std::string& run);
std::string run_loss_plot_path(const std::string& run);
std::string run_model_path(const std::string& run);
std::string checkpoint_dir(const std::string& run);
std::string checkpoint_path(const std::string& run, int64_t step);

struct CheckpointEntry {
  int64_t step = 0;
  std::string path;
};

// The checkpoints of a run in ascending step order; files of any other name (temporaries of an
// interrupted write) are ignored. Empty when the folder does not exist.
std::vector<CheckpointEntry> list_checkpoints(const std::string& run);
std::optional<CheckpointEntry> latest_checkpoint(const std::string& run);

}  // namespace shapediff::diffusion

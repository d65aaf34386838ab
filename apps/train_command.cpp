// `shapediff train`: train a point-cloud diffusion model (PVCNN) on a shapediff dataset folder,
// with checkpoints, exact resume, a JSONL log and a loss plot in the run folder.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include <torch/torch.h>

#include "apps/command.h"
#include "apps/progress.h"
#include "diffusion/point_training.h"
#include "diffusion/training_run.h"
#include "io/json_file.h"

namespace shapediff::apps {
namespace {

struct TrainArgs {
  std::string config;
  std::string data;
  std::string out;
  int64_t steps = 0;
  bool resume = false;
  std::string device;
  int64_t threads = 0;
  uint64_t seed = 0;
  bool seed_given = false;
  std::string task;
};

// Ctrl-C (or SIGTERM) asks the loop to stop after the current step with a checkpoint.
std::atomic<bool> g_stop_requested{false};
extern "C" void request_stop(int) { g_stop_requested = true; }

class StopOnSignal {
 public:
  StopOnSignal() {
    g_stop_requested = false;
    old_int_ = std::signal(SIGINT, request_stop);
    old_term_ = std::signal(SIGTERM, request_stop);
  }
  ~StopOnSignal() {
    std::signal(SIGINT, old_int_);
    std::signal(SIGTERM, old_term_);
  }

 private:
  void (*old_int_)(int);
  void (*old_term_)(int);
};

std::string format_loss(double loss) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "loss %.4g", loss);
  return buf;
}

int run_train(const TrainArgs& a) {
  const int64_t threads = a.threads > 0 ? a.threads : std::max(1u, std::thread::hardware_concurrency());
  if (a.threads < 0 || threads > 1024) {
    throw std::invalid_argument("--threads must be >= 1, got " + std::to_string(a.threads));
  }
  at::set_num_threads(static_cast<int>(threads));

  diffusion::PointTrainingOptions o;
  o.data_dir = a.data;
  o.run_dir = a.out;
  o.resume = a.resume;
  if (!a.config.empty()) {
    o.config = diffusion::PointTrainingConfig::from_json(io::read_json(a.config), a.config);
    if (a.seed_given) o.config->training.seed = a.seed;
    if (!a.task.empty()) o.config->model.task = diffusion::parse_point_task(a.task);
    o.config->validate(a.config);
  } else if (!a.resume) {
    throw std::invalid_argument("--config is required for a new run");
  }
  if (!a.task.empty() && a.resume) {
    throw std::invalid_argument("--task applies to new runs; a resumed run keeps its task");
  }
  if (a.seed_given && a.resume) {
    throw std::invalid_argument("--seed applies to new runs; a resumed run keeps its seed");
  }
  if (a.steps < 0) throw std::invalid_argument("--steps must be >= 1, got " + std::to_string(a.steps));
  if (a.steps > 0) o.steps = a.steps;
  if (!a.device.empty()) {
    if (a.device != "cpu" && a.device != "cuda" && a.device.rfind("cuda:", 0) != 0) {
      throw std::invalid_argument("--device '" + a.device + "' (choose from: cpu, cuda, cuda:N)");
    }
    o.device = a.device;
  }
  if (a.resume) {
    if (const auto latest = diffusion::latest_checkpoint(a.out)) {
      std::cerr << "resuming " << a.out << " from step " << latest->step << "\n";
    }
  }

  std::optional<Progress> progress;
  o.on_start = [&](int64_t start_step, int64_t total_steps) {
    progress.emplace("train", total_steps, "steps", start_step);
  };
  o.on_step = [&](const diffusion::TrainingProgress& p) {
    progress->update(p.step, format_loss(p.loss));
    return !g_stop_requested.load();
  };
  StopOnSignal stop_on_signal;
  const auto result = diffusion::train_point_model(o);
  if (progress) progress->finish();
  if (!result.completed) {
    std::cerr << "stopped at step " << result.step << "; checkpoint " << result.checkpoint_path
              << " (continue with --resume)\n";
    return 130;
  }
  char rate[32];
  std::snprintf(rate, sizeof(rate), "%.3g", result.steps_per_second);
  std::cout << "trained " << result.step << " steps (" << format_loss(result.loss) << ", " << rate
            << " steps/s); model: " << result.model_path << "\n";
  return 0;
}

}  // namespace

void add_train_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand(
      "train",
      "Train a point-cloud diffusion model (PVCNN) on a dataset folder. The run folder gets\n"
      "checkpoints/ (every training.checkpoint_every steps, the last training.keep_checkpoints\n"
      "kept), log.jsonl, loss.png, config.json, and model.pt (EMA weights) when all steps are done.\n"
      "Ctrl-C stops after the current step with a checkpoint; --resume continues exactly.");
  cmd->add_option("--config", args->config,
                  "Training config JSON (configs/points-{pvd,small,tiny}.json); optional with "
                  "--resume, where it must match the run's");
  cmd->add_option("--data", args->data, "Dataset folder (shapediff data make/import)")->required();
  cmd->add_option("--out", args->out, "Run folder (created; must hold no run unless --resume)")
      ->required();
  cmd->add_option("--steps", args->steps,
                  "Total optimizer steps, overriding training.steps (also extends a resumed run)");
  cmd->add_flag("--resume", args->resume, "Continue the run in --out from its latest checkpoint");
  cmd->add_option("--device", args->device, "cpu, cuda or cuda:N, overriding training.device");
  cmd->add_option("--threads", args->threads,
                  "CPU threads for torch ops (default: all cores)");
  cmd->add_option("--seed", args->seed,
                  "Seed of a new run, overriding training.seed (weights, noise, timesteps, "
                  "label dropout, data order)")
      ->each([args](const std::string&) { args->seed_given = true; });
  cmd->add_option("--task", args->task,
                  "generation, or completion (PVD's conditional completion on the dataset's "
                  "virtual scans; model.known_points of data.points known), overriding model.task");
  cmd->callback([args, &action] { action = [args] { return run_train(*args); }; });
}

}  // namespace shapediff::apps

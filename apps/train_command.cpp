// `shapediff train`: train a point-cloud diffusion model (PVCNN) on a shapediff dataset folder,
// with checkpoints, exact resume, a JSONL log and a loss plot in the run folder. Data parallel
// under a launcher's environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), or with
// --nproc N, which starts N local workers of this same command.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "apps/command.h"
#include "apps/progress.h"
#include "diffusion/data_parallel.h"
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
  int64_t nproc = 1;
  std::string init_from;
  std::string representation;
  double dist_timeout = 120;
  bool dist_sync = false;
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

// A port the kernel considers free on the loopback interface, for the local workers' store.
int free_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("--nproc: no free local port for the workers' rendezvous");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// This command's own arguments without --nproc, from /proc/self/cmdline.
std::vector<std::string> arguments_without_nproc() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  for (size_t start = 0; start < raw.size();) {
    const size_t end = raw.find('\0', start);
    args.push_back(raw.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  std::vector<std::string> kept;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--nproc") {
      ++i;
      continue;
    }
    if (args[i].rfind("--nproc=", 0) == 0) continue;
    kept.push_back(args[i]);
  }
  return kept;
}

// --nproc N: N workers of this command on this machine, ranks 0..N-1 through a loopback store.
// The first worker to fail ends the others; its exit code is returned.
int launch_local_workers(int64_t nproc) {
  const int port = free_local_port();
  const auto args = arguments_without_nproc();
  std::vector<pid_t> workers;
  for (int64_t rank = 0; rank < nproc; ++rank) {
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("--nproc: fork failed for worker " + std::to_string(rank));
    if (pid == 0) {
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> argv;
      for (const auto& x : args) argv.push_back(const_cast<char*>(x.c_str()));
      argv.push_back(nullptr);
      ::execv("/proc/self/exe", argv.data());
      std::perror("shapediff: --nproc: exec failed");
      ::_exit(127);
    }
    workers.push_back(pid);
  }
  // Ctrl-C reaches the workers through the terminal's process group; this launcher only waits.
  std::signal(SIGINT, SIG_IGN);
  int result = 0;
  size_t running = workers.size();
  while (running > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) break;
    --running;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code != 0 && result == 0) {
      result = code;
      size_t rank = 0;
      while (rank < workers.size() && workers[rank] != pid) ++rank;
      std::cerr << "shapediff: train --nproc: worker " << rank << " exited with code " << code
                << "; stopping the others\n";
      for (const pid_t other : workers) {
        if (other != pid) ::kill(other, SIGTERM);
      }
    }
  }
  return result;
}

int run_train(const TrainArgs& a) {
  if (a.nproc < 1) throw std::invalid_argument("--nproc must be >= 1, got " + std::to_string(a.nproc));
  if (!(a.dist_timeout > 0)) {
    throw std::invalid_argument("--dist-timeout must be > 0 seconds, got " + std::to_string(a.dist_timeout));
  }
  const auto env = diffusion::DistributedEnv::from_environment();
  if (a.nproc > 1) {
    if (env.world_size > 1) {
      throw std::invalid_argument("--nproc starts its own workers; under a launcher (WORLD_SIZE=" +
                                  std::to_string(env.world_size) + ") leave it out");
    }
    return launch_local_workers(a.nproc);
  }
  const bool main_rank = env.rank == 0;
  const int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  const int64_t threads = a.threads > 0 ? a.threads : std::max<int64_t>(1, cores / env.world_size);
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
    if (!a.representation.empty()) {
      auto& m = o.config->model;
      const auto r = diffusion::parse_representation(a.representation);
      if (r != diffusion::Representation::Points && m.representation == diffusion::Representation::Points) {
        // The config's preset names a PVCNN; the U-Net preset of the same name takes its place.
        const auto unet = networks::parse_unet_preset(networks::to_string(m.preset));
        m.voxels.unet = unet;
        m.images.unet = unet;
        m.sparse_voxels.unet = sparse::parse_sparse_unet_preset(networks::to_string(m.preset));
      }
      // A points config predicts epsilon, which fails on signed-distance grids (mostly the
      // constant +1: the noisiest steps' x0 estimates are noise amplified ~150x, and samples fill
      // with inside cells); a voxel model made from it predicts velocity instead.
      if (r == diffusion::Representation::Voxels && m.representation == diffusion::Representation::Points &&
          o.config->schedule.prediction == diffusion::Prediction::Epsilon) {
        o.config->schedule.prediction = diffusion::Prediction::Velocity;
        std::cout << "--representation voxels: schedule.prediction_type v_prediction (epsilon does not learn "
                     "signed-distance grids; set it in a voxel config to choose)\n";
      }
      m.representation = r;
    }
    if (o.config->model.representation == diffusion::Representation::Voxels &&
        o.config->schedule.prediction == diffusion::Prediction::Epsilon) {
      std::cout << "warning: " << a.config << ": a voxel model with prediction_type epsilon samples grids full of "
                   "inside cells however low its loss (benchmarks/RESULTS.md); v_prediction learns them\n";
    }
    o.config->validate(a.config);
  } else if (!a.resume) {
    throw std::invalid_argument("--config is required for a new run");
  }
  if (!a.representation.empty() && a.resume) {
    throw std::invalid_argument("--representation applies to new runs; a resumed run keeps its own");
  }
  if (!a.task.empty() && a.resume) {
    throw std::invalid_argument("--task applies to new runs; a resumed run keeps its task");
  }
  if (a.seed_given && a.resume) {
    throw std::invalid_argument("--seed applies to new runs; a resumed run keeps its seed");
  }
  if (a.steps < 0) throw std::invalid_argument("--steps must be >= 1, got " + std::to_string(a.steps));
  if (a.steps > 0) o.steps = a.steps;
  if (!a.init_from.empty() && a.resume) {
    throw std::invalid_argument("--init-from applies to new runs; --resume continues the run's own weights");
  }
  o.init_from = a.init_from;
  if (!a.device.empty()) {
    if (a.device != "cpu" && a.device != "cuda" && a.device.rfind("cuda:", 0) != 0) {
      throw std::invalid_argument("--device '" + a.device + "' (choose from: cpu, cuda, cuda:N)");
    }
    o.device = a.device;
  }
  if (a.resume && main_rank) {
    if (const auto latest = diffusion::latest_checkpoint(a.out)) {
      std::cerr << "resuming " << a.out << " from step " << latest->step << "\n";
    }
  }
  if (env.world_size > 1) {
    // One GPU per rank: a plain "cuda" means this rank's local device.
    const std::string device = !a.device.empty() ? a.device : o.config ? o.config->training.device : "";
    if (device == "cuda") o.device = "cuda:" + std::to_string(env.local_rank);
    diffusion::DataParallelOptions dpo;
    dpo.timeout = std::chrono::milliseconds(static_cast<int64_t>(a.dist_timeout * 1000));
    dpo.overlap = !a.dist_sync;
    if (const std::string chosen = o.device ? *o.device : device; chosen.rfind("cuda", 0) == 0) {
      dpo.device = torch::Device(chosen);
    }
    o.parallel = std::make_shared<diffusion::DataParallel>(env, dpo);
    if (main_rank) {
      std::cerr << "data parallel: " << env.world_size << " ranks on " << o.parallel->backend()
                << ", global batch split over them\n";
    }
  }

  std::optional<Progress> progress;
  o.on_start = [&](int64_t start_step, int64_t total_steps) {
    if (main_rank) progress.emplace("train", total_steps, "steps", start_step);
  };
  o.on_step = [&](const diffusion::TrainingProgress& p) {
    if (progress) progress->update(p.step, format_loss(p.loss));
    return !g_stop_requested.load();
  };
  StopOnSignal stop_on_signal;
  const auto result = diffusion::train_point_model(o);
  if (progress) progress->finish();
  if (!main_rank) return result.completed ? 0 : 130;
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
                  "CPU threads for torch ops (default: all cores, shared among the data-parallel ranks)");
  cmd->add_option("--seed", args->seed,
                  "Seed of a new run, overriding training.seed (weights, noise, timesteps, "
                  "label dropout, data order)")
      ->each([args](const std::string&) { args->seed_given = true; });
  cmd->add_option("--representation", args->representation,
                  "points (PVCNN on point clouds), voxels (3D U-Net on truncated signed-distance "
                  "grids, model.grid cells a side), sparse_voxels (sparse U-Net on the surface band "
                  "of a grid twice a voxel model's; docs/sparse_voxels.md) or images (2D U-Net; --data "
                  "is a folder of PNGs), overriding model.representation");
  cmd->add_option("--init-from", args->init_from,
                  "Start a new run from a model file's weights (e.g. a shipped model, to train it "
                  "further); it must match the config's architecture, task and classes");
  cmd->add_option("--nproc", args->nproc,
                  "Data-parallel workers to start on this machine (CPU or one GPU each); under "
                  "torchrun/srun/mpirun set RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT instead");
  cmd->add_option("--dist-timeout", args->dist_timeout,
                  "Seconds a data-parallel rank waits for the others before giving up (default 120)");
  cmd->add_flag("--dist-sync", args->dist_sync,
                "Average the gradients after the backward pass instead of during it (a comparison "
                "for benchmarks; the results are the same)");
  cmd->add_option("--task", args->task,
                  "generation, completion (PVD's conditional completion on the dataset's "
                  "virtual scans; model.known_points of data.points known) or super_resolution "
                  "(images: SR3, conditioned on the image downsampled by model.sr_factor), "
                  "overriding model.task");
  cmd->callback([args, &action] { action = [args] { return run_train(*args); }; });
}

}  // namespace shapediff::apps

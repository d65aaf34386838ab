// Data-parallel training over PyTorch's c10d: one process per device, joined through a
// TCPStore rendezvous at MASTER_ADDR:MASTER_PORT, gradients averaged by a process group: NCCL
// for CUDA tensors when the build has it (SHAPEDIFF_WITH_NCCL), else Gloo (CUDA tensors staged
// through the host).
//
// The environment is the one torchrun, Slurm (srun with the variables exported) and
// mpirun-style launchers set: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT. Rank 0
// hosts the store. Every collective has a timeout, so a worker that dies makes the others fail
// with a message naming the rank and the operation instead of hanging.
//
// Gradients are averaged in buckets of at most `bucket_bytes`; each bucket holds tensors of one
// device and dtype. With `overlap` (the default) the buckets follow the parameters in reverse
// order, as the backward pass produces them, and each bucket's all-reduce starts from an
// autograd hook as soon as the backward pass has produced all of its gradients, so the
// communication runs while the earlier layers still compute theirs. finish_gradients() waits
// for what is still in flight: that wait is the all-reduce time the step sees ("exposed").
//
//   auto env = DistributedEnv::from_environment();      // world_size 1 when nothing is set
//   if (env.world_size > 1) {
//     auto dp = std::make_shared<DataParallel>(env, DataParallelOptions{});
//     dp->broadcast(net->parameters());                  // rank 0's initial weights
//     dp->watch_gradients(net->parameters());            // once
//     ... dp->begin_last_backward(); loss.backward(); dp->finish_gradients(); optimizer.step();
//   }
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/types.h>

namespace shapediff::diffusion {

struct DistributedEnv {
  int64_t rank = 0;
  int64_t world_size = 1;
  int64_t local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int64_t master_port = 29500;

  // Reads the launcher's variables; none set means a single process. std::invalid_argument
  // names the variable for a malformed or inconsistent value (RANK >= WORLD_SIZE, a port
  // outside 1..65535, WORLD_SIZE > 1 without MASTER_PORT, ...).
  static DistributedEnv from_environment();
};

// A collective that failed (a peer stopped, or the timeout passed); what() names the rank and
// the operation.
class CollectiveError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Whether this build has c10d's Gloo (its headers were found); without it DataParallel's
// constructor throws std::runtime_error saying so, unless NCCL serves a CUDA device.
bool data_parallel_available();
// Whether this build has c10d's NCCL process group (SHAPEDIFF_WITH_NCCL, see
// cmake/ShapediffNccl.cmake); DataParallel uses it for a CUDA `device`.
bool nccl_available();

struct DataParallelOptions {
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};  // of the rendezvous and collectives
  int64_t bucket_bytes = 25 << 20;
  // With `overlap`, the first bucket (the last layers' gradients, which the backward pass
  // produces first) holds at most this much, so that communication starts early; as PyTorch's
  // DDP does.
  int64_t first_bucket_bytes = 1 << 20;
  // Start each bucket's all-reduce during the backward pass (see above); false averages after
  // it, as a comparison.
  bool overlap = true;
  // Where the gradients live: a CUDA device selects NCCL when the build has it.
  torch::Device device = torch::kCPU;
};

class DataParallel {
 public:
  // Joins the group (blocks until every rank has arrived, or throws CollectiveError after the
  // timeout naming the address). The collectives below throw CollectiveError too.
  DataParallel(const DistributedEnv& env, const DataParallelOptions& options = {});
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  int64_t rank() const { return env_.rank; }
  int64_t world_size() const { return env_.world_size; }
  bool is_main() const { return env_.rank == 0; }

  // Rank 0's values copied into every rank's tensors, in place.
  void broadcast(const std::vector<torch::Tensor>& tensors);
  // Every defined .grad() of `parameters` replaced by the mean over the ranks.
  void average_gradients(const std::vector<torch::Tensor>& parameters);

  // The training loop's gradient averaging, in three calls. watch_gradients: once, before the
  // first step, with every parameter the optimizer updates (with `overlap` it registers a hook
  // on each that requires grad; a second call replaces the first). begin_last_backward: right before the
  // backward pass whose gradients complete the step (with gradient accumulation, the last
  // micro-batch's; the earlier ones accumulate locally). finish_gradients: after that backward
  // pass, before clipping and the optimizer: every defined .grad() of the watched parameters
  // then holds the mean over the ranks, as average_gradients would leave it. A parameter the
  // backward pass did not reach keeps its .grad() as it was (averaged when defined).
  void watch_gradients(const std::vector<torch::Tensor>& parameters);
  void begin_last_backward();
  void finish_gradients();
  // With `overlap`, of the last finish_gradients(): how many gradient buckets there are, and
  // how many started their all-reduce during the backward pass. The others started in
  // finish_gradients: a parameter the backward pass did not reach holds back its bucket and,
  // since every rank starts them in the same order, each later one.
  int64_t gradient_buckets() const;
  int64_t buckets_started_in_backward() const;
  // The process group in use: "gloo" or "nccl".
  const char* backend() const;
  // The mean of one number over the ranks (for logs).
  double average(double value);
  void barrier();

 private:
  struct Impl;
  DistributedEnv env_;
  DataParallelOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shapediff::diffusion

// Data-parallel training over PyTorch's c10d: one process per device, joined through a
// TCPStore rendezvous at MASTER_ADDR:MASTER_PORT, gradients averaged by a Gloo process group.
//
// The environment is the one torchrun, Slurm (srun with the variables exported) and
// mpirun-style launchers set: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT. Rank 0
// hosts the store. Every collective has a timeout, so a worker that dies makes the others fail
// with a message naming the rank and the operation instead of hanging.
//
// Gradients are averaged in buckets of at most `bucket_bytes` (flattened, all-reduced
// asynchronously, then written back), after the backward pass; each bucket holds tensors of
// one device and dtype. Gloo runs on CPU tensors; CUDA gradients are staged through the host
// (NCCL is not wired yet).
//
//   auto env = DistributedEnv::from_environment();      // world_size 1 when nothing is set
//   if (env.world_size > 1) {
//     auto dp = std::make_shared<DataParallel>(env, DataParallelOptions{});
//     dp->broadcast(net->parameters());                  // rank 0's initial weights
//     ... loss.backward(); dp->average_gradients(net->parameters()); optimizer.step();
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
// constructor throws std::runtime_error saying so.
bool data_parallel_available();

struct DataParallelOptions {
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};  // of the rendezvous and collectives
  int64_t bucket_bytes = 25 << 20;
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

// The process-group operations DataParallel runs, behind one interface so that Gloo (CPU
// tensors, diffusion/data_parallel.cpp) and NCCL (CUDA tensors, diffusion/data_parallel_nccl.cpp,
// compiled only when SHAPEDIFF_WITH_NCCL) serve the same bucketing and overlap code. Internal
// to diffusion/data_parallel*.cpp.
//
//   auto group = make_nccl_group(store, rank, size, std::chrono::seconds(120), torch::Device("cuda:0"));
//   auto wait = group->start_sum(buffer);   // in place, asynchronous
//   wait();                                 // CUDA: the current stream waits for it
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/types.h>

namespace shapediff::diffusion::detail {

class CollectiveGroup {
 public:
  virtual ~CollectiveGroup() = default;
  virtual const char* name() const = 0;
  // The device the group's tensors live on; tensors elsewhere are staged through it.
  virtual torch::Device device() const = 0;
  // Starts the sum over the ranks of `tensor` (on device()), in place; the returned function
  // waits for it and throws a c10::Error when it failed.
  virtual std::function<void()> start_sum(torch::Tensor tensor) = 0;
  // Starts copying rank `root`'s `tensor` into every rank's; the same waiting.
  virtual std::function<void()> start_broadcast(torch::Tensor tensor, int root) = 0;
};

// NCCL on `device` (a CUDA device, made current); defined only when SHAPEDIFF_WITH_NCCL.
std::unique_ptr<CollectiveGroup> make_nccl_group(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                 int size, std::chrono::milliseconds timeout,
                                                 const torch::Device& device);

}  // namespace shapediff::diffusion::detail

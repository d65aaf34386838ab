// NCCL behind DataParallel's CollectiveGroup (diffusion/data_parallel_group.h). Compiled only
// when cmake/ShapediffNccl.cmake found a LibTorch whose ProcessGroupNCCL compiles and links
// (it defines USE_C10D_NCCL and SHAPEDIFF_WITH_NCCL); that check compiles this very file.
#include "diffusion/data_parallel_group.h"

#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include <utility>
#include <vector>

namespace shapediff::diffusion::detail {
namespace {

// ProcessGroupNCCL::shutdown() (PyTorch 2.3 and later) releases the communicators before the
// destructor would, which otherwise warns that the group was not destroyed first.
template <typename Group>
auto shut_down(Group& group, int) -> decltype(group.shutdown(), void()) {
  group.shutdown();
}
template <typename Group>
void shut_down(Group&, long) {}

class NcclGroup : public CollectiveGroup {
 public:
  NcclGroup(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size, std::chrono::milliseconds timeout,
            const torch::Device& device)
      : device_(device) {
    // NCCL creates its communicator on the current device at the first collective.
    c10::cuda::set_device(device.index());
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = timeout;
    group_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, options);
  }

  ~NcclGroup() override {
    try {
      shut_down(*group_, 0);
    } catch (...) {
      // A peer that already stopped makes the shutdown fail; the process is ending this run anyway.
    }
  }

  const char* name() const override { return "nccl"; }
  torch::Device device() const override { return device_; }

  std::function<void()> start_sum(torch::Tensor tensor) override {
    std::vector<at::Tensor> tensors{std::move(tensor)};
    auto work = group_->allreduce(tensors);
    return [work] { work->wait(); };
  }

  std::function<void()> start_broadcast(torch::Tensor tensor, int root) override {
    std::vector<at::Tensor> tensors{std::move(tensor)};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    auto work = group_->broadcast(tensors, options);
    return [work] { work->wait(); };
  }

 private:
  torch::Device device_;
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> group_;
};

}  // namespace

std::unique_ptr<CollectiveGroup> make_nccl_group(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                 int size, std::chrono::milliseconds timeout,
                                                 const torch::Device& device) {
  return std::make_unique<NcclGroup>(store, rank, size, timeout, device);
}

}  // namespace shapediff::diffusion::detail

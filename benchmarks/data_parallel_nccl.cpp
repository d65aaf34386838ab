// The gradient all-reduce of the `small` PVCNN on NCCL next to its training step, on one GPU:
// data parallel at world size 1 (a TCPStore on loopback), the all-reduce overlapped with the
// backward pass as in training. Prints the plain step, the step with data parallel, the time the
// step waits for the all-reduce after the backward pass ("exposed"), and the all-reduce alone.
//   data_parallel_nccl [--batch=16] [--points=2048] [--steps=20]
// One GPU cannot show inter-GPU traffic: at world size 1 NCCL moves no data between devices,
// so the numbers are the fixed cost of the bucketing and of NCCL's launches, and the output
// says so. Exits 2 without a CUDA device or without NCCL in the build.
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "diffusion/data_parallel.h"
#include "networks/pvcnn.h"

namespace {

using Clock = std::chrono::steady_clock;

double median_ms(int steps, const std::function<void()>& body) {
  std::vector<double> ms;
  for (int i = 0; i < steps; ++i) {
    const auto start = Clock::now();
    body();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

int64_t flag(int argc, char** argv, const char* name, int64_t fallback) {
  const std::string prefix = std::string("--") + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) return std::atoll(argv[i] + prefix.size());
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  namespace d = shapediff::diffusion;
  namespace n = shapediff::networks;
  const int64_t batch = flag(argc, argv, "batch", 16), points = flag(argc, argv, "points", 2048);
  const int steps = static_cast<int>(flag(argc, argv, "steps", 20));
  if (!torch::cuda::is_available()) {
    std::puts("data_parallel_nccl: no CUDA device");
    return 2;
  }
  if (!d::nccl_available()) {
    std::puts("data_parallel_nccl: this build has no NCCL (cmake/ShapediffNccl.cmake found none)");
    return 2;
  }
  const torch::Device device(torch::kCUDA, 0);
  torch::manual_seed(0);
  n::PVCNN net(n::pvcnn_preset(n::PVCNNPreset::Small, 6));
  net->to(device);
  net->train();
  const auto params = net->parameters();
  int64_t grad_bytes = 0;
  for (const auto& p : params) grad_bytes += p.numel() * static_cast<int64_t>(p.element_size());
  torch::optim::Adam opt(params, torch::optim::AdamOptions(2e-4));
  const auto options = torch::TensorOptions().device(device);
  const auto x = torch::randn({batch, points, 3}, options);
  const auto t = torch::randint(0, 1000, {batch}, options.dtype(torch::kLong));
  const auto labels = torch::randint(0, 6, {batch}, options.dtype(torch::kLong));

  d::DistributedEnv env;
  env.master_port = 20000 + getpid() % 20000;
  d::DataParallelOptions dpo;
  dpo.device = device;
  d::DataParallel dp(env, dpo);
  dp.broadcast(params);
  dp.watch_gradients(params);

  double exposed = 0;
  auto step = [&](bool parallel) {
    opt.zero_grad();
    if (parallel) dp.begin_last_backward();
    (net->forward(x, t, labels) - x).pow(2).mean().backward();
    if (parallel) {
      const auto start = Clock::now();
      dp.finish_gradients();
      torch::cuda::synchronize();
      exposed += std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    }
    opt.step();
    torch::cuda::synchronize();
  };
  for (int i = 0; i < 3; ++i) step(true);  // warm-up: NCCL's communicator, cuDNN, the allocator
  const double plain = median_ms(steps, [&] { step(false); });
  exposed = 0;
  const double parallel = median_ms(steps, [&] { step(true); });
  const double exposed_mean = exposed / steps;
  const double alone = median_ms(steps, [&] {
    dp.average_gradients(params);
    torch::cuda::synchronize();
  });
  const double mb = static_cast<double>(grad_bytes) / 1e6;
  std::printf("small PVCNN, batch %lld x %lld points, cuda:0, NCCL world size 1 (%d steps, medians)\n",
              static_cast<long long>(batch), static_cast<long long>(points), steps);
  std::printf("| gradients | step | step with data parallel | exposed all-reduce | all-reduce alone |\n");
  std::printf("|---:|---:|---:|---:|---:|\n");
  std::printf("| %.1f MB | %.2f ms | %.2f ms | %.2f ms (%.1f%%) | %.2f ms (%.1f%% of the step) |\n", mb, plain,
              parallel, exposed_mean, 100 * exposed_mean / parallel, alone, 100 * alone / plain);
  std::printf(
      "note: one GPU cannot show inter-GPU traffic. At world size 1 NCCL moves no data between\n"
      "devices: these are the fixed costs of bucketing and of NCCL's launches, not a multi-GPU\n"
      "all-reduce. A ring all-reduce over N GPUs sends 2(N-1)/N x %.1f MB per GPU and step; at a\n"
      "link of B GB/s that is about %.2f/B ms for N = 8, before any overlap with the backward pass.\n",
      mb, 2.0 * 7.0 / 8.0 * mb);
  return 0;
}

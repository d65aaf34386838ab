// Forward and training-step time of the PVCNN presets.
//   pvcnn_benchmark [--threads=N] [--batch=B] [--points=N] [--device=cpu|cuda] [google-benchmark flags]
// CPU: tiny and small (pvd takes seconds per step there); CUDA: all three presets.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "networks/pvcnn.h"

namespace {

using shapediff::networks::PVCNN;
using shapediff::networks::PVCNNPreset;
using shapediff::networks::pvcnn_preset;

int64_t g_batch = 16;
int64_t g_points = 2048;
torch::Device g_device = torch::kCPU;

void sync() {
  if (g_device.is_cuda()) torch::cuda::synchronize();
}

void run(benchmark::State& state, PVCNNPreset preset, bool train) {
  torch::manual_seed(0);
  PVCNN net(pvcnn_preset(preset, 6));
  net->to(g_device);
  auto x = torch::randn({g_batch, g_points, 3}, torch::TensorOptions().device(g_device));
  auto t = torch::randint(0, 1000, {g_batch}, torch::TensorOptions().device(g_device).dtype(torch::kLong));
  auto labels = torch::randint(0, 6, {g_batch}, torch::TensorOptions().device(g_device).dtype(torch::kLong));
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(2e-4));
  if (train) {
    net->train();
  } else {
    net->eval();
  }
  for (auto _ : state) {
    if (train) {
      opt.zero_grad();
      auto loss = (net->forward(x, t, labels) - x).pow(2).mean();
      loss.backward();
      opt.step();
    } else {
      torch::NoGradGuard ng;
      benchmark::DoNotOptimize(net->forward(x, t, labels));
    }
    sync();
  }
  state.counters["params_M"] = static_cast<double>(net->parameter_count()) / 1e6;
  state.SetLabel(std::string(g_device.is_cuda() ? "cuda" : "cpu") + " B=" + std::to_string(g_batch) +
                 " N=" + std::to_string(g_points) + " threads=" + std::to_string(at::get_num_threads()));
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* key) -> const char* {
      const size_t n = std::strlen(key);
      return a.compare(0, n, key) == 0 ? argv[i] + n : nullptr;
    };
    if (auto v = value("--threads=")) {
      threads = std::atoi(v);
    } else if (auto v = value("--batch=")) {
      g_batch = std::atoll(v);
    } else if (auto v = value("--points=")) {
      g_points = std::atoll(v);
    } else if (auto v = value("--device=")) {
      g_device = torch::Device(v);
    } else {
      rest.push_back(argv[i]);
    }
  }
  at::set_num_threads(threads);
  struct Case {
    const char* name;
    PVCNNPreset preset;
  };
  std::vector<Case> cases = {{"tiny", PVCNNPreset::Tiny}, {"small", PVCNNPreset::Small}};
  if (g_device.is_cuda()) cases.push_back({"pvd", PVCNNPreset::PVD});
  for (const auto& c : cases) {
    benchmark::RegisterBenchmark((std::string("forward/") + c.name).c_str(),
                                 [p = c.preset](benchmark::State& s) { run(s, p, false); })
        ->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark((std::string("train_step/") + c.name).c_str(),
                                 [p = c.preset](benchmark::State& s) { run(s, p, true); })
        ->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}

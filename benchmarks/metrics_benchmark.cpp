// Evaluation metrics on the CPU: Chamfer distance for one 2048x2048 pair (shapediff's kernel and
// the torch cdist+min peer), EMD (exact and approximate auction) on 2048 points, and a 32x32
// pairwise Chamfer matrix of 2048-point clouds. Threads are set explicitly per benchmark
// (the argument after the size). Clouds are uniform in the unit ball, seeded.
//
//   build/benchmarks/metrics_benchmark --benchmark_filter=Chamfer
#include <benchmark/benchmark.h>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "shapes/chamfer.h"
#include "shapes/emd.h"

namespace {

using namespace shapediff::shapes;

torch::Tensor ball_clouds(int64_t count, int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  auto dir = torch::randn({count, n, 3});
  dir = dir / dir.norm(2, -1, true);
  return dir * torch::rand({count, n, 1}).pow(1.0 / 3.0);
}

void BM_ChamferShapediff(benchmark::State& state) {
  const int64_t n = state.range(0);
  at::set_num_threads(static_cast<int>(state.range(1)));
  const auto a = ball_clouds(1, n, 1), b = ball_clouds(1, n, 2);
  for (auto _ : state) benchmark::DoNotOptimize(chamfer_distance(a, b));
  state.counters["threads"] = static_cast<double>(state.range(1));
}
BENCHMARK(BM_ChamferShapediff)->Args({2048, 1})->Args({2048, 2})->Unit(benchmark::kMillisecond);

// The peer: what a LibTorch user writes, cdist then min along both axes.
void BM_ChamferTorchCdist(benchmark::State& state) {
  const int64_t n = state.range(0);
  at::set_num_threads(static_cast<int>(state.range(1)));
  const auto a = ball_clouds(1, n, 1), b = ball_clouds(1, n, 2);
  for (auto _ : state) {
    const auto d = torch::cdist(a, b).pow(2);
    benchmark::DoNotOptimize(std::get<0>(d.min(2)).mean(1) + std::get<0>(d.min(1)).mean(1));
  }
  state.counters["threads"] = static_cast<double>(state.range(1));
}
BENCHMARK(BM_ChamferTorchCdist)->Args({2048, 1})->Args({2048, 2})->Unit(benchmark::kMillisecond);

void BM_ChamferMatrix(benchmark::State& state) {
  const int64_t count = state.range(0);
  at::set_num_threads(static_cast<int>(state.range(1)));
  const auto x = ball_clouds(count, 2048, 3), y = ball_clouds(count, 2048, 4);
  for (auto _ : state) benchmark::DoNotOptimize(chamfer_matrix(x, y));
  state.counters["pairs"] = static_cast<double>(count * count);
  state.counters["threads"] = static_cast<double>(state.range(1));
}
BENCHMARK(BM_ChamferMatrix)->Args({32, 1})->Args({32, 2})->Unit(benchmark::kMillisecond);

// One pair; the auction runs on one thread. Counters: the certified gap and the value.
void BM_Emd(benchmark::State& state) {
  const int64_t n = state.range(0);
  at::set_num_threads(1);
  EmdOptions options;
  options.method = state.range(1) == 0 ? EmdMethod::Exact : EmdMethod::Approximate;
  const auto a = ball_clouds(1, n, 5), b = ball_clouds(1, n, 6);
  EmdResult r;
  for (auto _ : state) r = earth_movers_distance(a, b, options);
  state.counters["emd"] = r.value.item<double>();
  state.counters["gap"] = r.gap.item<double>();
  state.SetLabel(to_string(options.method));
}
BENCHMARK(BM_Emd)->Args({2048, 0})->Args({2048, 1})->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

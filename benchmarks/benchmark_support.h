// What the Google Benchmark programs share: the --threads=N flag (LibTorch's intra-op threads,
// default 2, this development machine's cores), how a row is timed on each device, and the run.
//   int main(int argc, char** argv) {
//     auto args = shapediff::bench::apply_threads_flag(argc, argv);
//     ...register rows, each ending with shapediff::bench::time_for_device(row, cuda)...
//     return shapediff::bench::run(args);
//   }
#pragma once

#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <vector>

namespace shapediff::bench {

// Sets at::set_num_threads from --threads=N (else `fallback`) and returns the other arguments,
// for benchmark::Initialize.
inline std::vector<char*> apply_threads_flag(int argc, char** argv, int fallback = 2) {
  int threads = fallback;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      threads = std::atoi(argv[i] + 10);
    } else {
      args.push_back(argv[i]);
    }
  }
  at::set_num_threads(threads);
  return args;
}

// In milliseconds. CPU rows report the CPU time summed over the threads (steady on a busy
// machine); CUDA rows, whose loops synchronize, report wall time.
inline void time_for_device(benchmark::internal::Benchmark* row, bool cuda) {
  row->Unit(benchmark::kMillisecond);
  if (cuda) {
    row->UseRealTime();
  } else {
    row->MeasureProcessCPUTime();
  }
}

inline int run(std::vector<char*>& args) {
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace shapediff::bench

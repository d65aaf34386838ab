// Kernel-map build time of the sparse core (networks/sparse/kernel_map.h) on one-voxel-thick
// sphere shells, the active set of a voxelized surface: radius 28 in a 64^3 grid (~10k cells)
// and radius 90 in a 256^3 grid (~100k cells), one batch item. Each row times building the
// coordinate hash and the map from scratch, as the first layer of a forward pass does:
// "hash" the CoordinateHash alone, "submanifold3" a 3x3x3 stride-1 map, "downsample2" the
// stride-2 coarse coordinates plus the 2x2x2 stride-2 map onto them. CPU with an explicit
// intra-op thread count (default 2; --threads=N); CUDA rows are registered when a CUDA device is
// present and the build has CUDA (each iteration ends with a device synchronize).
//
//   OMP_WAIT_POLICY=passive ./sparse_kernel_map_benchmark --threads=2 --benchmark_min_time=0.5
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "benchmarks/benchmark_support.h"
#include "networks/sparse/kernel_map.h"
#include "shapediff/config.h"

namespace {

using namespace shapediff::sparse;
using torch::Tensor;

struct Shell {
  std::string name;
  int64_t grid;
  double radius;
};

const std::vector<Shell> kShells = {{"shell64", 64, 28.0}, {"shell256", 256, 90.0}};

// Cells whose centre lies within half a cell of the sphere, as int32 [N,4] with batch 0.
Tensor shell_coords(const Shell& shell, torch::Device device) {
  const auto axis = torch::arange(shell.grid, torch::kFloat) - (shell.grid - 1) / 2.0;
  const auto r = (axis.view({-1, 1, 1}).square() + axis.view({1, -1, 1}).square() +
                  axis.view({1, 1, -1}).square())
                     .sqrt();
  const auto cells = (r - shell.radius).abs().lt(0.5).nonzero().to(torch::kInt32);
  return torch::cat({torch::zeros({cells.size(0), 1}, torch::kInt32), cells}, 1)
      .contiguous()
      .to(device);
}

// Each op returns what it built, shown in the label: rows hashed, or pairs of the map.
const std::vector<std::pair<std::string, std::function<int64_t(const Tensor&)>>> kOps = {
    {"hash", [](const Tensor& c) { return CoordinateHash(c).size(); }},
    {"submanifold3", [](const Tensor& c) { return submanifold_map(c, 3, 1).pairs(); }},
    {"downsample2",
     [](const Tensor& c) { return conv_map(c, downsample_coords(c, 2), {2, 2, 1}).pairs(); }},
};

void register_device(const std::string& device_name, torch::Device device) {
  const bool cuda = device.is_cuda();
  for (const auto& shell : kShells) {
    const auto coords = shell_coords(shell, device);
    for (const auto& [op, fn] : kOps) {
      auto* bench = benchmark::RegisterBenchmark(
          (op + "/" + shell.name + "/" + device_name).c_str(),
          [coords, fn = fn, cuda, device_name](benchmark::State& state) {
            int64_t built = 0;
            for (auto _ : state) {
              built = fn(coords);
              if (cuda) torch::cuda::synchronize();
            }
            state.SetLabel("cells=" + std::to_string(coords.size(0)) +
                           " built=" + std::to_string(built) + " device=" + device_name +
                           (cuda ? "" : " threads=" + std::to_string(at::get_num_threads())));
          });
      shapediff::bench::time_for_device(bench, cuda);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  auto args = shapediff::bench::apply_threads_flag(argc, argv);
  register_device("cpu", torch::kCPU);
  if (SHAPEDIFF_WITH_CUDA && torch::cuda::is_available()) register_device("cuda", torch::kCUDA);
  return shapediff::bench::run(args);
}

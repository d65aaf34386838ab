// Cost of each point op (networks/point_ops.h) at the sizes of PVD's first set-abstraction
// stage: B=16 clouds of N=2048 points on a sphere of radius 0.5 (a surface, like normalized
// ShapeNet shapes), C=64 feature channels; fps 2048 -> 1024; ball query of 1024 centres, radius
// 0.1, k=32, grouped into [16,64,1024,32]; three_nn / three_interpolate from 1024 back to 2048
// points; avg_voxelize / trilinear_devoxelize at resolution 32. "+backward" times the forward and
// the gradient to the features (or grid) together. CPU with an explicit intra-op thread count
// (default 2; --threads=N); the same ops on CUDA are registered when a CUDA device is present and
// the build has CUDA (each iteration ends with a device synchronize). The CPU column of the CPU
// rows sums both threads; OMP_WAIT_POLICY=passive keeps OpenMP's idle spinning out of it.
//
//   OMP_WAIT_POLICY=passive ./point_ops_benchmark --threads=2 --benchmark_min_time=0.5
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "benchmarks/benchmark_support.h"
#include "networks/point_ops.h"
#include "shapediff/config.h"

namespace {

using namespace shapediff::networks;
using torch::Tensor;

constexpr int64_t kBatch = 16, kPoints = 2048, kCenters = 1024, kChannels = 64;
constexpr int64_t kNeighbors = 32, kResolution = 32;
constexpr double kRadius = 0.1;

// Inputs of every op, computed once on the CPU and moved to the benchmark's device, with the
// upstream gradients (ones) of the outputs: [B, C, M, k] for group, [B, C, r, r, r] for
// avg_voxelize, [B, C, N] for the ops that return point features.
struct Inputs {
  Tensor points, centers, features, center_features;
  Tensor neighbors, nn_index, nn_weight, grid, voxel_coords;
  Tensor upstream_grouped, upstream_grid, upstream_points;
};

Inputs make_inputs(torch::Device device) {
  torch::manual_seed(0);
  const auto dir = torch::randn({kBatch, kPoints, 3});
  Inputs in;
  in.points = 0.5 * dir / dir.norm(2, -1, /*keepdim=*/true);
  in.centers = in.points.slice(1, 0, kCenters).contiguous();
  in.features = torch::randn({kBatch, kChannels, kPoints});
  in.center_features = torch::randn({kBatch, kChannels, kCenters});
  in.neighbors = ball_query(in.centers, in.points, kRadius, kNeighbors);
  const auto [dist, index] = three_nn(in.points, in.centers);
  const auto w = 1.0 / (dist + 1e-8);
  in.nn_index = index;
  in.nn_weight = w / w.sum(2, /*keepdim=*/true);
  std::tie(in.grid, in.voxel_coords) = avg_voxelize(in.features, in.points, kResolution);
  in.upstream_grouped = torch::ones({kBatch, kChannels, kCenters, kNeighbors});
  in.upstream_grid = torch::ones_like(in.grid);
  in.upstream_points = torch::ones_like(in.features);
  for (auto* t : {&in.points, &in.centers, &in.features, &in.center_features, &in.neighbors,
                  &in.nn_index, &in.nn_weight, &in.grid, &in.voxel_coords, &in.upstream_grouped,
                  &in.upstream_grid, &in.upstream_points}) {
    *t = t->to(device);
  }
  return in;
}

// out's gradient to x for the given upstream gradient.
void backward_to(const Tensor& out, const Tensor& x, const Tensor& upstream) {
  const auto g = torch::autograd::grad({out}, {x}, {upstream});
  benchmark::DoNotOptimize(g[0].data_ptr());
}

Tensor grad_leaf(const Tensor& t) { return t.detach().requires_grad_(true); }

using OpFn = std::function<void(const Inputs&)>;

std::vector<std::pair<std::string, OpFn>> ops() {
  return {
      {"fps_2048_to_1024",
       [](const Inputs& in) {
         benchmark::DoNotOptimize(farthest_point_sample(in.points, kCenters));
       }},
      {"ball_query_r0.1_k32",
       [](const Inputs& in) {
         benchmark::DoNotOptimize(ball_query(in.centers, in.points, kRadius, kNeighbors));
       }},
      {"group",
       [](const Inputs& in) { benchmark::DoNotOptimize(group(in.features, in.neighbors)); }},
      {"group+backward",
       [](const Inputs& in) {
         const auto x = grad_leaf(in.features);
         backward_to(group(x, in.neighbors), x, in.upstream_grouped);
       }},
      {"three_nn",
       [](const Inputs& in) { benchmark::DoNotOptimize(three_nn(in.points, in.centers)); }},
      {"three_interpolate",
       [](const Inputs& in) {
         benchmark::DoNotOptimize(three_interpolate(in.center_features, in.nn_index, in.nn_weight));
       }},
      {"three_interpolate+backward",
       [](const Inputs& in) {
         const auto x = grad_leaf(in.center_features);
         backward_to(three_interpolate(x, in.nn_index, in.nn_weight), x, in.upstream_points);
       }},
      {"avg_voxelize_r32",
       [](const Inputs& in) {
         benchmark::DoNotOptimize(avg_voxelize(in.features, in.points, kResolution));
       }},
      {"avg_voxelize_r32+backward",
       [](const Inputs& in) {
         const auto x = grad_leaf(in.features);
         backward_to(avg_voxelize(x, in.points, kResolution).first, x, in.upstream_grid);
       }},
      {"trilinear_devoxelize_r32",
       [](const Inputs& in) {
         benchmark::DoNotOptimize(trilinear_devoxelize(in.grid, in.voxel_coords, kResolution));
       }},
      {"trilinear_devoxelize_r32+backward",
       [](const Inputs& in) {
         const auto x = grad_leaf(in.grid);
         backward_to(trilinear_devoxelize(x, in.voxel_coords, kResolution), x, in.upstream_points);
       }},
  };
}

void register_device(const Inputs& in, const std::string& device, bool cuda) {
  for (const auto& [name, fn] : ops()) {
    auto* bench = benchmark::RegisterBenchmark(
        (name + "/" + device).c_str(), [&in, fn = fn, device, cuda](benchmark::State& state) {
          for (auto _ : state) {
            fn(in);
            if (cuda) torch::cuda::synchronize();
          }
          state.SetLabel("B=16 N=2048 C=64 device=" + device +
                         (cuda ? "" : " threads=" + std::to_string(at::get_num_threads())));
        });
    shapediff::bench::time_for_device(bench, cuda);
  }
}

}  // namespace

int main(int argc, char** argv) {
  auto args = shapediff::bench::apply_threads_flag(argc, argv);
  const Inputs cpu = make_inputs(torch::kCPU);
  register_device(cpu, "cpu", false);
  Inputs gpu;
  if (SHAPEDIFF_WITH_CUDA && torch::cuda::is_available()) {
    gpu = make_inputs(torch::kCUDA);
    register_device(gpu, "cuda", true);
  }
  return shapediff::bench::run(args);
}

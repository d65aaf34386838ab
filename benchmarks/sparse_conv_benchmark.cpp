// Cost of a sparse 3x3x3 submanifold convolution, 64 -> 64 channels (networks/sparse/
// sparse_conv.h), on the cells of a one-voxel-thick sphere shell: ~10k cells in a 64^3 grid on
// the CPU, ~100k cells in a 256^3 grid on CUDA (registered when the build has CUDA and a device
// is present). Each device also times dense torch::conv3d on the whole grid of the same size
// (the same weights, padding 1) and the kernel-map build (submanifold_map, which the
// convolution rows leave out: their map is built once through the CoordinateManager before the
// timed loop, as in a network where every layer after the first finds it cached).
// "+backward" times forward and the gradients to the features (dense: the input grid) and the
// weight together.
// On CUDA the sparse rows come in six variants: the fused kernels (sparse_conv_kernels.h, the
// default: the pipelined kernel on compute capability 8.0 and up), the first fused kernels
// (SHAPEDIFF_SPARSE_PIPELINED=0, suffix _first_kernels) and the torch ops (index_select / mm /
// index_add_ per offset, selected by SHAPEDIFF_SPARSE_FUSED=0), each in exact float32 and with
// TF32 matrix products (at::globalContext().setAllowTF32CuBLAS(true), suffix _tf32); the dense
// rows run cuDNN with its default TF32 convolutions.
// CPU rows run with an explicit intra-op thread count (default 2; --threads=N) for ATen's OpenMP
// loops (the gathers and scatters, oneDNN's dense conv) and report the process CPU time of all
// threads; CUDA rows end each iteration with a synchronize and report wall time. The sparse
// GEMMs go to OpenBLAS, whose own pthread pool keeps spinning after each call and fights the
// OpenMP threads for two cores: OPENBLAS_NUM_THREADS=1 gives stable numbers there.
//
//   OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=passive ./sparse_conv_benchmark --threads=2 \
//       --benchmark_min_time=1
#include <ATen/Context.h>
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "benchmarks/benchmark_support.h"
#include "networks/sparse/kernel_map.h"
#include "networks/sparse/sparse_conv.h"
#include "networks/sparse/sparse_tensor.h"
#include "shapediff/config.h"

namespace {

using namespace shapediff::sparse;
using torch::Tensor;

constexpr int64_t kChannels = 64;
const ConvGeometry kGeometry{3, 1, 1};

// Cells within half a voxel of a sphere centred in the grid whose radius r gives about
// 4 pi r^2 = `cells` cells: a surface, like a voxelized shape.
Tensor shell_coords(int64_t grid, int64_t cells) {
  const double r = std::sqrt(static_cast<double>(cells) / (4 * M_PI));
  const auto axis = torch::arange(grid, torch::kFloat32) + 0.5 - grid / 2.0;
  const auto mesh = torch::meshgrid({axis, axis, axis}, "ij");
  const auto radius = (mesh[0].square() + mesh[1].square() + mesh[2].square()).sqrt();
  const auto shell = (radius - r).abs().lt(0.5).nonzero();
  return torch::cat({torch::zeros({shell.size(0), 1}, torch::kLong), shell}, 1).to(torch::kInt32);
}

struct Case {
  std::string device_name;
  bool cuda = false;
  int64_t grid = 0;
  std::unique_ptr<SparseTensor> x;
  Tensor weight, bias, dense, dense_weight, upstream;
  int64_t pairs = 0;

  std::string label() const {
    return "N=" + std::to_string(x->size()) + " pairs=" + std::to_string(pairs) +
           " grid=" + std::to_string(grid) + "^3 C=64->64 device=" + device_name +
           (cuda ? "" : " threads=" + std::to_string(at::get_num_threads()));
  }
};

std::unique_ptr<Case> make_case(int64_t grid, int64_t cells, torch::Device device) {
  torch::manual_seed(0);
  auto c = std::make_unique<Case>();
  c->device_name = device.is_cuda() ? "cuda" : "cpu";
  c->cuda = device.is_cuda();
  c->grid = grid;
  const auto coords = shell_coords(grid, cells).to(device);
  c->x =
      std::make_unique<SparseTensor>(coords, torch::randn({coords.size(0), kChannels}).to(device));
  c->weight = (torch::randn({kGeometry.volume(), kChannels, kChannels}) * 0.02).to(device);
  c->bias = torch::zeros({kChannels}).to(device);
  // Built once here; the timed convolutions find it in the manager's cache.
  c->pairs = c->x->manager()->conv_map(coords, coords, kGeometry).pairs();
  c->dense = c->x->to_dense({grid, grid, grid}, 1);
  c->dense_weight =
      c->weight.reshape({3, 3, 3, kChannels, kChannels}).permute({4, 3, 0, 1, 2}).contiguous();
  c->upstream = torch::ones({coords.size(0), kChannels}, c->x->features().options());
  return c;
}

void sync(const Case& c) {
  if (c.cuda) torch::cuda::synchronize();
}

using Body = std::function<void(const Case&)>;

std::vector<std::pair<std::string, Body>> bodies() {
  return {
      {"kernel_map_build",
       [](const Case& c) {
         benchmark::DoNotOptimize(submanifold_map(c.x->coords(), 3, 1).in_rows.data_ptr());
       }},
      {"sparse_conv3x3x3",
       [](const Case& c) {
         torch::NoGradGuard no_grad;
         benchmark::DoNotOptimize(conv3d(*c.x, c.weight, c.bias, kGeometry).features().data_ptr());
       }},
      {"sparse_conv3x3x3+backward",
       [](const Case& c) {
         const auto f = c.x->features().detach().requires_grad_(true);
         const auto w = c.weight.detach().requires_grad_(true);
         const auto y = conv3d(c.x->replace_features(f), w, c.bias, kGeometry).features();
         const auto g = torch::autograd::grad({y}, {f, w}, {c.upstream});
         benchmark::DoNotOptimize(g[1].data_ptr());
       }},
      {"dense_conv3d",
       [](const Case& c) {
         torch::NoGradGuard no_grad;
         benchmark::DoNotOptimize(torch::conv3d(c.dense, c.dense_weight, c.bias, 1, 1).data_ptr());
       }},
      {"dense_conv3d+backward",
       [](const Case& c) {
         const auto x = c.dense.detach().requires_grad_(true);
         const auto w = c.dense_weight.detach().requires_grad_(true);
         const auto y = torch::conv3d(x, w, c.bias, 1, 1);
         const auto g = torch::autograd::grad({y.sum()}, {x, w});
         benchmark::DoNotOptimize(g[1].data_ptr());
       }},
  };
}

// How a sparse CUDA row runs: the fused kernels (pipelined or the first ones) or the torch ops,
// exact float32 or TF32.
struct Mode {
  std::string suffix;
  bool fused = true;
  bool tf32 = false;
  bool pipelined = true;
};

// Sets an environment variable for its lifetime.
class EnvScope {
 public:
  EnvScope(const char* name, const char* value) : name_(name) {
    if (const char* before = std::getenv(name)) before_ = before;
    setenv(name, value, 1);
  }
  ~EnvScope() {
    if (before_.empty()) {
      unsetenv(name_.c_str());
    } else {
      setenv(name_.c_str(), before_.c_str(), 1);
    }
  }

 private:
  std::string name_, before_;
};

// Sets SHAPEDIFF_SPARSE_FUSED, SHAPEDIFF_SPARSE_PIPELINED and TF32 for one row, restoring them
// after it.
class ModeScope {
 public:
  explicit ModeScope(const Mode& mode)
      : fused_("SHAPEDIFF_SPARSE_FUSED", mode.fused ? "1" : "0"),
        pipelined_("SHAPEDIFF_SPARSE_PIPELINED", mode.pipelined ? "1" : "0"),
        tf32_(at::globalContext().allowTF32CuBLAS()) {
    at::globalContext().setAllowTF32CuBLAS(mode.tf32);
  }
  ~ModeScope() { at::globalContext().setAllowTF32CuBLAS(tf32_); }

 private:
  EnvScope fused_, pipelined_;
  bool tf32_;
};

void register_case(const Case& c) {
  const std::vector<Mode> sparse_modes =
      c.cuda ? std::vector<Mode>{{"", true, false},
                                 {"_first_kernels", true, false, false},
                                 {"_torch_ops", false, false},
                                 {"_tf32", true, true},
                                 {"_first_kernels_tf32", true, true, false},
                                 {"_torch_ops_tf32", false, true}}
             : std::vector<Mode>{{"", true, false}};
  for (const auto& [name, body] : bodies()) {
    const bool sparse = name.rfind("sparse_conv", 0) == 0;
    for (const auto& mode : sparse ? sparse_modes : std::vector<Mode>{{"", true, false}}) {
      // The suffix goes before "+backward" so that each row reads <op><variant>[+backward].
      const auto plus = name.find('+');
      const std::string row = plus == std::string::npos
                                  ? name + mode.suffix
                                  : name.substr(0, plus) + mode.suffix + name.substr(plus);
      auto* bench = benchmark::RegisterBenchmark(
          (row + "/" + c.device_name).c_str(),
          [&c, body = body, mode, sparse](benchmark::State& state) {
            const ModeScope scope(mode);
            for (auto _ : state) {
              body(c);
              sync(c);
            }
            std::string label = c.label();
            if (sparse && c.cuda) {
              label += std::string(" path=") +
                       (mode.fused ? (mode.pipelined ? "fused" : "fused_first") : "torch_ops") +
                       (mode.tf32 ? " tf32" : "");
            }
            state.SetLabel(label);
          });
      shapediff::bench::time_for_device(bench, c.cuda);
      // The dense CPU convolution takes seconds per call.
      if (name.rfind("dense_conv3d", 0) == 0 && !c.cuda) bench->Iterations(2);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  auto args = shapediff::bench::apply_threads_flag(argc, argv);
  const auto cpu = make_case(64, 10000, torch::kCPU);
  register_case(*cpu);
  std::unique_ptr<Case> gpu;
  if (SHAPEDIFF_WITH_CUDA && torch::cuda::is_available()) {
    gpu = make_case(256, 100000, torch::kCUDA);
    register_case(*gpu);
  }
  return shapediff::bench::run(args);
}

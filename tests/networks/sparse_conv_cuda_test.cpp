// The fused CUDA sparse convolution (networks/sparse/sparse_conv_kernels.h, reached through
// sparse_conv_features) against the CPU path in float64, forward and backward: random sparse
// inputs, channel counts with tails (3->5, 17->33, 64->64, 70->130), kernel sizes 1, 2, 3 and 5
// (125 offsets, past the 63 that the table sort looks at), strides 1 and 2, submanifold,
// strided, transposed and generative maps, empty maps; float32 (plain and TF32) and float64;
// half falls back to the torch-op path, as does SHAPEDIFF_SPARSE_FUSED=0. Channel counts that
// are multiples of 4 (64->64, and the tails 4->8, 12->20, 68->132) run the pipelined float
// kernel on compute capability 8.0 and up, the others and kernel size 5 the first kernels, which
// SHAPEDIFF_SPARSE_PIPELINED=0 also selects. The tables of CUDA maps are checked against their
// pairs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/Context.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "networks/sparse/kernel_map.h"
#include "networks/sparse/sparse_conv.h"
#include "networks/sparse/sparse_tensor.h"
#include "shapediff/config.h"
#include "tests/networks/networks_test_support.h"

namespace shapediff::sparse {
namespace {

using shapediff::test::random_sparse_coords;
using torch::Tensor;

const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);

class FusedSparseConv : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
    if (!SHAPEDIFF_WITH_CUDA) GTEST_SKIP() << "built without CUDA";
    torch::manual_seed(808);
  }
};

// Sets at::globalContext().allowTF32CuBLAS() for its lifetime.
class Tf32Scope {
 public:
  explicit Tf32Scope(bool allow) : before_(at::globalContext().allowTF32CuBLAS()) {
    at::globalContext().setAllowTF32CuBLAS(allow);
  }
  ~Tf32Scope() { at::globalContext().setAllowTF32CuBLAS(before_); }

 private:
  bool before_;
};

// Sets an environment variable (SHAPEDIFF_SPARSE_FUSED, SHAPEDIFF_SPARSE_PIPELINED) for its
// lifetime.
class EnvScope {
 public:
  EnvScope(const char* name, const char* value) : name_(name) {
    const char* before = std::getenv(name);
    had_ = before != nullptr;
    if (had_) before_ = before;
    setenv(name, value, 1);
  }
  ~EnvScope() {
    if (had_) {
      setenv(name_.c_str(), before_.c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  bool had_ = false;
  std::string before_;
};

struct Result {
  Tensor out, grad_features, grad_weight;
};

// conv(features, weight) and the gradients of sum(out * v) to both.
Result run(const std::function<Tensor(const Tensor&, const Tensor&)>& conv, const Tensor& features,
           const Tensor& weight, const Tensor& v) {
  const auto f = features.detach().clone().requires_grad_(true);
  const auto w = weight.detach().clone().requires_grad_(true);
  const auto out = conv(f, w);
  const auto g = torch::autograd::grad({(out * v).sum()}, {f, w});
  return {out.detach(), g[0], g[1]};
}

// |actual - expected| <= tolerance * (1 + max |expected|), actual moved to the CPU as float64.
void expect_near(const Tensor& actual, const Tensor& expected, double tolerance,
                 const std::string& what) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  if (expected.numel() == 0) return;
  const auto a = actual.cpu().to(torch::kFloat64);
  const double error = (a - expected).abs().max().item<double>();
  const double scale = 1.0 + expected.abs().max().item<double>();
  EXPECT_LE(error, tolerance * scale) << what;
}

enum class Kind { kConv, kTranspose, kGenerative };

std::string label(Kind kind, const ConvGeometry& g, int64_t cin, int64_t cout,
                  torch::Dtype dtype) {
  const char* names[] = {"conv3d", "conv_transpose3d", "generative_conv_transpose3d"};
  return std::string(names[static_cast<int>(kind)]) + " ks " + std::to_string(g.kernel_size) +
         " stride " + std::to_string(g.stride) + " dilation " + std::to_string(g.dilation) + " " +
         std::to_string(cin) + "->" + std::to_string(cout) + " " + c10::toString(dtype);
}

// Runs one kind of convolution on the CPU in float64 and on CUDA in `dtype` (the fused path,
// which this checks is the one taken) and compares the outputs and both gradients.
void compare(Kind kind, const ConvGeometry& g, int64_t cin, int64_t cout, torch::Dtype dtype,
             double tolerance) {
  const torch::Device cuda(torch::kCUDA);
  const std::string what = label(kind, g, cin, cout, dtype);
  const auto weight = torch::randn({g.volume(), cin, cout}, kF64) / std::sqrt(cin * g.volume());
  // The same convolution on either device: x is the input tensor there, f and w its features
  // and weight.
  std::function<SparseTensor(const SparseTensor&, const Tensor&, const Tensor&)> conv;
  SparseTensor x(torch::zeros({0, 4}, torch::kInt32), torch::zeros({0, cin}, kF64));
  SparseTensor target = x;
  const auto fine_coords = random_sparse_coords(2, 12, 0.35);
  switch (kind) {
    case Kind::kConv:
      x = SparseTensor(fine_coords, torch::randn({fine_coords.size(0), cin}, kF64));
      break;
    case Kind::kTranspose: {
      target = SparseTensor(fine_coords, torch::zeros({fine_coords.size(0), 1}, kF64));
      const auto coarse = target.manager()->downsample_coords(fine_coords, g.stride);
      x = SparseTensor(coarse, torch::randn({coarse.size(0), cin}, kF64), g.stride);
      break;
    }
    case Kind::kGenerative: {
      const auto coarse = random_sparse_coords(2, 6, 0.3);
      x = SparseTensor(coarse, torch::randn({coarse.size(0), cin}, kF64), 2 * g.stride);
      break;
    }
  }
  const auto apply = [&](const SparseTensor& in, const SparseTensor& onto, const Tensor& f,
                         const Tensor& w) {
    const auto input = in.replace_features(f);
    switch (kind) {
      case Kind::kConv:
        return conv3d(input, w, {}, g).features();
      case Kind::kTranspose:
        return conv_transpose3d(input, w, {}, g, onto).features();
      case Kind::kGenerative:
        break;
    }
    return generative_conv_transpose3d(input, w, {}, g).features();
  };
  const auto out_rows = apply(x, target, x.features(), weight).size(0);
  const auto v = torch::randn({out_rows, cout}, kF64);
  const auto cpu = run([&](const Tensor& f, const Tensor& w) { return apply(x, target, f, w); },
                       x.features(), weight, v);

  const auto xc = x.to(cuda), target_c = target.to(cuda);
  const auto gpu = run(
      [&](const Tensor& f, const Tensor& w) { return apply(xc, target_c, f, w); },
      x.features().to(cuda, dtype), weight.to(cuda, dtype), v.to(cuda, dtype));
  EXPECT_EQ(gpu.out.scalar_type(), dtype) << what;
  expect_near(gpu.out, cpu.out, tolerance, what + " forward");
  expect_near(gpu.grad_features, cpu.grad_features, tolerance, what + " grad features");
  // The weight gradient sums over all pairs of an offset: scale by their count.
  expect_near(gpu.grad_weight, cpu.grad_weight, tolerance * std::sqrt(double(out_rows) + 1),
              what + " grad weight");

  // The map the CUDA convolution used, from the manager's cache: the fused path takes it.
  if (kind == Kind::kConv) {
    const auto& coords = xc.coords();
    const auto& out_coords =
        g.stride == 1 ? coords : xc.manager()->downsample_coords(coords, g.stride);
    const auto& map = xc.manager()->conv_map(coords, out_coords, g);
    EXPECT_TRUE(uses_fused_cuda_conv(xc.features().to(dtype), weight.to(cuda, dtype), map))
        << what;
  }
}

TEST_F(FusedSparseConv, MatchesCpuFloat32_CUDA) {
  const Tf32Scope exact(false);
  for (const auto& [cin, cout] : std::vector<std::pair<int64_t, int64_t>>{
           {3, 5}, {17, 33}, {64, 64}, {70, 130}}) {
    for (int64_t ks : {1, 2, 3}) {
      for (int64_t stride : {1, 2}) {
        const ConvGeometry g{ks, stride, 1};
        for (const auto kind : {Kind::kConv, Kind::kTranspose, Kind::kGenerative}) {
          compare(kind, g, cin, cout, torch::kFloat32, 1e-5);
        }
      }
    }
  }
}

TEST_F(FusedSparseConv, MatchesCpuFloat64_CUDA) {
  for (const auto& [cin, cout] : std::vector<std::pair<int64_t, int64_t>>{{3, 5}, {17, 33}}) {
    for (const ConvGeometry& g : {ConvGeometry{3, 1, 1}, ConvGeometry{2, 2, 1},
                                  ConvGeometry{3, 2, 2}, ConvGeometry{1, 1, 1}}) {
      for (const auto kind : {Kind::kConv, Kind::kTranspose, Kind::kGenerative}) {
        compare(kind, g, cin, cout, torch::kFloat64, 1e-12);
      }
    }
  }
}

TEST_F(FusedSparseConv, KernelSizeFiveAndDilation_CUDA) {
  const Tf32Scope exact(false);
  compare(Kind::kConv, {5, 1, 1}, 8, 16, torch::kFloat32, 1e-5);
  compare(Kind::kConv, {3, 1, 2}, 17, 33, torch::kFloat32, 1e-5);
  compare(Kind::kTranspose, {5, 2, 1}, 8, 16, torch::kFloat64, 1e-12);
}

TEST_F(FusedSparseConv, Tf32WhereTorchUsesIt_CUDA) {
  const Tf32Scope tf32(true);
  // TF32 keeps 10 mantissa bits: ~1e-3 relative per product.
  for (const auto& [cin, cout] : std::vector<std::pair<int64_t, int64_t>>{
           {3, 5}, {17, 33}, {64, 64}, {70, 130}}) {
    compare(Kind::kConv, {3, 1, 1}, cin, cout, torch::kFloat32, 1e-2);
    compare(Kind::kConv, {2, 2, 1}, cin, cout, torch::kFloat32, 1e-2);
    compare(Kind::kTranspose, {2, 2, 1}, cin, cout, torch::kFloat32, 1e-2);
  }
}

TEST_F(FusedSparseConv, PipelinedKernelChannelTails_CUDA) {
  // Tails of the 16-channel depth step and of the 64-channel tile in 16-byte chunks.
  for (const bool tf32 : {false, true}) {
    const Tf32Scope scope(tf32);
    const double tolerance = tf32 ? 1e-2 : 1e-5;
    for (const auto& [cin, cout] :
         std::vector<std::pair<int64_t, int64_t>>{{4, 8}, {12, 20}, {68, 132}}) {
      compare(Kind::kConv, {3, 1, 1}, cin, cout, torch::kFloat32, tolerance);
      compare(Kind::kConv, {2, 2, 1}, cin, cout, torch::kFloat32, tolerance);
      compare(Kind::kTranspose, {2, 2, 1}, cin, cout, torch::kFloat32, tolerance);
      compare(Kind::kGenerative, {3, 1, 1}, cin, cout, torch::kFloat32, tolerance);
    }
  }
}

TEST_F(FusedSparseConv, PipelinedMatchesTheFirstKernels_CUDA) {
  const torch::Device cuda(torch::kCUDA);
  const Tf32Scope exact(false);
  const auto coords = random_sparse_coords(2, 14, 0.3).to(cuda);
  const auto map = submanifold_map(coords, 3, 1);
  const auto x = torch::randn({coords.size(0), 64}, torch::TensorOptions(cuda));
  const auto w = torch::randn({27, 64, 64}, torch::TensorOptions(cuda)) / 40;
  const auto v = torch::randn({coords.size(0), 64}, torch::TensorOptions(cuda));
  const auto conv = [&](const Tensor& f, const Tensor& weight) {
    return sparse_conv_features(f, weight, map);
  };
  const auto pipelined = run(conv, x, w, v);
  const EnvScope first_kernels("SHAPEDIFF_SPARSE_PIPELINED", "0");
  ASSERT_TRUE(uses_fused_cuda_conv(x, w, map));
  const auto first = run(conv, x, w, v);
  // The same float products summed in the same order.
  expect_near(pipelined.out, first.out.cpu().to(torch::kFloat64), 1e-6, "forward");
  expect_near(pipelined.grad_features, first.grad_features.cpu().to(torch::kFloat64), 1e-6,
              "grad features");
  expect_near(pipelined.grad_weight, first.grad_weight.cpu().to(torch::kFloat64), 1e-6,
              "grad weight");
}

TEST_F(FusedSparseConv, TablesMatchThePairs_CUDA) {
  const auto coords = random_sparse_coords(2, 10, 0.3).to(torch::kCUDA);
  const auto coarse = downsample_coords(coords, 2);
  for (const auto& map : {submanifold_map(coords, 3, 1), conv_map(coords, coarse, {2, 2, 1}),
                          conv_map(coords, coarse, {2, 2, 1}).transposed()}) {
    const int64_t volume = map.kernel_volume();
    const auto in_rows = map.in_rows.cpu(), out_rows = map.out_rows.cpu();
    const auto* in = in_rows.data_ptr<int64_t>();
    const auto* out = out_rows.data_ptr<int64_t>();
    const auto* start = map.offset_starts.data_ptr<int64_t>();
    // The dense tables from the pairs, then each side's columns in its order.
    auto by_out = torch::full({volume, map.output_size}, int64_t{-1}, torch::kLong);
    auto by_in = torch::full({volume, map.input_size}, int64_t{-1}, torch::kLong);
    auto by_out_a = by_out.accessor<int64_t, 2>();
    auto by_in_a = by_in.accessor<int64_t, 2>();
    for (int64_t k = 0; k < volume; ++k) {
      for (int64_t p = start[k]; p < start[k + 1]; ++p) {
        by_out_a[k][out[p]] = in[p];
        by_in_a[k][in[p]] = out[p];
      }
    }
    for (const auto& [table, expected, size] :
         {std::make_tuple(map.out_table, by_out, map.output_size),
          std::make_tuple(map.in_table, by_in, map.input_size)}) {
      ASSERT_TRUE(table.defined());
      const auto order = table.order.cpu().to(torch::kLong);
      EXPECT_EQ(table.rows.scalar_type(), torch::kInt32);
      EXPECT_TRUE(torch::equal(std::get<0>(order.sort()), torch::arange(size)));
      EXPECT_TRUE(torch::equal(table.rows.cpu().to(torch::kLong), expected.index_select(1, order)));
      // Sorted by the set of offsets present.
      const auto bits = torch::pow(2, torch::arange(volume, torch::kLong)).unsqueeze(1);
      const auto sets = (table.rows.cpu().ge(0).to(torch::kLong) * bits).sum(0);
      if (size > 1) EXPECT_TRUE((sets.slice(0, 1) >= sets.slice(0, 0, -1)).all().item<bool>());
    }
  }
}

TEST_F(FusedSparseConv, EmptyMaps_CUDA) {
  const torch::Device cuda(torch::kCUDA);
  // No rows at all.
  const SparseTensor empty(torch::zeros({0, 4}, torch::TensorOptions(cuda).dtype(torch::kInt32)),
                           torch::zeros({0, 3}, torch::TensorOptions(cuda)));
  const auto w = torch::randn({27, 3, 5}, torch::TensorOptions(cuda).requires_grad(true));
  const auto y = conv3d(empty, w, {}, {3, 1, 1});
  EXPECT_EQ(y.features().sizes(), (std::vector<int64_t>{0, 5}));
  y.features().sum().backward();
  EXPECT_EQ(w.grad().abs().sum().item<double>(), 0.0);

  // Rows on both sides but no pair: every output row is written, as zero.
  const auto in_coords = torch::tensor({0, 1, 1, 1, 0, 1, 1, 2}, torch::kInt32).view({2, 4});
  const auto out_coords = torch::tensor({0, 9, 9, 9, 1, 1, 1, 1, 0, 20, 1, 1}, torch::kInt32)
                              .view({3, 4});
  const auto map = conv_map(in_coords.to(cuda), out_coords.to(cuda), {3, 1, 1});
  EXPECT_EQ(map.pairs(), 0);
  const auto f = torch::randn({2, 3}, torch::TensorOptions(cuda).requires_grad(true));
  const auto w2 = torch::randn({27, 3, 5}, torch::TensorOptions(cuda).requires_grad(true));
  ASSERT_TRUE(uses_fused_cuda_conv(f, w2, map));
  const auto out = sparse_conv_features(f, w2, map);
  EXPECT_TRUE(torch::equal(out.cpu(), torch::zeros({3, 5})));
  out.sum().backward();
  EXPECT_TRUE(torch::equal(f.grad().cpu(), torch::zeros({2, 3})));
  EXPECT_TRUE(torch::equal(w2.grad().cpu(), torch::zeros({27, 3, 5})));
}

TEST_F(FusedSparseConv, HalfAndTheSwitchFallBack_CUDA) {
  const torch::Device cuda(torch::kCUDA);
  const auto coords = random_sparse_coords(1, 10, 0.3).to(cuda);
  const auto map = submanifold_map(coords, 3, 1);
  const auto x = torch::randn({coords.size(0), 8}, torch::TensorOptions(cuda));
  const auto w = torch::randn({27, 8, 8}, torch::TensorOptions(cuda)) * 0.1;
  EXPECT_TRUE(uses_fused_cuda_conv(x, w, map));
  EXPECT_FALSE(uses_fused_cuda_conv(x.to(torch::kHalf), w.to(torch::kHalf), map));
  EXPECT_FALSE(uses_fused_cuda_conv(x.to(torch::kBFloat16), w.to(torch::kBFloat16), map));
  const Tf32Scope exact(false);
  const auto fused = sparse_conv_features(x, w, map);
  const auto half = sparse_conv_features(x.to(torch::kHalf), w.to(torch::kHalf), map);
  EXPECT_EQ(half.scalar_type(), torch::kHalf);
  expect_near(half, fused.cpu().to(torch::kFloat64), 1e-2, "half through the torch ops");
  {
    const EnvScope off("SHAPEDIFF_SPARSE_FUSED", "0");
    EXPECT_FALSE(uses_fused_cuda_conv(x, w, map));
    const auto ops = sparse_conv_features(x, w, map);
    expect_near(ops, fused.cpu().to(torch::kFloat64), 1e-5, "torch ops against fused");
  }
  const EnvScope on("SHAPEDIFF_SPARSE_FUSED", "1");
  EXPECT_TRUE(uses_fused_cuda_conv(x, w, map));
}

TEST(FusedSparseConvCpu, CpuMapsTakeTheCpuPath) {
  const auto coords = random_sparse_coords(1, 8, 0.3);
  const auto map = submanifold_map(coords, 3, 1);
  EXPECT_FALSE(map.out_table.defined());
  EXPECT_FALSE(map.in_table.defined());
  EXPECT_FALSE(uses_fused_cuda_conv(torch::randn({coords.size(0), 4}), torch::randn({27, 4, 4}),
                                    map));
}

}  // namespace
}  // namespace shapediff::sparse

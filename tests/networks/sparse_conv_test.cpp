#include "networks/sparse/sparse_conv.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "networks/sparse/kernel_map.h"
#include "networks/sparse/sparse_tensor.h"
#include "tests/networks/networks_test_support.h"

namespace shapediff::sparse {
namespace {

using torch::Tensor;

const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);

class SparseConv : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(77); }
};

using shapediff::test::expect_error;

void expect_close(const Tensor& actual, const Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  EXPECT_TRUE(torch::allclose(actual, expected, 1e-9, 1e-9))
      << what << ": max difference " << (actual - expected).abs().max().item<double>();
}

// `cells` distinct random cells in [0, grid)^3 for each of `batch` items, int32 [N,4].
Tensor random_coords(int64_t batch, int64_t grid, int64_t cells) {
  std::vector<Tensor> rows;
  for (int64_t b = 0; b < batch; ++b) {
    const auto flat = torch::randperm(grid * grid * grid, torch::kLong).slice(0, 0, cells);
    rows.push_back(torch::stack({torch::full_like(flat, b), flat.div(grid * grid, "floor"),
                                 flat.div(grid, "floor").remainder(grid), flat.remainder(grid)},
                                1));
  }
  return torch::cat(rows).to(torch::kInt32);
}

// Differentiable densify: features [N,C] at coords -> [B, C, S, S, S].
Tensor densify(const Tensor& coords, const Tensor& features, int64_t batch, int64_t size) {
  const auto c = coords.to(torch::kLong);
  auto dense = torch::zeros({batch, size, size, size, features.size(1)}, features.options());
  dense =
      dense.index_put({c.select(1, 0), c.select(1, 1), c.select(1, 2), c.select(1, 3)}, features);
  return dense.permute({0, 4, 1, 2, 3});
}

// Dense [B, C, X, Y, Z] at the cells coords -> [N, C].
Tensor sample(const Tensor& dense, const Tensor& coords) {
  const auto c = coords.to(torch::kLong);
  return dense.permute({0, 2, 3, 4, 1})
      .index({c.select(1, 0), c.select(1, 1), c.select(1, 2), c.select(1, 3)});
}

// W [K, Cin, Cout] -> conv3d's [Cout, Cin, k, k, k] or conv_transpose3d's [Cin, Cout, k, k, k].
Tensor dense_weight(const Tensor& w, int64_t ks, bool transposed) {
  const auto r = w.reshape({ks, ks, ks, w.size(1), w.size(2)});
  return transposed ? r.permute({3, 4, 0, 1, 2}) : r.permute({4, 3, 0, 1, 2});
}

Tensor leaf(const Tensor& t) { return t.detach().clone().requires_grad_(true); }

struct Grads {
  Tensor out, features, weight, bias;
};

// Output features of op and the gradients of sum(out * v) to the features, weight and bias.
Grads run(const std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)>& op,
          const Tensor& features, const Tensor& weight, const Tensor& bias, const Tensor& v) {
  auto f = leaf(features), w = leaf(weight), b = leaf(bias);
  const auto out = op(f, w, b);
  const auto g = torch::autograd::grad({(out * v).sum()}, {f, w, b});
  return {out.detach(), g[0], g[1], g[2]};
}

void expect_same(const Grads& sparse, const Grads& dense, const std::string& what) {
  expect_close(sparse.out, dense.out, what + " forward");
  expect_close(sparse.features, dense.features, what + " grad features");
  expect_close(sparse.weight, dense.weight, what + " grad weight");
  expect_close(sparse.bias, dense.bias, what + " grad bias");
}

std::string label(const ConvGeometry& g) {
  return "ks " + std::to_string(g.kernel_size) + " stride " + std::to_string(g.stride) +
         " dilation " + std::to_string(g.dilation);
}

std::vector<ConvGeometry> geometries() {
  std::vector<ConvGeometry> all;
  for (int64_t ks : {1, 2, 3}) {
    for (int64_t stride : {1, 2, 3}) {
      for (int64_t dilation : {1, 2}) all.push_back({ks, stride, dilation});
    }
  }
  return all;
}

// Unique floor(c / factor) rows (batch kept) of int32 [N,4], as a set.
std::set<std::vector<int32_t>> coarse_set(const Tensor& coords, int64_t factor) {
  std::set<std::vector<int32_t>> cells;
  const auto c = coords.contiguous();
  const auto* p = c.data_ptr<int32_t>();
  for (int64_t i = 0; i < c.size(0); ++i) {
    cells.insert({p[4 * i], p[4 * i + 1] / static_cast<int32_t>(factor),
                  p[4 * i + 2] / static_cast<int32_t>(factor),
                  p[4 * i + 3] / static_cast<int32_t>(factor)});
  }
  return cells;
}

std::set<std::vector<int32_t>> row_set(const Tensor& coords) { return coarse_set(coords, 1); }

constexpr int64_t kBatch = 3, kGrid = 8, kCells = 70, kCin = 3, kCout = 4;

TEST_F(SparseConv, Conv3dEqualsDenseConv3d) {
  auto all = geometries();
  all.push_back({5, 1, 1});
  for (const auto& g : all) {
    const auto coords = random_coords(kBatch, kGrid, kCells);
    const auto features = torch::randn({coords.size(0), kCin}, kF64);
    const auto weight = torch::randn({g.volume(), kCin, kCout}, kF64);
    const auto bias = torch::randn({kCout}, kF64);
    const SparseTensor x(coords, features);

    const auto y = conv3d(x.replace_features(features), weight, bias, g);
    EXPECT_EQ(y.stride(), g.stride) << label(g);
    if (g.stride == 1) {
      EXPECT_TRUE(y.coords().is_same(x.coords())) << label(g);
    } else {
      EXPECT_EQ(row_set(y.coords()), coarse_set(coords, g.stride)) << label(g);
    }
    const auto v = torch::randn({y.size(), kCout}, kF64);
    const auto sparse =
        run([&](const Tensor& f, const Tensor& w,
                const Tensor& b) { return conv3d(x.replace_features(f), w, b, g).features(); },
            features, weight, bias, v);
    // Margin on the high side so that every output cell is inside the dense output.
    const int64_t size = kGrid + g.dilation * (g.kernel_size - 1) + 1;
    const auto dense = run(
        [&](const Tensor& f, const Tensor& w, const Tensor& b) {
          const auto out =
              torch::conv3d(densify(coords, f, kBatch, size), dense_weight(w, g.kernel_size, false),
                            b, g.stride, g.padding(), g.dilation);
          return sample(out, y.coords());
        },
        features, weight, bias, v);
    expect_same(sparse, dense, "conv3d " + label(g));
  }
}

TEST_F(SparseConv, ConvTranspose3dEqualsDenseConvTranspose3d) {
  for (const auto& g : geometries()) {
    const SparseTensor fine(random_coords(kBatch, kGrid, kCells),
                            torch::randn({kBatch * kCells, 2}, kF64));
    const auto& coarse_coords = fine.manager()->downsample_coords(fine.coords(), g.stride);
    const auto features = torch::randn({coarse_coords.size(0), kCin}, kF64);
    const SparseTensor coarse(coarse_coords, features, g.stride, fine.manager());
    const auto weight = torch::randn({g.volume(), kCin, kCout}, kF64);
    const auto bias = torch::randn({kCout}, kF64);

    const auto y = conv_transpose3d(coarse, weight, bias, g, fine);
    EXPECT_TRUE(y.coords().is_same(fine.coords())) << label(g);
    EXPECT_EQ(y.stride(), 1) << label(g);
    const auto v = torch::randn({y.size(), kCout}, kF64);
    const auto sparse = run(
        [&](const Tensor& f, const Tensor& w, const Tensor& b) {
          return conv_transpose3d(coarse.replace_features(f), w, b, g, fine).features();
        },
        features, weight, bias, v);
    // Two empty coarse cells of margin make the dense output cover the whole fine grid.
    const int64_t coarse_size = (kGrid + g.stride - 1) / g.stride + 2;
    const auto dense = run(
        [&](const Tensor& f, const Tensor& w, const Tensor& b) {
          const auto out = torch::conv_transpose3d(densify(coarse_coords, f, kBatch, coarse_size),
                                                   dense_weight(w, g.kernel_size, true), b,
                                                   g.stride, g.padding(),
                                                   /*output_padding=*/0, /*groups=*/1, g.dilation);
          return sample(out, fine.coords());
        },
        features, weight, bias, v);
    expect_same(sparse, dense, "conv_transpose3d " + label(g));
  }
}

TEST_F(SparseConv, GenerativeConvTranspose3dEqualsDenseConvTranspose3d) {
  for (const auto& g : geometries()) {
    const int64_t coarse_grid = 4;
    const auto coords = random_coords(kBatch, coarse_grid, 12);
    const auto features = torch::randn({coords.size(0), kCin}, kF64);
    const SparseTensor x(coords, features, /*stride=*/2 * g.stride);
    const auto weight = torch::randn({g.volume(), kCin, kCout}, kF64);
    const auto bias = torch::randn({kCout}, kF64);

    const auto y = generative_conv_transpose3d(x, weight, bias, g);
    EXPECT_EQ(y.stride(), 2) << label(g);
    const auto v = torch::randn({y.size(), kCout}, kF64);
    const auto sparse = run(
        [&](const Tensor& f, const Tensor& w, const Tensor& b) {
          return generative_conv_transpose3d(x.replace_features(f), w, b, g).features();
        },
        features, weight, bias, v);
    const int64_t coarse_size = coarse_grid + 2;
    const auto dense_out = [&](const Tensor& f, const Tensor& w, const Tensor& b) {
      return torch::conv_transpose3d(densify(coords, f, kBatch, coarse_size),
                                     dense_weight(w, g.kernel_size, true), b, g.stride, g.padding(),
                                     0, 1, g.dilation);
    };
    const auto dense = run([&](const Tensor& f, const Tensor& w,
                               const Tensor& b) { return sample(dense_out(f, w, b), y.coords()); },
                           features, weight, bias, v);
    expect_same(sparse, dense, "generative_conv_transpose3d " + label(g));

    // Without bias the dense output is zero off the generated cells: none was left out.
    const auto full = dense_out(features, weight, torch::zeros({kCout}, kF64));
    const auto generated = generative_conv_transpose3d(x, weight, {}, g);
    const auto sparse_full =
        densify(generated.coords(), generated.features(), kBatch, full.size(2));
    expect_close(sparse_full, full, "generative cells cover the dense output, " + label(g));
  }
}

TEST_F(SparseConv, MapsAreBuiltOncePerCoordinates) {
  const SparseTensor x(random_coords(2, kGrid, 50), torch::randn({100, 4}));
  const auto w = torch::randn({27, 4, 4});
  const auto y = conv3d(conv3d(x, w, {}, {3, 1, 1}), w, {}, {3, 1, 1});
  EXPECT_EQ(x.manager()->maps_built(), 1);
  const auto down = conv3d(y, torch::randn({8, 4, 4}), {}, {2, 2, 1});
  const auto up = conv_transpose3d(down, torch::randn({8, 4, 4}), {}, {2, 2, 1}, y);
  EXPECT_EQ(x.manager()->maps_built(), 2);  // the transposed conv reuses the strided one's map
  EXPECT_TRUE(up.coords().is_same(x.coords()));
  EXPECT_EQ(up.stride(), 1);
}

TEST_F(SparseConv, ModuleRunsEveryKind) {
  const SparseTensor x(random_coords(2, kGrid, 40), torch::randn({80, 8}));
  SparseConv3d sub(SparseConv3dOptions(8, 16, 3));
  SparseConv3d down(SparseConv3dOptions(16, 32, 2).stride(2));
  SparseConv3d up(SparseConv3dOptions(32, 16, 2).stride(2).transposed(true));
  SparseConv3d grow(SparseConv3dOptions(32, 4, 2).stride(2).generative(true).bias(false));
  const auto h = sub(x);
  const auto d = down(h);
  const auto u = up(d, h);
  const auto gen = grow(d);
  EXPECT_EQ(h.channels(), 16);
  EXPECT_EQ(d.stride(), 2);
  EXPECT_EQ(d.channels(), 32);
  EXPECT_TRUE(u.coords().is_same(x.coords()));
  EXPECT_EQ(u.channels(), 16);
  // A stride-2, 2x2x2 generative conv fills all 8 children of every coarse cell.
  EXPECT_EQ(gen.size(), 8 * d.size());
  EXPECT_FALSE(grow->bias.defined());
  EXPECT_EQ(sub->weight.sizes(), (std::vector<int64_t>{27, 8, 16}));
  (u.features().sum() + gen.features().sum()).backward();
  for (const auto& p : {sub->weight, sub->bias, down->weight, up->weight, grow->weight}) {
    EXPECT_TRUE(p.grad().defined());
    EXPECT_GT(p.grad().abs().sum().item<double>(), 0.0);
  }
  expect_error([&] { up(d); }, "needs a target");
  expect_error([&] { sub(x, x); }, "only a transposed");
  expect_error([] { SparseConv3d(SparseConv3dOptions(8, 16, 0)); }, "must be >= 1");
}

TEST_F(SparseConv, EmptyInputGivesEmptyOutput) {
  const SparseTensor x(torch::zeros({0, 4}, torch::kInt32), torch::zeros({0, 3}));
  const auto w = torch::randn({27, 3, 5}, torch::requires_grad());
  const auto y = conv3d(x, w, torch::zeros({5}), {3, 1, 1});
  EXPECT_EQ(y.features().sizes(), (std::vector<int64_t>{0, 5}));
  y.features().sum().backward();
  EXPECT_EQ(w.grad().abs().sum().item<double>(), 0.0);
}

TEST_F(SparseConv, BadInput) {
  const SparseTensor x(random_coords(1, kGrid, 20), torch::randn({20, 3}));
  const ConvGeometry g{3, 1, 1};
  expect_error([&] { conv3d(x, torch::randn({8, 3, 4}), {}, g); }, "weight must be [K=27, Cin=3");
  expect_error(
      [&] {
        conv3d(x, torch::randn({27, 5, 4}), {}, g);
      },
      "3 input channels, got [27, 5, 4]");
  expect_error(
      [&] {
        conv3d(x, torch::randn({27, 3, 4}), torch::randn({5}), g);
      },
      "bias must be [Cout=4], got [5]");
  expect_error([&] { conv3d(x, torch::randn({27, 3, 4}, kF64), {}, g); }, "weight is Double");
  expect_error([&] { conv3d(x, torch::randn({27, 3, 4}), {}, {3, 0, 1}); }, "must be >= 1");
  expect_error([&] { conv3d(x, torch::empty({27, 3, 4}, torch::kMeta), {}, g); }, "on meta");
  expect_error(
      [&] {
        conv3d(x, torch::randn({27, 3, 4}), torch::empty({4}, torch::kMeta), g);
      },
      "bias is Float on meta");
  const auto& coarse_coords = x.manager()->downsample_coords(x.coords(), 2);
  const SparseTensor coarse_rows(coarse_coords, torch::randn({coarse_coords.size(0), 3}), 2,
                                 x.manager());
  expect_error(
      [&] {
        conv_transpose3d(coarse_rows, torch::randn({27, 3, 4}), {}, {3, 3, 1}, x);
      },
      "target stride 1 times conv stride 3 must equal the input stride 2");
  expect_error(
      [&] {
        generative_conv_transpose3d(coarse_rows, torch::randn({8, 3, 4}), {}, {2, 4, 1});
      },
      "conv stride 4 does not divide the input stride 2");
  const KernelMap map = submanifold_map(x.coords(), 3, 1);
  expect_error(
      [&] {
        sparse_conv_features(torch::randn({19, 3}), torch::randn({27, 3, 4}), map);
      },
      "features must be [20, Cin]");
}

TEST_F(SparseConv, MatchesCpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Device cuda(torch::kCUDA);
  for (const auto& g : geometries()) {
    const SparseTensor x(random_coords(kBatch, kGrid, kCells),
                         torch::randn({kBatch * kCells, kCin}, kF64));
    const auto weight = torch::randn({g.volume(), kCin, kCout}, kF64);
    const auto bias = torch::randn({kCout}, kF64);
    const auto xc = x.to(cuda);
    const auto cpu_down = conv3d(x, weight, bias, g);
    const auto gpu_down = conv3d(xc, weight.to(cuda), bias.to(cuda), g);
    EXPECT_TRUE(torch::equal(cpu_down.coords(), gpu_down.coords().cpu())) << label(g);
    expect_close(gpu_down.features().cpu(), cpu_down.features(), "conv3d " + label(g));

    const auto wt = torch::randn({g.volume(), kCout, kCin}, kF64);
    const auto cpu_up = conv_transpose3d(cpu_down, wt, {}, g, x);
    const auto gpu_up = conv_transpose3d(gpu_down, wt.to(cuda), {}, g, xc);
    expect_close(gpu_up.features().cpu(), cpu_up.features(), "conv_transpose3d " + label(g));

    const SparseTensor coarse(cpu_down.coords(), cpu_down.features(), 2 * g.stride);
    const auto cpu_gen = generative_conv_transpose3d(coarse, wt, {}, g);
    const auto gpu_gen = generative_conv_transpose3d(coarse.to(cuda), wt.to(cuda), {}, g);
    EXPECT_TRUE(torch::equal(cpu_gen.coords(), gpu_gen.coords().cpu())) << label(g);
    expect_close(gpu_gen.features().cpu(), cpu_gen.features(), "generative " + label(g));

    // Gradients: the same upstream gradient on both devices.
    auto fc = leaf(x.features()), wc = leaf(weight);
    auto fg = leaf(x.features().to(cuda)), wg = leaf(weight.to(cuda));
    const auto yc = conv3d(x.replace_features(fc), wc, {}, g).features();
    const auto yg = conv3d(xc.replace_features(fg), wg, {}, g).features();
    const auto v = torch::randn_like(yc);
    const auto gc = torch::autograd::grad({(yc * v).sum()}, {fc, wc});
    const auto gg = torch::autograd::grad({(yg * v.to(cuda)).sum()}, {fg, wg});
    expect_close(gg[0].cpu(), gc[0], "grad features " + label(g));
    expect_close(gg[1].cpu(), gc[1], "grad weight " + label(g));
  }
  const SparseTensor x(random_coords(1, kGrid, 20), torch::randn({20, 3}));
  const auto& coarse = x.manager()->downsample_coords(x.coords(), 2);
  const SparseTensor down(coarse, torch::randn({coarse.size(0), 3}), 2, x.manager());
  expect_error([&] { conv3d(x, torch::randn({27, 3, 4}, cuda), {}, {3, 1, 1}); }, "on cuda");
  expect_error(
      [&] {
        conv_transpose3d(down.to(cuda), torch::randn({8, 3, 4}, cuda), {}, {2, 2, 1}, x);
      },
      "target on cpu, input on cuda");
}

}  // namespace
}  // namespace shapediff::sparse

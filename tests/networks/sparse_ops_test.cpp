#include "networks/sparse/sparse_ops.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "networks/sparse/sparse_tensor.h"
#include "tests/networks/networks_test_support.h"

namespace shapediff::sparse {
namespace {

using torch::Tensor;

const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);

class SparseOps : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(4321); }
};

using shapediff::test::expect_error;

void expect_close(const Tensor& actual, const Tensor& expected, const std::string& what,
                  double tol = 1e-9) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  EXPECT_TRUE(torch::allclose(actual, expected, tol, tol))
      << what << ": max difference " << (actual - expected).abs().max().item<double>();
}

// cells[b] distinct random cells in [0, grid)^3 for batch item b, shuffled across items.
Tensor random_coords(const std::vector<int64_t>& cells, int64_t grid) {
  std::vector<Tensor> rows;
  for (int64_t b = 0; b < static_cast<int64_t>(cells.size()); ++b) {
    const auto flat = torch::randperm(grid * grid * grid, torch::kLong).slice(0, 0, cells[b]);
    rows.push_back(torch::stack({torch::full_like(flat, b), flat.div(grid * grid, "floor"),
                                 flat.div(grid, "floor").remainder(grid), flat.remainder(grid)},
                                1));
  }
  const auto all = torch::cat(rows);
  return all.index_select(0, torch::randperm(all.size(0), torch::kLong)).to(torch::kInt32);
}

Tensor rows_of(const Tensor& coords, int64_t b) {
  return coords.select(1, 0).eq(b).nonzero().select(1, 0);
}

TEST_F(SparseOps, GroupNormEqualsPerSampleBruteForce) {
  const int64_t channels = 12, groups = 3, width = channels / groups;
  const std::vector<int64_t> cells = {30, 1, 55};
  const auto coords = random_coords(cells, 6);
  // A large mean: the variance must not lose it to cancellation.
  const auto features = torch::randn({coords.size(0), channels}, kF64) * 3 + 100;
  const auto weight = torch::randn({channels}, kF64), bias = torch::randn({channels}, kF64);
  const SparseTensor x(coords, features);
  const auto v = torch::randn_like(features);

  auto f1 = features.clone().requires_grad_(true);
  const auto y = group_norm(x.replace_features(f1), groups, weight, bias, 1e-5).features();
  const auto g1 = torch::autograd::grad({(y * v).sum()}, {f1})[0];

  auto f2 = features.clone().requires_grad_(true);
  auto expected = torch::zeros_like(features);
  for (int64_t b = 0; b < 3; ++b) {
    const auto rows = rows_of(coords, b);
    for (int64_t g = 0; g < groups; ++g) {
      const auto block = f2.index_select(0, rows).slice(1, g * width, (g + 1) * width);
      const auto mean = block.mean();
      const auto var = (block - mean).pow(2).mean();
      const auto normed =
          (block - mean) / torch::sqrt(var + 1e-5) * weight.slice(0, g * width, (g + 1) * width) +
          bias.slice(0, g * width, (g + 1) * width);
      expected.index_put_({rows, torch::indexing::Slice(g * width, (g + 1) * width)}, normed);
    }
  }
  const auto g2 = torch::autograd::grad({(expected * v).sum()}, {f2})[0];
  expect_close(y.detach(), expected.detach(), "group norm");
  expect_close(g1, g2, "group norm gradient", 1e-8);

  SparseGroupNorm module(SparseGroupNormOptions(groups, channels));
  module->to(torch::kFloat64);
  const auto plain = group_norm(x, groups, {}, {}, 1e-5).features();
  expect_close(module(x).features().detach(), plain, "module with unit affine");
  expect_error([&] { group_norm(x, 5, {}, {}); }, "num_groups 5 must be >= 1 and divide the 12");
  expect_error([&] { group_norm(x, 3, torch::ones({4}, kF64), {}); }, "must be [C=12]");
  expect_error([] { SparseGroupNorm(SparseGroupNormOptions(5, 12)); }, "num_groups 5");
}

TEST_F(SparseOps, GlobalPoolsEqualBruteForce) {
  // Batch item 2 has no cells.
  const auto coords = random_coords({20, 7, 0, 13}, 5);
  const auto features = torch::randn({coords.size(0), 6}, kF64);
  const SparseTensor x(coords, features);
  const auto avg = global_avg_pool(x, 4);
  const auto max = global_max_pool(x, 4);
  ASSERT_EQ(avg.sizes(), (std::vector<int64_t>{4, 6}));
  for (int64_t b = 0; b < 4; ++b) {
    const auto rows = features.index_select(0, rows_of(coords, b));
    const auto want_avg = rows.size(0) ? rows.mean(0) : torch::zeros({6}, kF64);
    const auto want_max = rows.size(0) ? std::get<0>(rows.max(0)) : torch::zeros({6}, kF64);
    expect_close(avg[b], want_avg, "avg item " + std::to_string(b));
    expect_close(max[b], want_max, "max item " + std::to_string(b));
  }
  // Gradients: 1/count per cell for the mean, 1 at the arg max for the max.
  auto f = features.clone().requires_grad_(true);
  global_max_pool(x.replace_features(f), 4).sum().backward();
  EXPECT_DOUBLE_EQ(f.grad().sum().item<double>(), 3 * 6);
  auto f2 = features.clone().requires_grad_(true);
  global_avg_pool(x.replace_features(f2), 5).sum().backward();
  EXPECT_NEAR(f2.grad().sum().item<double>(), 3 * 6, 1e-12);
  expect_error([&] { global_avg_pool(x, 3); }, "batch index 3 >= batch_size 3");
  expect_error([&] { global_max_pool(x, 0); }, "batch_size must be >= 1");
}

TEST_F(SparseOps, PruneKeepsTheMaskedRows) {
  const auto coords = random_coords({25, 25}, 6);
  const auto features = torch::randn({50, 3}, kF64).requires_grad_(true);
  const SparseTensor x(coords, features, 2);
  const auto keep = torch::rand({50}) > 0.5;
  const auto y = prune(x, keep);
  EXPECT_TRUE(torch::equal(y.coords(), coords.index({keep})));
  EXPECT_TRUE(torch::equal(y.features(), features.index({keep})));
  EXPECT_EQ(y.stride(), 2);
  EXPECT_EQ(y.manager(), x.manager());
  y.features().sum().backward();
  EXPECT_TRUE(torch::equal(features.grad().select(1, 0), keep.to(torch::kFloat64)));
  EXPECT_EQ(prune(x, torch::zeros({50}, torch::kBool)).size(), 0);

  expect_error([&] { prune(x, torch::ones({49}, torch::kBool)); },
               "bool [N=50] mask, got Bool with 49");
  expect_error([&] { prune(x, torch::ones({50}, torch::kInt32)); }, "got Int");
  expect_error([&] { prune(x, torch::ones({50, 1}, torch::kBool)); }, "in 2 dims");
  expect_error(
      [&] { prune(x, torch::empty({50}, torch::TensorOptions(torch::kMeta).dtype(torch::kBool))); },
      "keep on meta");
}

TEST_F(SparseOps, CatAndActivations) {
  const auto coords = random_coords({10, 10}, 4);
  const SparseTensor a(coords, torch::randn({20, 2}));
  const auto b = a.replace_features(torch::randn({20, 3}));
  const auto ab = cat(a, b);
  EXPECT_TRUE(ab.coords().is_same(coords));
  EXPECT_TRUE(torch::equal(ab.features(), torch::cat({a.features(), b.features()}, 1)));
  // Equal coordinates in another tensor are accepted too.
  const SparseTensor c(coords.clone(), torch::randn({20, 1}));
  EXPECT_EQ(cat(a, c).channels(), 3);
  const SparseTensor shuffled(coords.flip({0}), torch::randn({20, 1}));
  expect_error([&] { cat(a, shuffled); }, "different coordinates");
  const SparseTensor strided(coords, torch::randn({20, 1}), 2);
  expect_error([&] { cat(a, strided); }, "stride 1 vs 2");

  EXPECT_TRUE(torch::equal(relu(a).features(), torch::relu(a.features())));
  EXPECT_TRUE(torch::equal(silu(a).features(), torch::silu(a.features())));
  EXPECT_TRUE(silu(a).coords().is_same(coords));
}

TEST_F(SparseOps, BatchNormIsBatchNorm1dOnTheFeatures) {
  const SparseTensor x(random_coords({15, 15}, 4), torch::randn({30, 4}) * 2 + 1);
  SparseBatchNorm norm(torch::nn::BatchNormOptions(4));
  const auto y = norm(x).features();
  expect_close(y.mean(0).detach(), torch::zeros({4}), "mean", 1e-5);
  expect_close(y.var(0, /*unbiased=*/false).detach(), torch::ones({4}), "variance", 1e-3);
}

TEST_F(SparseOps, ResBlockKeepsBatchItemsIndependent) {
  const auto coords = random_coords({40, 30}, 6);
  const auto features = torch::randn({70, 8});
  const auto embedding = torch::randn({2, 16});
  SparseResBlock block(SparseResBlockOptions(8, 16).num_groups(4).embed_channels(16));
  const SparseTensor x(coords, features);
  const auto y = block(x, embedding);
  EXPECT_TRUE(y.coords().is_same(coords));
  EXPECT_EQ(y.channels(), 16);

  // Item 1 alone gives the same rows as inside the batch (norm statistics and convolutions
  // never mix batch items).
  const auto rows = rows_of(coords, 1);
  auto alone_coords = coords.index_select(0, rows).clone();
  alone_coords.select(1, 0).fill_(0);
  const auto alone =
      block(SparseTensor(alone_coords, features.index_select(0, rows)), embedding.slice(0, 1, 2));
  expect_close(alone.features().detach(), y.features().index_select(0, rows).detach(),
               "item 1 alone", 1e-5);

  y.features().pow(2).sum().backward();
  for (const auto& p : block->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
  EXPECT_NE(block->named_parameters().find("skip.weight"), nullptr);

  SparseResBlock same(SparseResBlockOptions(8, 8).num_groups(2));
  EXPECT_EQ(same->named_parameters().find("skip.weight"), nullptr);
  EXPECT_EQ(same(x).channels(), 8);
  expect_error([&] { same(x, embedding); }, "block without one");
  expect_error([&] { block(x); }, "embedding must be [B, 16]");
}

TEST_F(SparseOps, MatchCpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Device cuda(torch::kCUDA);
  const SparseTensor x(random_coords({30, 20, 25}, 6), torch::randn({75, 8}, kF64));
  const auto xc = x.to(cuda);
  expect_close(group_norm(xc, 4, {}, {}).features().cpu(), group_norm(x, 4, {}, {}).features(),
               "group norm");
  expect_close(global_avg_pool(xc, 3).cpu(), global_avg_pool(x, 3), "avg pool");
  expect_close(global_max_pool(xc, 3).cpu(), global_max_pool(x, 3), "max pool");
  const auto keep = torch::rand({75}) > 0.3;
  const auto pruned = prune(xc, keep.to(cuda));
  EXPECT_TRUE(torch::equal(pruned.coords().cpu(), prune(x, keep).coords()));
  SparseResBlock block(SparseResBlockOptions(8, 16).num_groups(4));
  block->to(torch::kFloat64);
  const auto cpu = block(x).features().detach();
  block->to(cuda);
  expect_close(block(xc).features().detach().cpu(), cpu, "res block");
}

}  // namespace
}  // namespace shapediff::sparse

// SparseTensor: validation of coordinates and features, dense round trips against a per-cell
// reference, and what replace_features / to keep or renew. *_CUDA tests run on a CUDA device.
#include "networks/sparse/sparse_tensor.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <stdexcept>
#include <string>

#include "networks/sparse/kernel_map.h"
#include "shapediff/config.h"
#include "tests/networks/networks_test_support.h"

namespace shapediff::sparse {
namespace {

using torch::Tensor;

class SparseTensorTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(77); }
};

class SparseTensorCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
    if (!SHAPEDIFF_WITH_CUDA) GTEST_SKIP() << "built without CUDA";
    torch::manual_seed(78);
  }
};

using shapediff::test::expect_error;
using shapediff::test::random_sparse_coords;


Tensor cells(std::initializer_list<int32_t> values) {
  return torch::tensor(std::vector<int32_t>(values), torch::kInt32).reshape({-1, 4});
}

TEST_F(SparseTensorTest, KeepsWhatItWasGiven) {
  const auto coords = random_sparse_coords(2, 6, 0.3);
  const auto features = torch::randn({coords.size(0), 5});
  const SparseTensor x(coords, features, 2);
  EXPECT_EQ(x.size(), coords.size(0));
  EXPECT_EQ(x.channels(), 5);
  EXPECT_EQ(x.stride(), 2);
  EXPECT_TRUE(x.device().is_cpu());
  ASSERT_TRUE(x.manager());
  EXPECT_TRUE(torch::equal(x.coords(), coords));
  EXPECT_TRUE(torch::equal(x.features(), features));
  // Two tensors made separately do not share a cache.
  EXPECT_NE(SparseTensor(coords, features).manager(), x.manager());
}

TEST_F(SparseTensorTest, RejectsBadInput) {
  const auto coords = cells({0, 1, 2, 3, 0, 2, 2, 3, 1, 1, 2, 3, 0, 0, 0, 0});
  const auto features = torch::randn({4, 3});
  expect_error([&] { SparseTensor(cells({0, 1, 2, 3, 0, 5, 5, 5, 1, 0, 0, 0, 0, 5, 5, 5}),
                                  features); },
               "row 3 (0, 5, 5, 5) repeats row 1");
  expect_error([&] { SparseTensor(cells({0, 1, 2, 3, 0, 2, -2, 3, 1, 1, 2, 3, 0, 0, 0, 0}),
                                  features); },
               "coords row 1 (0, 2, -2, 3) has a negative coordinate");
  expect_error([&] { SparseTensor(cells({0, 1, 2, 3, -1, 2, 2, 3, 1, 1, 2, 3, 0, 0, 0, 0}),
                                  features); },
               "row 1 (-1, 2, 2, 3)");
  expect_error([&] { SparseTensor(cells({0, 1, 2, 3, 0, 2, 2, 3, 1, 1, 2, 3, 0, 0, 65536, 0}),
                                  features); },
               "row 3 (0, 0, 65536, 0) is out of range");
  expect_error([&] { SparseTensor(coords.to(torch::kLong), features); }, "must be int32, got Long");
  expect_error([&] { SparseTensor(coords.slice(1, 1), features); }, "[N, 4]");
  expect_error([&] { SparseTensor(coords, torch::randn({3, 3})); },
               "features has 3 rows but coords has 4");
  expect_error([&] { SparseTensor(coords, torch::randn({4})); }, "features must be [N, C]");
  expect_error([&] { SparseTensor(coords, torch::ones({4, 3}, torch::kInt32)); },
               "floating point");
  expect_error([&] { SparseTensor(coords, torch::empty({4, 3}, torch::kMeta)); },
               "features are on meta but coords on cpu");
  expect_error([&] { SparseTensor(coords, features, 0); }, "stride must be >= 1");
  expect_error([&] { SparseTensor(Tensor(), features); }, "coords is undefined");
  expect_error([&] { SparseTensor(coords, Tensor()); }, "features is undefined");
}

TEST_F(SparseTensorTest, ToDenseRejectsCellsOutside) {
  const SparseTensor x(cells({0, 1, 2, 3, 1, 7, 0, 0}), torch::randn({2, 3}));
  expect_error([&] { x.to_dense({8, 8, 8}, 1); }, "coords row 1 (1, 7, 0, 0) lies outside");
  expect_error([&] { x.to_dense({7, 8, 8}, 2); }, "row 1");
  expect_error([&] { x.to_dense({8, 8, 3}, 2); }, "row 0 (0, 1, 2, 3)");
  expect_error([&] { x.to_dense({8, 0, 8}, 2); }, "spatial size 1 must be >= 1");
  expect_error([&] { x.to_dense({8, 8, 8}, 0); }, "batch must be >= 1");
  EXPECT_EQ(x.to_dense({8, 8, 4}, 2).sizes(), (std::vector<int64_t>{2, 3, 8, 8, 4}));
}

TEST_F(SparseTensorTest, DenseRoundTripsMatchPerCellReference) {
  const auto coords = random_sparse_coords(3, 7, 0.25);
  const auto features = torch::randn({coords.size(0), 4}, torch::kFloat64);
  const SparseTensor x(coords, features);
  const auto dense = x.to_dense({7, 8, 9}, 3);
  ASSERT_EQ(dense.sizes(), (std::vector<int64_t>{3, 4, 7, 8, 9}));
  auto expected = torch::zeros({3, 4, 7, 8, 9}, torch::kFloat64);
  const auto c = coords.accessor<int32_t, 2>();
  for (int64_t i = 0; i < coords.size(0); ++i) {
    expected.index_put_({c[i][0], torch::indexing::Slice(), c[i][1], c[i][2], c[i][3]},
                        features[i]);
  }
  EXPECT_TRUE(torch::equal(dense, expected));

  // Back to sparse: the same cells in row-major order with their features.
  const auto active = dense.abs().sum(1).gt(0);
  const auto y = SparseTensor::from_dense(dense, active, 2);
  EXPECT_EQ(y.stride(), 2);
  ASSERT_EQ(y.size(), coords.size(0));
  const auto key = ((coords.select(1, 0).to(torch::kLong) * 64 + coords.select(1, 1)) * 64 +
                    coords.select(1, 2)) * 64 + coords.select(1, 3);
  const auto sorted = std::get<1>(key.sort());
  EXPECT_TRUE(torch::equal(y.coords(), coords.index_select(0, sorted)));
  EXPECT_TRUE(torch::equal(y.features(), features.index_select(0, sorted)));
  EXPECT_TRUE(torch::equal(y.to_dense({7, 8, 9}, 3), dense));

  // From a dense grid with an arbitrary mask: the dense values where active, zero elsewhere.
  const auto grid = torch::randn({2, 3, 4, 5, 6});
  const auto mask = torch::rand({2, 4, 5, 6}).lt(0.3);
  const auto z = SparseTensor::from_dense(grid, mask);
  EXPECT_EQ(z.size(), mask.sum().item<int64_t>());
  EXPECT_TRUE(torch::equal(z.to_dense({4, 5, 6}, 2), grid * mask.unsqueeze(1)));
}

TEST_F(SparseTensorTest, DenseConversionsCarryGradients) {
  const auto coords = random_sparse_coords(2, 5, 0.3);
  const auto features = torch::randn({coords.size(0), 3}, torch::requires_grad());
  const auto weight = torch::randn({2, 3, 5, 5, 5});
  (SparseTensor(coords, features).to_dense({5, 5, 5}, 2) * weight).sum().backward();
  const auto c = coords.to(torch::kLong);
  // d/dfeatures[i, ch] = weight[b, ch, x, y, z] at the row's cell.
  const auto expected = weight.permute({0, 2, 3, 4, 1})
                            .index({c.select(1, 0), c.select(1, 1), c.select(1, 2),
                                    c.select(1, 3)});
  EXPECT_TRUE(torch::allclose(features.grad(), expected));

  const auto dense = torch::randn({1, 2, 3, 3, 3}, torch::requires_grad());
  const auto mask = torch::rand({1, 3, 3, 3}).lt(0.5);
  SparseTensor::from_dense(dense, mask).features().sum().backward();
  EXPECT_TRUE(torch::equal(dense.grad(), mask.unsqueeze(1).expand_as(dense).to(torch::kFloat)));
}

TEST_F(SparseTensorTest, FromDenseRejectsBadInput) {
  const auto dense = torch::randn({2, 3, 4, 4, 4});
  const auto active = torch::ones({2, 4, 4, 4}, torch::kBool);
  expect_error([&] { SparseTensor::from_dense(dense, active.to(torch::kFloat)); }, "bool");
  expect_error([&] { SparseTensor::from_dense(dense, active.slice(1, 1)); },
               "active must be [B, X, Y, Z]");
  expect_error([&] { SparseTensor::from_dense(dense[0], active[0]); }, "[B, C, X, Y, Z]");
  expect_error([&] { SparseTensor::from_dense(dense.to(torch::kInt32), active); },
               "floating point");
}

TEST_F(SparseTensorTest, ReplaceFeaturesKeepsCoordinatesAndManager) {
  const auto coords = random_sparse_coords(2, 6, 0.3);
  const SparseTensor x(coords, torch::randn({coords.size(0), 4}), 4);
  const auto& map = x.manager()->conv_map(x.coords(), x.coords(), {3, 1, 1});
  const auto y = x.replace_features(torch::randn({coords.size(0), 9}));
  EXPECT_EQ(y.channels(), 9);
  EXPECT_EQ(y.stride(), 4);
  EXPECT_EQ(y.manager(), x.manager());
  EXPECT_TRUE(y.coords().is_same(x.coords()));
  // Same coordinate tensor, same manager: the map is served from the cache.
  EXPECT_EQ(&y.manager()->conv_map(y.coords(), y.coords(), {3, 1, 1}), &map);
  EXPECT_EQ(y.manager()->maps_built(), 1);
  expect_error([&] { x.replace_features(torch::randn({coords.size(0) + 1, 4})); },
               "replace_features: features has");
  expect_error([&] { x.replace_features(torch::empty({coords.size(0), 4}, torch::kMeta)); },
               "meta");

  const auto z = x.to(torch::kCPU);
  EXPECT_NE(z.manager(), x.manager());
  EXPECT_TRUE(torch::equal(z.coords(), x.coords()));
  EXPECT_EQ(z.stride(), 4);
}

TEST_F(SparseTensorCuda, MovesToCudaAndBack_CUDA) {
  const auto coords = random_sparse_coords(2, 8, 0.3);
  const SparseTensor x(coords, torch::randn({coords.size(0), 3}), 2);
  const auto g = x.to(torch::kCUDA);
  EXPECT_TRUE(g.device().is_cuda());
  EXPECT_TRUE(g.features().is_cuda());
  EXPECT_NE(g.manager(), x.manager());
  EXPECT_TRUE(torch::equal(g.to_dense({8, 8, 8}, 2).cpu(), x.to_dense({8, 8, 8}, 2)));
  const auto back = SparseTensor::from_dense(g.to_dense({8, 8, 8}, 2), g.to_dense({8, 8, 8}, 2)
                                                                           .abs()
                                                                           .sum(1)
                                                                           .gt(0));
  EXPECT_TRUE(back.device().is_cuda());
  EXPECT_TRUE(torch::equal(back.to(torch::kCPU).to_dense({8, 8, 8}, 2), x.to_dense({8, 8, 8}, 2)));
  expect_error([&] { g.to_dense({8, 8, 8}, 1); }, "lies outside");
}

TEST_F(SparseTensorCuda, RejectsDuplicatesOnCuda_CUDA) {
  auto coords = random_sparse_coords(2, 8, 0.3);
  coords[40] = coords[11];
  const auto features = torch::randn({coords.size(0), 3});
  expect_error([&] { SparseTensor(coords.cuda(), features.cuda()); }, "row 40 ");
  expect_error([&] { SparseTensor(coords.cuda(), features.cuda()); }, "repeats row 11");
  expect_error([&] { SparseTensor(coords.cuda(), features); }, "features are on cpu");
}

}  // namespace
}  // namespace shapediff::sparse

#include "networks/timestep_embedding.h"

#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace shapediff::networks {
namespace {

TEST(TimestepEmbedding, MatchesThePlainFormula) {
  const auto t = torch::tensor({0.0, 1.0, 250.0, 999.0});
  const int64_t dim = 8;
  const auto e = timestep_embedding(t, dim, /*flip_sin_to_cos=*/false, /*shift=*/1.0);
  ASSERT_EQ(e.sizes(), (std::vector<int64_t>{4, 8}));
  for (int64_t b = 0; b < 4; ++b) {
    for (int64_t k = 0; k < 4; ++k) {
      const double f = std::exp(-std::log(10000.0) * static_cast<double>(k) / (4.0 - 1.0));
      const double arg = t[b].item<double>() * f;
      EXPECT_NEAR(e[b][k].item<double>(), std::sin(arg), 1e-4);
      EXPECT_NEAR(e[b][k + 4].item<double>(), std::cos(arg), 1e-4);
    }
  }
  const auto flipped = timestep_embedding(t, dim, /*flip_sin_to_cos=*/true, 1.0);
  EXPECT_TRUE(torch::allclose(flipped.slice(1, 0, 4), e.slice(1, 4, 8)));
}

TEST(TimestepEmbedding, OddDimensionIsPadded) {
  const auto e = timestep_embedding(torch::tensor({3, 7}), 5);
  ASSERT_EQ(e.size(1), 5);
  EXPECT_EQ(e.select(1, 4).abs().sum().item<double>(), 0.0);
}

TEST(TimestepEmbedding, BadInputIsRejected) {
  EXPECT_THROW(timestep_embedding(torch::zeros({2, 2}), 8), c10::Error);
  EXPECT_THROW(timestep_embedding(torch::zeros({2}), 1), c10::Error);
  EXPECT_THROW(timestep_embedding(torch::zeros({2}), 2, true, 1.0), c10::Error);
}

TEST(TimestepMLP, MapsToOutDimAndTrains) {
  torch::manual_seed(0);
  TimestepMLP mlp(TimestepMLPOptions(16, 32));
  const auto t = torch::tensor({1, 500, 900});
  const auto y = mlp->forward(t);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{3, 32}));
  // Gradients reach both layers.
  y.pow(2).sum().backward();
  for (const auto& p : mlp->parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_GT(p.grad().abs().sum().item<double>(), 0.0);
  }
  EXPECT_THROW(TimestepMLP(TimestepMLPOptions(1, 4)), c10::Error);
}

}  // namespace
}  // namespace shapediff::networks

#include "networks/pvcnn.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <stdexcept>
#include <string>

namespace shapediff::networks {
namespace {

torch::Tensor random_cloud(int64_t b, int64_t n, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto x = torch::randn({b, n, 3}, gen);
  return x / x.norm(2, 2, true).clamp_min(1e-6) * torch::rand({b, n, 1}, gen);
}

TEST(PVCNN, PvdPresetHasPublishedParameterCount) {
  torch::manual_seed(0);
  PVCNN net(pvcnn_preset(PVCNNPreset::PVD));
  // PVD's generation network reports ~27.6M parameters.
  EXPECT_GT(net->parameter_count(), 27'500'000);
  EXPECT_LT(net->parameter_count(), 27'700'000);
}

TEST(PVCNN, TinyForwardKeepsShapeAndIsFinite) {
  torch::manual_seed(0);
  PVCNN net(pvcnn_preset(PVCNNPreset::Tiny));
  net->eval();
  auto x = random_cloud(2, 128, 1);
  auto t = torch::tensor({10, 900});
  auto y = net->forward(x, t);
  ASSERT_EQ(y.sizes(), x.sizes());
  EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  EXPECT_TRUE(torch::equal(y, net->forward(x, t)));  // eval mode: deterministic
}

TEST(PVCNN, OutputDependsOnTimestepAndPoints) {
  torch::manual_seed(0);
  PVCNN net(pvcnn_preset(PVCNNPreset::Tiny));
  net->eval();
  auto x = random_cloud(1, 96, 2);
  auto a = net->forward(x, torch::tensor({5}));
  EXPECT_GT((a - net->forward(x, torch::tensor({700}))).abs().max().item<double>(), 1e-5);
  EXPECT_GT((a - net->forward(x * 0.5, torch::tensor({5}))).abs().max().item<double>(), 1e-5);
}

TEST(PVCNN, ScalarTimestepBroadcastsOverBatch) {
  torch::manual_seed(0);
  PVCNN net(pvcnn_preset(PVCNNPreset::Tiny));
  net->eval();
  auto x = random_cloud(3, 80, 3);
  auto a = net->forward(x, torch::tensor(250.0, torch::kFloat64));
  auto b = net->forward(x, torch::full({3}, 250));
  EXPECT_TRUE(torch::allclose(a, b, 1e-6, 1e-6));
}

TEST(PVCNN, BatchItemsAreIndependent) {
  torch::manual_seed(0);
  PVCNN net(pvcnn_preset(PVCNNPreset::Tiny));
  net->eval();
  auto x = random_cloud(2, 100, 4);
  auto both = net->forward(x, torch::tensor({3, 400}));
  auto second = net->forward(x.slice(0, 1, 2), torch::tensor({400}));
  EXPECT_TRUE(torch::allclose(both.slice(0, 1, 2), second, 1e-5, 1e-5));
}

TEST(PVCNN, EveryParameterGetsAGradient) {
  torch::manual_seed(0);
  PVCNN net(pvcnn_preset(PVCNNPreset::Tiny, 3));
  net->train();
  auto x = random_cloud(2, 128, 5);
  auto y = net->forward(x, torch::tensor({1, 500}), torch::tensor({0, 2}));
  y.pow(2).mean().backward();
  for (const auto& p : net->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    if (p.key().find("label_embedding") != std::string::npos) continue;  // only rows 0 and 2 used
    EXPECT_GT(p.value().grad().abs().max().item<double>(), 0.0) << p.key();
  }
}

TEST(PVCNN, LabelsCondition) {
  torch::manual_seed(0);
  PVCNN net(pvcnn_preset(PVCNNPreset::Tiny, 4));
  net->eval();
  auto x = random_cloud(1, 64, 6);
  auto t = torch::tensor({100});
  auto a = net->forward(x, t, torch::tensor({0}));
  auto b = net->forward(x, t, torch::tensor({3}));
  EXPECT_GT((a - b).abs().max().item<double>(), 1e-6);
  // An undefined label tensor means the null (unconditional) label.
  EXPECT_TRUE(torch::equal(net->forward(x, t), net->forward(x, t, torch::tensor({4}))));
  EXPECT_EQ(net->null_label(), 4);
  EXPECT_THROW(net->forward(x, t, torch::tensor({5})), c10::Error);
  EXPECT_THROW(net->forward(x, t, torch::tensor({-1})), c10::Error);
}

TEST(PVCNN, RejectsBadInputShapes) {
  PVCNN net(pvcnn_preset(PVCNNPreset::Tiny));
  EXPECT_THROW(net->forward(torch::zeros({2, 64}), torch::tensor({1, 2})), c10::Error);
  EXPECT_THROW(net->forward(torch::zeros({2, 64, 2}), torch::tensor({1, 2})), c10::Error);
  EXPECT_THROW(net->forward(random_cloud(2, 64, 7), torch::tensor({1, 2, 3})), c10::Error);
  // Fewer points than the first stage's centres.
  EXPECT_THROW(net->forward(random_cloud(1, 32, 7), torch::tensor({1})), c10::Error);
}

TEST(PVCNNConfig, ValidationNamesTheField) {
  auto expect_field = [](PVCNNConfig c, const std::string& field) {
    try {
      c.validate();
      FAIL() << "expected an error naming " << field;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  };
  auto c = pvcnn_preset(PVCNNPreset::Small);
  c.sa[1].conv_out = 60;
  expect_field(c, "sa[1].conv_out");
  c = pvcnn_preset(PVCNNPreset::Small);
  c.fp.pop_back();
  expect_field(c, "fp has");
  c = pvcnn_preset(PVCNNPreset::Small);
  c.sa[0].radius = 0;
  expect_field(c, "sa[0].radius");
  c = pvcnn_preset(PVCNNPreset::Small);
  c.embed_dim = 7;
  expect_field(c, "embed_dim");
  c = pvcnn_preset(PVCNNPreset::Small);
  c.sa[2].centers = 4096;
  expect_field(c, "sa[2].centers");
  for (auto p : {PVCNNPreset::PVD, PVCNNPreset::Small, PVCNNPreset::Tiny}) {
    EXPECT_NO_THROW(pvcnn_preset(p).validate());
    EXPECT_EQ(parse_pvcnn_preset(to_string(p)), p);
  }
  try {
    parse_pvcnn_preset("huge");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("pvd, small, tiny"), std::string::npos);
  }
}

}  // namespace
}  // namespace shapediff::networks

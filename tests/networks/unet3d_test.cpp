#include "networks/unet3d.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <stdexcept>
#include <string>

namespace shapediff::networks {
namespace {

torch::Tensor random_grid(std::vector<int64_t> sizes, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return torch::randn(sizes, gen);
}

// The output convolution starts at zero, which hides everything upstream of it; tests of what
// the output depends on give it random weights first.
void randomize_output_conv(UNet3d& net, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  torch::NoGradGuard no_grad;
  for (auto& p : net->named_parameters()) {
    if (p.key().rfind("output_conv.", 0) == 0) {
      p.value().copy_(torch::randn(p.value().sizes(), gen) * 0.1);
    }
  }
}

// A 3-channel-in, 2-channel-out, 3-level net small enough for 8^3 grids.
UNet3dOptions mini_options() {
  UNet3dOptions o;
  o.in_channels(3).out_channels(2).base_channels(8).groups(4).channel_mult({1, 2, 2})
      .num_res_blocks(1).attention_levels({2}).heads(2);
  return o;
}

void expect_invalid(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one mentioning '" << needle << "'";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(UNet3d, OutputShapeForSeveralOptions) {
  torch::manual_seed(0);
  struct Case {
    UNet3dOptions options;
    std::vector<int64_t> input;
  };
  auto one_level = UNet3dOptions().base_channels(8).groups(4).channel_mult({1}).attention_levels({})
                       .mid_attention(false).scale_shift(false).num_res_blocks(2).dropout(0.2);
  const std::vector<Case> cases = {
      {unet3d_preset(UNet3dPreset::Tiny), {2, 1, 16, 16, 16}},
      {unet3d_preset(UNet3dPreset::Tiny, 4), {1, 1, 8, 4, 6}},
      {mini_options(), {2, 3, 8, 16, 4}},
      {one_level, {1, 1, 5, 3, 7}},
  };
  for (const auto& c : cases) {
    UNet3d net(c.options);
    randomize_output_conv(net, 1);
    const auto x = random_grid(c.input, 2);
    const auto y = net->forward(x, torch::full({c.input[0]}, 17));
    std::vector<int64_t> expected = c.input;
    expected[1] = c.options.out_channels();
    EXPECT_EQ(y.sizes(), torch::IntArrayRef(expected));
    EXPECT_EQ(y.scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  }
}

TEST(UNet3d, OutputIsZeroAtInitAndMovesAfterOneStep) {
  torch::manual_seed(0);
  UNet3d net(unet3d_preset(UNet3dPreset::Tiny));
  const auto x = random_grid({2, 1, 8, 8, 8}, 3);
  const auto t = torch::tensor({3, 700});
  auto y = net->forward(x, t);
  EXPECT_EQ(y.abs().max().item<double>(), 0.0);

  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-3));
  opt.zero_grad();
  torch::mse_loss(y, random_grid({2, 1, 8, 8, 8}, 4)).backward();
  opt.step();
  EXPECT_GT(net->forward(x, t).abs().max().item<double>(), 1e-4);
}

TEST(UNet3d, EveryParameterGetsAGradient) {
  torch::manual_seed(0);
  UNet3d net(unet3d_preset(UNet3dPreset::Tiny, /*num_classes=*/2));
  randomize_output_conv(net, 5);
  net->train();
  const auto x = random_grid({3, 1, 8, 8, 8}, 6);
  // Labels 0, 1 and the null label 2 use every row of the label embedding.
  const auto y = net->forward(x, torch::tensor({1, 500, 999}), torch::tensor({0, 1, 2}));
  (y * random_grid({3, 1, 8, 8, 8}, 7)).sum().backward();
  for (const auto& p : net->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().max().item<double>(), 0.0) << p.key();
  }
}

TEST(UNet3d, TimestepChangesTheOutput) {
  torch::manual_seed(0);
  UNet3d net(unet3d_preset(UNet3dPreset::Tiny));
  randomize_output_conv(net, 8);
  net->eval();
  const auto x = random_grid({1, 1, 8, 8, 8}, 9);
  const auto a = net->forward(x, torch::tensor({10}));
  EXPECT_GT((a - net->forward(x, torch::tensor({900}))).abs().max().item<double>(), 1e-4);
  EXPECT_TRUE(torch::equal(a, net->forward(x, torch::tensor({10}))));  // eval: deterministic
  // Float and integer timesteps and a 0-d timestep for the batch mean the same.
  EXPECT_TRUE(torch::allclose(a, net->forward(x, torch::tensor({10.0})), 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(a, net->forward(x, torch::tensor(10)), 1e-6, 1e-6));
}

TEST(UNet3d, LabelsChangeTheOutputAndTheNullLabelIsAccepted) {
  torch::manual_seed(0);
  UNet3d net(unet3d_preset(UNet3dPreset::Tiny, /*num_classes=*/3));
  randomize_output_conv(net, 10);
  net->eval();
  const auto x = random_grid({1, 1, 8, 8, 8}, 11);
  const auto t = torch::tensor({250});
  const auto a = net->forward(x, t, torch::tensor({0}));
  EXPECT_GT((a - net->forward(x, t, torch::tensor({1}))).abs().max().item<double>(), 1e-4);
  const auto null = net->forward(x, t, torch::tensor({net->null_label()}));
  EXPECT_GT((a - null).abs().max().item<double>(), 1e-4);
  EXPECT_TRUE(torch::equal(null, net->forward(x, t)));  // no labels = the null label
  EXPECT_TRUE(torch::equal(a, net->forward(x, t, torch::tensor({0}, torch::kInt32))));
}

TEST(UNet3d, BatchItemsAreIndependent) {
  torch::manual_seed(0);
  UNet3d net(unet3d_preset(UNet3dPreset::Tiny, 2));
  randomize_output_conv(net, 12);
  net->eval();
  const auto x = random_grid({2, 1, 8, 8, 8}, 13);
  const auto both = net->forward(x, torch::tensor({3, 400}), torch::tensor({1, 0}));
  const auto second = net->forward(x.slice(0, 1, 2), torch::tensor({400}), torch::tensor({0}));
  EXPECT_TRUE(torch::allclose(both.slice(0, 1, 2), second, 1e-5, 1e-5));
}

TEST(UNet3d, UnconditionalNetworkRejectsLabels) {
  UNet3d net(unet3d_preset(UNet3dPreset::Tiny));
  const auto x = random_grid({1, 1, 8, 8, 8}, 14);
  expect_invalid([&] { net->forward(x, torch::tensor({1}), torch::tensor({0})); },
                 "unconditional network (num_classes = 0)");
}

TEST(UNet3d, BadInputsNameTheProblem) {
  UNet3d net(unet3d_preset(UNet3dPreset::Tiny, 3));
  const auto t = torch::tensor({1, 2});
  const auto x = random_grid({2, 1, 8, 8, 8}, 15);
  expect_invalid([&] { net->forward(x[0], t); }, "x must be [B,C,X,Y,Z], got [1, 8, 8, 8]");
  expect_invalid([&] { net->forward(random_grid({2, 1, 8, 7, 8}, 16), t); },
                 "grid [8, 7, 8] must have sizes divisible by 2");
  expect_invalid([&] { net->forward(random_grid({2, 2, 8, 8, 8}, 17), t); },
                 "has 2 channels, the network takes in_channels = 1");
  expect_invalid([&] { net->forward(x.to(torch::kInt64), t); }, "x must be floating point");
  expect_invalid([&] { net->forward(x, torch::tensor({1, 2, 3})); },
                 "t must be [B] with B = 2 or 0-d, got [3]");
  expect_invalid([&] { net->forward(x, torch::ones({2, 1})); }, "t must be [B]");
  expect_invalid([&] { net->forward(x, t, torch::tensor({0, 4})); },
                 "labels must lie in [0, 3] (3 = null label), got values in [0, 4]");
  expect_invalid([&] { net->forward(x, t, torch::tensor({-1, 0})); }, "labels must lie in [0, 3]");
  expect_invalid([&] { net->forward(x, t, torch::tensor({0})); },
                 "labels must be [B] with B = 2, got [1]");
  expect_invalid([&] { net->forward(x, t, torch::tensor({0.0, 1.0})); }, "labels must be integers");
}

TEST(UNet3d, OptionsAreValidated) {
  auto build = [](UNet3dOptions o) { return [o] { UNet3d net(o); }; };
  expect_invalid(build(mini_options().groups(3)), "base_channels = 8 is not divisible by groups = 3");
  expect_invalid(build(mini_options().heads(3)),
                 "attention width 16 at level 2 is not divisible by heads = 3");
  expect_invalid(build(mini_options().attention_levels({3})),
                 "attention_levels = {3} (levels are 0..2)");
  expect_invalid(build(mini_options().attention_levels({1, 1})), "lists level 1 twice");
  expect_invalid(build(mini_options().channel_mult({})), "channel_mult = {} (needs 1 to 8 levels)");
  expect_invalid(build(mini_options().channel_mult({1, 0, 2})), "multiples must be >= 1");
  expect_invalid(build(mini_options().num_res_blocks(0)), "num_res_blocks = 0");
  expect_invalid(build(mini_options().in_channels(0)), "in_channels = 0");
  expect_invalid(build(mini_options().num_classes(-1)), "num_classes = -1");
  expect_invalid(build(mini_options().dropout(1.0)), "dropout = 1.000000 (must be in [0, 1))");
}

TEST(UNet3d, PresetsParseAndValidate) {
  for (auto p : {UNet3dPreset::Tiny, UNet3dPreset::Small, UNet3dPreset::Base}) {
    EXPECT_EQ(parse_unet3d_preset(to_string(p)), p);
    EXPECT_NO_THROW(unet3d_preset(p, 5).validate());
  }
  const auto small = unet3d_preset(UNet3dPreset::Small);
  EXPECT_EQ(small.size_multiple(), 4);
  EXPECT_EQ(unet3d_preset(UNet3dPreset::Base).size_multiple(), 8);
  // Attention runs where 32^3 (small) and 64^3 (base) grids are 8^3.
  EXPECT_EQ(small.attention_levels(), std::vector<int64_t>{2});
  EXPECT_EQ(unet3d_preset(UNet3dPreset::Base).attention_levels(), std::vector<int64_t>{3});
  expect_invalid([] { parse_unet3d_preset("huge"); }, "'huge' (choose from: tiny, small, base)");
}

TEST(UNet3d, MatchesTheCpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(0);
  UNet3d net(unet3d_preset(UNet3dPreset::Tiny, 2));
  randomize_output_conv(net, 18);
  net->eval();
  const auto x = random_grid({2, 1, 16, 16, 16}, 19);
  const auto t = torch::tensor({5, 600});
  const auto l = torch::tensor({0, 2});
  const auto cpu = net->forward(x, t, l);
  net->to(torch::kCUDA);
  const auto gpu = net->forward(x.cuda(), t.cuda(), l.cuda()).cpu();
  // TF32 convolutions on recent GPUs round to ~1e-3 relative.
  EXPECT_TRUE(torch::allclose(cpu, gpu, 1e-2, 1e-3 * cpu.abs().max().item<double>()));
}

}  // namespace
}  // namespace shapediff::networks

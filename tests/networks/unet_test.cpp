#include "networks/unet.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>

namespace shapediff::networks {
namespace {

torch::Tensor random_tensor(std::vector<int64_t> sizes, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return torch::randn(sizes, gen);
}

// [b, c, n, n] for images, [b, c, n, n, n] for grids.
std::vector<int64_t> input_sizes(int64_t dims, int64_t b, int64_t c, int64_t n) {
  std::vector<int64_t> s{b, c};
  s.insert(s.end(), dims, n);
  return s;
}

// The output convolution starts at zero, which hides everything upstream of it; tests of what
// the output depends on give it random weights first.
void randomize_output_conv(UNet& net, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  torch::NoGradGuard no_grad;
  for (auto& p : net->named_parameters()) {
    if (p.key().rfind("output_conv.", 0) == 0) {
      p.value().copy_(torch::randn(p.value().sizes(), gen) * 0.1);
    }
  }
}

// A 3-channel-in, 2-channel-out, 3-level net small enough for 8^dims inputs.
UNetOptions mini_options(int64_t dims) {
  UNetOptions o(dims);
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

// Every test below runs once for images (dims 2) and once for voxel grids (dims 3).
class UNetDims : public ::testing::TestWithParam<int64_t> {
 protected:
  int64_t dims() const { return GetParam(); }
  std::vector<int64_t> sizes(int64_t b, int64_t c, int64_t n) const {
    return input_sizes(dims(), b, c, n);
  }
  UNet tiny(int64_t num_classes = 0) const {
    return UNet(unet_preset(UNetPreset::Tiny, dims(), num_classes));
  }
};

TEST_P(UNetDims, ConvMatchesTorchConvModules) {
  for (int64_t kernel : {1, 3}) {
    for (int64_t stride : {1, 2}) {
      torch::manual_seed(1);
      UNetConv conv(dims(), 3, 5, kernel, stride);
      torch::manual_seed(1);
      torch::nn::AnyModule reference;
      if (dims() == 2) {
        reference = torch::nn::AnyModule(torch::nn::Conv2d(
            torch::nn::Conv2dOptions(3, 5, kernel).stride(stride).padding(kernel / 2)));
      } else {
        reference = torch::nn::AnyModule(torch::nn::Conv3d(
            torch::nn::Conv3dOptions(3, 5, kernel).stride(stride).padding(kernel / 2)));
      }
      // Same seed, same draws: the initialization is torch's.
      EXPECT_TRUE(torch::equal(conv->weight, reference.ptr()->named_parameters()["weight"]));
      EXPECT_TRUE(torch::equal(conv->bias, reference.ptr()->named_parameters()["bias"]));
      const auto x = random_tensor(sizes(2, 3, 6), 2);
      const auto y = conv->forward(x);
      EXPECT_EQ(y.sizes(), torch::IntArrayRef(sizes(2, 5, 6 / stride)));
      EXPECT_TRUE(torch::allclose(y, reference.forward(x), 1e-5, 1e-5));
    }
  }
}

TEST_P(UNetDims, OutputShapeForSeveralOptions) {
  torch::manual_seed(0);
  struct Case {
    UNetOptions options;
    std::vector<int64_t> input;
  };
  auto one_level = UNetOptions(dims()).base_channels(8).groups(4).channel_mult({1})
                       .attention_levels({}).mid_attention(false).scale_shift(false)
                       .num_res_blocks(2).dropout(0.2);
  const bool grid = dims() == 3;
  const std::vector<Case> cases = {
      {unet_preset(UNetPreset::Tiny, dims()), sizes(2, 1, 16)},
      {unet_preset(UNetPreset::Tiny, dims(), 4),
       grid ? std::vector<int64_t>{1, 1, 8, 4, 6} : std::vector<int64_t>{1, 1, 8, 4}},
      {mini_options(dims()),
       grid ? std::vector<int64_t>{2, 3, 8, 16, 4} : std::vector<int64_t>{2, 3, 8, 16}},
      {one_level, grid ? std::vector<int64_t>{1, 1, 5, 3, 7} : std::vector<int64_t>{1, 1, 5, 3}},
      // RGB image / grid with a 3-channel conditioning input concatenated (SR3-style).
      {unet_preset(UNetPreset::Tiny, dims()).in_channels(6).out_channels(3), sizes(2, 6, 8)},
  };
  for (const auto& c : cases) {
    UNet net(c.options);
    randomize_output_conv(net, 1);
    const auto x = random_tensor(c.input, 2);
    const auto y = net->forward(x, torch::full({c.input[0]}, 17));
    std::vector<int64_t> expected = c.input;
    expected[1] = c.options.out_channels();
    EXPECT_EQ(y.sizes(), torch::IntArrayRef(expected));
    EXPECT_EQ(y.scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  }
}

TEST_P(UNetDims, OutputIsZeroAtInitAndMovesAfterOneStep) {
  torch::manual_seed(0);
  UNet net = tiny();
  const auto x = random_tensor(sizes(2, 1, 8), 3);
  const auto t = torch::tensor({3, 700});
  auto y = net->forward(x, t);
  EXPECT_EQ(y.abs().max().item<double>(), 0.0);

  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-3));
  opt.zero_grad();
  torch::mse_loss(y, random_tensor(sizes(2, 1, 8), 4)).backward();
  opt.step();
  EXPECT_GT(net->forward(x, t).abs().max().item<double>(), 1e-4);
}

TEST_P(UNetDims, EveryParameterGetsAGradient) {
  torch::manual_seed(0);
  UNet net = tiny(/*num_classes=*/2);
  randomize_output_conv(net, 5);
  net->train();
  const auto x = random_tensor(sizes(3, 1, 8), 6);
  // Labels 0, 1 and the null label 2 use every row of the label embedding.
  const auto y = net->forward(x, torch::tensor({1, 500, 999}), torch::tensor({0, 1, 2}));
  (y * random_tensor(sizes(3, 1, 8), 7)).sum().backward();
  for (const auto& p : net->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().max().item<double>(), 0.0) << p.key();
  }
}

TEST_P(UNetDims, InputGradientMatchesFiniteDifferences) {
  torch::manual_seed(0);
  auto o = mini_options(dims()).in_channels(1).out_channels(1).channel_mult({1, 2});
  UNet net(o.attention_levels({1}).num_classes(2));
  randomize_output_conv(net, 20);
  net->eval();
  const auto x = random_tensor(sizes(1, 1, 4), 21).requires_grad_(true);
  const auto w = random_tensor(sizes(1, 1, 4), 22);
  auto loss = [&](const torch::Tensor& in) {
    return (net->forward(in, torch::tensor({300}), torch::tensor({1})) * w).sum();
  };
  loss(x).backward();
  // Central differences along random directions (float32, so a step well above rounding).
  const double h = 1e-2;
  torch::NoGradGuard no_grad;
  for (uint64_t seed : {23, 24}) {
    const auto v = random_tensor(sizes(1, 1, 4), seed);
    const double numeric =
        (loss(x + h * v).item<double>() - loss(x - h * v).item<double>()) / (2 * h);
    const double analytic = (x.grad() * v).sum().item<double>();
    EXPECT_NEAR(analytic, numeric, 1e-3 + 1e-2 * std::abs(numeric)) << seed;
    EXPECT_GT(std::abs(analytic), 1e-3);
  }
}

TEST_P(UNetDims, TimestepChangesTheOutput) {
  torch::manual_seed(0);
  UNet net = tiny();
  randomize_output_conv(net, 8);
  net->eval();
  const auto x = random_tensor(sizes(1, 1, 8), 9);
  const auto a = net->forward(x, torch::tensor({10}));
  EXPECT_GT((a - net->forward(x, torch::tensor({900}))).abs().max().item<double>(), 1e-4);
  EXPECT_TRUE(torch::equal(a, net->forward(x, torch::tensor({10}))));  // eval: deterministic
  // Float and integer timesteps and a 0-d timestep for the batch mean the same.
  EXPECT_TRUE(torch::allclose(a, net->forward(x, torch::tensor({10.0})), 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(a, net->forward(x, torch::tensor(10)), 1e-6, 1e-6));
}

TEST_P(UNetDims, LabelsChangeTheOutputAndTheNullLabelIsAccepted) {
  torch::manual_seed(0);
  UNet net = tiny(/*num_classes=*/3);
  randomize_output_conv(net, 10);
  net->eval();
  const auto x = random_tensor(sizes(1, 1, 8), 11);
  const auto t = torch::tensor({250});
  const auto a = net->forward(x, t, torch::tensor({0}));
  EXPECT_GT((a - net->forward(x, t, torch::tensor({1}))).abs().max().item<double>(), 1e-4);
  const auto null = net->forward(x, t, torch::tensor({net->null_label()}));
  EXPECT_GT((a - null).abs().max().item<double>(), 1e-4);
  EXPECT_TRUE(torch::equal(null, net->forward(x, t)));  // no labels = the null label
  EXPECT_TRUE(torch::equal(a, net->forward(x, t, torch::tensor({0}, torch::kInt32))));
}

TEST_P(UNetDims, ConditioningChannelsChangeTheOutput) {
  torch::manual_seed(0);
  UNet net(unet_preset(UNetPreset::Tiny, dims()).in_channels(2));
  randomize_output_conv(net, 23);
  net->eval();
  const auto x = random_tensor(sizes(1, 1, 8), 24);
  const auto t = torch::tensor({100});
  const auto a = net->forward(torch::cat({x, random_tensor(sizes(1, 1, 8), 25)}, 1), t);
  const auto b = net->forward(torch::cat({x, random_tensor(sizes(1, 1, 8), 26)}, 1), t);
  EXPECT_EQ(a.sizes(), torch::IntArrayRef(sizes(1, 1, 8)));
  EXPECT_GT((a - b).abs().max().item<double>(), 1e-4);
}

TEST_P(UNetDims, BatchItemsAreIndependent) {
  torch::manual_seed(0);
  UNet net = tiny(2);
  randomize_output_conv(net, 12);
  net->eval();
  const auto x = random_tensor(sizes(2, 1, 8), 13);
  const auto both = net->forward(x, torch::tensor({3, 400}), torch::tensor({1, 0}));
  const auto second = net->forward(x.slice(0, 1, 2), torch::tensor({400}), torch::tensor({0}));
  EXPECT_TRUE(torch::allclose(both.slice(0, 1, 2), second, 1e-5, 1e-5));
}

TEST_P(UNetDims, UnconditionalNetworkRejectsLabels) {
  UNet net = tiny();
  const auto x = random_tensor(sizes(1, 1, 8), 14);
  expect_invalid([&] { net->forward(x, torch::tensor({1}), torch::tensor({0})); },
                 "UNet: labels given to an unconditional network (num_classes = 0)");
}

TEST_P(UNetDims, BadInputsNameTheProblem) {
  UNet net = tiny(3);
  const auto t = torch::tensor({1, 2});
  const auto x = random_tensor(sizes(2, 1, 8), 15);
  const bool grid = dims() == 3;
  expect_invalid([&] { net->forward(x[0], t); },
                 grid ? "UNet: x must be [B,C,X,Y,Z] for dims = 3, got [1, 8, 8, 8]"
                      : "UNet: x must be [B,C,H,W] for dims = 2, got [1, 8, 8]");
  // A grid given to the image network and an image given to the grid network.
  expect_invalid([&] { net->forward(random_tensor(input_sizes(5 - dims(), 2, 1, 8), 27), t); },
                 grid ? "x must be [B,C,X,Y,Z] for dims = 3, got [2, 1, 8, 8]"
                      : "x must be [B,C,H,W] for dims = 2, got [2, 1, 8, 8, 8]");
  expect_invalid([&] { net->forward(torch::Tensor(), t); }, "got nothing");
  auto uneven = sizes(2, 1, 8);
  uneven[3] = 7;
  expect_invalid([&] { net->forward(random_tensor(uneven, 16), t); },
                 grid ? "grid [8, 7, 8] must have sizes divisible by 2 (2^(levels-1) for 2 levels)"
                      : "image [8, 7] must have sizes divisible by 2 (2^(levels-1) for 2 levels)");
  expect_invalid([&] { net->forward(random_tensor(sizes(2, 2, 8), 17), t); },
                 "has 2 channels, the network takes in_channels = 1");
  expect_invalid([&] { net->forward(random_tensor(sizes(0, 1, 8), 17), torch::tensor(1)); },
                 "has an empty batch");
  expect_invalid([&] { net->forward(x.to(torch::kInt64), t); }, "x must be floating point");
  expect_invalid([&] { net->forward(x, torch::tensor({1, 2, 3})); },
                 "t must be [B] with B = 2 or 0-d, got [3]");
  expect_invalid([&] { net->forward(x, torch::ones({2, 1})); }, "t must be [B]");
  expect_invalid([&] { net->forward(x, torch::tensor({true, false})); }, "t must be numeric");
  expect_invalid([&] { net->forward(x, t, torch::tensor({0, 4})); },
                 "labels must lie in [0, 3] (3 = null label), got values in [0, 4]");
  expect_invalid([&] { net->forward(x, t, torch::tensor({-1, 0})); }, "labels must lie in [0, 3]");
  expect_invalid([&] { net->forward(x, t, torch::tensor({0})); },
                 "labels must be [B] with B = 2, got [1]");
  expect_invalid([&] { net->forward(x, t, torch::tensor({0.0, 1.0})); }, "labels must be integers");
}

TEST_P(UNetDims, OptionsAreValidated) {
  auto build = [](UNetOptions o) { return [o] { UNet net(o); }; };
  const auto mini = [this] { return mini_options(dims()); };
  expect_invalid(build(mini().dims(4)), "UNetOptions: dims = 4 (must be 2 or 3)");
  expect_invalid(build(mini().dims(1)), "dims = 1 (must be 2 or 3)");
  expect_invalid([] { UNetConv(4, 1, 1, 3); }, "UNetConv: dims = 4 (must be 2 or 3)");
  expect_invalid(build(mini().groups(3)), "base_channels = 8 is not divisible by groups = 3");
  expect_invalid(build(mini().heads(3)),
                 "attention width 16 at level 2 is not divisible by heads = 3");
  expect_invalid(build(mini().attention_levels({3})), "attention_levels = {3} (levels are 0..2)");
  expect_invalid(build(mini().attention_levels({1, 1})), "lists level 1 twice");
  expect_invalid(build(mini().channel_mult({})), "channel_mult = {} (needs 1 to 8 levels)");
  expect_invalid(build(mini().channel_mult({1, 0, 2})), "multiples must be >= 1");
  expect_invalid(build(mini().num_res_blocks(0)), "num_res_blocks = 0");
  expect_invalid(build(mini().in_channels(0)), "in_channels = 0");
  expect_invalid(build(mini().num_classes(-1)), "num_classes = -1");
  expect_invalid(build(mini().dropout(1.0)), "dropout = 1.000000 (must be in [0, 1))");
}

TEST_P(UNetDims, PresetsParseAndValidate) {
  for (auto p : {UNetPreset::Tiny, UNetPreset::Small, UNetPreset::Base}) {
    EXPECT_EQ(parse_unet_preset(to_string(p)), p);
    const auto o = unet_preset(p, dims(), 5);
    EXPECT_EQ(o.dims(), dims());
    EXPECT_NO_THROW(o.validate());
  }
  const auto small = unet_preset(UNetPreset::Small, dims());
  const auto base = unet_preset(UNetPreset::Base, dims());
  EXPECT_EQ(small.size_multiple(), 4);
  EXPECT_EQ(base.size_multiple(), 8);
  // Attention runs where 32^2 images and 32^3 grids (small) are 8^dims, and where 64^2 images
  // (base) are 16^2 and 8^2, 64^3 grids (base) 8^3.
  EXPECT_EQ(small.attention_levels(), std::vector<int64_t>{2});
  const std::vector<int64_t> base_attention =
      dims() == 2 ? std::vector<int64_t>{2, 3} : std::vector<int64_t>{3};
  EXPECT_EQ(base.attention_levels(), base_attention);
  expect_invalid([] { parse_unet_preset("huge"); }, "'huge' (choose from: tiny, small, base)");
  expect_invalid([] { unet_preset(UNetPreset::Small, 1); }, "dims = 1 (must be 2 or 3)");
}

std::string dims_name(const ::testing::TestParamInfo<int64_t>& info) {
  return info.param == 2 ? "Images" : "Grids";
}
INSTANTIATE_TEST_SUITE_P(UNet, UNetDims, ::testing::Values(int64_t{2}, int64_t{3}), dims_name);

TEST(UNet, GridPresetsKeepTheirParameterCounts) {
  // The counts of the 3D-only network these presets came from: checkpoints stay loadable.
  EXPECT_EQ(UNet(unet_preset(UNetPreset::Tiny, 3))->parameter_count(), 458209);
  EXPECT_EQ(UNet(unet_preset(UNetPreset::Small, 3))->parameter_count(), 10513953);
  EXPECT_EQ(UNet(unet_preset(UNetPreset::Base, 3))->parameter_count(), 69619521);
  EXPECT_EQ(UNet(unet_preset(UNetPreset::Small, 3, 6))->parameter_count(), 10514849);
}

TEST(UNet, MatchesTheCpuForImagesAndGrids_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  for (int64_t dims : {2, 3}) {
    SCOPED_TRACE("dims = " + std::to_string(dims));
    torch::manual_seed(0);
    UNet net(unet_preset(UNetPreset::Tiny, dims, 2));
    randomize_output_conv(net, 18);
    net->eval();
    const auto x = random_tensor(input_sizes(dims, 2, 1, 16), 19);
    const auto t = torch::tensor({5, 600});
    const auto l = torch::tensor({0, 2});
    const auto cpu = net->forward(x, t, l);
    net->to(torch::kCUDA);
    const auto gpu = net->forward(x.cuda(), t.cuda(), l.cuda()).cpu();
    // TF32 convolutions on recent GPUs round to ~1e-3 relative.
    EXPECT_TRUE(torch::allclose(cpu, gpu, 1e-2, 1e-3 * cpu.abs().max().item<double>()));
  }
}

}  // namespace
}  // namespace shapediff::networks

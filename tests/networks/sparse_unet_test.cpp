#include "networks/sparse/sparse_unet.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "networks/sparse/kernel_map.h"
#include "networks/sparse/sparse_tensor.h"

namespace shapediff::sparse {
namespace {

using torch::Tensor;

Tensor random_normal(std::vector<int64_t> sizes, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return torch::randn(sizes, gen);
}

struct Shell {
  Tensor coords;    // int32 [N,4]
  Tensor distance;  // [N,1] signed distance to the sphere in units of the band half-width
};

// The cells of a grid^3 whose centres lie within `band` cells of a sphere of radius `radius`
// around the grid centre, all with batch index `batch`.
Shell sphere_shell(int64_t grid, double radius, double band, int64_t batch = 0) {
  const auto axis = torch::arange(grid, torch::kFloat64) + 0.5 - grid / 2.0;
  const auto g = torch::meshgrid({axis, axis, axis}, "ij");
  const auto d = (g[0].square() + g[1].square() + g[2].square()).sqrt() - radius;
  const auto cells = d.abs().lt(band).nonzero();  // [N,3] int64
  const auto b = torch::full({cells.size(0), 1}, batch, torch::kLong);
  const auto distance = d.index({cells.select(1, 0), cells.select(1, 1), cells.select(1, 2)});
  return {torch::cat({b, cells}, 1).to(torch::kInt32),
          (distance / band).to(torch::kFloat32).unsqueeze(1)};
}

// The output convolution starts at zero, which hides everything upstream of it; tests of what
// the output depends on give it random weights first.
void randomize_output_conv(SparseUNet& net, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  torch::NoGradGuard no_grad;
  for (auto& p : net->named_parameters()) {
    if (p.key().rfind("output_conv.", 0) == 0) {
      p.value().copy_(torch::randn(p.value().sizes(), gen).to(p.value().dtype()) * 0.1);
    }
  }
}

void expect_invalid(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one mentioning '" << needle << "'";
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

// Sets the intra-op thread count for a scope and restores it after.
class ThreadsGuard {
 public:
  explicit ThreadsGuard(int threads) : previous_(at::get_num_threads()) {
    at::set_num_threads(threads);
  }
  ~ThreadsGuard() { at::set_num_threads(previous_); }
  ThreadsGuard(const ThreadsGuard&) = delete;
  ThreadsGuard& operator=(const ThreadsGuard&) = delete;

 private:
  int previous_;
};

double max_abs(const Tensor& t) { return t.abs().max().item<double>(); }

TEST(SparseUNet, OutputHasTheInputsCells) {
  torch::manual_seed(0);
  auto o = sparse_unet_preset(SparseUNetPreset::Tiny, 2, 3);
  o.channel_mult({1, 2, 2});  // three levels: strides 1, 2, 4
  SparseUNet net(o);
  const auto shell = sphere_shell(12, 4.0, 1.2);
  const SparseTensor x(shell.coords, random_normal({shell.coords.size(0), 2}, 1));
  const auto y = net->forward(x, torch::tensor({7}));
  EXPECT_TRUE(y.coords().is_same(x.coords()));
  EXPECT_EQ(y.stride(), 1);
  EXPECT_EQ(y.manager(), x.manager());
  EXPECT_EQ(y.features().sizes(), (std::vector<int64_t>{x.size(), 3}));
}

TEST(SparseUNet, OutputIsZeroAtInitAndMovesAfterOneStep) {
  torch::manual_seed(0);
  SparseUNet net(sparse_unet_preset(SparseUNetPreset::Tiny));
  const auto shell = sphere_shell(10, 3.0, 1.0);
  const SparseTensor x(shell.coords, random_normal({shell.coords.size(0), 1}, 2));
  const auto t = torch::tensor({300});
  const auto y = net->forward(x, t).features();
  EXPECT_EQ(max_abs(y), 0.0);

  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-3));
  opt.zero_grad();
  torch::mse_loss(y, shell.distance).backward();
  opt.step();
  EXPECT_GT(max_abs(net->forward(x, t).features()), 1e-4);
}

TEST(SparseUNet, EveryParameterGetsAGradient) {
  torch::manual_seed(0);
  SparseUNet net(sparse_unet_preset(SparseUNetPreset::Tiny, 1, 1, /*num_classes=*/2));
  randomize_output_conv(net, 3);
  net->train();
  // Three batch items so that labels 0, 1 and the null label 2 use every embedding row.
  std::vector<Tensor> coords;
  for (int64_t b = 0; b < 3; ++b) coords.push_back(sphere_shell(8, 2.0 + 0.5 * b, 1.0, b).coords);
  const auto c = torch::cat(coords);
  const SparseTensor x(c, random_normal({c.size(0), 1}, 4));
  const auto y = net->forward(x, torch::tensor({1, 500, 999}), torch::tensor({0, 1, 2}));
  (y.features() * random_normal({c.size(0), 1}, 5)).sum().backward();
  for (const auto& p : net->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(max_abs(p.value().grad()), 0.0) << p.key();
  }
}

TEST(SparseUNet, TimestepAndLabelChangeTheOutput) {
  torch::manual_seed(0);
  SparseUNet net(sparse_unet_preset(SparseUNetPreset::Tiny, 1, 1, /*num_classes=*/3));
  randomize_output_conv(net, 6);
  net->eval();
  const auto shell = sphere_shell(10, 3.0, 1.0);
  const SparseTensor x(shell.coords, random_normal({shell.coords.size(0), 1}, 7));
  const auto t = torch::tensor({250});
  const auto a = net->forward(x, t, torch::tensor({0})).features();
  EXPECT_TRUE(torch::equal(a, net->forward(x, t, torch::tensor({0})).features()));  // eval
  EXPECT_GT(max_abs(a - net->forward(x, torch::tensor({900}), torch::tensor({0})).features()),
            1e-4);
  EXPECT_GT(max_abs(a - net->forward(x, t, torch::tensor({1})).features()), 1e-4);
  const auto null = net->forward(x, t, torch::tensor({net->null_label()})).features();
  EXPECT_GT(max_abs(a - null), 1e-4);
  EXPECT_TRUE(torch::equal(null, net->forward(x, t).features()));  // no labels = null label
  EXPECT_TRUE(torch::allclose(
      a, net->forward(x, torch::tensor({250.0}), torch::tensor({0}, torch::kInt32)).features()));
}

TEST(SparseUNet, DropoutActsOnlyInTraining) {
  torch::manual_seed(0);
  SparseUNet net(sparse_unet_preset(SparseUNetPreset::Tiny).dropout(0.3));
  randomize_output_conv(net, 8);
  const auto shell = sphere_shell(8, 2.5, 1.0);
  const SparseTensor x(shell.coords, random_normal({shell.coords.size(0), 1}, 9));
  const auto t = torch::tensor({40});
  net->eval();
  const auto a = net->forward(x, t).features();
  EXPECT_TRUE(torch::equal(a, net->forward(x, t).features()));
  net->train();
  EXPECT_GT(max_abs(a - net->forward(x, t).features()), 1e-4);
}

// Two shells of different radii, rows interleaved, in float64 so that the only differences
// are the summation orders of the smaller problems.
TEST(SparseUNet, BatchItemsAreIndependent) {
  torch::manual_seed(0);
  SparseUNet net(sparse_unet_preset(SparseUNetPreset::Tiny, 1, 2, /*num_classes=*/2));
  net->to(torch::kFloat64);
  randomize_output_conv(net, 10);
  net->eval();
  const auto a = sphere_shell(10, 3.0, 1.0, 0), b = sphere_shell(10, 4.0, 0.8, 1);
  const auto coords = torch::cat({a.coords, b.coords});
  const auto order = torch::randperm(coords.size(0), torch::kLong);
  const auto features = random_normal({coords.size(0), 1}, 11).to(torch::kFloat64);
  const SparseTensor both(coords.index_select(0, order), features.index_select(0, order));
  const auto out = net->forward(both, torch::tensor({3, 400}), torch::tensor({1, 0})).features();

  for (int64_t item = 0; item < 2; ++item) {
    const auto rows = both.coords().select(1, 0).eq(item).nonzero().select(1, 0);
    auto alone_coords = both.coords().index_select(0, rows).clone();
    alone_coords.select(1, 0).zero_();
    const SparseTensor alone(alone_coords, both.features().index_select(0, rows));
    const auto expected = net->forward(alone, torch::tensor({item == 0 ? 3 : 400}),
                                       torch::tensor({item == 0 ? 1 : 0}))
                              .features();
    const auto actual = out.index_select(0, rows);
    EXPECT_GT(max_abs(expected), 1e-3);
    EXPECT_TRUE(torch::allclose(actual, expected, 1e-10, 1e-10))
        << "item " << item << ": max difference " << max_abs(actual - expected);
  }
}

// Tiny (levels at strides 1 and 2) needs five maps: 3x3x3 at each stride, 1x1x1 at each stride
// (the blocks that change width), and the 2x2x2 stride-2 map that the downsampling and the
// transposed upsampling share.
TEST(SparseUNet, RepeatedForwardsOverTheSameCellsBuildNoNewMaps) {
  torch::manual_seed(0);
  SparseUNet net(sparse_unet_preset(SparseUNetPreset::Tiny));
  const auto shell = sphere_shell(12, 4.0, 1.0);
  const SparseTensor x(shell.coords, random_normal({shell.coords.size(0), 1}, 12));
  torch::NoGradGuard no_grad;
  net->forward(x, torch::tensor({999}));
  EXPECT_EQ(x.manager()->maps_built(), 5);
  for (int64_t step = 0; step < 3; ++step) {
    const auto xs = x.replace_features(random_normal({x.size(), 1}, 13 + step));
    net->forward(xs, torch::tensor({900 - 300 * step}));
  }
  EXPECT_EQ(x.manager()->maps_built(), 5);
}

TEST(SparseUNet, BadInputsGiveOneLineErrors) {
  SparseUNet net(sparse_unet_preset(SparseUNetPreset::Tiny, 1, 1));
  SparseUNet conditional(sparse_unet_preset(SparseUNetPreset::Tiny, 1, 1, /*num_classes=*/4));
  auto a = sphere_shell(8, 2.5, 1.0, 0).coords, b = sphere_shell(8, 2.5, 1.0, 1).coords;
  const auto coords = torch::cat({a, b});
  const SparseTensor x(coords, torch::randn({coords.size(0), 1}));
  const auto t2 = torch::tensor({1, 2});
  expect_invalid([&] { net->forward(x, torch::tensor({1})); },
                 "a cell has batch index 1 but t has B = 1 timesteps");
  expect_invalid([&] { net->forward(x, torch::tensor(5)); }, "t must be [B]");
  expect_invalid([&] { net->forward(x, torch::ones({2, 1})); }, "t must be [B]");
  expect_invalid([&] { net->forward(x, torch::tensor({true, false})); }, "t must be numeric");
  expect_invalid(
      [&] {
        net->forward(x, t2, torch::tensor({0, 1}));
      },
      "labels given to an unconditional network");
  expect_invalid([&] { conditional->forward(x, t2, torch::tensor({0})); },
                 "labels must be [B] with B = 2");
  expect_invalid(
      [&] {
        conditional->forward(x, t2, torch::tensor({0, 5}));
      },
      "labels must lie in [0, 4]");
  expect_invalid(
      [&] {
        conditional->forward(x, t2, torch::tensor({0.0, 1.0}));
      },
      "labels must be integers");
  expect_invalid(
      [&] {
        net->forward(x.replace_features(torch::randn({x.size(), 3})), t2);
      },
      "x has 3 feature channels, the network takes in_channels = 1");
  expect_invalid(
      [&] {
        net->forward(x.replace_features(torch::randn({x.size(), 1}, torch::kFloat64)), t2);
      },
      "x features are Double on cpu, the parameters Float on cpu");
  const SparseTensor empty(torch::zeros({0, 4}, torch::kInt32), torch::zeros({0, 1}));
  expect_invalid([&] { net->forward(empty, torch::tensor({1})); }, "x has no cells");
}

TEST(SparseUNet, OptionsAndPresetsAreValidated) {
  auto o = [] { return sparse_unet_preset(SparseUNetPreset::Tiny); };
  expect_invalid([&] { SparseUNet(o().groups(5)); },
                 "base_channels = 16 is not divisible by groups = 5");
  expect_invalid([&] { SparseUNet(o().channel_mult({})); }, "channel_mult = {} (needs 1 to 8");
  expect_invalid([&] { SparseUNet(o().channel_mult({1, 0})); }, "multiples must be >= 1");
  expect_invalid([&] { SparseUNet(o().num_res_blocks(0)); }, "num_res_blocks = 0");
  expect_invalid([&] { SparseUNet(o().in_channels(0)); }, "in_channels = 0");
  expect_invalid([&] { SparseUNet(o().num_classes(-1)); }, "num_classes = -1");
  expect_invalid([&] { SparseUNet(o().dropout(1.0)); }, "dropout = 1");
  for (auto p : {SparseUNetPreset::Tiny, SparseUNetPreset::Small, SparseUNetPreset::Base}) {
    EXPECT_EQ(parse_sparse_unet_preset(to_string(p)), p);
    EXPECT_NO_THROW(sparse_unet_preset(p, 2, 3, 5).validate()) << to_string(p);
  }
  const auto small = sparse_unet_preset(SparseUNetPreset::Small, 2, 3, 5);
  EXPECT_EQ(small.in_channels(), 2);
  EXPECT_EQ(small.out_channels(), 3);
  EXPECT_EQ(small.num_classes(), 5);
  expect_invalid([] { parse_sparse_unet_preset("huge"); },
                 "'huge' (choose from: tiny, small, base)");
}

// The tiny net learns to predict the noise of a sphere shell's signed distances at one noise
// level (alpha_bar = 0.5). The untrained net predicts 0 (loss ~1); the best estimate from the
// cell's own noisy value alone (linear, x0 ~ uniform in [-1, 1]) leaves 0.25; getting below
// that takes the clean values, which only the shell's geometry around the cell tells (the loss
// reaches ~0.06 here).
TEST(SparseUNet, LearnsToDenoiseASphereShell) {
  torch::manual_seed(0);
  // One thread: on a busy 2-core machine a second thread makes every parallel region wait for
  // a descheduled worker (10x slower here); the problem is too small to gain from it anyway.
  const ThreadsGuard threads(1);
  SparseUNet net(sparse_unet_preset(SparseUNetPreset::Tiny));
  const auto shell = sphere_shell(16, 5.0, 1.5);
  const SparseTensor x(shell.coords, shell.distance);
  const auto t = torch::tensor({500});
  const double alpha_bar = 0.5;
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(3e-3));
  auto gen = at::detail::createCPUGenerator(14);
  std::vector<double> losses;
  const auto start = std::chrono::steady_clock::now();
  for (int step = 0; step < 50; ++step) {
    const auto noise = torch::randn(shell.distance.sizes(), gen);
    const auto x_t = std::sqrt(alpha_bar) * shell.distance + std::sqrt(1 - alpha_bar) * noise;
    const auto loss = torch::mse_loss(net->forward(x.replace_features(x_t), t).features(), noise);
    opt.zero_grad();
    loss.backward();
    opt.step();
    losses.push_back(loss.item<double>());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double last = 0;
  for (size_t i = losses.size() - 10; i < losses.size(); ++i) last += losses[i] / 10;
  EXPECT_GT(losses.front(), 0.8);
  EXPECT_LT(last, 0.2) << "first " << losses.front() << ", last ten " << last;
  RecordProperty("cells", std::to_string(x.size()));
  RecordProperty("seconds", std::to_string(seconds));
  RecordProperty("first_loss", std::to_string(losses.front()));
  RecordProperty("last_ten_loss", std::to_string(last));
}

TEST(SparseUNet, MatchesTheCpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(0);
  SparseUNet net(sparse_unet_preset(SparseUNetPreset::Tiny, 1, 1, /*num_classes=*/2));
  randomize_output_conv(net, 15);
  net->eval();
  const auto a = sphere_shell(16, 5.0, 1.0, 0), b = sphere_shell(16, 6.0, 1.0, 1);
  const auto coords = torch::cat({a.coords, b.coords});
  const auto features = random_normal({coords.size(0), 1}, 16);
  const auto t = torch::tensor({5, 600});
  const auto l = torch::tensor({0, 2});
  const auto cpu = net->forward(SparseTensor(coords, features), t, l).features();
  net->to(torch::kCUDA);
  const SparseTensor xg(coords.cuda(), features.cuda());
  const auto gpu = net->forward(xg, t.cuda(), l.cuda());
  EXPECT_TRUE(gpu.coords().is_same(xg.coords()));
  // TF32 matrix products on recent GPUs round to ~1e-3 relative.
  const auto g = gpu.features().cpu();
  EXPECT_TRUE(torch::allclose(cpu, g, 1e-2, 1e-3 * max_abs(cpu)))
      << "max difference " << max_abs(cpu - g);
}

}  // namespace
}  // namespace shapediff::sparse

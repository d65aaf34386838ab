// Images run on the very code the 3D side runs: one sampler object drives a point cloud and an
// image, and the completion strategies inpaint images as they complete scans (issue 9).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "diffusion/completion.h"
#include "diffusion/noise_source.h"
#include "diffusion/sample_loop.h"
#include "diffusion/sampler.h"
#include "networks/pvcnn.h"
#include "networks/unet.h"

namespace shapediff::diffusion {
namespace {

networks::UNet tiny_image_net() {
  torch::manual_seed(1);
  networks::UNet net(networks::unet_preset(networks::UNetPreset::Tiny, /*dims=*/2));
  // Move the zero-initialised output layer so the denoiser predicts something.
  torch::NoGradGuard no_grad;
  for (auto& p : net->parameters()) p.add_(torch::randn_like(p) * 0.02);
  net->eval();
  return net;
}

TEST(ImagePipeline, OneSamplerInstanceDrivesPointsAndImages) {
  ScheduleConfig schedule;
  auto sampler = make_sampler(SamplerKind::DDIM, schedule, SamplerOptions{});
  torch::NoGradGuard no_grad;

  torch::manual_seed(2);
  networks::PVCNN points_net(networks::pvcnn_preset(networks::PVCNNPreset::Tiny, 0));
  points_net->eval();
  Denoiser point_denoiser = [&](const torch::Tensor& x, const torch::Tensor& t) {
    return points_net->forward(x, t.expand({x.size(0)}), torch::Tensor());
  };
  auto image_net = tiny_image_net();
  Denoiser image_denoiser = [&](const torch::Tensor& x, const torch::Tensor& t) {
    return image_net->forward(x, t.expand({x.size(0)}));
  };

  SampleLoopOptions loop;
  loop.num_inference_steps = 5;
  GeneratorNoise noise_a(3), noise_b(4);
  const auto cloud = sample(*sampler, point_denoiser, {2, 256, 3}, torch::kFloat32, noise_a, loop);
  const auto image = sample(*sampler, image_denoiser, {2, 1, 16, 16}, torch::kFloat32, noise_b, loop);
  EXPECT_EQ(cloud.sizes(), torch::IntArrayRef({2, 256, 3}));
  EXPECT_EQ(image.sizes(), torch::IntArrayRef({2, 1, 16, 16}));
  EXPECT_TRUE(torch::isfinite(cloud).all().item<bool>());
  EXPECT_TRUE(torch::isfinite(image).all().item<bool>());
  // The same instance, run again on the image, gives the same image: no state leaks between runs.
  GeneratorNoise noise_c(4);
  EXPECT_TRUE(torch::equal(image, sample(*sampler, image_denoiser, {2, 1, 16, 16}, torch::kFloat32, noise_c, loop)));
}

TEST(ImagePipeline, InpaintingKeepsTheKnownPixelsWithEveryStrategy) {
  auto net = tiny_image_net();
  torch::NoGradGuard no_grad;
  Denoiser denoiser = [&](const torch::Tensor& x, const torch::Tensor& t) {
    return net->forward(x, t.expand({x.size(0)}));
  };
  torch::manual_seed(5);
  const auto known = torch::rand({1, 1, 16, 16}) * 2 - 1;
  auto mask = torch::zeros({1, 1, 16, 16});
  mask.slice(3, 0, 8).fill_(1.0);  // the left half is known
  for (auto strategy : {CompletionStrategy::Replacement, CompletionStrategy::RePaint, CompletionStrategy::SDEdit}) {
    CompletionOptions o;
    o.strategy = strategy;
    o.steps = 6;
    o.sampler_options.jump_length = 2;
    o.sampler_options.jump_n_sample = 2;
    GeneratorNoise noise(7);
    const auto out = complete(denoiser, ScheduleConfig{}, known, mask, {1, 1, 16, 16}, noise, o);
    ASSERT_EQ(out.sizes(), torch::IntArrayRef({1, 1, 16, 16})) << to_string(strategy);
    EXPECT_TRUE(torch::equal(out.slice(3, 0, 8), known.slice(3, 0, 8))) << to_string(strategy);
    EXPECT_FALSE(torch::equal(out.slice(3, 8, 16), known.slice(3, 8, 16))) << to_string(strategy);
    EXPECT_TRUE(torch::isfinite(out).all().item<bool>()) << to_string(strategy);
  }
}

}  // namespace
}  // namespace shapediff::diffusion

namespace shapediff::diffusion {
namespace {

TEST(ImagePipeline, ProjectedReplacementUpscalesAndKeepsTheLowResolutionImage) {
  auto net = tiny_image_net();
  torch::NoGradGuard no_grad;
  Denoiser denoiser = [&](const torch::Tensor& x, const torch::Tensor& t) {
    return net->forward(x, t.expand({x.size(0)}));
  };
  torch::manual_seed(6);
  const auto low = torch::rand({1, 1, 4, 4}) * 2 - 1;
  const auto down = [](const torch::Tensor& x) { return torch::avg_pool2d(x, {4, 4}); };
  const auto up = [](const torch::Tensor& x) { return x.repeat_interleave(4, 2).repeat_interleave(4, 3); };
  CompletionOptions o;
  o.steps = 6;
  o.projection = [&](const torch::Tensor& x) { return up(down(x)); };
  GeneratorNoise noise(8);
  const auto high = complete(denoiser, ScheduleConfig{}, up(low), torch::ones({1}), {1, 1, 16, 16}, noise, o);
  ASSERT_EQ(high.sizes(), torch::IntArrayRef({1, 1, 16, 16}));
  // Downsampled, the result is the input; and it is not just the blocky upsampling.
  EXPECT_TRUE(torch::allclose(down(high), low, 1e-5, 1e-6)) << (down(high) - low).abs().max().item<double>();
  EXPECT_GT((high - up(low)).abs().max().item<double>(), 1e-3);
  // Only the replacement strategy takes a projection.
  o.strategy = CompletionStrategy::SDEdit;
  GeneratorNoise noise2(8);
  EXPECT_THROW(complete(denoiser, ScheduleConfig{}, up(low), torch::ones({1}), {1, 1, 16, 16}, noise2, o),
               std::invalid_argument);
}

}  // namespace
}  // namespace shapediff::diffusion

// Super-resolution with image diffusion models, three ways:
//   sr3       SR3 (Saharia et al. 2021): a model trained with task super_resolution denoises
//             [x_t, c] concatenated along channels, where c is the low-resolution image
//             upsampled back to full size (bilinear); sampling is the shared sample loop with
//             that conditioning. Fast and sharp, but nothing forces the result to agree with the
//             input exactly.
//   sr3-ilvr  SR3 with ILVR's low-pass projection on top (Choi et al. 2021, the Replacement
//             strategy of diffusion/completion.h with a projection): after every step the low
//             frequencies of the sample are replaced by the input's, so the result downsampled
//             (f x f block means) equals the input exactly.
//   ilvr      the projection alone with any unconditional or class-conditional image model
//             (no model trained for super-resolution); the model only draws the detail.
//
// Training (diffusion/point_training.cpp) builds c from each clean image with
// super_resolution_condition(x0, F): f x f area averaging down, bilinear up.
//
//   UpscaleOptions o;  o.method = UpscaleMethod::SR3;  o.steps = 100;
//   GeneratorNoise noise(0);
//   auto high = upscale_images(model, low, noise, o);  // low [B,C,S/F,S/F] -> [B,C,S,S], [-1, 1]
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <torch/types.h>

#include "diffusion/noise_source.h"
#include "diffusion/point_model.h"
#include "diffusion/sampler.h"

namespace shapediff::diffusion {

// [B,C,H,W] -> [B,C,H/f,W/f]: the mean of each f x f block. std::invalid_argument unless 4-d
// with H and W divisible by f >= 1.
torch::Tensor downsample_area(const torch::Tensor& images, int64_t factor);
// [B,C,h,w] -> [B,C,f h,f w]: bilinear with half-pixel centres (torch's align_corners=false):
// output pixel i samples the input at (i + 0.5) / f - 0.5, clamped to the edge pixels.
torch::Tensor upsample_bilinear(const torch::Tensor& images, int64_t factor);
// SR3's conditioning image of full-size images: upsample_bilinear(downsample_area(x, f), f).
torch::Tensor super_resolution_condition(const torch::Tensor& images, int64_t factor);

enum class UpscaleMethod { SR3, SR3ILVR, ILVR };
UpscaleMethod parse_upscale_method(const std::string& name);  // sr3, sr3-ilvr, ilvr
std::string to_string(UpscaleMethod method);

struct UpscaleOptions {
  UpscaleMethod method = UpscaleMethod::SR3;
  // The upscaling factor: a super-resolution model's own sr_factor (0 takes it; another value
  // is refused), for ilvr any factor >= 2 dividing the model's size (0: 4).
  int64_t factor = 0;
  SamplerKind sampler = SamplerKind::DDPM;
  SamplerOptions sampler_options;  // clip_sample (on by default) keeps x0 estimates in [-1, 1]
  int64_t steps = 100;
  std::optional<int64_t> label;  // class-conditional models; unset: the null label
  std::function<void(int64_t done, int64_t total)> on_progress;
};

// The factor `options` resolve to for `model` (std::invalid_argument as upscale_images).
int64_t upscale_factor(const PointModel& model, const UpscaleOptions& options);

// low [B,C,S/F,S/F] in [-1, 1] (any device; the model's net must be there) -> [B,C,S,S] with
// S the model's images.size. Throws std::invalid_argument, naming the value, for a model that
// is not an image model, sr3 / sr3-ilvr with a model not trained for super-resolution, ilvr
// with one that was (it needs its conditioning: use sr3-ilvr), a factor other than the model's,
// or `low` of another shape.
torch::Tensor upscale_images(PointModel& model, const torch::Tensor& low, NoiseSource& noise,
                             const UpscaleOptions& options);

}  // namespace shapediff::diffusion

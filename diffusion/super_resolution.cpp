#include "diffusion/super_resolution.h"

#include <stdexcept>
#include <vector>

#include <torch/torch.h>

#include "diffusion/completion.h"
#include "diffusion/sample_loop.h"

namespace shapediff::diffusion {
namespace {

namespace F = torch::nn::functional;

std::string sizes(const torch::Tensor& x) {
  std::string s = "[";
  for (int64_t i = 0; i < x.dim(); ++i) s += (i ? "," : "") + std::to_string(x.size(i));
  return s + "]";
}

void check_images(const torch::Tensor& images, int64_t factor, const char* what) {
  if (factor < 1) throw std::invalid_argument(std::string(what) + ": factor " + std::to_string(factor) + " (must be >= 1)");
  if (!images.defined() || images.dim() != 4) {
    throw std::invalid_argument(std::string(what) + ": images must be [B,C,H,W], got " +
                                (images.defined() ? sizes(images) : std::string("undefined")));
  }
}

// Nearest upsampling: the exact right inverse of downsample_area (block means of a
// nearest-upsampled image are the image), so up(down(.)) is a projection.
torch::Tensor upsample_nearest(const torch::Tensor& images, int64_t factor) {
  return F::interpolate(images, F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{images.size(2) * factor, images.size(3) * factor})
                                    .mode(torch::kNearest));
}

}  // namespace

torch::Tensor downsample_area(const torch::Tensor& images, int64_t factor) {
  check_images(images, factor, "downsample_area");
  if (images.size(2) % factor != 0 || images.size(3) % factor != 0) {
    throw std::invalid_argument("downsample_area: image " + sizes(images) + " is not divisible by factor " +
                                std::to_string(factor));
  }
  return torch::avg_pool2d(images, {factor, factor});
}

torch::Tensor upsample_bilinear(const torch::Tensor& images, int64_t factor) {
  check_images(images, factor, "upsample_bilinear");
  return F::interpolate(images, F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{images.size(2) * factor, images.size(3) * factor})
                                    .mode(torch::kBilinear)
                                    .align_corners(false));
}

torch::Tensor super_resolution_condition(const torch::Tensor& images, int64_t factor) {
  return upsample_bilinear(downsample_area(images, factor), factor);
}

UpscaleMethod parse_upscale_method(const std::string& name) {
  if (name == "sr3") return UpscaleMethod::SR3;
  if (name == "sr3-ilvr") return UpscaleMethod::SR3ILVR;
  if (name == "ilvr") return UpscaleMethod::ILVR;
  throw std::invalid_argument("unknown upscale method '" + name + "' (choose from: sr3, sr3-ilvr, ilvr)");
}

std::string to_string(UpscaleMethod method) {
  switch (method) {
    case UpscaleMethod::SR3: return "sr3";
    case UpscaleMethod::SR3ILVR: return "sr3-ilvr";
    default: return "ilvr";
  }
}

int64_t upscale_factor(const PointModel& model, const UpscaleOptions& options) {
  const auto& c = model.config;
  if (c.representation != Representation::Images) {
    throw std::invalid_argument("upscale: a " + to_string(c.representation) + " model; upscaling needs an image model");
  }
  const bool sr_model = c.task == PointTask::SuperResolution;
  const std::string method = to_string(options.method);
  if (options.method == UpscaleMethod::ILVR) {
    if (sr_model) {
      throw std::invalid_argument("upscale: method ilvr with a super-resolution model (it needs its conditioning "
                                  "image): use sr3 or sr3-ilvr");
    }
    const int64_t f = options.factor == 0 ? 4 : options.factor;
    if (f < 2 || c.images.size % f != 0) {
      throw std::invalid_argument("upscale: factor " + std::to_string(f) + " (must be >= 2 and divide the model's " +
                                  std::to_string(c.images.size) + " pixels)");
    }
    return f;
  }
  if (!sr_model) {
    throw std::invalid_argument("upscale: method " + method + " needs a model trained with task super_resolution; "
                                "this one is a " + to_string(c.task) + " model (use ilvr)");
  }
  if (options.factor != 0 && options.factor != c.images.sr_factor) {
    throw std::invalid_argument("upscale: factor " + std::to_string(options.factor) + ", but the model was trained for " +
                                std::to_string(c.images.sr_factor));
  }
  return c.images.sr_factor;
}

torch::Tensor upscale_images(PointModel& model, const torch::Tensor& low, NoiseSource& noise,
                             const UpscaleOptions& options) {
  const int64_t f = upscale_factor(model, options);
  const auto& c = model.config;
  const int64_t size = c.images.size, small = size / f;
  if (!low.defined() || low.dim() != 4 || low.size(1) != c.images.channels || low.size(2) != small ||
      low.size(3) != small) {
    throw std::invalid_argument("upscale: input " + (low.defined() ? sizes(low) : std::string("undefined")) +
                                ", the model needs [B," + std::to_string(c.images.channels) + "," +
                                std::to_string(small) + "," + std::to_string(small) + "] (its " +
                                std::to_string(size) + " pixels over factor " + std::to_string(f) + ")");
  }
  if (options.label && (c.num_classes == 0 || *options.label < 0 || *options.label >= c.num_classes)) {
    throw std::invalid_argument("upscale: label " + std::to_string(*options.label) + " (the model has " +
                                std::to_string(c.num_classes) + " classes)");
  }
  const int64_t b = low.size(0);
  const auto x_low = low.to(torch::kFloat32);
  const auto labels = c.num_classes > 0
                          ? torch::full({b}, options.label.value_or(model.null_label()),
                                        torch::TensorOptions(torch::kLong).device(low.device()))
                          : torch::Tensor();
  auto& net = model.grid_net;
  torch::Tensor condition;
  if (options.method != UpscaleMethod::ILVR) condition = upsample_bilinear(x_low, f);
  const Denoiser denoiser = [&](const torch::Tensor& x, const torch::Tensor& t) {
    const auto input = condition.defined() ? torch::cat({x, condition.to(x.dtype())}, 1) : x;
    return net->forward(input, t.expand({x.size(0)}), labels);
  };
  const std::vector<int64_t> shape{b, c.images.channels, size, size};
  if (options.method == UpscaleMethod::SR3) {
    auto sampler = make_sampler(options.sampler, c.schedule, options.sampler_options);
    SampleLoopOptions loop;
    loop.num_inference_steps = options.steps;
    loop.on_progress = options.on_progress;
    return sample(*sampler, denoiser, shape, x_low.options(), noise, loop);
  }
  CompletionOptions o;
  o.strategy = CompletionStrategy::Replacement;
  o.sampler = options.sampler;
  o.sampler_options = options.sampler_options;
  o.steps = options.steps;
  o.on_progress = options.on_progress;
  o.projection = [f](const torch::Tensor& x) { return upsample_nearest(downsample_area(x, f), f); };
  const auto known = upsample_nearest(x_low, f);
  return complete(denoiser, c.schedule, known, torch::ones({1}, known.options()), shape, noise, o);
}

}  // namespace shapediff::diffusion

// `shapediff image inpaint|edit|upscale`: an image model (train --representation images) fills
// the unknown pixels of an image (the completion strategies of diffusion/completion.h, the same
// code that completes 3D scans), redraws a whole image from a noised copy (SDEdit), or draws a
// high-resolution image whose downsampled version is the given small one (ILVR-style
// replacement of the low frequencies, with any image model: no model trained for upscaling).
#include <chrono>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "apps/command.h"
#include "apps/command_support.h"
#include "diffusion/completion.h"
#include "diffusion/noise_source.h"
#include "diffusion/point_model.h"
#include "io/image_folder.h"
#include "io/json_file.h"
#include "io/png.h"

namespace shapediff::apps {
namespace {

namespace fs = std::filesystem;

struct ImageArgs {
  std::string model;
  std::string input;
  std::string mask;       // inpaint: white (> 50%) marks the known pixels
  std::string out;
  std::string strategy = "replacement";
  double strength = 0.6;  // edit
  std::string class_name;
  int64_t steps = 100;
  int64_t jump_length = 10;
  int64_t jump_n_sample = 3;
  uint64_t seed = 0;
  int64_t threads = 2;
  bool overwrite = false;
  int64_t factor = 4;     // upscale
};

enum class ImageJob { Inpaint, Edit, Upscale };

// One PNG as [1, C, S, S] in [-1, 1] with the model's channels and `size` pixels a side.
torch::Tensor read_model_image(const std::string& path, const diffusion::PointModel& model, const char* what,
                               int64_t size) {
  if (!fs::is_regular_file(path)) throw std::invalid_argument(std::string(what) + " " + path + ": no such file");
  const auto png = io::read_png(path);  // [H, W, C] uint8
  const auto& s = model.config.images;
  if (png.size(0) != size || png.size(1) != size) {
    throw std::invalid_argument(std::string(what) + " " + path + ": " + std::to_string(png.size(1)) + "x" +
                                std::to_string(png.size(0)) + " pixels, " +
                                (size == s.size ? "the model draws " : "the model's size over --factor is ") +
                                std::to_string(size) + "x" + std::to_string(size));
  }
  auto x = png.permute({2, 0, 1}).to(torch::kFloat32) / 127.5 - 1.0;  // [C, H, W]
  if (x.size(0) == 4 || x.size(0) == 2) x = x.slice(0, 0, x.size(0) - 1);  // drop alpha
  if (x.size(0) == 3 && s.channels == 1) {
    x = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]).unsqueeze(0);
  } else if (x.size(0) == 1 && s.channels == 3) {
    x = x.expand({3, -1, -1}).contiguous();
  }
  return x.unsqueeze(0).contiguous();
}

int run_image(const ImageArgs& a, ImageJob job) {
  const bool inpaint = job == ImageJob::Inpaint;
  if (a.threads < 1) throw std::invalid_argument("--threads = " + std::to_string(a.threads) + " (must be >= 1)");
  at::set_num_threads(static_cast<int>(a.threads));
  check_output_folder(a.out, a.overwrite);
  auto model = diffusion::load_point_model(a.model);
  if (model.config.representation != diffusion::Representation::Images) {
    throw std::invalid_argument(a.model + ": a " + diffusion::to_string(model.config.representation) +
                                " model; image commands need an image model (train --representation images)");
  }
  const int64_t size = model.config.images.size;
  if (job == ImageJob::Upscale && (a.factor < 2 || size % a.factor != 0)) {
    throw std::invalid_argument("--factor = " + std::to_string(a.factor) + " (must be >= 2 and divide the model's " +
                                std::to_string(size) + " pixels)");
  }
  const auto image = read_model_image(a.input, model, "--input", job == ImageJob::Upscale ? size / a.factor : size);
  torch::Tensor mask = torch::zeros_like(image);
  diffusion::CompletionOptions o;
  o.steps = a.steps;
  o.sampler_options.clip_sample = true;
  o.sampler_options.jump_length = a.jump_length;
  o.sampler_options.jump_n_sample = a.jump_n_sample;
  torch::Tensor known = image;
  if (job == ImageJob::Upscale) {
    // Average-pool down, nearest up: downsampling an upsampled image gives it back exactly, so the
    // result's downsampled version is the input.
    namespace F = torch::nn::functional;
    const int64_t f = a.factor;
    const auto up = [size](const torch::Tensor& x) {
      return F::interpolate(x, F::InterpolateFuncOptions().size(std::vector<int64_t>{size, size}).mode(torch::kNearest));
    };
    known = up(image);
    o.strategy = diffusion::CompletionStrategy::Replacement;
    o.projection = [f, up](const torch::Tensor& x) { return up(torch::avg_pool2d(x, {f, f})); };
    mask = torch::ones_like(known);
  } else if (inpaint) {
    o.strategy = diffusion::parse_completion_strategy(a.strategy);
    mask = (read_model_image(a.mask, model, "--mask", size) > 0.0).to(torch::kFloat32).expand_as(image).contiguous();
    if (mask.sum().item<double>() == 0) throw std::invalid_argument("--mask " + a.mask + ": no pixel is marked known (white)");
  } else {
    if (!(a.strength > 0 && a.strength <= 1)) {
      throw std::invalid_argument("--strength = " + std::to_string(a.strength) + " (must be in (0, 1])");
    }
    o.strategy = diffusion::CompletionStrategy::SDEdit;
    o.strength = a.strength;
    o.keep_known = false;
    o.init = image;
  }
  const int64_t label = a.class_name.empty() ? model.null_label() : model.class_label(a.class_name);
  torch::NoGradGuard no_grad;
  auto& net = model.grid_net;
  diffusion::Denoiser denoiser = [&](const torch::Tensor& x, const torch::Tensor& t) {
    return net->forward(x, t.expand({x.size(0)}), torch::full({x.size(0)}, label, torch::kLong));
  };
  diffusion::GeneratorNoise noise(a.seed);
  const auto start = std::chrono::steady_clock::now();
  const auto result = diffusion::complete(denoiser, model.config.schedule, known, mask, known.sizes(), noise, o);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const std::string name = inpaint ? "inpainted.png" : job == ImageJob::Upscale ? "upscaled.png" : "edited.png";
  const std::string json_name = inpaint ? "inpaint.json" : job == ImageJob::Upscale ? "upscale.json" : "edit.json";
  write_folder_atomically(a.out, [&](const fs::path& tmp) {
    io::write_image_png((tmp / name).string(), result[0]);
    // Input (unknown pixels grey when inpainting; upscaling: nearest-upsampled), result.
    const auto shown = inpaint ? image * mask : known;
    io::write_image_png((tmp / "before_after.png").string(), io::contact_sheet(torch::cat({shown, result}), 2));
    io::write_json((tmp / json_name).string(),
                   {{"model", a.model}, {"input", a.input}, {"mask", inpaint ? nlohmann::json(a.mask) : nlohmann::json()},
                    {"strategy", diffusion::to_string(o.strategy)}, {"strength", inpaint ? nlohmann::json() : nlohmann::json(a.strength)},
                    {"steps", a.steps}, {"seed", a.seed}, {"class", a.class_name}, {"seconds", seconds},
                    {"factor", job == ImageJob::Upscale ? nlohmann::json(a.factor) : nlohmann::json()}});
  });
  std::cout << (inpaint ? "inpainted" : job == ImageJob::Upscale ? "upscaled" : "edited") << " in " << seconds << " s: " << (fs::path(a.out) / name).string()
            << " and before_after.png\n";
  return 0;
}

void add_common(CLI::App* cmd, ImageArgs& a) {
  cmd->add_option("--model", a.model, "Image model (.pt or run folder)")->required();
  cmd->add_option("--input", a.input, "PNG image: the model's size (upscale: the model's size / --factor)")->required();
  cmd->add_option("--out", a.out, "Output folder")->required();
  cmd->add_option("--class", a.class_name, "Class to draw (class-conditional models)");
  cmd->add_option("--steps", a.steps, "Sampler steps (DDPM)")->capture_default_str();
  cmd->add_option("--seed", a.seed, "Seed")->capture_default_str();
  cmd->add_option("--threads", a.threads, "CPU threads")->capture_default_str();
  cmd->add_flag("--overwrite", a.overwrite, "Replace the output folder if it exists");
}

}  // namespace

void add_image_command(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("image", "Inpaint, edit or upscale images with an image model");
  cmd->require_subcommand(1, 1);
  auto in = std::make_shared<ImageArgs>();
  auto* ip = cmd->add_subcommand(
      "inpaint", "Fill the unknown pixels (black in --mask) with the completion strategies of the 3D side");
  add_common(ip, *in);
  ip->add_option("--mask", in->mask, "PNG of the same size: white = known pixels")->required();
  ip->add_option("--strategy", in->strategy, "replacement, repaint or sdedit")->capture_default_str();
  ip->add_option("--jump-length", in->jump_length, "RePaint: steps per jump")->capture_default_str();
  ip->add_option("--jump-n-sample", in->jump_n_sample, "RePaint: resamplings per jump")->capture_default_str();
  ip->callback([in, &action] { action = [in] { return run_image(*in, ImageJob::Inpaint); }; });
  auto ed = std::make_shared<ImageArgs>();
  auto* e = cmd->add_subcommand("edit", "Image-to-image: noise the input to --strength and denoise it (SDEdit)");
  add_common(e, *ed);
  e->add_option("--strength", ed->strength, "How far to noise, in (0, 1]: more changes more")->capture_default_str();
  e->callback([ed, &action] { action = [ed] { return run_image(*ed, ImageJob::Edit); }; });
  auto up = std::make_shared<ImageArgs>();
  auto* u = cmd->add_subcommand(
      "upscale", "Draw a model-size image whose --factor downsampling is --input (ILVR-style, any image model)");
  add_common(u, *up);
  u->add_option("--factor", up->factor, "Upscaling factor; --input is the model's size / factor")->capture_default_str();
  u->callback([up, &action] { action = [up] { return run_image(*up, ImageJob::Upscale); }; });
}

}  // namespace shapediff::apps

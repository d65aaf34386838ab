// `shapediff image train|sample|inpaint|edit|upscale|eval`: image diffusion models.
// train / sample are `shapediff train` / `shapediff sample` themselves, registered here with the
// image representation set. inpaint fills the unknown pixels of an image (the completion
// strategies of diffusion/completion.h, the same code that completes 3D scans), edit redraws a
// whole image from a noised copy (SDEdit), upscale draws a high-resolution image from a small
// one (diffusion/super_resolution.h: SR3 with a super-resolution model, optionally with ILVR's
// exact low-pass consistency, or ILVR alone with any image model), and eval scores generated
// images against a reference folder (shapes/image_metrics.h).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "apps/command.h"
#include "apps/command_support.h"
#include "diffusion/completion.h"
#include "diffusion/noise_source.h"
#include "diffusion/point_model.h"
#include "diffusion/super_resolution.h"
#include "io/image_folder.h"
#include "io/json_file.h"
#include "io/npz.h"
#include "io/png.h"
#include "shapes/image_metrics.h"

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
  int64_t factor = 0;     // upscale: 0 = the model's sr_factor, or 4 for ilvr
  std::string method;     // upscale: empty = sr3 for super-resolution models, ilvr otherwise
  std::string reference;  // upscale: ground truth for PSNR / SSIM
};

enum class ImageJob { Inpaint, Edit };

// One PNG as [1, C, S, S] in [-1, 1] with the model's channels and `size` pixels a side;
// `needs` says where the size comes from in the error.
torch::Tensor read_model_image(const std::string& path, const diffusion::PointModel& model, const char* what,
                               int64_t size, const std::string& needs = "the model draws") {
  if (!fs::is_regular_file(path)) throw std::invalid_argument(std::string(what) + " " + path + ": no such file");
  const auto png = io::read_png(path);  // [H, W, C] uint8
  const auto& s = model.config.images;
  if (png.size(0) != size || png.size(1) != size) {
    throw std::invalid_argument(std::string(what) + " " + path + ": " + std::to_string(png.size(1)) + "x" +
                                std::to_string(png.size(0)) + " pixels, " + needs + " " + std::to_string(size) +
                                "x" + std::to_string(size));
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

diffusion::PointModel load_image_model(const ImageArgs& a) {
  if (a.threads < 1) throw std::invalid_argument("--threads = " + std::to_string(a.threads) + " (must be >= 1)");
  at::set_num_threads(static_cast<int>(a.threads));
  check_output_folder(a.out, a.overwrite);
  auto model = diffusion::load_point_model(a.model);
  if (model.config.representation != diffusion::Representation::Images) {
    throw std::invalid_argument(a.model + ": a " + diffusion::to_string(model.config.representation) +
                                " model; image commands need an image model (train --representation images)");
  }
  return model;
}

int run_image(const ImageArgs& a, ImageJob job) {
  const bool inpaint = job == ImageJob::Inpaint;
  auto model = load_image_model(a);
  if (model.config.task == diffusion::PointTask::SuperResolution) {
    throw std::invalid_argument(a.model + ": a super-resolution model (it needs a low-resolution image): use image upscale");
  }
  const int64_t size = model.config.images.size;
  const auto image = read_model_image(a.input, model, "--input", size);
  torch::Tensor mask = torch::zeros_like(image);
  diffusion::CompletionOptions o;
  o.steps = a.steps;
  o.sampler_options.clip_sample = true;
  o.sampler_options.jump_length = a.jump_length;
  o.sampler_options.jump_n_sample = a.jump_n_sample;
  torch::Tensor known = image;
  if (inpaint) {
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

  const std::string name = inpaint ? "inpainted.png" : "edited.png";
  const std::string json_name = inpaint ? "inpaint.json" : "edit.json";
  write_folder_atomically(a.out, [&](const fs::path& tmp) {
    io::write_image_png((tmp / name).string(), result[0]);
    // Input (unknown pixels grey when inpainting), result.
    const auto shown = inpaint ? image * mask : known;
    io::write_image_png((tmp / "before_after.png").string(), io::contact_sheet(torch::cat({shown, result}), 2));
    io::write_json((tmp / json_name).string(),
                   {{"model", a.model}, {"input", a.input}, {"mask", inpaint ? nlohmann::json(a.mask) : nlohmann::json()},
                    {"strategy", diffusion::to_string(o.strategy)}, {"strength", inpaint ? nlohmann::json() : nlohmann::json(a.strength)},
                    {"steps", a.steps}, {"seed", a.seed}, {"class", a.class_name}, {"seconds", seconds}});
  });
  std::cout << (inpaint ? "inpainted" : "edited") << " in " << seconds << " s: " << (fs::path(a.out) / name).string()
            << " and before_after.png\n";
  return 0;
}

std::string format_score(double psnr, double ssim) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "PSNR %.2f dB, SSIM %.4f", psnr, ssim);
  return buf;
}

int run_upscale(const ImageArgs& a) {
  auto model = load_image_model(a);
  const bool sr_model = model.config.task == diffusion::PointTask::SuperResolution;
  diffusion::UpscaleOptions o;
  o.method = a.method.empty() ? (sr_model ? diffusion::UpscaleMethod::SR3 : diffusion::UpscaleMethod::ILVR)
                              : diffusion::parse_upscale_method(a.method);
  o.factor = a.factor;
  o.steps = a.steps;
  if (!a.class_name.empty()) o.label = model.class_label(a.class_name);
  const int64_t f = diffusion::upscale_factor(model, o);  // checks the method and factor first
  const int64_t size = model.config.images.size;
  if (a.input.empty() && a.reference.empty()) throw std::invalid_argument("give --input (or --reference to upscale its downsampled version)");
  torch::Tensor reference;
  if (!a.reference.empty()) reference = read_model_image(a.reference, model, "--reference", size);
  // Without --input: the reference's f x f block means, the degradation SR3 models train on.
  const auto low = a.input.empty() ? diffusion::downsample_area(reference, f)
                                   : read_model_image(a.input, model, "--input", size / f,
                                                      "the model's " + std::to_string(size) + " pixels over factor " +
                                                          std::to_string(f) + " is");
  torch::NoGradGuard no_grad;
  diffusion::GeneratorNoise noise(a.seed);
  const auto start = std::chrono::steady_clock::now();
  const auto result = diffusion::upscale_images(model, low, noise, o).clamp(-1.0, 1.0);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  nlohmann::json metrics;
  std::string score_line;
  if (reference.defined()) {
    // Plain interpolation of the same input, for comparison.
    namespace F = torch::nn::functional;
    const auto bilinear = diffusion::upsample_bilinear(low, f).clamp(-1.0, 1.0);
    const auto bicubic = F::interpolate(low, F::InterpolateFuncOptions()
                                                 .size(std::vector<int64_t>{size, size})
                                                 .mode(torch::kBicubic)
                                                 .align_corners(false))
                             .clamp(-1.0, 1.0);
    auto score = [&](const torch::Tensor& x) {
      return nlohmann::json{{"psnr", shapes::psnr(x, reference)}, {"ssim", shapes::ssim(x, reference)}};
    };
    metrics = score(result);
    metrics["bilinear"] = score(bilinear);
    metrics["bicubic"] = score(bicubic);
    auto line = [](const nlohmann::json& m) { return format_score(m["psnr"].get<double>(), m["ssim"].get<double>()); };
    score_line = "against " + a.reference + ": " + line(metrics) + " (bilinear " + line(metrics["bilinear"]) +
                 "; bicubic " + line(metrics["bicubic"]) + ")\n";
  }
  write_folder_atomically(a.out, [&](const fs::path& tmp) {
    io::write_image_png((tmp / "upscaled.png").string(), result[0]);
    // The input (nearest-upsampled), the result, and the ground truth when given.
    namespace F = torch::nn::functional;
    const auto shown = F::interpolate(low, F::InterpolateFuncOptions()
                                               .size(std::vector<int64_t>{size, size})
                                               .mode(torch::kNearest));
    const auto tiles = reference.defined() ? torch::cat({shown, result, reference}) : torch::cat({shown, result});
    io::write_image_png((tmp / "before_after.png").string(), io::contact_sheet(tiles, tiles.size(0)));
    io::write_json((tmp / "upscale.json").string(),
                   {{"model", a.model}, {"input", a.input.empty() ? nlohmann::json() : nlohmann::json(a.input)}, {"method", diffusion::to_string(o.method)},
                    {"factor", f}, {"steps", a.steps}, {"seed", a.seed}, {"class", a.class_name},
                    {"seconds", seconds},
                    {"reference", a.reference.empty() ? nlohmann::json() : nlohmann::json(a.reference)},
                    {"metrics", metrics}});
  });
  std::cout << "upscaled " << size / f << "x" << size / f << " -> " << size << "x" << size << " ("
            << diffusion::to_string(o.method) << ") in " << seconds << " s: "
            << (fs::path(a.out) / "upscaled.png").string() << " and before_after.png\n"
            << score_line;
  return 0;
}

struct EvalArgs {
  std::string samples;
  std::string reference;
  std::string out;
  bool paired = false;
};

// A set of images for eval: a `shapediff sample` output folder (its samples.npz), a folder whose
// subfolders are such outputs (one class each), or a PNG folder (io/image_folder.h).
io::ImageFolder read_image_set(const std::string& dir, const char* what) {
  auto read_samples = [&](const fs::path& folder) {
    const auto arrays = io::read_npz((folder / "samples.npz").string());
    const auto it = arrays.find("images");
    if (it == arrays.end()) {
      throw std::invalid_argument(std::string(what) + " " + (folder / "samples.npz").string() +
                                  ": no 'images' array (not the output of sampling an image model)");
    }
    return it->second.to(torch::kFloat32);
  };
  if (!fs::is_directory(dir)) throw std::invalid_argument(std::string(what) + " " + dir + ": not a folder");
  if (fs::exists(fs::path(dir) / "samples.npz")) {
    io::ImageFolder set;
    set.images = read_samples(dir);
    set.labels = torch::zeros({set.images.size(0)}, torch::kLong);
    set.categories = {"default"};
    return set;
  }
  std::set<std::string> sample_folders;
  bool other = false;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    if (entry.is_directory() && fs::exists(entry.path() / "samples.npz")) {
      sample_folders.insert(name);
    } else {
      other = true;
    }
  }
  if (sample_folders.empty() || other) return io::read_image_folder(dir);
  io::ImageFolder set;
  std::vector<torch::Tensor> images, labels;
  for (const auto& name : sample_folders) {
    images.push_back(read_samples(fs::path(dir) / name));
    if (images.back().sizes().slice(1) != images.front().sizes().slice(1)) {
      throw std::invalid_argument(std::string(what) + " " + dir + ": " + name + " holds images of another size than " +
                                  set.categories.front());
    }
    labels.push_back(torch::full({images.back().size(0)}, static_cast<int64_t>(set.categories.size()), torch::kLong));
    set.categories.push_back(name);
  }
  set.images = torch::cat(images);
  set.labels = torch::cat(labels);
  return set;
}

std::string image_size(const torch::Tensor& images) {
  return std::to_string(images.size(1)) + "x" + std::to_string(images.size(2)) + "x" + std::to_string(images.size(3));
}

int run_image_eval(const EvalArgs& a) {
  const auto samples = read_image_set(a.samples, "--samples");
  const auto reference = read_image_set(a.reference, "--reference");
  if (samples.images.sizes().slice(1) != reference.images.sizes().slice(1)) {
    throw std::invalid_argument("--samples " + a.samples + " holds " + image_size(samples.images) +
                                " (channels x height x width) images, --reference " + a.reference + " " +
                                image_size(reference.images) + ": they must agree");
  }
  auto scores_json = [](const shapes::ImageSetScores& s) {
    return nlohmann::json{{"generated", s.generated}, {"reference", s.reference}, {"MMD", s.mmd},
                          {"COV", s.coverage}, {"1-NNA", s.nna}};
  };
  auto print = [](const std::string& name, const shapes::ImageSetScores& s) {
    char buf[160];
    std::snprintf(buf, sizeof(buf), "%-16s %5lld vs %5lld  MMD %.4f  COV %.4f  1-NNA %.4f\n", name.c_str(),
                  static_cast<long long>(s.generated), static_cast<long long>(s.reference), s.mmd, s.coverage, s.nna);
    std::cout << buf;
  };
  const auto overall = shapes::image_set_scores(samples.images, reference.images);
  nlohmann::json out = {{"samples", a.samples}, {"reference", a.reference},
                        {"distance", "pixel L2 on the [0, 1] scale"}, {"overall", scores_json(overall)}};
  print("overall", overall);
  // Per class when both sets are split into classes: the classes they share.
  const bool classes = !(samples.categories.size() == 1 && samples.categories[0] == "default") &&
                       !(reference.categories.size() == 1 && reference.categories[0] == "default");
  if (classes) {
    nlohmann::json per_class = nlohmann::json::object();
    std::vector<std::string> unmatched;
    for (size_t i = 0; i < samples.categories.size(); ++i) {
      const auto& name = samples.categories[i];
      const auto it = std::find(reference.categories.begin(), reference.categories.end(), name);
      if (it == reference.categories.end()) {
        unmatched.push_back(name);
        continue;
      }
      const auto j = static_cast<int64_t>(it - reference.categories.begin());
      const auto s = shapes::image_set_scores(samples.images.index({samples.labels == static_cast<int64_t>(i)}),
                                              reference.images.index({reference.labels == j}));
      per_class[name] = scores_json(s);
      print(name, s);
    }
    out["per_class"] = per_class;
    out["unmatched_classes"] = unmatched;
    if (!unmatched.empty()) {
      std::cout << "classes without reference images (in overall only):";
      for (const auto& n : unmatched) std::cout << " " << n;
      std::cout << "\n";
    }
  }
  if (a.paired) {
    if (samples.images.size(0) != reference.images.size(0)) {
      throw std::invalid_argument("--paired: " + std::to_string(samples.images.size(0)) + " samples but " +
                                  std::to_string(reference.images.size(0)) + " reference images");
    }
    const double p = shapes::psnr(samples.images, reference.images), q = shapes::ssim(samples.images, reference.images);
    out["paired"] = {{"psnr", p}, {"ssim", q}, {"pairs", samples.images.size(0)}};
    std::cout << "paired (" << samples.images.size(0) << " pairs in folder order): " << format_score(p, q) << "\n";
  }
  if (!a.out.empty()) io::write_json(a.out, out);
  return 0;
}

void add_common(CLI::App* cmd, ImageArgs& a) {
  cmd->add_option("--model", a.model, "Image model (.pt or run folder)")->required();
  cmd->add_option("--input", a.input, "PNG image of the model's size")->required();
  cmd->add_option("--out", a.out, "Output folder")->required();
  cmd->add_option("--class", a.class_name, "Class to draw (class-conditional models)");
  cmd->add_option("--steps", a.steps, "Sampler steps (DDPM)")->capture_default_str();
  cmd->add_option("--seed", a.seed, "Seed")->capture_default_str();
  cmd->add_option("--threads", a.threads, "CPU threads")->capture_default_str();
  cmd->add_flag("--overwrite", a.overwrite, "Replace the output folder if it exists");
}

}  // namespace

void add_image_command(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("image", "Train, sample, inpaint, edit, upscale and evaluate image models");
  cmd->require_subcommand(1, 1);
  // `image train` / `image sample`: the train and sample commands themselves; train defaults to
  // the image representation (a resumed run keeps its own).
  add_train_command(*cmd, action);
  auto* tr = cmd->get_subcommand("train");
  tr->description("Train an image diffusion model on a folder of PNGs (shapediff train with --representation "
                  "images; configs/images-*.json). Ctrl-C stops with a checkpoint; --resume continues.");
  auto* representation = tr->get_option("--representation");
  representation->check(CLI::IsMember({"images"}));
  auto* resume = tr->get_option("--resume");
  tr->parse_complete_callback([representation, resume] {
    if (representation->count() == 0 && resume->count() == 0) {
      representation->add_result("images");
      representation->run_callback();
    }
  });
  add_sample_command(*cmd, action);
  cmd->get_subcommand("sample")->description(
      "Generate images with an image model (shapediff sample): image_NNNN.png, samples.png, samples.npz");

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
      "upscale",
      "Draw a model-size image from a small one: SR3 with a super-resolution model (train with task\n"
      "super_resolution), or ILVR with any image model. Writes upscaled.png, before_after.png, upscale.json");
  add_common(u, *up);
  u->get_option("--input")
      ->required(false)
      ->description("PNG image of the model's size / the factor (e.g. 8x8 for a 32-pixel model, factor 4); "
                    "default: --reference downsampled (f x f block means)");
  u->add_option("--method", up->method,
                "sr3: the super-resolution model conditioned on the bilinear-upsampled input (default for such "
                "models; close to the input, not exactly); sr3-ilvr: sr3 plus ILVR's low-pass projection after "
                "every step, so the output downsampled equals the input exactly; ilvr: the projection alone with "
                "any unconditional or class-conditional model (default for them)");
  u->add_option("--factor", up->factor,
                "Upscaling factor: a super-resolution model's own (default); ilvr: any factor dividing the "
                "model's size (default 4)");
  u->add_option("--reference", up->reference,
                "Ground-truth PNG of the model's size: print and write PSNR / SSIM of the result, and of plain "
                "bilinear and bicubic upsampling of the input");
  u->callback([up, &action] { action = [up] { return run_upscale(*up); }; });
  auto ev = std::make_shared<EvalArgs>();
  auto* v = cmd->add_subcommand(
      "eval",
      "Score generated images against reference images: MMD, COV and 1-NNA with the pixel L2 distance\n"
      "(overall, and per class when both folders have class subfolders); --paired adds PSNR / SSIM");
  v->add_option("--samples", ev->samples,
                "Generated images: a PNG folder (subfolders = classes), a `sample` output folder, or a folder of "
                "them (one class each)")
      ->required();
  v->add_option("--reference", ev->reference, "Reference images, read the same way")->required();
  v->add_option("--out", ev->out, "Also write the scores as JSON here");
  v->add_flag("--paired", ev->paired,
              "Also PSNR / SSIM of sample i against reference i in folder order (super-resolution outputs "
              "against their ground truth)");
  v->callback([ev, &action] { action = [ev] { return run_image_eval(*ev); }; });
}

}  // namespace shapediff::apps

// SR3-style super-resolution (diffusion/super_resolution.h): the degradation against plain loops,
// the task in model and training configs, training with exact resume, and upscaling with every
// method (issue 9).
#include "diffusion/super_resolution.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "test_support.h"

#include "diffusion/point_training.h"
#include "diffusion/training_run.h"
#include "io/image_folder.h"
#include "io/module_archive.h"

namespace shapediff::diffusion {
namespace {

const auto message_of = testing::invalid_argument_message;

TEST(SuperResolution, AreaDownsamplingAndBilinearUpsamplingMatchLoops) {
  torch::manual_seed(3);
  const auto x = torch::rand({2, 3, 8, 12}, torch::kFloat64);
  const auto down = downsample_area(x, 4);
  ASSERT_EQ(down.sizes(), torch::IntArrayRef({2, 3, 2, 3}));
  const auto a = x.accessor<double, 4>();
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t c = 0; c < 3; ++c) {
      for (int64_t i = 0; i < 2; ++i) {
        for (int64_t j = 0; j < 3; ++j) {
          double sum = 0;
          for (int64_t u = 0; u < 4; ++u) {
            for (int64_t v = 0; v < 4; ++v) sum += a[b][c][4 * i + u][4 * j + v];
          }
          EXPECT_NEAR(down[b][c][i][j].item<double>(), sum / 16, 1e-12);
        }
      }
    }
  }

  const int64_t f = 3, h = 3, w = 5;
  const auto low = torch::rand({1, 2, h, w}, torch::kFloat64);
  const auto up = upsample_bilinear(low, f);
  ASSERT_EQ(up.sizes(), torch::IntArrayRef({1, 2, h * f, w * f}));
  const auto l = low.accessor<double, 4>();
  // Half-pixel centres: output i samples (i + 0.5) / f - 0.5, clamped to the edge pixels.
  auto source = [&](int64_t i, int64_t n, int64_t& i0, int64_t& i1, double& t) {
    const double s = std::max(0.0, (static_cast<double>(i) + 0.5) / static_cast<double>(f) - 0.5);
    i0 = std::min<int64_t>(static_cast<int64_t>(std::floor(s)), n - 1);
    i1 = std::min<int64_t>(i0 + 1, n - 1);
    t = s - static_cast<double>(i0);
  };
  for (int64_t c = 0; c < 2; ++c) {
    for (int64_t i = 0; i < h * f; ++i) {
      for (int64_t j = 0; j < w * f; ++j) {
        int64_t y0, y1, x0, x1;
        double ty, tx;
        source(i, h, y0, y1, ty);
        source(j, w, x0, x1, tx);
        const double top = (1 - tx) * l[0][c][y0][x0] + tx * l[0][c][y0][x1];
        const double bottom = (1 - tx) * l[0][c][y1][x0] + tx * l[0][c][y1][x1];
        EXPECT_NEAR(up[0][c][i][j].item<double>(), (1 - ty) * top + ty * bottom, 1e-12) << i << "," << j;
      }
    }
  }
  EXPECT_TRUE(torch::allclose(super_resolution_condition(x, 4), upsample_bilinear(downsample_area(x, 4), 4)));

  EXPECT_NE(message_of([&] { downsample_area(x, 5); }).find("not divisible by factor 5"), std::string::npos);
  EXPECT_NE(message_of([&] { downsample_area(x[0], 2); }).find("[B,C,H,W]"), std::string::npos);
  EXPECT_NE(message_of([&] { upsample_bilinear(x, 0); }).find("factor 0"), std::string::npos);
}

PointModelConfig sr_config(int64_t size = 16, int64_t factor = 4) {
  PointModelConfig c;
  c.representation = Representation::Images;
  c.task = PointTask::SuperResolution;
  c.images.size = size;
  c.images.channels = 1;
  c.images.unet = networks::UNetPreset::Tiny;
  c.images.sr_factor = factor;
  return c;
}

TEST(SuperResolution, TheTaskAndFactorRoundTripThroughModelAndTrainingConfigs) {
  const auto c = sr_config();
  EXPECT_EQ(c.grid_network().in_channels(), 2);  // noisy image + conditioning image
  EXPECT_EQ(c.grid_network().out_channels(), 1);
  const auto json = c.to_json();
  EXPECT_EQ(json.at("task"), "super_resolution");
  EXPECT_EQ(json.at("images").at("sr_factor"), 4);
  const auto back = PointModelConfig::from_json(json, "model");
  EXPECT_EQ(back.task, PointTask::SuperResolution);
  EXPECT_EQ(back.images.sr_factor, 4);
  EXPECT_FALSE(config_difference(c, back));
  auto other = c;
  other.images.sr_factor = 2;
  EXPECT_EQ(config_difference(c, other).value_or(""), "images.sr_factor 4 vs 2");
  // A generation image model keeps its file layout (no task, no sr_factor).
  auto gen = c;
  gen.task = PointTask::Generation;
  gen.images.sr_factor = 0;
  EXPECT_FALSE(gen.to_json().contains("task"));
  EXPECT_FALSE(gen.to_json().at("images").contains("sr_factor"));

  auto bad = c;
  bad.images.sr_factor = 3;
  EXPECT_NE(message_of([&] { bad.validate(); }).find("images.sr_factor must be >= 2 and divide images.size 16, got 3"),
            std::string::npos);
  bad.images.sr_factor = 1;
  EXPECT_NE(message_of([&] { bad.validate(); }).find("got 1"), std::string::npos);
  EXPECT_NE(message_of([&] { gen.images.sr_factor = 4, gen.validate(); }).find("but the task is generation"),
            std::string::npos);
  PointModelConfig points;
  points.task = PointTask::SuperResolution;
  EXPECT_NE(message_of([&] { points.validate(); }).find("super_resolution is for image models"), std::string::npos);
  EXPECT_EQ(parse_point_task("super_resolution"), PointTask::SuperResolution);
  EXPECT_EQ(to_string(PointTask::SuperResolution), "super_resolution");

  const nlohmann::json training = {
      {"model", {{"representation", "images"}, {"preset", "tiny"}, {"size", 32}, {"task", "super_resolution"},
                 {"sr_factor", 4}}}};
  const auto t = PointTrainingConfig::from_json(training, "sr.json");
  EXPECT_EQ(t.model.task, PointTask::SuperResolution);
  EXPECT_EQ(t.model.images.sr_factor, 4);
  const auto again = PointTrainingConfig::from_json(t.to_json(), "again");
  EXPECT_EQ(again.to_json(), t.to_json());
  auto no_factor = training;
  no_factor["model"].erase("sr_factor");
  EXPECT_NE(message_of([&] { PointTrainingConfig::from_json(no_factor, "sr.json"); }).find("images.sr_factor"),
            std::string::npos);
  auto voxels = training;
  voxels["model"]["representation"] = "voxels";
  voxels["model"].erase("size");
  voxels["data"] = {{"points", 256}};
  EXPECT_NE(message_of([&] { PointTrainingConfig::from_json(voxels, "sr.json"); }).find("sr_factor"),
            std::string::npos);  // no such key for voxels
  voxels["model"].erase("sr_factor");
  const auto voxel_message = message_of([&] { PointTrainingConfig::from_json(voxels, "sr.json"); });
  EXPECT_NE(voxel_message.find("model.task"), std::string::npos) << voxel_message;
}

TEST(SuperResolution, ModelFilesKeepTheTask) {
  testing::ScratchDir tmp;
  torch::manual_seed(1);
  auto model = make_point_model(sr_config());
  save_point_model(model, tmp.path("sr.pt"));
  const auto loaded = load_point_model(tmp.path("sr.pt"));
  EXPECT_EQ(loaded.config.task, PointTask::SuperResolution);
  EXPECT_EQ(loaded.config.images.sr_factor, 4);
  const auto a = model.module().parameters(), b = loaded.module().parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i]));
}

using testing::logged_losses;

TEST(SuperResolution, TrainsOnAPngFolderAndResumesExactly) {
  testing::ScratchDir tmp;
  const auto folder = tmp.path("images");
  torch::manual_seed(21);
  std::vector<std::string> files;
  for (int i = 0; i < 8; ++i) files.push_back((i < 4 ? "a/" : "b/") + std::to_string(i));
  io::write_image_folder(folder, torch::rand({8, 1, 16, 16}) * 2 - 1, files);
  auto options = [&](const std::string& run) {
    PointTrainingOptions o;
    o.data_dir = folder;
    o.run_dir = tmp.path(run);
    PointTrainingConfig c;
    c.model.representation = Representation::Images;
    c.model.task = PointTask::SuperResolution;
    c.model.images = sr_config().images;
    auto& t = c.training;
    t.steps = 5;
    t.batch_size = 3;  // mid-epoch stops: 8 images, 3 per batch
    t.lr = 2e-3;
    t.ema_decay = 0.8;
    t.checkpoint_every = 2;
    t.log_every = 1;
    t.cfg_dropout = 0.3;
    t.seed = 4;
    t.precision = TrainingPrecision::Float32;
    o.config = c;
    return o;
  };
  const auto whole = train_point_model(options("whole"));
  ASSERT_TRUE(whole.completed);
  const auto model = load_point_model(whole.model_path);
  EXPECT_EQ(model.config.task, PointTask::SuperResolution);
  EXPECT_EQ(model.config.images.sr_factor, 4);
  EXPECT_EQ(model.grid_net->options().in_channels(), 2);

  auto first = options("split");
  first.on_step = [](const TrainingProgress& p) { return p.step < 3; };
  EXPECT_FALSE(train_point_model(first).completed);
  auto second = options("split");
  second.resume = true;
  second.config.reset();
  const auto rest = train_point_model(second);
  ASSERT_TRUE(rest.completed);
  EXPECT_EQ(logged_losses(tmp.path("whole")), logged_losses(tmp.path("split")));
  const auto split = load_point_model(rest.model_path);
  const auto a = model.module().parameters(), b = split.module().parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "tensor " << i;

  // A resume with another factor is refused, naming it.
  auto changed = options("split");
  changed.resume = true;
  changed.config->model.images.sr_factor = 2;
  EXPECT_NE(message_of([&] { train_point_model(changed); }).find("sr_factor"), std::string::npos);
}

// A model whose zero-initialised output layer is moved, so that it predicts something.
PointModel perturbed(const PointModelConfig& config) {
  torch::manual_seed(5);
  auto model = make_point_model(config);
  torch::NoGradGuard no_grad;
  for (auto& p : model.module().parameters()) p.add_(torch::randn_like(p) * 0.02);
  model.module().eval();
  return model;
}

TEST(SuperResolution, UpscalingGivesFullSizeImagesAndIlvrKeepsTheInputExactly) {
  auto sr = perturbed(sr_config());
  auto gen_config = sr_config();
  gen_config.task = PointTask::Generation;
  gen_config.images.sr_factor = 0;
  auto gen = perturbed(gen_config);
  torch::manual_seed(8);
  const auto low = torch::rand({2, 1, 4, 4}) * 1.6 - 0.8;
  torch::NoGradGuard no_grad;
  UpscaleOptions o;
  o.steps = 5;
  auto run = [&](PointModel& model, UpscaleMethod method, const torch::Tensor& input, uint64_t seed = 0) {
    o.method = method;
    GeneratorNoise noise(seed);
    return upscale_images(model, input, noise, o);
  };
  const auto sr3 = run(sr, UpscaleMethod::SR3, low);
  ASSERT_EQ(sr3.sizes(), torch::IntArrayRef({2, 1, 16, 16}));
  EXPECT_TRUE(torch::isfinite(sr3).all().item<bool>());
  // The conditioning reaches the network: another input, same noise, another result.
  EXPECT_FALSE(torch::allclose(sr3, run(sr, UpscaleMethod::SR3, low.flip({3}))));
  // The same seed gives the same image.
  EXPECT_TRUE(torch::equal(sr3, run(sr, UpscaleMethod::SR3, low)));
  for (auto [model, method] : {std::pair<PointModel*, UpscaleMethod>{&sr, UpscaleMethod::SR3ILVR},
                               std::pair<PointModel*, UpscaleMethod>{&gen, UpscaleMethod::ILVR}}) {
    const auto high = run(*model, method, low);
    ASSERT_EQ(high.sizes(), torch::IntArrayRef({2, 1, 16, 16}));
    EXPECT_LT((downsample_area(high, 4) - low).abs().max().item<double>(), 1e-5) << to_string(method);
  }
  // ilvr at another factor with the generation model.
  o.factor = 2;
  EXPECT_EQ(run(gen, UpscaleMethod::ILVR, torch::zeros({1, 1, 8, 8})).sizes(), torch::IntArrayRef({1, 1, 16, 16}));

  // Bad input, each naming the problem.
  EXPECT_NE(message_of([&] { run(sr, UpscaleMethod::SR3, low); }).find("factor 2, but the model was trained for 4"),
            std::string::npos);
  o.factor = 0;
  EXPECT_NE(message_of([&] { run(gen, UpscaleMethod::SR3, low); }).find("needs a model trained with task super_resolution"),
            std::string::npos);
  EXPECT_NE(message_of([&] { run(sr, UpscaleMethod::ILVR, low); }).find("use sr3 or sr3-ilvr"), std::string::npos);
  EXPECT_NE(message_of([&] { run(sr, UpscaleMethod::SR3, torch::zeros({1, 1, 8, 8})); }).find("needs [B,1,4,4]"),
            std::string::npos);
  o.factor = 3;
  EXPECT_NE(message_of([&] { run(gen, UpscaleMethod::ILVR, low); }).find("factor 3 (must be >= 2 and divide"),
            std::string::npos);
  EXPECT_EQ(parse_upscale_method("sr3-ilvr"), UpscaleMethod::SR3ILVR);
  EXPECT_NE(message_of([] { parse_upscale_method("bicubic"); }).find("sr3, sr3-ilvr, ilvr"), std::string::npos);
}

}  // namespace
}  // namespace shapediff::diffusion

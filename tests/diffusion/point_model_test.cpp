#include "diffusion/point_model.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "test_support.h"
#include "diffusion/point_sampling.h"

namespace shapediff::diffusion {
namespace {

namespace fs = std::filesystem;

using testing::ScratchDir;

PointModelConfig tiny_config() {
  PointModelConfig c;
  c.preset = networks::PVCNNPreset::Tiny;
  c.num_classes = 2;
  c.classes = {"chair", "table"};
  c.points = 128;
  c.overrides.dropout = 0.1;
  c.normalization.kind = shapes::NormalizationKind::DatasetGlobal;
  c.normalization.center = {0.1, -0.2, 0.05};
  c.normalization.scale = 0.4;
  return c;
}

const auto message_of = testing::invalid_argument_message;

TEST(PointModelConfig, JsonRoundTripAndStrictParsing) {
  const auto c = tiny_config();
  const auto j = c.to_json();
  const auto back = PointModelConfig::from_json(j, "m.json");
  EXPECT_FALSE(config_difference(c, back).has_value());
  EXPECT_EQ(back.normalization.scale, 0.4);
  EXPECT_EQ(back.normalization.center[1], -0.2);
  EXPECT_EQ(back.overrides.dropout.value_or(-1), 0.1);
  EXPECT_EQ(back.schedule.num_train_timesteps, 1000);
  EXPECT_EQ(back.network().dropout, 0.1);

  auto typo = j;
  typo["model"]["widht"] = 3;
  EXPECT_NE(message_of([&] { PointModelConfig::from_json(typo, "m.json"); }).find("unknown key 'model.widht'"),
            std::string::npos);
  auto preset = j;
  preset["model"]["preset"] = "huge";
  const auto msg = message_of([&] { PointModelConfig::from_json(preset, "m.json"); });
  EXPECT_NE(msg.find("model.preset"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pvd, small, tiny"), std::string::npos) << msg;
  auto classes = j;
  classes["classes"] = {"chair"};
  EXPECT_NE(message_of([&] { PointModelConfig::from_json(classes, "m.json"); }).find("classes has 1 names"),
            std::string::npos);
  auto schedule = j;
  schedule["schedule"]["beta_schedule"] = "zigzag";
  EXPECT_NE(message_of([&] { PointModelConfig::from_json(schedule, "m.json"); }).find("schedule.beta_schedule"),
            std::string::npos);
}

TEST(PointModelConfig, DifferencesAreNamed) {
  auto a = tiny_config(), b = tiny_config();
  b.preset = networks::PVCNNPreset::Small;
  EXPECT_EQ(config_difference(a, b).value_or(""), "preset tiny vs small");
  b = a;
  b.num_classes = 0;
  EXPECT_EQ(config_difference(a, b).value_or(""), "num_classes 2 vs 0");
  b = a;
  b.points = 256;
  EXPECT_EQ(config_difference(a, b).value_or(""), "points 128 vs 256");
  b = a;
  b.schedule.beta_end = 0.03;
  EXPECT_EQ(config_difference(a, b).value_or(""), "schedule.beta_end 0.02 vs 0.03");
}

TEST(PointModel, SaveLoadRoundTripKeepsOutputsAndRng) {
  ScratchDir tmp;
  torch::manual_seed(3);
  auto model = make_point_model(tiny_config());
  const auto path = tmp.path("model.pt");
  save_point_model(model, path);
  EXPECT_LT(fs::file_size(path), 2u << 20);

  torch::manual_seed(11);
  const auto expected_draw = torch::rand({4});
  torch::manual_seed(11);
  auto loaded = load_point_model(path);
  EXPECT_TRUE(torch::equal(torch::rand({4}), expected_draw)) << "loading changed torch's generator";

  EXPECT_FALSE(loaded.net->is_training());
  model.net->eval();
  const auto x = torch::randn({2, 128, 3});
  const auto t = torch::tensor({10, 900});
  const auto labels = torch::tensor({0, 2});
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(loaded.net->forward(x, t, labels), model.net->forward(x, t, labels)));
  EXPECT_EQ(loaded.class_label("table"), 1);
  EXPECT_EQ(loaded.null_label(), 2);
  EXPECT_NE(message_of([&] { loaded.class_label("sofa"); }).find("chair, table"), std::string::npos);
  EXPECT_EQ(loaded.schedule().num_train_timesteps(), 1000);
  const auto back = loaded.to_dataset_frame(loaded.to_model_frame(x));
  EXPECT_TRUE(torch::allclose(back, x, 1e-5, 1e-5));
  EXPECT_NEAR(loaded.to_model_frame(torch::tensor({0.5, 0.2, 0.05}))[0].item<double>(), 1.0, 1e-6);
}

TEST(PointModel, ShippableSmallModelFitsTwentyMegabytes) {
  ScratchDir tmp;
  auto c = tiny_config();
  c.preset = networks::PVCNNPreset::Small;
  c.num_classes = 6;
  c.classes = {"a", "b", "c", "d", "e", "f"};
  c.points = 2048;
  const auto model = make_point_model(c);
  save_point_model(model, tmp.path("small.pt"));
  EXPECT_LE(fs::file_size(tmp.path("small.pt")), 20u << 20);
}

TEST(PointModel, WrongArchitectureIsNamed) {
  ScratchDir tmp;
  auto small = tiny_config();
  small.preset = networks::PVCNNPreset::Small;
  // A tiny config carrying small weights: what a hand-edited or mixed-up file looks like.
  PointModel mixed{tiny_config(), networks::PVCNN(small.network())};
  const auto path = tmp.path("mixed.pt");
  save_point_model(mixed, path);
  const auto msg = message_of([&] { load_point_model(path); });
  EXPECT_NE(msg.find(path + ": parameter "), std::string::npos) << msg;
  EXPECT_NE(msg.find("has shape ["), std::string::npos) << msg;
  EXPECT_NE(msg.find("config expects ["), std::string::npos) << msg;
}

TEST(PointModel, BadFilesGiveOneLineErrors) {
  ScratchDir tmp;
  const auto model = make_point_model(tiny_config());
  const auto path = tmp.path("model.pt");
  save_point_model(model, path);
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  auto check = [&](const std::string& name, const std::string& content, const std::string& fragment) {
    const auto p = tmp.path(name);
    std::ofstream(p, std::ios::binary) << content;
    const auto msg = message_of([&] { load_point_model(p); });
    EXPECT_NE(msg.find(p), std::string::npos) << msg;
    EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  };
  check("truncated.pt", bytes.substr(0, bytes.size() * 2 / 3), "not a readable model archive");
  check("garbage.pt", "PK\x03\x04 definitely not a model", "not a readable model archive");
  check("empty.pt", "", "not a readable model archive");
  EXPECT_NE(message_of([&] { load_point_model(tmp.path("absent.pt")); }).find("cannot open"), std::string::npos);
  EXPECT_NE(message_of([&] { load_point_model(tmp.path("")); }).find("without checkpoints"), std::string::npos);
}

}  // namespace
}  // namespace shapediff::diffusion

namespace shapediff::diffusion {
namespace {

PointModelConfig tiny_voxel_config() {
  PointModelConfig c;
  c.representation = Representation::Voxels;
  c.voxels.grid = 8;
  c.voxels.truncation = 2.0;
  c.voxels.unet = networks::UNetPreset::Tiny;
  c.num_classes = 2;
  c.classes = {"chair", "table"};
  c.points = 128;
  return c;
}

TEST(PointModel, VoxelModelsSaveLoadAndSample) {
  testing::ScratchDir tmp;
  torch::manual_seed(4);
  auto model = make_point_model(tiny_voxel_config());
  ASSERT_TRUE(model.grid_net);
  EXPECT_FALSE(model.net);
  // Give the zero-initialised output layer some weight, so outputs can differ.
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model.grid_net->parameters()) p.add_(torch::randn_like(p) * 0.01);
  }
  const auto path = tmp.path("voxels.pt");
  save_point_model(model, path);
  auto loaded = load_point_model(path);
  ASSERT_TRUE(loaded.grid_net);
  EXPECT_EQ(loaded.config.representation, Representation::Voxels);
  EXPECT_EQ(loaded.config.voxels.grid, 8);
  EXPECT_FALSE(config_difference(loaded.config, model.config));
  model.grid_net->eval();
  const auto x = torch::randn({2, 1, 8, 8, 8});
  const auto t = torch::tensor({10, 900});
  const auto labels = torch::tensor({0, 2});
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(loaded.grid_net->forward(x, t, labels), model.grid_net->forward(x, t, labels)));

  PointSampleOptions o;
  o.count = 3;
  o.batch_size = 2;
  o.steps = 4;
  o.sampler = SamplerKind::DDPM;
  o.label = 1;
  const auto a = sample_grids(loaded.grid_net, 8, 2, loaded.config.schedule, o);
  EXPECT_EQ(a.points.sizes(), torch::IntArrayRef({3, 1, 8, 8, 8}));
  EXPECT_TRUE(torch::isfinite(a.points).all().item<bool>());
  EXPECT_TRUE(torch::equal(a.points, sample_grids(loaded.grid_net, 8, 2, loaded.config.schedule, o).points));
  o.seed = 1;
  EXPECT_FALSE(torch::equal(a.points, sample_grids(loaded.grid_net, 8, 2, loaded.config.schedule, o).points));
}

TEST(PointModelConfig, VoxelSettingsAreCheckedAndNamed) {
  auto c = tiny_voxel_config();
  const auto json = c.to_json();
  EXPECT_EQ(json.at("voxels").at("unet"), "tiny");
  EXPECT_FALSE(config_difference(PointModelConfig::from_json(json, "t"), c));
  c.voxels.grid = 10;  // tiny has 2 levels: any even size; 10 is fine
  EXPECT_NO_THROW(c.validate());
  c.voxels.grid = 9;
  EXPECT_NE(message_of([&] { c.validate(); }).find("voxels.grid must be >= 8 and divisible by 2"), std::string::npos);
  c = tiny_voxel_config();
  c.voxels.truncation = 0;
  EXPECT_NE(message_of([&] { c.validate(); }).find("voxels.truncation"), std::string::npos);
  c = tiny_voxel_config();
  c.task = PointTask::Completion;
  c.known_points = 10;
  EXPECT_NE(message_of([&] { c.validate(); }).find("voxel models are generation models"), std::string::npos);
  auto other = tiny_voxel_config();
  other.voxels.grid = 16;
  EXPECT_EQ(config_difference(tiny_voxel_config(), other).value_or(""), "voxels.grid 8 vs 16");
  EXPECT_EQ(config_difference(tiny_voxel_config(), tiny_config()).value_or(""), "representation voxels vs points");
  auto bad = tiny_voxel_config().to_json();
  bad["voxels"]["unet"] = "huge";
  EXPECT_NE(message_of([&] { PointModelConfig::from_json(bad, "m.pt"); }).find("unet"), std::string::npos);
}

TEST(PointModelConfig, ImageSettingsRoundTripAndAreChecked) {
  PointModelConfig c;
  c.representation = Representation::Images;
  c.images.size = 16;
  c.images.channels = 3;
  c.images.unet = networks::UNetPreset::Tiny;
  c.num_classes = 2;
  c.classes = {"chair", "mug"};
  const auto json = c.to_json();
  EXPECT_EQ(json.at("images").at("channels"), 3);
  const auto back = PointModelConfig::from_json(json, "t");
  EXPECT_EQ(back.representation, Representation::Images);
  EXPECT_FALSE(config_difference(back, c));
  EXPECT_EQ(back.grid_network().dims(), 2);
  EXPECT_EQ(back.grid_network().in_channels(), 3);
  auto other = c;
  other.images.channels = 1;
  EXPECT_EQ(config_difference(c, other).value_or(""), "images.channels 3 vs 1");
  other = c;
  other.images.size = 15;
  EXPECT_NE(message_of([&] { other.validate(); }).find("images.size must be >= 8 and divisible by 2"),
            std::string::npos);
  other = c;
  other.images.channels = 2;
  EXPECT_NE(message_of([&] { other.validate(); }).find("images.channels must be 1 or 3"), std::string::npos);
  auto model = make_point_model(c);
  ASSERT_TRUE(model.grid_net);
  torch::NoGradGuard no_grad;
  EXPECT_EQ(model.grid_net->forward(torch::randn({2, 3, 16, 16}), torch::tensor({1, 2})).sizes(),
            torch::IntArrayRef({2, 3, 16, 16}));
}

}  // namespace
}  // namespace shapediff::diffusion

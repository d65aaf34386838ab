// `shapediff image train|sample|upscale|eval` with a super-resolution (SR3) model and the image
// metrics, end to end through the built command (issue 9).
#include <gtest/gtest.h>

#include "tests/apps/cli_support.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using shapediff::test::file_bytes;
using shapediff::test::run_cli;

fs::path scratch(const std::string& name) { return shapediff::test::scratch_path("image_sr_" + name); }

std::vector<fs::path> pngs_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.path().extension() == ".png") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string renders(const std::string& name, int size, int seed = 0) {
  const auto dir = scratch(name);
  const auto r = run_cli("image-data --out " + dir.string() + " --families chair,mug --per-family 2 --views 1 --size " +
                         std::to_string(size) + " --seed " + std::to_string(seed));
  EXPECT_EQ(r.code, 0) << r.out;
  return dir.string();
}

TEST(CliImageSr, TrainResumeUpscaleWithEveryMethodAndScore) {
  const auto high = renders("high", 16), low = renders("low", 8);
  const auto config = scratch("sr16.json");
  std::ofstream(config) << R"({"model": {"representation": "images", "preset": "tiny", "size": 16, "channels": 1,
      "task": "super_resolution", "sr_factor": 2}, "training": {"steps": 2, "batch_size": 4, "checkpoint_every": 1,
      "log_every": 1, "precision": "fp32"}})";
  const auto run = scratch("run");
  auto r = run_cli("image train --config " + config.string() + " --data " + high + " --out " + run.string() +
                   " --threads 1");
  ASSERT_EQ(r.code, 0) << r.out;
  // --resume through `image train` keeps the run's own representation.
  r = run_cli("image train --data " + high + " --out " + run.string() + " --threads 1 --resume --steps 3");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(file_bytes(run / "config.json").find("super_resolution"), std::string::npos);
  r = run_cli("image train --config " + config.string() + " --representation points --data " + high + " --out " +
              scratch("run_points").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--representation"), std::string::npos) << r.out;

  // A super-resolution model cannot draw images from nothing.
  for (const char* cmd : {"sample", "image sample"}) {
    r = run_cli(std::string(cmd) + " --model " + run.string() + " --count 1 --out " + scratch("no").string());
    EXPECT_EQ(r.code, 2) << cmd;
    EXPECT_NE(r.out.find("a super-resolution model (it needs a low-resolution image): use shapediff image upscale"),
              std::string::npos)
        << r.out;
  }

  const auto input = pngs_in(low)[0], truth = pngs_in(high)[0];  // the same render at 8 and 16 pixels
  for (const std::string method : {"", "sr3-ilvr"}) {
    const auto out = scratch("up" + method);
    r = run_cli("image upscale --model " + run.string() + " --input " + input.string() + " --reference " +
                truth.string() + " --steps 3 --threads 1 --out " + out.string() +
                (method.empty() ? "" : " --method " + method));
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("(" + (method.empty() ? std::string("sr3") : method) + ")"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("PSNR"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("bicubic PSNR"), std::string::npos) << r.out;
    for (const char* f : {"upscaled.png", "before_after.png", "upscale.json"}) EXPECT_TRUE(fs::exists(out / f)) << f;
    const auto json = file_bytes(out / "upscale.json");
    for (const char* key : {"\"psnr\"", "\"ssim\"", "\"bilinear\"", "\"bicubic\""}) {
      EXPECT_NE(json.find(key), std::string::npos) << key;
    }
  }
  // Without --input the reference's own block means are upscaled.
  r = run_cli("image upscale --model " + run.string() + " --reference " + truth.string() +
              " --steps 2 --threads 1 --out " + scratch("up_ref").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("upscaled 8x8 -> 16x16 (sr3)"), std::string::npos) << r.out;
  // Bad input: no image, the wrong size, another factor, ilvr on a model that needs its
  // conditioning, a reference of the input's size.
  const auto bad = scratch("up_bad");
  r = run_cli("image upscale --model " + run.string() + " --out " + bad.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("give --input"), std::string::npos) << r.out;
  r = run_cli("image upscale --model " + run.string() + " --input " + truth.string() + " --out " + bad.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("16x16 pixels, the model's 16 pixels over factor 2 is 8x8"), std::string::npos) << r.out;
  r = run_cli("image upscale --model " + run.string() + " --input " + input.string() + " --factor 4 --out " +
              bad.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("trained for 2"), std::string::npos) << r.out;
  r = run_cli("image upscale --model " + run.string() + " --input " + input.string() + " --method ilvr --out " +
              bad.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("use sr3 or sr3-ilvr"), std::string::npos) << r.out;
  r = run_cli("image upscale --model " + run.string() + " --input " + input.string() + " --reference " +
              input.string() + " --out " + bad.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--reference"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(bad));
}

TEST(CliImageSr, EvalScoresFoldersAndSampleOutputsPerClass) {
  const auto a = renders("eval_a", 16), b = renders("eval_b", 16, 7);
  const auto json = scratch("eval.json");
  auto r = run_cli("image eval --samples " + a + " --reference " + b + " --paired --out " + json.string());
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* s : {"overall", "chair", "mug", "1-NNA", "paired (4 pairs"}) {
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  }
  const auto written = file_bytes(json);
  for (const char* key : {"\"per_class\"", "\"MMD\"", "\"COV\"", "\"1-NNA\"", "\"psnr\""}) {
    EXPECT_NE(written.find(key), std::string::npos) << key;
  }
  // A folder against itself: MMD 0, COV 1.
  r = run_cli("image eval --samples " + a + " --reference " + a);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("MMD 0.0000  COV 1.0000"), std::string::npos) << r.out;

  // The output of sampling (samples.npz beside its contact sheet) is read as one set.
  const auto config = scratch("gen16.json");
  std::ofstream(config) << R"({"model": {"representation": "images", "preset": "tiny", "size": 16, "channels": 1},
      "training": {"steps": 1, "batch_size": 4, "precision": "fp32"}})";
  const auto run = scratch("gen_run"), samples = scratch("gen_samples");
  ASSERT_EQ(run_cli("image train --config " + config.string() + " --data " + a + " --out " + run.string() +
                    " --threads 1").code, 0);
  r = run_cli("image sample --model " + run.string() + " --count 3 --steps 2 --threads 1 --out " + samples.string());
  ASSERT_EQ(r.code, 0) << r.out;
  r = run_cli("image eval --samples " + samples.string() + " --reference " + b);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("3 vs     4"), std::string::npos) << r.out;

  // Bad input: sizes that disagree, an empty folder, unequal counts for --paired.
  const auto small = renders("eval_small", 8);
  r = run_cli("image eval --samples " + small + " --reference " + b);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("1x8x8"), std::string::npos) << r.out;
  const auto empty = scratch("empty");
  fs::create_directories(empty);
  r = run_cli("image eval --samples " + empty.string() + " --reference " + b);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find(empty.string()), std::string::npos) << r.out;
  r = run_cli("image eval --samples " + samples.string() + " --reference " + b + " --paired");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("3 samples but 4 reference images"), std::string::npos) << r.out;
}

}  // namespace

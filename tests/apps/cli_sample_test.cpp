// `shapediff sample` as a user runs it: on a model trained for two steps by `shapediff train`.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/apps/cli_support.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <sys/wait.h>

namespace {

namespace fs = std::filesystem;

using Run = shapediff::test::CliRun;
const auto run = shapediff::test::run_cli;

const auto bytes = shapediff::test::file_bytes;

// One tiny conditional model shared by the tests of this file.
class CliSample : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = shapediff::test::scratch_path("sample");
    fs::create_directories(root_);
    auto data = run("data make --families chair,mug --per-family 2 --resolution 24 --points 128 "
                    "--scans 0 --val 0 --test 0 --threads 2 --out " + (root_ / "data").string());
    ASSERT_EQ(data.code, 0) << data.out;
    std::ofstream(root_ / "tiny.json")
        << R"({"model": {"preset": "tiny", "conditional": true},
               "training": {"steps": 2, "batch_size": 2, "checkpoint_every": 2, "log_every": 1},
               "data": {"points": 128}})";
    auto train = run("train --config " + (root_ / "tiny.json").string() + " --data " +
                     (root_ / "data").string() + " --out " + (root_ / "run").string() + " --threads 1");
    ASSERT_EQ(train.code, 0) << train.out;
  }
  static fs::path root_;
};
fs::path CliSample::root_;

TEST_F(CliSample, WritesPlyNpzAndTrajectoryAndIsReproducible) {
  const auto out = root_ / "s1";
  const std::string args = " --count 3 --class mug --guidance 2 --sampler ddim --steps 4 "
                           "--trajectory 2 --seed 5 --threads 1 --model ";
  auto r = run("sample" + args + (root_ / "run" / "model.pt").string() + " --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* f : {"shape_0000.ply", "shape_0001.ply", "shape_0002.ply", "samples.npz",
                        "samples.json", "trajectory.npz"}) {
    EXPECT_TRUE(fs::exists(out / f)) << f;
  }
  EXPECT_FALSE(fs::exists(out / "shape_0003.ply"));
  // The sampling loop's own time, apart from start-up and writing.
  const auto meta = nlohmann::json::parse(bytes(out / "samples.json"));
  EXPECT_GT(meta.at("sampling_seconds").get<double>(), 0.0);
  EXPECT_NE(r.out.find("sampled in "), std::string::npos) << r.out;
  // The run folder works as --model too, and the same seed gives the same bytes.
  const auto again = root_ / "s2";
  r = run("sample" + args + (root_ / "run").string() + " --out " + again.string());
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* f : {"shape_0001.ply", "samples.npz", "trajectory.npz", "samples.png"}) {
    EXPECT_EQ(bytes(out / f), bytes(again / f)) << f;
  }
  // The sheet shows the three shapes side by side, 200x200 each with 8-pixel gaps.
  EXPECT_EQ(shapediff::test::png_size(out / "samples.png"), (std::pair<int64_t, int64_t>{616, 200}));
  const auto other = root_ / "s3";
  r = run("sample --count 3 --class mug --guidance 2 --sampler ddim --steps 4 --seed 6 "
          "--threads 1 --model " + (root_ / "run").string() + " --out " + other.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(bytes(out / "samples.npz"), bytes(other / "samples.npz"));
  EXPECT_NE(bytes(out / "samples.png"), bytes(other / "samples.png"));
  // An existing non-empty folder is refused without --overwrite.
  r = run("sample --count 1 --steps 2 --model " + (root_ / "run").string() + " --out " + out.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--overwrite"), std::string::npos) << r.out;
}

TEST_F(CliSample, BadInputIsOneLineAndExitCode2) {
  const std::string model = " --model " + (root_ / "run" / "model.pt").string();
  struct Case {
    std::string args, needle;
  };
  const Case cases[] = {
      {"--count 0" + model, "--count"},
      {"--steps 1001" + model, "steps = 1001"},
      {"--class sofa" + model, "unknown class 'sofa'"},
      {"--guidance 3" + model, "needs a class label"},
      {"--sampler nope" + model, "nope"},
      {"--sampler score_sde_ve" + model, "score_sde_ve"},
      {"--model " + (root_ / "missing.pt").string(), "missing.pt"},
      {"--model " + (root_ / "tiny.json").string(), "tiny.json"},
  };
  for (const auto& c : cases) {
    const auto out = root_ / "bad";
    auto r = run("sample " + c.args + " --out " + out.string());
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.needle), std::string::npos) << c.args << "\n" << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    EXPECT_FALSE(fs::exists(out)) << c.args;
  }
  // A truncated model file.
  const auto truncated = root_ / "truncated.pt";
  const auto full = bytes(root_ / "run" / "model.pt");
  std::ofstream(truncated, std::ios::binary) << full.substr(0, full.size() / 2);
  auto r = run("sample --model " + truncated.string() + " --out " + (root_ / "bad").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("truncated.pt"), std::string::npos) << r.out;
}

}  // namespace

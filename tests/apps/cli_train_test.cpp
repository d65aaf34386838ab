// `shapediff train` as a user runs it: a tiny model on a tiny procedural dataset, a run killed
// with SIGKILL and resumed, and the bad inputs that must exit with code 2.
#include <gtest/gtest.h>

#include "tests/apps/cli_support.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <thread>

namespace {

namespace fs = std::filesystem;

using CliRun = shapediff::test::CliRun;
const auto run = shapediff::test::run_cli;

fs::path scratch(const std::string& name) { return shapediff::test::scratch_path("train_" + name); }

const std::string kTinyConfig = std::string(SHAPEDIFF_SOURCE_DIR) + "/configs/points-tiny.json";
const std::string kSmallConfig = std::string(SHAPEDIFF_SOURCE_DIR) + "/configs/points-small.json";

// Datasets shared by the tests: 6 procedural shapes with 256 points (what points-tiny.json
// expects) and the same with 128.
class CliTrain : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (const int points : {256, 128}) {
      const auto dir = scratch("data" + std::to_string(points));
      const auto r = run("data make --families chair,table --per-family 3 --points " +
                         std::to_string(points) +
                         " --scans 0 --resolution 24 --val 0 --test 0 --threads 2 --out " + dir.string());
      ASSERT_EQ(r.code, 0) << r.out;
    }
  }
  static std::string data(int points) { return scratch_path("data" + std::to_string(points)); }
  static std::string scratch_path(const std::string& name) {
    // scratch()'s path without emptying it: the datasets made in SetUpTestSuite.
    return (fs::path(::testing::TempDir()) /
            ("shapediff_cli_" + std::to_string(::getpid()) + "_train_" + name)).string();
  }
};

std::vector<int64_t> logged_steps(const fs::path& run_dir) {
  std::ifstream in(run_dir / "log.jsonl");
  std::vector<int64_t> steps;
  std::string line;
  while (std::getline(in, line)) {
    const auto at = line.find("\"step\":");
    if (at != std::string::npos) steps.push_back(std::stoll(line.substr(at + 7)));
  }
  return steps;
}

// The "loss" values of log.jsonl, as written.
std::vector<std::string> logged_losses(const fs::path& run_dir) {
  std::ifstream in(run_dir / "log.jsonl");
  std::vector<std::string> losses;
  std::string line;
  while (std::getline(in, line)) {
    const auto at = line.find("\"loss\":");
    if (at != std::string::npos) losses.push_back(line.substr(at + 7, line.find(',', at) - at - 7));
  }
  return losses;
}

TEST_F(CliTrain, TrainsTheTinyConfigInSeconds) {
  const auto out = scratch("tiny");
  const auto start = std::chrono::steady_clock::now();
  const auto r = run("train --config " + kTinyConfig + " --data " + data(256) + " --out " + out.string() +
                     " --threads 1");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("trained 20 steps"), std::string::npos) << r.out;
  EXPECT_LT(seconds, 30.0) << "20 tiny steps took " << seconds << " s";
  EXPECT_TRUE(fs::exists(out / "model.pt"));
  EXPECT_TRUE(fs::exists(out / "loss.png"));
  EXPECT_TRUE(fs::exists(out / "config.json"));
  EXPECT_TRUE(fs::exists(out / "checkpoints" / "step-00000010.pt"));
  EXPECT_TRUE(fs::exists(out / "checkpoints" / "step-00000020.pt"));
  EXPECT_EQ(logged_steps(out).size(), 20u);

  // Same seed, same losses (the first 3 steps do not depend on the total: warm-up); another
  // seed, other losses.
  const auto again = scratch("tiny_again");
  ASSERT_EQ(run("train --config " + kTinyConfig + " --data " + data(256) + " --out " + again.string() +
                " --threads 1 --steps 3").code,
            0);
  auto first3 = logged_losses(out);
  first3.resize(3);
  EXPECT_EQ(first3, logged_losses(again));
  const auto reseeded = scratch("tiny_seed");
  ASSERT_EQ(run("train --config " + kTinyConfig + " --data " + data(256) + " --out " + reseeded.string() +
                " --threads 1 --steps 3 --seed 5").code,
            0);
  EXPECT_NE(logged_losses(out)[0], logged_losses(reseeded)[0]);

  const auto help = run("train --help");
  EXPECT_EQ(help.code, 0);
  for (const char* option : {"--config", "--data", "--out", "--steps", "--resume", "--device", "--threads", "--seed"}) {
    EXPECT_NE(help.out.find(option), std::string::npos) << option;
  }
}

// Several workers started side by side in one shell line.
const auto run_shell = shapediff::test::run_shell;

std::vector<double> logged_loss_values(const fs::path& run_dir) {
  std::vector<double> v;
  for (const auto& s : logged_losses(run_dir)) v.push_back(std::stod(s));
  return v;
}

TEST_F(CliTrain, TwoLocalWorkersTrainOneRun) {
  const auto out = scratch("nproc");
  const auto r = run("train --config " + kTinyConfig + " --data " + data(256) + " --out " + out.string() +
                     " --threads 1 --steps 4 --nproc 2");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("data parallel: 2 ranks"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("trained 4 steps"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(out / "model.pt"));
  ASSERT_EQ(logged_steps(out).size(), 4u);
  // One process with the same global batch logs the same losses, up to summation order.
  const auto single = scratch("nproc_single");
  ASSERT_EQ(run("train --config " + kTinyConfig + " --data " + data(256) + " --out " + single.string() +
                " --threads 1 --steps 4").code,
            0);
  const auto a = logged_loss_values(out), b = logged_loss_values(single);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4 * std::abs(b[i])) << "step " << i + 1;
  EXPECT_NE(run("train --config " + kTinyConfig + " --data " + data(256) + " --out " + scratch("n0").string() +
                " --nproc 0").code,
            0);
}

TEST_F(CliTrain, LauncherEnvironmentJoinsWorkersAndALostWorkerEndsTheRun) {
  const std::string cli = SHAPEDIFF_CLI;
  const auto port = [] {
    // Distinct from --nproc's kernel-chosen ports; the test's own process id spreads runs apart.
    return std::to_string(20000 + ::getpid() % 20000);
  }();
  const auto out = scratch("launcher");
  const std::string common = " train --config " + kTinyConfig + " --data " + data(256) + " --threads 1";
  const std::string env = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port;
  const auto ok = run_shell("RANK=1 " + env + " " + cli + common + " --steps 3 --out " + out.string() +
                            " >/dev/null & RANK=0 " + env + " " + cli + common + " --steps 3 --out " +
                            out.string() + "; code=$?; wait $!; exit $code");
  ASSERT_EQ(ok.code, 0) << ok.out;
  EXPECT_NE(ok.out.find("trained 3 steps"), std::string::npos) << ok.out;
  EXPECT_EQ(logged_steps(out).size(), 3u);

  // Rank 1 is killed mid-run: rank 0 must stop with a message, not hang.
  const auto lost = scratch("launcher_lost");
  const auto start = std::chrono::steady_clock::now();
  const auto r = run_shell("(RANK=1 " + env + " timeout -s KILL 4 " + cli + common + " --steps 100000 --out " +
                           lost.string() + " >/dev/null 2>&1 &) ; RANK=0 " + env + " " + cli + common +
                           " --steps 100000 --dist-timeout 10 --out " + lost.string());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("another worker probably stopped"), std::string::npos) << r.out;
  EXPECT_LT(seconds, 40.0);
}

TEST_F(CliTrain, VoxelModelsTrainAndSampleGridsAndMeshes) {
  const auto out = scratch("voxels");
  const std::string voxel_config = std::string(SHAPEDIFF_SOURCE_DIR) + "/configs/voxels-tiny.json";
  auto r = run("train --config " + voxel_config + " --data " + data(256) + " --out " + out.string() +
               " --threads 1 --steps 3");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto samples = scratch("voxel_samples");
  r = run("sample --model " + out.string() + " --count 2 --steps 5 --class chair --threads 1 --out " +
          samples.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("wrote 2 grids of 16^3"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(samples / "grid_0000.npy"));
  EXPECT_TRUE(fs::exists(samples / "grid_0001.npy"));
  EXPECT_TRUE(fs::exists(samples / "samples.npz"));
  EXPECT_EQ(shapediff::test::png_size(samples / "samples.png"), (std::pair<int64_t, int64_t>{408, 200}));
  std::ifstream meta(samples / "samples.json");
  const std::string text((std::istreambuf_iterator<char>(meta)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"representation\": \"voxels\""), std::string::npos) << text;

  // A points config switched to voxels on the command line (its tiny preset becomes the U-Net's).
  // Its epsilon prediction becomes velocity, said on the console, and the run's config keeps it.
  const auto flag_run = scratch("voxels_flag");
  r = run("train --config " + kTinyConfig + " --representation voxels --data " + data(256) + " --out " +
          flag_run.string() + " --threads 1 --steps 1");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("prediction_type v_prediction"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("warning"), std::string::npos) << r.out;
  {
    std::ifstream in(flag_run / "config.json");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("\"v_prediction\""), std::string::npos) << text;
  }
  // A voxel config that asks for epsilon gets it, with a warning.
  {
    std::ifstream in(voxel_config);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto at = text.find("\"v_prediction\"");
    ASSERT_NE(at, std::string::npos) << text;
    text.replace(at, 14, "\"epsilon\"");
    std::ofstream(scratch_path("voxels_eps.json")) << text;
  }
  r = run("train --config " + scratch_path("voxels_eps.json") + " --data " + data(256) + " --out " +
          scratch("voxels_eps").string() + " --threads 1 --steps 1");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("warning: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("prediction_type epsilon"), std::string::npos) << r.out;
  // Options that apply to point models only, and a voxel model where a point model belongs.
  for (const char* opt : {"--mesh poisson", "--points 64", "--trajectory 2"}) {
    r = run("sample --model " + out.string() + " --count 1 --out " + scratch("voxel_bad").string() + " " + opt);
    EXPECT_EQ(r.code, 2) << opt << r.out;
  }
  r = run("train --config " + kTinyConfig + " --representation cubes --data " + data(256) + " --out " +
          scratch("voxels_bad_flag").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("unknown representation 'cubes'"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(scratch("voxel_bad")));
}

TEST_F(CliTrain, ImageModelsTrainOnAPngFolderResumeAndSample) {
  const auto renders = scratch("renders");
  auto r = run("image-data --out " + renders.string() + " --families chair,mug --per-family 4 --views 1 --size 16");
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string image_config = std::string(SHAPEDIFF_SOURCE_DIR) + "/configs/images-tiny.json";
  const auto out = scratch("images");
  // The config is for 32x32 images: the folder's 16x16 ones are refused, naming the file.
  r = run("train --config " + image_config + " --data " + renders.string() + " --out " + out.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("16"), std::string::npos) << r.out;
  std::ofstream(scratch_path("images16.json")) << R"({"model": {"representation": "images", "preset": "tiny",
      "size": 16, "channels": 1}, "training": {"steps": 4, "batch_size": 4, "checkpoint_every": 2,
      "log_every": 1}})";
  r = run("train --config " + scratch_path("images16.json") + " --data " + renders.string() + " --out " +
          out.string() + " --threads 1 --steps 2");
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("train --data " + renders.string() + " --out " + out.string() + " --threads 1 --resume --steps 4");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(logged_steps(out), (std::vector<int64_t>{1, 2, 3, 4}));
  const auto samples = scratch("image_samples");
  r = run("sample --model " + out.string() + " --count 3 --steps 4 --class mug --threads 1 --out " +
          samples.string());
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* f : {"image_0000.png", "image_0002.png", "samples.png", "samples.npz", "samples.json"}) {
    EXPECT_TRUE(fs::exists(samples / f)) << f;
  }
  r = run("sample --model " + out.string() + " --count 1 --class sofa --out " + scratch("image_bad").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("chair, mug"), std::string::npos) << r.out;

  // Inpainting and editing with the same model: a render as the image, another render's
  // silhouette (bright surface) as the known-pixel mask.
  std::vector<fs::path> pngs;
  for (const auto& e : fs::recursive_directory_iterator(renders)) {
    if (e.path().extension() == ".png") pngs.push_back(e.path());
  }
  ASSERT_GE(pngs.size(), 2u);
  std::sort(pngs.begin(), pngs.end());
  const auto inpainted = scratch("inpainted");
  r = run("image inpaint --model " + out.string() + " --input " + pngs[0].string() + " --mask " + pngs[1].string() +
          " --steps 4 --threads 1 --out " + inpainted.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(inpainted / "inpainted.png"));
  EXPECT_TRUE(fs::exists(inpainted / "before_after.png"));
  const auto edited = scratch("edited");
  r = run("image edit --model " + out.string() + " --input " + pngs[0].string() + " --strength 0.5 --steps 4"
          " --threads 1 --out " + edited.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(edited / "edited.png"));
  // Upscaling an 8x8 render to the model's 16x16.
  const auto small = scratch("renders8");
  ASSERT_EQ(run("image-data --out " + small.string() + " --families chair --per-family 1 --views 1 --size 8").code, 0);
  fs::path small_png;
  for (const auto& e : fs::recursive_directory_iterator(small)) {
    if (e.path().extension() == ".png") small_png = e.path();
  }
  const auto upscaled = scratch("upscaled");
  r = run("image upscale --model " + out.string() + " --input " + small_png.string() + " --factor 2 --steps 4"
          " --threads 1 --out " + upscaled.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(upscaled / "upscaled.png"));
  r = run("image upscale --model " + out.string() + " --input " + small_png.string() + " --factor 3 --out " +
          scratch("upscaled_bad").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("factor 3 (must be >= 2 and divide"), std::string::npos) << r.out;
  r = run("image upscale --model " + out.string() + " --input " + pngs[0].string() + " --factor 2 --out " +
          scratch("upscaled_bad").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("the model's 16 pixels over factor 2 is 8x8"), std::string::npos) << r.out;
  // Bad input: an image of another size, a voxel model, an unknown strategy, a bad strength.
  const auto bad = scratch("image_bad2");
  r = run("image edit --model " + out.string() + " --input " + std::string(SHAPEDIFF_SOURCE_DIR) +
          "/docs/images/demo_chair.png --out " + bad.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("the model draws 16x16"), std::string::npos) << r.out;
  r = run("image inpaint --model " + out.string() + " --input " + pngs[0].string() + " --mask " +
          std::string(SHAPEDIFF_SOURCE_DIR) + "/docs/images/demo_chair.png --out " + bad.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--mask "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("the model draws 16x16"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(bad)) << "no partial output";
  r = run("image inpaint --model " + out.string() + " --input " + pngs[0].string() + " --mask " +
          pngs[1].string() + " --strategy nope --out " + bad.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("unknown completion strategy 'nope'"), std::string::npos) << r.out;
  r = run("image edit --model " + out.string() + " --input " + pngs[0].string() + " --strength 0 --out " +
          bad.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_FALSE(fs::exists(bad));
}

TEST_F(CliTrain, KilledRunResumesFromItsLastCheckpoint) {
  const auto out = scratch("killed");
  // Paths carry this process's id: compute them before forking.
  const std::string data_dir = data(256), out_dir = out.string();
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, STDOUT_FILENO);
    dup2(devnull, STDERR_FILENO);
    execl(SHAPEDIFF_CLI, SHAPEDIFF_CLI, "train", "--config", kTinyConfig.c_str(), "--data", data_dir.c_str(),
          "--out", out_dir.c_str(), "--steps", "5000", "--threads", "1", static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto first = out / "checkpoints" / "step-00000010.pt";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!fs::exists(first) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run ended before it was killed";
  ASSERT_TRUE(fs::exists(first));
  EXPECT_FALSE(fs::exists(out / "model.pt"));

  const auto r = run("train --data " + data(256) + " --out " + out.string() + " --resume --steps 40 --threads 1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("resuming"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("trained 40 steps"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(out / "model.pt"));
  // The log holds every step once: lines written after the checkpoint were dropped on resume.
  const auto steps = logged_steps(out);
  ASSERT_EQ(steps.size(), 40u);
  for (size_t i = 0; i < steps.size(); ++i) EXPECT_EQ(steps[i], static_cast<int64_t>(i + 1));
  for (const auto& entry : fs::directory_iterator(out / "checkpoints")) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
  }
}

TEST_F(CliTrain, BadDataAndConfigsExitWithCodeTwo) {
  const auto out = scratch("bad");
  auto r = run("train --config " + kTinyConfig + " --data " + data(128) + " --out " + out.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("128 points per shape but the config's data.points is 256"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("shapediff: error:"), std::string::npos) << r.out;

  const auto cfg = scratch("bad_config");
  fs::create_directories(cfg);
  std::ofstream(cfg / "typo.json") << R"({"model": {"preset": "tiny"}, "training": {"lr_sched": 1}, "data": {"points": 256}})";
  r = run("train --config " + (cfg / "typo.json").string() + " --data " + data(256) + " --out " + out.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("unknown key 'training.lr_sched'"), std::string::npos) << r.out;
  std::ofstream(cfg / "value.json") << R"({"model": {"preset": "tiny"}, "training": {"lr": -1}, "data": {"points": 256}})";
  r = run("train --config " + (cfg / "value.json").string() + " --data " + data(256) + " --out " + out.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("training.lr must be"), std::string::npos) << r.out;
}

TEST_F(CliTrain, BadResumesExitWithCodeTwo) {
  // A run to resume: then a second start into it, another architecture, a truncated checkpoint.
  const auto out = scratch("bad_resume");
  auto r = run("train --config " + kTinyConfig + " --data " + data(256) + " --out " + out.string() +
               " --steps 10 --threads 1");
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("train --config " + kTinyConfig + " --data " + data(256) + " --out " + out.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--resume"), std::string::npos) << r.out;
  r = run("train --config " + kSmallConfig + " --data " + data(256) + " --out " + out.string() + " --resume");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("preset tiny vs small"), std::string::npos) << r.out;
  const auto checkpoint = out / "checkpoints" / "step-00000010.pt";
  fs::resize_file(checkpoint, fs::file_size(checkpoint) / 3);
  r = run("train --data " + data(256) + " --out " + out.string() + " --resume --steps 20");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(checkpoint.string()), std::string::npos) << r.out;
}

}  // namespace

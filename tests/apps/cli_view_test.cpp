// `shapediff view` as a user runs it, on a trajectory from `shapediff sample --trajectory 1` of
// a model trained for two steps. Rendering runs under `xvfb-run -a` (skipped without it).
#include <gtest/gtest.h>

#include "tests/apps/cli_support.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;

using shapediff::test::CliRun;
const auto run = shapediff::test::run_cli;
const auto bytes = shapediff::test::file_bytes;

// `prefix shapediff args` through the shell (for env and xvfb-run).
CliRun run_with(const std::string& prefix, const std::string& args) {
  const std::string cmd = prefix + " " + std::string(SHAPEDIFF_CLI) + " " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

bool have_xvfb_run() { return std::system("command -v xvfb-run > /dev/null 2>&1") == 0; }

// Builds with SHAPEDIFF_WITH_OPEN3D=OFF answer every `view` with the same one-line error.
bool built_with_viewer() {
  static const bool yes = run("view /nonexistent.npz").out.find("without the viewer") == std::string::npos;
  return yes;
}

const char* kXvfb = "xvfb-run -a -s '-screen 0 1280x1024x24'";

class CliView : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = shapediff::test::scratch_path("view");
    fs::create_directories(root_);
    auto data = run("data make --families chair --per-family 2 --resolution 24 --points 128 "
                    "--scans 0 --val 0 --test 0 --threads 2 --out " + (root_ / "data").string());
    ASSERT_EQ(data.code, 0) << data.out;
    std::ofstream(root_ / "tiny.json")
        << R"({"model": {"preset": "tiny"},
               "training": {"steps": 2, "batch_size": 2, "checkpoint_every": 2, "log_every": 1},
               "data": {"points": 128}})";
    auto train = run("train --config " + (root_ / "tiny.json").string() + " --data " +
                     (root_ / "data").string() + " --out " + (root_ / "run").string() + " --threads 1");
    ASSERT_EQ(train.code, 0) << train.out;
    auto sample = run("sample --count 2 --steps 4 --trajectory 1 --threads 1 --model " +
                      (root_ / "run").string() + " --out " + (root_ / "s").string());
    ASSERT_EQ(sample.code, 0) << sample.out;
  }
  static fs::path trajectory() { return root_ / "s" / "trajectory.npz"; }
  static fs::path root_;
};
fs::path CliView::root_;

TEST_F(CliView, HelpListsTheKeys) {
  auto r = run("view --help");
  EXPECT_EQ(r.code, 0) << r.out;
  for (const char* s : {"--headless", "play / pause", "toggle x_t / predicted x0", "xvfb-run"}) {
    EXPECT_NE(r.out.find(s), std::string::npos) << s << " missing in:\n" << r.out;
  }
}

TEST_F(CliView, HeadlessWritesFramesThatChangeAGifAndASheet) {
  if (!built_with_viewer()) GTEST_SKIP() << "built without the viewer";
  if (!have_xvfb_run()) GTEST_SKIP() << "xvfb-run is not installed";
  const auto out = root_ / "frames";
  auto r = run_with(kXvfb, "view " + trajectory().string() + " --headless --out " + out.string() +
                               " --shape 1 --width 96 --height 80 --colour height");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("wrote 4 frames"), std::string::npos) << r.out;
  std::string previous;
  for (int f = 0; f < 4; ++f) {
    const auto png = out / ("frame_00" + std::to_string(f) + ".png");
    ASSERT_TRUE(fs::exists(png)) << png;
    const auto b = bytes(png);
    EXPECT_EQ(b.substr(1, 3), "PNG");
    EXPECT_NE(b, previous) << png << " is the same image as the frame before";
    previous = b;
  }
  EXPECT_EQ(bytes(out / "trajectory.gif").substr(0, 6), "GIF89a");
  EXPECT_TRUE(fs::exists(out / "contact_sheet.png"));
}

TEST_F(CliView, ScriptedWindowPlaysAndSavesAScreenshot) {
  if (!built_with_viewer()) GTEST_SKIP() << "built without the viewer";
  if (!have_xvfb_run()) GTEST_SKIP() << "xvfb-run is not installed";
  const auto shot = root_ / "window.png";
  auto r = run_with(kXvfb, "view " + trajectory().string() + " --width 200 --height 150 --play "
                               "--exit-after 6 --screenshot " + shot.string() +
                               " --scan " + (root_ / "s" / "shape_0000.ply").string());
  ASSERT_EQ(r.code, 0) << r.out;
  ASSERT_TRUE(fs::exists(shot));
  EXPECT_EQ(bytes(shot).substr(1, 3), "PNG");
  // Files side by side: two samples and the trajectory's shapes as a samples.npz.
  const auto shot2 = root_ / "files.png";
  r = run_with(kXvfb, "view " + (root_ / "s" / "shape_0000.ply").string() + " " +
                          (root_ / "s" / "samples.npz").string() +
                          " --width 300 --height 120 --exit-after 3 --screenshot " + shot2.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(shot2));
}

// A float32 .npy voxel grid n^3: occupancy of a ball of radius r cells (or all zeros).
void write_grid_npy(const fs::path& path, int n, double r) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(n) + ", " +
                       std::to_string(n) + ", " + std::to_string(n) + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  out.put(static_cast<char>(len & 0xff));
  out.put(static_cast<char>(len >> 8));
  out << header;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      for (int k = 0; k < n; ++k) {
        const double c = (n - 1) / 2.0;
        const float v = (i - c) * (i - c) + (j - c) * (j - c) + (k - c) * (k - c) <= r * r ? 1.0f : 0.0f;
        out.write(reinterpret_cast<const char*>(&v), 4);
      }
}

TEST_F(CliView, VoxelGridsShowTheirOccupiedCells) {
  if (!built_with_viewer()) GTEST_SKIP() << "built without the viewer";
  if (!have_xvfb_run()) GTEST_SKIP() << "xvfb-run is not installed";
  write_grid_npy(root_ / "ball.npy", 12, 4.0);
  write_grid_npy(root_ / "nothing.npy", 6, 0.0);  // no cell centre within 0 of (2.5, 2.5, 2.5)
  const auto shot = root_ / "grid.png";
  auto r = run_with(kXvfb, "view " + (root_ / "ball.npy").string() +
                               " --width 160 --height 120 --exit-after 2 --screenshot " + shot.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(bytes(shot).substr(1, 3), "PNG");
  r = run_with(kXvfb, "view " + (root_ / "nothing.npy").string() + " --exit-after 1");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("no occupied cells"), std::string::npos) << r.out;
}

TEST_F(CliView, NoDisplaySaysHowToRenderHeadless) {
  if (!built_with_viewer()) GTEST_SKIP() << "built without the viewer";
  auto r = run_with("env -u DISPLAY -u WAYLAND_DISPLAY", "view " + trajectory().string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--headless"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("xvfb-run"), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  r = run_with("env -u DISPLAY -u WAYLAND_DISPLAY",
               "view " + trajectory().string() + " --headless --out " + (root_ / "nodisplay").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("xvfb-run -a"), std::string::npos) << r.out;
}

TEST_F(CliView, SampleViewShowsTheDenoisingAndStillWritesTheFiles) {
  if (!built_with_viewer()) GTEST_SKIP() << "built without the viewer";
  if (!have_xvfb_run()) GTEST_SKIP() << "xvfb-run is not installed";
  const auto out = root_ / "live";
  const auto shot = root_ / "live.png";
  auto r = run_with(kXvfb, "sample --count 2 --steps 4 --threads 1 --view --view-screenshot " + shot.string() +
                               " --model " + (root_ / "run").string() + " --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(bytes(shot).substr(1, 3), "PNG");
  EXPECT_TRUE(fs::exists(out / "samples.npz"));
  // The same seed without --view gives the same shapes.
  r = run("sample --count 2 --steps 4 --threads 1 --model " + (root_ / "run").string() + " --out " +
          (root_ / "plain").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(bytes(out / "samples.npz"), bytes(root_ / "plain" / "samples.npz"));
  r = run_with("env -u DISPLAY -u WAYLAND_DISPLAY", "sample --count 1 --steps 2 --view --model " +
                                                        (root_ / "run").string() + " --out " + (root_ / "nd").string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--headless"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(root_ / "nd"));
}

TEST_F(CliView, BadInputIsOneLineExitTwo) {
  const auto corrupt = root_ / "corrupt.npz";
  const auto b = bytes(trajectory());
  std::ofstream(corrupt, std::ios::binary) << b.substr(0, b.size() / 2);
  const auto absent = root_ / "absent.npz";
  const auto empty = root_ / "empty.xyz";
  std::ofstream(empty) << "";
  for (const auto& [args, fragment] : std::vector<std::pair<std::string, std::string>>{
           {"view " + corrupt.string(), corrupt.string()},
           {"view " + absent.string(), absent.string()},
           {"view " + empty.string(), empty.string()},
           {"view " + trajectory().string() + " --shape 5 --headless --out " + (root_ / "x").string(), "--shape 5"},
           {"view " + trajectory().string() + " --colour rainbow --headless --out " + (root_ / "x").string(), "rainbow"},
           {"view " + trajectory().string() + " --headless", "--out"}}) {
    // All of these fail before any window or renderer would need a display.
    auto r = run_with("env -u DISPLAY -u WAYLAND_DISPLAY", args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.out;
    EXPECT_NE(r.out.find("shapediff: error: "), std::string::npos) << r.out;
    if (built_with_viewer()) {
      EXPECT_NE(r.out.find(fragment), std::string::npos) << args << "\n" << r.out;
      EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    } else {
      EXPECT_NE(r.out.find("without the viewer"), std::string::npos) << r.out;
    }
  }
}

}  // namespace

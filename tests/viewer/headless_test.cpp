// Renders small trajectories with Open3D under an X display (Xvfb when DISPLAY is unset).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "display_support.h"
#include "io/png.h"
#include "shapediff/config.h"
#include "viewer/headless.h"
#include "viewer/renderer.h"
#include "viewer_test_support.h"

namespace shapediff::viewer {
namespace {

namespace fs = std::filesystem;

#if SHAPEDIFF_WITH_OPEN3D

#define REQUIRE_DISPLAY()                                                            \
  if (!test::ensure_display()) GTEST_SKIP() << "no DISPLAY and no Xvfb to start"

// Fraction of pixels that differ from the white background.
double ink(const torch::Tensor& img) {
  return (img.to(torch::kInt) < 250).any(2).to(torch::kFloat).mean().item<double>();
}

TEST(PointRenderer, DrawsTheCloudCentredWithTheGivenColours) {
  REQUIRE_DISPLAY();
  PointRenderer r(160, 120);
  auto pts = test::torus_points(2000, 1);
  r.aim(pts, {});
  r.set_depth_shading(false);
  auto red = torch::tensor({1.0f, 0.0f, 0.0f}).expand({2000, 3});
  auto img = r.render({{pts, red}});
  ASSERT_EQ(img.sizes(), (std::vector<int64_t>{120, 160, 3}));
  EXPECT_GT(ink(img), 0.05);
  // The inked pixels are pure red, and their centre of mass is near the image centre.
  auto mask = (img.to(torch::kInt) < 250).any(2);
  auto inked = img.index({mask}).to(torch::kInt);
  EXPECT_TRUE((inked.select(1, 0) == 255).all().item<bool>());
  EXPECT_TRUE((inked.select(1, 1) == 0).all().item<bool>());
  auto where = mask.nonzero().to(torch::kFloat).mean(0);
  EXPECT_NEAR(where[0].item<float>(), 60, 15);
  EXPECT_NEAR(where[1].item<float>(), 80, 15);
  // An empty scene is blank.
  EXPECT_EQ(ink(r.render({{pts.slice(0, 0, 0), red.slice(0, 0, 0)}})), 0.0);
}

TEST(RenderTrajectoryHeadless, WritesFramesGifAndSheetThatChangeStepToStep) {
  REQUIRE_DISPLAY();
  const auto dir = fs::path(::testing::TempDir()) / ("shapediff_headless_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  auto t = test::torus_trajectory(5, 2, 800);
  HeadlessOptions o;
  o.out_dir = dir.string();
  o.shape = 1;
  o.width = 128;
  o.height = 96;
  o.views = 2;
  o.sheet_frames = 3;
  auto out = render_trajectory_headless(t, o);
  ASSERT_EQ(out.frames.size(), 5u);
  torch::Tensor previous;
  for (const auto& f : out.frames) {
    auto img = io::read_png(f);
    EXPECT_EQ(img.sizes(), (std::vector<int64_t>{96, 256, 3}));  // two views side by side
    EXPECT_GT(ink(img), 0.03) << f;
    if (previous.defined()) {
      const double changed = (img != previous).any(2).to(torch::kFloat).mean().item<double>();
      EXPECT_GT(changed, 0.01) << f << " looks like the frame before it";
    }
    previous = img;
  }
  EXPECT_GT(fs::file_size(out.gif), 1000u);
  auto sheet = io::read_png(out.contact_sheet);
  EXPECT_EQ(sheet.size(1), 2 * 256 + 3 * 6);  // 3 frames of 2 views: 2 columns
  EXPECT_EQ(sheet.size(0), 2 * 96 + 3 * 6);
  fs::remove_all(dir);
  o.shape = 2;
  EXPECT_THROW(render_trajectory_headless(t, o), std::invalid_argument);
}

TEST(SheetFrameIndices, SpreadsEvenlyWithEnds) {
  EXPECT_EQ(sheet_frame_indices(10, 4), (std::vector<int64_t>{0, 3, 6, 9}));
  EXPECT_EQ(sheet_frame_indices(3, 8), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(sheet_frame_indices(5, 1), (std::vector<int64_t>{4}));
  EXPECT_EQ(sheet_frame_indices(26, 8).back(), 25);
}

#else

TEST(Viewer, BuiltWithoutOpen3D) { GTEST_SKIP() << "SHAPEDIFF_WITH_OPEN3D is off"; }

#endif

}  // namespace
}  // namespace shapediff::viewer

// The live view under an X display (Xvfb when DISPLAY is unset): frames pushed from a worker
// thread reach the window, and a scripted run closes itself once finished.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <thread>

#include "display_support.h"
#include "io/png.h"
#include "shapediff/config.h"
#include "viewer/live_view.h"
#include "viewer_test_support.h"

namespace shapediff::viewer {
namespace {

#if SHAPEDIFF_WITH_OPEN3D

TEST(LiveView, ShowsFramesPushedFromAWorkerAndClosesWhenDone) {
  if (!test::ensure_display()) GTEST_SKIP() << "no DISPLAY and no Xvfb to start";
  const auto shot = std::filesystem::path(::testing::TempDir()) /
                    ("shapediff_live_" + std::to_string(::getpid()) + ".png");
  LiveViewOptions o;
  o.width = 160;
  o.height = 120;
  o.close_when_done = true;
  o.screenshot = shot.string();
  LiveView view(o);
  auto t = test::torus_trajectory(6, 1, 500);
  std::thread worker([&] {
    for (int64_t f = 0; f < t.num_frames(); ++f) {
      view.push_frame({t.x[f][0], t.x0[f][0], f + 1, t.num_frames(), t.timestep[f].item<double>(), t.known[0]});
      // Wait for the window to draw it (up to 5 s), so every frame is seen.
      for (int wait = 0; wait < 500 && view.frames_shown() <= f; ++wait) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    view.finish("done");
  });
  view.run();
  worker.join();
  EXPECT_EQ(view.frames_shown(), 6);
  auto img = io::read_png(shot.string());
  EXPECT_EQ(img.sizes(), (std::vector<int64_t>{120, 160, 3}));
  const double ink = (img.to(torch::kInt) < 250).any(2).to(torch::kFloat).mean().item<double>();
  EXPECT_GT(ink, 0.03);
  std::filesystem::remove(shot);
}

TEST(LiveView, RejectsFramesThatAreNotClouds) {
  LiveView view;
  EXPECT_THROW(view.push_frame({torch::zeros({4, 2}), {}, 1, 1, 0, {}}), std::invalid_argument);
  EXPECT_THROW(view.push_frame({torch::zeros({0, 3}), {}, 1, 1, 0, {}}), std::invalid_argument);
  EXPECT_EQ(view.frames_shown(), 0);
}

#else

TEST(LiveView, BuiltWithoutOpen3D) { GTEST_SKIP() << "SHAPEDIFF_WITH_OPEN3D is off"; }

#endif

}  // namespace
}  // namespace shapediff::viewer

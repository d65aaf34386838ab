#include "viewer/trajectory.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "io/npz.h"
#include "viewer_test_support.h"

namespace shapediff::viewer {
namespace {

namespace fs = std::filesystem;

class TrajectoryFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("shapediff_viewer_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::map<std::string, torch::Tensor> arrays(const Trajectory& t) const {
    std::map<std::string, torch::Tensor> a{{"x", t.x}, {"x0", t.x0}, {"step", t.step}, {"timestep", t.timestep}};
    if (t.known.defined()) a["known"] = t.known;
    return a;
  }

  // Writes `a` and expects read_trajectory to fail with a one-line message naming the file
  // and `fragment`.
  void expect_rejected(const std::map<std::string, torch::Tensor>& a, const std::string& fragment) {
    const auto p = path("bad.npz");
    io::write_npz(p, a);
    try {
      read_trajectory(p);
      ADD_FAILURE() << "no error for " << fragment;
    } catch (const std::runtime_error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(p), std::string::npos) << m;
      EXPECT_NE(m.find(fragment), std::string::npos) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
  }

  fs::path dir_;
};

TEST_F(TrajectoryFile, RoundTripsWhatSampleWrites) {
  auto t = test::torus_trajectory(4, 2, 64);
  // sample_command writes float64 timesteps and int64 steps; known as uint8 from NumPy.
  auto a = arrays(t);
  a["known"] = t.known.to(torch::kUInt8);
  io::write_npz(path("t.npz"), a);
  auto back = read_trajectory(path("t.npz"));
  EXPECT_EQ(back.num_frames(), 4);
  EXPECT_EQ(back.num_shapes(), 2);
  EXPECT_EQ(back.num_points(), 64);
  EXPECT_TRUE(torch::equal(back.x, t.x));
  EXPECT_TRUE(torch::equal(back.x0, t.x0));
  EXPECT_TRUE(torch::equal(back.step, t.step));
  EXPECT_TRUE(torch::equal(back.known, t.known));
  EXPECT_EQ(back.known.scalar_type(), torch::kBool);
}

TEST_F(TrajectoryFile, ConvertsOtherNumericDtypesAndKnownIsOptional) {
  auto t = test::torus_trajectory(3, 1, 32, /*with_known=*/false);
  auto a = arrays(t);
  a["x"] = t.x.to(torch::kDouble);
  a["step"] = t.step.to(torch::kInt);
  a["timestep"] = t.timestep.to(torch::kFloat);
  io::write_npz(path("t.npz"), a);
  auto back = read_trajectory(path("t.npz"));
  EXPECT_FALSE(back.has_known());
  EXPECT_EQ(back.x.scalar_type(), torch::kFloat32);
  EXPECT_EQ(back.step.scalar_type(), torch::kLong);
  EXPECT_EQ(back.timestep.scalar_type(), torch::kDouble);
  EXPECT_TRUE(torch::allclose(back.x, t.x));
}

TEST_F(TrajectoryFile, RejectsMissingAndMismatchedArrays) {
  auto t = test::torus_trajectory(3, 2, 16);
  for (const char* name : {"x", "x0", "step", "timestep"}) {
    auto a = arrays(t);
    a.erase(name);
    expect_rejected(a, "no array '" + std::string(name) + "'");
  }
  auto a = arrays(t);
  a["x0"] = t.x0.slice(2, 0, 8);
  expect_rejected(a, "array 'x0' has shape [3,2,8,3]");
  a = arrays(t);
  a["x"] = t.x.select(3, 0);
  a["x0"] = a["x"];
  expect_rejected(a, "array 'x' has shape [3,2,16]");
  a = arrays(t);
  a["step"] = t.step.slice(0, 0, 2);
  expect_rejected(a, "array 'step'");
  a = arrays(t);
  a["timestep"] = t.timestep.view({3, 1});
  expect_rejected(a, "array 'timestep'");
  a = arrays(t);
  a["known"] = t.known.slice(1, 0, 5);
  expect_rejected(a, "array 'known' has shape [2,5]");
  a = arrays(t);
  a["known"] = torch::full({2, 16}, 3, torch::kUInt8);
  expect_rejected(a, "array 'known'");
  a = arrays(t);
  a["x"] = t.x.clone();
  a["x"][1][0][0][0] = std::nan("");
  expect_rejected(a, "array 'x' has non-finite");
  a = arrays(t);
  a["x"] = torch::zeros({3, 2, 0, 3});
  a["x0"] = a["x"];
  expect_rejected(a, "array 'x' has no points");
  a = arrays(t);
  a["step"] = torch::ones({3}, torch::kBool);
  expect_rejected(a, "array 'step' has dtype");
}

TEST_F(TrajectoryFile, RejectsCorruptAndMissingFiles) {
  const auto p = path("corrupt.npz");
  io::write_npz(p, arrays(test::torus_trajectory(2, 1, 8)));
  const auto size = fs::file_size(p);
  fs::resize_file(p, size / 2);
  try {
    read_trajectory(p);
    ADD_FAILURE() << "truncated file read";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_trajectory(path("absent.npz")), std::runtime_error);
}

TEST(NoiseRms, IsTheRmsDistanceBetweenXtAndX0) {
  auto t = test::torus_trajectory(3, 2, 50);
  for (int64_t f = 0; f < 3; ++f) {
    double sum = 0;
    for (int64_t i = 0; i < 50; ++i) {
      double d2 = 0;
      for (int64_t c = 0; c < 3; ++c) {
        const double d = t.x[f][1][i][c].item<double>() - t.x0[f][1][i][c].item<double>();
        d2 += d * d;
      }
      sum += d2;
    }
    EXPECT_NEAR(noise_rms(t, f, 1), std::sqrt(sum / 50), 1e-5);
  }
  EXPECT_NEAR(noise_rms(t, 2, 0), 0.0, 1e-6);  // the last frame is clean
}

}  // namespace
}  // namespace shapediff::viewer

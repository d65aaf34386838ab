// The CUDA point ops against the CPU ones (the CPU ops are checked against brute force in
// point_ops_test.cpp) on the same seeded inputs, forward and gradients. Skipped without a CUDA
// device or in builds without CUDA; scripts/gpu_build_test.sh runs them on the GPU machine.
#include "networks/point_ops.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "shapediff/config.h"

namespace shapediff::networks {
namespace {

using torch::Tensor;

const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);

class PointOpsCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
    if (!SHAPEDIFF_WITH_CUDA) GTEST_SKIP() << "built without CUDA";
    torch::manual_seed(4321);
  }
};

struct Run {
  Tensor out;
  std::vector<Tensor> grads;
};

// Runs f on copies of `inputs` moved to `device`; the inputs flagged in `differentiable` require
// grad and get the gradient of sum(out * v) for a fixed v. Everything comes back on the CPU.
Run run_on(torch::Device device, const std::function<Tensor(const std::vector<Tensor>&)>& f,
           const std::vector<Tensor>& inputs, const std::vector<bool>& differentiable = {}) {
  std::vector<Tensor> moved, wrt;
  for (size_t i = 0; i < inputs.size(); ++i) {
    // A copy even on the CPU, where to() would hand back the caller's tensor.
    auto t = inputs[i].detach().clone().to(device);
    if (i < differentiable.size() && differentiable[i]) {
      t.requires_grad_(true);
      wrt.push_back(t);
    }
    moved.push_back(t);
  }
  Run run;
  const auto out = f(moved);
  run.out = out.detach().cpu();
  if (!wrt.empty()) {
    const auto v = (torch::arange(out.numel(), out.options()) * 0.37).sin().view(out.sizes());
    for (const auto& g : torch::autograd::grad({(out * v).sum()}, wrt)) {
      run.grads.push_back(g.cpu());
    }
  }
  return run;
}

void expect_close(const Tensor& cuda, const Tensor& cpu, double rtol, double atol,
                  const std::string& what) {
  ASSERT_EQ(cuda.sizes(), cpu.sizes()) << what;
  ASSERT_EQ(cuda.scalar_type(), cpu.scalar_type()) << what;
  EXPECT_TRUE(torch::allclose(cuda, cpu, rtol, atol))
      << what << ": max |cuda - cpu| = " << (cuda - cpu).abs().max().item<double>();
}

// Compares a CUDA run with the CPU run of the same function and inputs.
void expect_matches_cpu(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                        const std::vector<Tensor>& inputs, const std::vector<bool>& differentiable,
                        double rtol, double atol, const std::string& what) {
  const auto cpu = run_on(torch::kCPU, f, inputs, differentiable);
  const auto cuda = run_on(torch::kCUDA, f, inputs, differentiable);
  expect_close(cuda.out, cpu.out, rtol, atol, what + " forward");
  ASSERT_EQ(cuda.grads.size(), cpu.grads.size()) << what;
  for (size_t i = 0; i < cpu.grads.size(); ++i) {
    expect_close(cuda.grads[i], cpu.grads[i], rtol, atol, what + " gradient " + std::to_string(i));
  }
}

// ---- index ops: the same picks as on the CPU, bit for bit -----------------------------------

TEST_F(PointOpsCuda, FarthestPointSample_CUDA) {
  struct Case {
    int64_t b, n, m;
    torch::ScalarType dtype;
  };
  // 2048 points fit the default shared memory, 5000 doubles need the opt-in size, 20000 floats
  // fall back to global memory.
  for (const auto& c : {Case{2, 1, 1, torch::kFloat}, Case{3, 5, 5, torch::kFloat},
                        Case{3, 100, 37, torch::kDouble}, Case{16, 2048, 1024, torch::kFloat},
                        Case{2, 5000, 300, torch::kDouble}, Case{1, 20000, 64, torch::kFloat}}) {
    const auto points = torch::randn({c.b, c.n, 3}, torch::TensorOptions().dtype(c.dtype));
    const auto cpu = farthest_point_sample(points, c.m);
    const auto cuda = farthest_point_sample(points.cuda(), c.m);
    EXPECT_TRUE(cuda.is_cuda());
    EXPECT_TRUE(torch::equal(cuda.cpu(), cpu)) << "B=" << c.b << " N=" << c.n << " m=" << c.m;
  }
  // Ties and duplicates.
  const auto ties =
      torch::tensor({{{0.0, 0.0, 0.0}, {1.0, 0.0, 0.0}, {-1.0, 0.0, 0.0}, {0.0, 1.0, 0.0},
                      {1.0, 0.0, 0.0}}},
                    kF64);
  EXPECT_TRUE(torch::equal(farthest_point_sample(ties.cuda(), 5).cpu(),
                           farthest_point_sample(ties, 5)));
}

TEST_F(PointOpsCuda, BallQuery_CUDA) {
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    // 300 points span three of the kernel's shared-memory tiles.
    const auto points = torch::rand({2, 300, 3}, torch::TensorOptions().dtype(dtype));
    const auto centers = torch::rand({2, 70, 3}, torch::TensorOptions().dtype(dtype));
    for (const int64_t k : {1, 8, 64}) {
      for (const double radius : {0.05, 0.2, 0.5, 2.0}) {
        const auto cpu = ball_query(centers, points, radius, k);
        const auto cuda = ball_query(centers.cuda(), points.cuda(), radius, k);
        EXPECT_TRUE(torch::equal(cuda.cpu(), cpu)) << dtype << " k=" << k << " r=" << radius;
      }
    }
  }
}

TEST_F(PointOpsCuda, ThreeNN_CUDA) {
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    const auto unknown = torch::rand({3, 300, 3}, torch::TensorOptions().dtype(dtype));
    const auto known = torch::rand({3, 200, 3}, torch::TensorOptions().dtype(dtype));
    const auto [dist, idx] = three_nn(unknown, known);
    const auto [dist_cuda, idx_cuda] = three_nn(unknown.cuda(), known.cuda());
    EXPECT_TRUE(torch::equal(idx_cuda.cpu(), idx)) << dtype;
    EXPECT_TRUE(torch::equal(dist_cuda.cpu(), dist)) << dtype;
  }
  // Exactly three known points, and ties.
  const auto known = torch::tensor({{{1.0, 0.0, 0.0}, {0.0, 1.0, 0.0}, {-1.0, 0.0, 0.0}}}, kF64);
  const auto unknown = torch::zeros({1, 2, 3}, kF64);
  EXPECT_TRUE(torch::equal(three_nn(unknown.cuda(), known.cuda()).second.cpu(),
                           three_nn(unknown, known).second));
}

// ---- differentiable ops ---------------------------------------------------------------------

TEST_F(PointOpsCuda, Group_CUDA) {
  const auto f = [](const std::vector<Tensor>& in) { return group(in[0], in[1]); };
  const auto idx = torch::randint(0, 50, {2, 40, 16}, torch::kLong);
  expect_matches_cpu(f, {torch::randn({2, 5, 50}, kF64), idx}, {true, false}, 1e-12, 1e-12,
                     "group f64");
  expect_matches_cpu(f, {torch::randn({2, 5, 50}), idx}, {true, false}, 1e-5, 1e-5, "group f32");
  // Out-of-range indices are not checked on CUDA; they read as 0 instead of faulting.
  const auto wild = torch::full({2, 3, 4}, 99, torch::kLong).cuda();
  EXPECT_TRUE(torch::equal(group(torch::randn({2, 5, 50}).cuda(), wild).cpu(),
                           torch::zeros({2, 5, 3, 4})));
}

TEST_F(PointOpsCuda, ThreeInterpolate_CUDA) {
  const auto f = [](const std::vector<Tensor>& in) {
    return three_interpolate(in[0], in[1], in[2]);
  };
  const auto idx = torch::randint(0, 30, {2, 90, 3}, torch::kLong);
  expect_matches_cpu(f, {torch::randn({2, 6, 30}, kF64), idx, torch::rand({2, 90, 3}, kF64)},
                     {true, false, true}, 1e-12, 1e-12, "three_interpolate f64");
  expect_matches_cpu(f, {torch::randn({2, 6, 30}), idx, torch::rand({2, 90, 3})},
                     {true, false, true}, 1e-5, 1e-5, "three_interpolate f32");
}

TEST_F(PointOpsCuda, AvgVoxelize_CUDA) {
  const auto coords = torch::randn({2, 500, 3}, kF64) * 0.4;
  const auto features = torch::randn({2, 4, 500}, kF64);
  // r = 1 puts all 500 points in one voxel: one long run per cloud.
  for (const int64_t r : {1, 2, 8, 32}) {
    for (const bool normalize : {true, false}) {
      const auto what = "r=" + std::to_string(r) + " normalize=" + std::to_string(normalize);
      const auto grid = [&](const std::vector<Tensor>& in) {
        return avg_voxelize(in[0], in[1], r, normalize, 1e-4).first;
      };
      const auto voxel_coords = [&](const std::vector<Tensor>& in) {
        return avg_voxelize(in[0], in[1], r, normalize, 1e-4).second;
      };
      expect_matches_cpu(grid, {features, coords}, {true, false}, 1e-12, 1e-12, what);
      expect_matches_cpu(voxel_coords, {features, coords}, {}, 1e-12, 1e-12, what + " coords");
    }
  }
}

// float32 voxel coordinates may differ from the CPU's in the last bit (another summation order
// for the mean), which could move a point sitting on a voxel boundary; so the grid is checked
// against the mean of the features over the CUDA coordinates' own voxels.
TEST_F(PointOpsCuda, AvgVoxelizeFloat32AndDeterminism_CUDA) {
  const int64_t r = 8;
  const auto coords = torch::rand({3, 700, 3});
  const auto features = torch::randn({3, 5, 700});
  const auto [grid_cpu, norm_cpu] = avg_voxelize(features, coords, r);
  const auto [grid, norm] = avg_voxelize(features.cuda(), coords.cuda(), r);
  expect_close(norm.cpu(), norm_cpu, 1e-5, 1e-5, "voxel coords");
  const auto cell = torch::round(norm.cpu()).to(torch::kLong);
  const auto flat = cell.select(1, 0) * (r * r) + cell.select(1, 1) * r + cell.select(1, 2);
  for (int64_t b = 0; b < 3; ++b) {
    const auto sums = torch::zeros({5, r * r * r}).index_add(1, flat[b], features[b]);
    const auto counts = torch::zeros({r * r * r}).index_add(0, flat[b], torch::ones({700}));
    expect_close(grid[b].cpu().view({5, -1}), sums / counts.clamp_min(1), 1e-5, 1e-6,
                 "grid " + std::to_string(b));
  }
  // Each voxel is summed by one thread in point order: repeated runs agree bit for bit.
  const auto again = avg_voxelize(features.cuda(), coords.cuda(), r).first;
  EXPECT_TRUE(torch::equal(again, grid));
}

TEST_F(PointOpsCuda, TrilinearDevoxelize_CUDA) {
  for (const int64_t r : {2, 5, 32}) {
    auto coords = torch::rand({2, 3, 200}, kF64) * static_cast<double>(r - 1);
    // Grid points and the upper faces, where a corner collapses onto the lower voxel.
    coords.index_put_({0, torch::indexing::Slice(), 0}, static_cast<double>(r - 1));
    coords.index_put_({1, torch::indexing::Slice(), 1}, 0.0);
    coords.index_put_({1, 0, 2}, 1.0);
    const auto grid = torch::randn({2, 3, r, r, r}, kF64);
    const auto f = [r](const std::vector<Tensor>& in) {
      return trilinear_devoxelize(in[0], in[1], r);
    };
    const auto what = "r=" + std::to_string(r);
    expect_matches_cpu(f, {grid, coords}, {true, false}, 1e-12, 1e-12, what + " f64");
    expect_matches_cpu(f, {grid.to(torch::kFloat), coords.to(torch::kFloat)}, {true, false},
                       1e-5, 1e-5, what + " f32");
    const auto eval = trilinear_devoxelize(grid.cuda(), coords.cuda(), r, /*training=*/false);
    EXPECT_FALSE(eval.requires_grad());
    expect_close(eval.cpu(), trilinear_devoxelize(grid, coords, r, false), 1e-12, 1e-12,
                 what + " eval");
  }
}

// PVCNN's point-voxel round trip at PVD's first-stage sizes, with gradients to the features.
TEST_F(PointOpsCuda, VoxelizeDevoxelizeRoundTripAtPVDSizes_CUDA) {
  const int64_t r = 32;
  const auto f = [r](const std::vector<Tensor>& in) {
    const auto [grid, norm] = avg_voxelize(in[0], in[1], r);
    return trilinear_devoxelize(grid, norm, r);
  };
  expect_matches_cpu(f, {torch::randn({4, 16, 2048}, kF64), torch::rand({4, 2048, 3}, kF64)},
                     {true, false}, 1e-10, 1e-12, "round trip");
}

// ---- argument checks that involve devices ---------------------------------------------------

TEST_F(PointOpsCuda, RejectsMixedDevices_CUDA) {
  const auto p = torch::rand({1, 5, 3});
  EXPECT_THROW(ball_query(p.cuda(), p, 0.1, 2), std::invalid_argument);
  EXPECT_THROW(three_nn(p, p.cuda()), std::invalid_argument);
  EXPECT_THROW(group(torch::randn({1, 2, 5}).cuda(), torch::zeros({1, 3, 2}, torch::kLong)),
               std::invalid_argument);
  EXPECT_THROW(avg_voxelize(torch::randn({1, 2, 5}), p.cuda(), 4), std::invalid_argument);
  try {
    trilinear_devoxelize(torch::randn({1, 2, 3, 3, 3}).cuda(), torch::rand({1, 3, 4}), 3);
    ADD_FAILURE() << "no error for grid on CUDA and coords on the CPU";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("devices differ"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace shapediff::networks

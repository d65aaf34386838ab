// Masked completion with the two-stage voxel pipeline: the known cells of a scan against a
// brute-force reference, the completed grids keeping them exactly on both stages (untrained
// tiny networks), a voxel model alone running stage 1, normal estimation on a sphere, the
// surface of a grid landing on the shape in the stored frame, and the inputs it refuses.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <tuple>

#include "test_support.h"

#include "diffusion/point_model.h"
#include "diffusion/sparse_voxel_band.h"
#include "diffusion/point_sampling.h"
#include "diffusion/sparse_voxel_completion.h"
#include "diffusion/sparse_voxel_sampling.h"
#include "diffusion/sparse_voxel_training.h"
#include "shapes/chamfer.h"
#include "shapes/grid_spec.h"
#include "shapes/marching_cubes.h"

namespace shapediff::diffusion {
namespace {

const auto message_of = testing::exception_message;

struct Models {
  PointModel fine, coarse;
};

// A 16^3 sparse model over an 8^3 voxel model, both tiny and untrained, two classes (none with
// classes = 0: unconditional networks).
Models tiny_models(int64_t classes = 2) {
  torch::manual_seed(3);
  PointModelConfig f;
  f.representation = Representation::SparseVoxels;
  f.sparse_voxels.grid = 16;
  f.sparse_voxels.coarse_grid = 8;
  f.sparse_voxels.truncation = 2.0;
  f.sparse_voxels.coarse_truncation = 2.0;
  f.sparse_voxels.band = 1.5;
  f.sparse_voxels.dilation = 1;
  f.sparse_voxels.unet = sparse::SparseUNetPreset::Tiny;
  f.num_classes = classes;
  if (classes > 0) f.classes = {"ball", "box"};
  f.points = 128;
  f.dataset_normalization = shapes::NormalizationKind::UnitSphere;
  PointModelConfig c;
  c.representation = Representation::Voxels;
  c.voxels.grid = 8;
  c.voxels.truncation = 2.0;
  c.voxels.unet = networks::UNetPreset::Tiny;
  c.num_classes = classes;
  if (classes > 0) c.classes = {"ball", "box"};
  return {make_point_model(f), make_point_model(c)};
}

// The upper half (y > 0) of a sphere of radius 0.6: a partial scan with exact outward normals.
std::pair<torch::Tensor, torch::Tensor> half_sphere(int64_t m) {
  torch::manual_seed(5);
  auto d = torch::randn({m, 3});
  d = d / d.norm(2, 1, true);
  d.select(1, 1).abs_();
  return {0.6 * d, d};
}

// Cell centres of a grid spanning [-1, 1]^3, [G^3,3] in row-major (x, y, z) order.
torch::Tensor centres(int64_t g) {
  const auto axis = torch::linspace(-1, 1, g, torch::kFloat64);
  const auto mesh = torch::meshgrid({axis, axis, axis}, "ij");
  return torch::stack({mesh[0].reshape(-1), mesh[1].reshape(-1), mesh[2].reshape(-1)}, 1);
}

// Two completions, guided towards label 1, seed 7; on_progress writes the last call's counts.
SparseVoxelCompletionOptions two_guided_completions(int64_t& last, int64_t& total) {
  SparseVoxelCompletionOptions o;
  o.count = 2;
  o.steps = 3;
  o.label = 1;
  o.guidance = 2.0;
  o.seed = 7;
  o.on_progress = [&last, &total](int64_t done, int64_t all) { last = done, total = all; };
  return o;
}

TEST(SparseVoxelCompletion, KnownCellsKeepTheirValuesOnBothStages) {
  auto models = tiny_models();
  torch::Tensor points, normals;
  std::tie(points, normals) = half_sphere(400);
  int64_t last = 0, total = 0;
  auto o = two_guided_completions(last, total);
  const auto c = complete_sparse_voxels(models.fine, models.coarse, points, normals, o);
  EXPECT_EQ(c.samples.grids.sizes(), (std::vector<int64_t>{2, 16, 16, 16}));
  EXPECT_EQ(c.samples.coarse.sizes(), (std::vector<int64_t>{2, 8, 8, 8}));
  EXPECT_EQ(last, total);
  EXPECT_EQ(total, 6);

  // The known cells: within one voxel of a scan point (brute force over all pairs).
  for (const auto& [g, mask, known] :
       {std::tuple{int64_t{8}, c.coarse_mask, c.coarse_known}, std::tuple{int64_t{16}, c.fine_mask, c.fine_known}}) {
    const double voxel = 2.0 / static_cast<double>(g - 1);
    const auto nearest = std::get<0>(torch::cdist(centres(g), points.to(torch::kFloat64)).min(1));
    const auto expected = (nearest <= voxel * (1 + 1e-9)).reshape({g, g, g});
    EXPECT_TRUE(torch::equal(mask, expected)) << "grid " << g;
    // Their values: distance over the truncation (2 voxels), at most 1/2 in magnitude.
    EXPECT_TRUE(torch::allclose(known.masked_select(mask).abs().to(torch::kFloat64),
                                (nearest.reshape({g, g, g}) / (2 * voxel)).masked_select(mask), 1e-4, 1e-5));
  }
  ASSERT_GT(c.coarse_mask.sum().item<int64_t>(), 0);

  for (int64_t k = 0; k < 2; ++k) {
    // Stage 1: exactly the scan's values on the known coarse cells.
    EXPECT_TRUE(torch::equal(c.samples.coarse[k].masked_select(c.coarse_mask), c.coarse_known.masked_select(c.coarse_mask)));
    // Stage 2: exactly the scan's values on the known fine cells of the band.
    const auto batch = sparse_voxel_batch(c.samples.coarse.slice(0, k, k + 1), {}, models.fine.config.sparse_voxels);
    auto band = torch::zeros({16, 16, 16}, torch::kBool);
    const auto xyz = batch.coords.slice(1, 1, 4).to(torch::kLong);
    band.index_put_({xyz.select(1, 0), xyz.select(1, 1), xyz.select(1, 2)}, true);
    const auto fixed = band & c.fine_mask;
    EXPECT_EQ(fixed.sum().item<int64_t>(), c.band_known[k].item<int64_t>());
    EXPECT_GT(c.band_known[k].item<int64_t>(), 0);
    EXPECT_TRUE(torch::equal(c.samples.grids[k].masked_select(fixed), c.fine_known.masked_select(fixed)));
    EXPECT_EQ(c.samples.band_cells[k].item<int64_t>(), batch.cells());
  }
  // The generated cells are not all the known values: something was sampled.
  EXPECT_FALSE(torch::equal(c.samples.coarse[0], c.samples.coarse[1]));
  // The same seed gives the same grids.
  const auto again = complete_sparse_voxels(models.fine, models.coarse, points, normals, o);
  EXPECT_TRUE(torch::equal(again.samples.grids, c.samples.grids));
}

// Unconditional models: the U-Nets refuse labels, so none may reach them (a bug once: sampling
// or completing with an unconditional voxel model failed with "labels given to an
// unconditional network").
TEST(SparseVoxelCompletion, UnconditionalModelsSampleAndComplete) {
  auto models = tiny_models(0);
  ASSERT_EQ(models.coarse.config.num_classes, 0);
  torch::Tensor points, normals;
  std::tie(points, normals) = half_sphere(400);
  SparseVoxelCompletionOptions o;
  o.count = 2;
  o.steps = 3;
  const auto v = complete_voxels(models.coarse, points, normals, o);
  EXPECT_EQ(v.grids.sizes(), (std::vector<int64_t>{2, 8, 8, 8}));
  EXPECT_TRUE(torch::isfinite(v.grids).all().item<bool>());
  const auto c = complete_sparse_voxels(models.fine, models.coarse, points, normals, o);
  EXPECT_EQ(c.samples.grids.sizes(), (std::vector<int64_t>{2, 16, 16, 16}));
  EXPECT_TRUE(torch::equal(v.grids, c.samples.coarse));
  PointSampleOptions s;
  s.count = 2;
  s.steps = 3;
  const auto grids = sample_grids(models.coarse.grid_net, 8, 0, models.coarse.config.schedule, s);
  EXPECT_EQ(grids.points.sizes(), (std::vector<int64_t>{2, 1, 8, 8, 8}));
  EXPECT_TRUE(torch::isfinite(grids.points).all().item<bool>());
  const auto fine = sample_sparse_voxels(models.fine, models.coarse, s);
  EXPECT_EQ(fine.grids.sizes(), (std::vector<int64_t>{2, 16, 16, 16}));
  // A label for a model without classes is still refused, by name.
  o.label = 0;
  EXPECT_NE(message_of([&] { complete_voxels(models.coarse, points, normals, o); }).find("label"), std::string::npos);
}

TEST(SparseVoxelCompletion, AVoxelModelAloneRunsStageOneOfThePipeline) {
  auto models = tiny_models();
  torch::Tensor points, normals;
  std::tie(points, normals) = half_sphere(400);
  int64_t last = 0, total = 0;
  auto o = two_guided_completions(last, total);
  const auto v = complete_voxels(models.coarse, points, normals, o);
  EXPECT_EQ(v.grids.sizes(), (std::vector<int64_t>{2, 8, 8, 8}));
  EXPECT_EQ(total, 3);
  EXPECT_EQ(last, total);
  o.on_progress = {};
  const auto c = complete_sparse_voxels(models.fine, models.coarse, points, normals, o);
  EXPECT_TRUE(torch::equal(v.grids, c.samples.coarse));
  EXPECT_TRUE(torch::equal(v.mask, c.coarse_mask));
  EXPECT_TRUE(torch::equal(v.known, c.coarse_known));
  ASSERT_GT(v.mask.sum().item<int64_t>(), 0);
  EXPECT_TRUE(torch::equal(v.grids[1].masked_select(v.mask), v.known.masked_select(v.mask)));

  EXPECT_EQ(message_of([&] { complete_voxels(models.fine, points, normals, o); }),
            "complete_voxels: the model is a model of sparse_voxels, not voxels");
  EXPECT_EQ(message_of([&] { complete_voxels(models.coarse, points + 5.0, normals, o); }),
            "complete_voxels: the scan fixes no cell");
  auto far = o;
  far.known_distance = 2.0;
  EXPECT_NE(message_of([&] { complete_voxels(models.coarse, points, normals, far); }).find("known_distance = 2"),
            std::string::npos);
}

// `m` points and their outward normals on an ellipsoid with unequal axes off the origin: any
// swap, flip or rescaling of the axes moves its surface.
std::pair<torch::Tensor, torch::Tensor> ellipsoid(int64_t m, uint64_t seed) {
  torch::manual_seed(seed);
  auto d = torch::randn({m, 3}, torch::kFloat64);
  d = d / d.norm(2, 1, true);
  const auto radii = torch::tensor({0.7, 0.45, 0.3}, torch::kFloat64);
  const auto centre = torch::tensor({0.12, -0.15, 0.05}, torch::kFloat64);
  auto n = d / radii;
  return {(centre + d * radii).to(torch::kFloat32), (n / n.norm(2, 1, true)).to(torch::kFloat32)};
}

TEST(SparseVoxelCompletion, GridSurfacePointsLieOnTheShapeInTheStoredFrame) {
  // The grids the trainers make of a shape (both stages' targets), meshed and sampled, against
  // another sampling of the same shape.
  const auto [points, normals] = ellipsoid(4096, 1);
  const auto truth = ellipsoid(2048, 2).first.unsqueeze(0);
  SparseVoxelSettings s;
  s.grid = 32;
  s.coarse_grid = 16;
  s.truncation = 3.0;
  s.coarse_truncation = 3.0;
  const auto targets = sparse_voxel_targets(points, normals, s);
  auto cd = [&](const torch::Tensor& x) { return shapes::chamfer_distance(x.unsqueeze(0), truth).item<double>(); };
  const double floor = cd(ellipsoid(2048, 3).first);  // two samplings of the same surface
  for (const auto& grid : {targets.fine, targets.coarse}) {
    const auto surface = grid_surface_points(grid, 2048, 0);
    ASSERT_EQ(surface.sizes(), (std::vector<int64_t>{2048, 3}));
    EXPECT_EQ(surface.scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::equal(surface, grid_surface_points(grid, 2048, 0)));  // seeded
    const double on_shape = cd(surface);
    EXPECT_LT(on_shape, 2 * floor) << "grid " << grid.size(0) << ", floor " << floor;
    // A wrong frame would be far off: axes swapped, mirrored, or the grid's index space.
    EXPECT_GT(cd(surface.flip(1)), 10 * on_shape);
    EXPECT_GT(cd(-surface), 10 * on_shape);
    EXPECT_GT(cd(surface * 0.9), 2 * on_shape);
  }
  // A sign flip among saturated cells far from the shape (a block of -1 in a corner of +1) is
  // a crossing marching cubes meshes, but not surface: no point lands there.
  auto flipped = targets.fine.clone();
  flipped.slice(0, 0, 4).slice(1, 0, 4).slice(2, 0, 4).fill_(-1);
  const auto spec = shapes::GridSpec::from_bounds({-1, -1, -1}, {1, 1, 1}, 32);
  const auto whole = shapes::marching_cubes(spec.make_grid(flipped, shapes::VoxelKind::SignedDistance),
                                            {0.0, false, shapes::IsoSurfaceMethod::Cubes});
  ASSERT_LT(whole.vertices.select(1, 0).min().item<double>(), -0.7);
  const auto kept = grid_surface_points(flipped, 2048, 0);
  ASSERT_EQ(kept.size(0), 2048);
  EXPECT_GT(kept.select(1, 0).min().item<double>(), -0.7);
  EXPECT_LT(cd(kept), 2 * floor);
  // No zero crossing, or only between saturated cells: no surface. A grid that is not a cube of
  // cells is refused.
  auto phantom = torch::ones({8, 8, 8});
  phantom.slice(0, 0, 4).fill_(-1);
  EXPECT_EQ(grid_surface_points(phantom, 16, 0).sizes(), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(grid_surface_points(torch::ones({8, 8, 8}), 16, 0).sizes(), (std::vector<int64_t>{0, 3}));
  EXPECT_NE(message_of([&] { grid_surface_points(torch::ones({8, 8, 4}), 16, 0); }).find("[G,G,G]"),
            std::string::npos);
  EXPECT_NE(message_of([&] { grid_surface_points(targets.fine, 0, 0); }).find("count = 0"), std::string::npos);
}

TEST(SparseVoxelCompletion, EstimatedNormalsOfASphereScanPointOutward) {
  torch::Tensor points, normals;
  std::tie(points, normals) = half_sphere(500);
  const auto n = estimate_scan_normals(points, 12);
  ASSERT_EQ(n.sizes(), points.sizes());
  EXPECT_TRUE(torch::allclose(n.norm(2, 1), torch::ones({500}), 1e-5, 1e-5));
  // On a sampled sphere the plane through 12 neighbours is close to the tangent plane.
  EXPECT_GT((n * normals).sum(1).min().item<double>(), 0.95);
  // Chunks of rows give the same answer as one block (more than 1024 points).
  const auto [many, many_normals] = half_sphere(1500);
  EXPECT_GT((estimate_scan_normals(many) * many_normals).sum(1).min().item<double>(), 0.95);
}

TEST(SparseVoxelCompletion, BadInputIsNamed) {
  auto models = tiny_models();
  torch::Tensor points, normals;
  std::tie(points, normals) = half_sphere(100);
  SparseVoxelCompletionOptions o;
  o.steps = 2;
  EXPECT_EQ(message_of([&] { estimate_scan_normals(points.slice(0, 0, 10)); }),
            "estimate_scan_normals: the scan has 10 points; normals from 16 neighbours need at least 17");
  EXPECT_NE(message_of([&] { estimate_scan_normals(points.slice(1, 0, 2)); }).find("[M,3]"), std::string::npos);
  auto repaint = o;
  repaint.strategy = CompletionStrategy::RePaint;
  EXPECT_EQ(message_of([&] { complete_sparse_voxels(models.fine, models.coarse, points, normals, repaint); }),
            "strategy repaint: sparse-voxel completion supports replacement only");
  auto far = o;
  far.known_distance = 2.0;
  EXPECT_NE(message_of([&] { complete_sparse_voxels(models.fine, models.coarse, points, normals, far); })
                .find("known_distance = 2"),
            std::string::npos);
  EXPECT_NE(message_of([&] { complete_sparse_voxels(models.fine, models.coarse, points, normals.slice(0, 1), o); })
                .find("normals must be"),
            std::string::npos);
  EXPECT_NE(message_of([&] { complete_sparse_voxels(models.fine, models.fine, points, normals, o); })
                .find("not the stage 1 of this sparse-voxel model"),
            std::string::npos);
  // A scan outside the grid's cube fixes nothing.
  EXPECT_EQ(message_of([&] { complete_sparse_voxels(models.fine, models.coarse, points + 5.0, normals, o); }),
            "complete_sparse_voxels: the scan fixes no coarse cell");
}

}  // namespace
}  // namespace shapediff::diffusion

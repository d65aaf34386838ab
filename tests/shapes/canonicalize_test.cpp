#include "shapes/canonicalize.h"

#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/shapes/geometry_fixtures.h"

namespace shapediff::shapes {
namespace {

using testing::expect_invalid;

// Points on a unit sphere plus `outliers` points 3 to 5 units away.
torch::Tensor sphere_with_outliers(int64_t n, int64_t outliers, int64_t seed) {
  torch::manual_seed(seed);
  const auto d = torch::randn({n, 3});
  const auto inliers = d / d.norm(2, 1, true);
  const auto o = torch::randn({outliers, 3});
  const auto far = o / o.norm(2, 1, true) * (3 + 2 * torch::rand({outliers, 1}));
  return torch::cat({inliers, far});
}

// An anisotropic, skewed cloud: distinct principal variances and non-zero third moments.
torch::Tensor asymmetric_cloud(int64_t n, int64_t seed) {
  torch::manual_seed(seed);
  auto p = torch::randn({n, 3}, torch::kFloat64) * torch::tensor({3.0, 1.5, 0.6}, torch::kFloat64);
  p.select(1, 0).add_(0.15 * p.select(1, 0).square());
  p.select(1, 1).add_(0.2 * p.select(1, 1).square());
  return p.to(torch::kFloat32);
}

torch::Tensor reference_knn_mean(const torch::Tensor& points, int64_t k) {
  auto d = torch::cdist(points.to(torch::kFloat64), points.to(torch::kFloat64), 2.0, 2);
  d.fill_diagonal_(std::numeric_limits<double>::infinity());
  return std::get<0>(d.topk(k, 1, /*largest=*/false)).mean(1);
}

TEST(Canonicalize, KnnMeanDistanceBothPathsMatchReference) {
  const auto p = sphere_with_outliers(3000, 20, 0);
  const auto want = reference_knn_mean(p, 8);
  const auto brute = knn_mean_distance(p, 8, /*brute_force_max=*/1 << 30);
  const auto tree = knn_mean_distance(p, 8, /*brute_force_max=*/0);
  EXPECT_LT((brute - want).abs().max().item<double>(), 1e-9);
  EXPECT_TRUE(torch::equal(brute, tree));
}

TEST(Canonicalize, PlantedOutliersAreRemovedInliersKept) {
  const int64_t n = 2000, planted = 25;
  const auto p = sphere_with_outliers(n, planted, 1);
  for (int64_t brute_max : {int64_t{0}, int64_t{1} << 30}) {
    OutlierOptions options;
    options.brute_force_max = brute_max;
    const auto mask = statistical_outlier_mask(p, options);
    EXPECT_EQ(mask.slice(0, n).sum().item<int64_t>(), 0) << "an outlier survived";
    EXPECT_GE(mask.slice(0, 0, n).sum().item<int64_t>(), n * 97 / 100)
        << "too many inliers dropped";
  }
  PointCloud scan{p};
  const auto c = canonicalize_scan(scan);
  EXPECT_EQ(c.kept.size(0), c.cloud.size());
  EXPECT_LT(c.kept.max().item<int64_t>(), n);
  // The inverse maps the canonical cloud back onto the kept scan points.
  EXPECT_LT(
      (c.transform.invert(c.cloud.points) - p.index_select(0, c.kept)).abs().max().item<float>(),
      1e-5);
  EXPECT_NEAR(c.cloud.points.norm(2, 1).max().item<float>(), 1.0, 1e-5);
}

TEST(Canonicalize, RotatedScaledShiftedCopyGivesTheSameCloud) {
  const auto x = asymmetric_cloud(1000, 2);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  for (int trial = 0; trial < 3; ++trial) {
    const auto r = testing::random_rotation(gen);
    const double s = 0.3 + trial;
    const auto t = torch::randn({3}, gen, torch::kFloat64) * 5;
    const auto y = (torch::matmul(x.to(torch::kFloat64), r.t()) * s + t).to(torch::kFloat32);
    for (auto scaling : {NormalizationKind::UnitSphere, NormalizationKind::UnitBox}) {
      CanonicalizeOptions options;
      options.pca_align = true;
      options.scaling = scaling;
      const auto cx = canonicalize_scan(PointCloud{x}, options);
      const auto cy = canonicalize_scan(PointCloud{y}, options);
      ASSERT_TRUE(torch::equal(cx.kept, cy.kept));
      EXPECT_LT((cx.cloud.points - cy.cloud.points).abs().max().item<float>(), 1e-4)
          << "trial " << trial;
      EXPECT_LT((cy.transform.invert(cy.cloud.points) - y.index_select(0, cy.kept))
                    .abs()
                    .max()
                    .item<float>(),
                1e-5 * (1 + y.abs().max().item<float>()));
      // Principal axes land on x, y, z in decreasing variance.
      const auto var = cx.cloud.points.var(0);
      EXPECT_GT(var[0].item<float>(), var[1].item<float>());
      EXPECT_GT(var[1].item<float>(), var[2].item<float>());
    }
  }
}

TEST(Canonicalize, UpAxisChangeAndModelNormalization) {
  // A Z-up "scan": tall along z. Into a Y-up frame, the height lands on y.
  torch::manual_seed(3);
  const auto x = torch::rand({400, 3}) * torch::tensor({1.f, 1.f, 4.f});
  CanonicalizeOptions options;
  options.remove_outliers = false;
  options.up_from = Axis::PosZ;
  options.up_to = Axis::PosY;
  options.scaling = NormalizationKind::Identity;
  const auto c = canonicalize_scan(PointCloud{x}, options);
  const auto centred = x - x.mean(0);
  EXPECT_TRUE(torch::allclose(c.cloud.points.select(1, 1), centred.select(1, 2), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(c.cloud.points.select(1, 2), -centred.select(1, 1), 1e-5, 1e-5));
  // A model normalization is applied last.
  Normalization model;
  model.kind = NormalizationKind::DatasetGlobal;
  model.center = {0.1, -0.2, 0.3};
  model.scale = 0.5;
  options.model_normalization = model;
  const auto m = canonicalize_scan(PointCloud{x}, options);
  EXPECT_TRUE(torch::allclose(m.cloud.points, model.apply(c.cloud.points), 1e-5, 1e-5));
  EXPECT_LT((m.transform.invert(m.cloud.points) - x).abs().max().item<float>(), 1e-5);
}

TEST(Canonicalize, NormalsRotateWithTheCloud) {
  const auto mesh = testing::icosphere(2);
  PointCloud scan{mesh.vertices * 2 + 1, mesh.vertices.clone()};  // unit sphere: normal = position
  CanonicalizeOptions options;
  options.remove_outliers = false;
  options.up_from = Axis::NegX;
  const auto c = canonicalize_scan(scan, options);
  // On a sphere the canonical normal is the canonical position (unit sphere about the centre).
  EXPECT_LT((c.cloud.normals - c.cloud.points).abs().max().item<float>(), 1e-5);
  EXPECT_LT(
      (c.transform.invert_directions(c.cloud.normals) - scan.normals).abs().max().item<float>(),
      1e-5);
}

TEST(Canonicalize, AxisChangesAreProperRotations) {
  const Axis all[] = {Axis::PosX, Axis::NegX, Axis::PosY, Axis::NegY, Axis::PosZ, Axis::NegZ};
  for (Axis from : all) {
    EXPECT_EQ(parse_axis(to_string(from)), from);
    for (Axis to : all) {
      const auto r = axis_change_rotation(from, to);
      const auto m =
          torch::tensor(std::vector<double>(r.begin(), r.end()), torch::kFloat64).reshape({3, 3});
      EXPECT_TRUE(torch::allclose(torch::matmul(m, m.t()), torch::eye(3, torch::kFloat64)));
      EXPECT_NEAR(torch::det(m).item<double>(), 1.0, 1e-12);
      auto a = torch::zeros({3}, torch::kFloat64), b = torch::zeros({3}, torch::kFloat64);
      a[static_cast<int>(from) / 2] = static_cast<int>(from) % 2 ? -1.0 : 1.0;
      b[static_cast<int>(to) / 2] = static_cast<int>(to) % 2 ? -1.0 : 1.0;
      EXPECT_TRUE(torch::allclose(torch::matmul(m, a), b))
          << to_string(from) << " -> " << to_string(to);
    }
  }
  EXPECT_EQ(parse_axis("z"), Axis::PosZ);
}

TEST(Canonicalize, TransformMatrixAndInverseAgree) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  const auto r = testing::random_rotation(gen).contiguous();
  SimilarityTransform tf;
  for (int i = 0; i < 9; ++i) tf.rotation[i] = r.data_ptr<double>()[i];
  tf.scale = 2.5;
  tf.translation = {1, -2, 0.5};
  const auto p = torch::randn({20, 3}, gen, torch::kFloat64);
  const auto homogeneous = torch::cat({p, torch::ones({20, 1}, torch::kFloat64)}, 1);
  const auto via_matrix = torch::matmul(homogeneous, tf.matrix().t()).slice(1, 0, 3);
  EXPECT_TRUE(torch::allclose(via_matrix, tf.apply(p)));
  EXPECT_TRUE(torch::allclose(tf.inverse().apply(tf.apply(p)), p));
  EXPECT_TRUE(torch::allclose(tf.invert(tf.apply(p)), p));
  EXPECT_TRUE(torch::allclose(torch::matmul(tf.matrix(), tf.inverse().matrix()),
                              torch::eye(4, torch::kFloat64)));
}

TEST(Canonicalize, RejectsBadInput) {
  expect_invalid([] { canonicalize_scan(PointCloud{torch::zeros({0, 3})}); }, "no points");
  auto nan = torch::rand({30, 3});
  nan[4][1] = NAN;
  expect_invalid([&] { canonicalize_scan(PointCloud{nan}); }, "points row 4");
  expect_invalid(
      [] {
        canonicalize_scan(PointCloud{torch::rand({30, 2})});
      },
      "points must be [N,3]");
  expect_invalid(
      [] {
        canonicalize_scan(PointCloud{torch::rand({10, 3})});
      },
      "neighbors must be in [1, 9]");
  CanonicalizeOptions options;
  options.scaling = NormalizationKind::DatasetGlobal;
  expect_invalid(
      [&] {
        canonicalize_scan(PointCloud{torch::rand({30, 3})}, options);
      },
      "model_normalization");
  options = {};
  options.outliers.std_ratio = -1;
  expect_invalid(
      [&] {
        canonicalize_scan(PointCloud{torch::rand({30, 3})}, options);
      },
      "std_ratio");
  options = {};
  options.remove_outliers = false;
  expect_invalid([&] { canonicalize_scan(PointCloud{torch::ones({30, 3})}, options); }, "coincide");
  expect_invalid([] { parse_axis("up"); }, "+x, -x");
}

}  // namespace
}  // namespace shapediff::shapes

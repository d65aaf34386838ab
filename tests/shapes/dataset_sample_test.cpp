#include "shapes/dataset_sample.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace shapediff::shapes {
namespace {

// A closed box [-h,h] x [-2h,2h] x [-h,h] (not centred on the origin: shifted by `offset`).
TriangleMesh tall_box(double h, double offset) {
  std::vector<float> v;
  for (int i = 0; i < 8; ++i) {
    v.push_back(static_cast<float>(((i & 1) ? h : -h) + offset));
    v.push_back(static_cast<float>(((i & 2) ? 2 * h : -2 * h) + offset));
    v.push_back(static_cast<float>(((i & 4) ? h : -h) + offset));
  }
  const std::vector<int64_t> f = {0, 2, 1, 1, 2, 3, 4, 5, 6, 5, 7, 6, 0, 1, 4, 1, 5, 4,
                                  2, 6, 3, 3, 6, 7, 0, 4, 2, 2, 4, 6, 1, 3, 5, 3, 7, 5};
  return {torch::tensor(v).reshape({8, 3}), torch::tensor(f).reshape({12, 3})};
}

TEST(DatasetSample, ShapesAndFrame) {
  const auto mesh = tall_box(3.0, 10.0);
  DatasetSampleOptions o;
  o.points = 500;
  o.scans = 2;
  o.scan_points = 300;
  o.scan_width = o.scan_height = 48;
  const auto s = make_dataset_sample(mesh, 7, o);
  EXPECT_EQ(s.surface.points.sizes(), (std::vector<int64_t>{500, 3}));
  EXPECT_EQ(s.surface.normals.sizes(), (std::vector<int64_t>{500, 3}));
  EXPECT_EQ(s.partial.sizes(), (std::vector<int64_t>{2, 300, 3}));
  EXPECT_EQ(s.cam_to_world.sizes(), (std::vector<int64_t>{2, 4, 4}));
  EXPECT_EQ(s.intrinsics.sizes(), (std::vector<int64_t>{2, 6}));
  // Unit-sphere frame: everything inside the unit ball; the recorded normalization maps back.
  EXPECT_LE(s.surface.points.norm(2, 1).max().item<double>(), 1.0 + 1e-5);
  EXPECT_LE(s.partial.norm(2, 2).max().item<double>(), 1.0 + 1e-5);
  const auto back = s.normalization.invert(s.surface.points);
  EXPECT_NEAR(back.select(1, 1).max().item<double>(), 16.0, 1e-3);  // 2h + offset
  // Partial points lie on the surface seen by a camera: on the box's faces.
  const auto pb = s.normalization.invert(s.partial.reshape({-1, 3})) - 10.0;
  const auto on_face = ((pb.select(1, 0).abs() - 3.0).abs() < 1e-3) |
                       ((pb.select(1, 1).abs() - 6.0).abs() < 1e-3) |
                       ((pb.select(1, 2).abs() - 3.0).abs() < 1e-3);
  EXPECT_TRUE(on_face.all().item<bool>());
}

TEST(DatasetSample, DeterministicPerSeed) {
  const auto mesh = tall_box(1.0, 0.0);
  DatasetSampleOptions o;
  o.points = 200;
  o.scan_points = 100;
  o.scan_width = o.scan_height = 32;
  const auto a = make_dataset_sample(mesh, 3, o);
  const auto b = make_dataset_sample(mesh, 3, o);
  const auto c = make_dataset_sample(mesh, 4, o);
  EXPECT_TRUE(torch::equal(a.surface.points, b.surface.points));
  EXPECT_TRUE(torch::equal(a.partial, b.partial));
  EXPECT_FALSE(torch::equal(a.partial, c.partial));
}

TEST(DatasetSample, NoScansAndUnitBox) {
  const auto mesh = tall_box(1.0, 0.5);
  DatasetSampleOptions o;
  o.points = 100;
  o.scans = 0;
  o.normalization = NormalizationKind::UnitBox;
  const auto s = make_dataset_sample(mesh, 1, o);
  EXPECT_FALSE(s.partial.defined());
  EXPECT_NEAR(s.surface.points.select(1, 1).abs().max().item<double>(), 1.0, 1e-5);
}

TEST(DatasetSample, ResamplePoints) {
  const auto pts = torch::arange(30, torch::kFloat32).reshape({10, 3});
  const auto fewer = resample_points(pts, 4, 1);
  EXPECT_EQ(fewer.size(0), 4);
  EXPECT_EQ(std::get<0>(at::_unique(fewer.select(1, 0))).numel(), 4);  // no repeats
  const auto more = resample_points(pts, 25, 1);
  EXPECT_EQ(more.size(0), 25);
  EXPECT_TRUE(torch::equal(more.slice(0, 0, 10), pts));  // every point kept
  EXPECT_THROW(resample_points(torch::zeros({0, 3}), 4, 1), std::invalid_argument);
}

TEST(DatasetSample, BadOptionsAndMeshes) {
  const auto mesh = tall_box(1.0, 0.0);
  DatasetSampleOptions o;
  o.points = 0;
  EXPECT_THROW(make_dataset_sample(mesh, 1, o), std::invalid_argument);
  o = {};
  o.camera_distance = 0.5;
  EXPECT_THROW(make_dataset_sample(mesh, 1, o), std::invalid_argument);
  o = {};
  o.normalization = NormalizationKind::DatasetGlobal;
  EXPECT_THROW(make_dataset_sample(mesh, 1, o), std::invalid_argument);
  auto nan_mesh = mesh;
  nan_mesh.vertices = mesh.vertices.clone();
  nan_mesh.vertices[0][0] = NAN;
  EXPECT_THROW(make_dataset_sample(nan_mesh, 1, {}), std::invalid_argument);
}

}  // namespace
}  // namespace shapediff::shapes

#include "shapes/procedural_sdf.h"

#include <cmath>
#include <stdexcept>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "shapes/marching_cubes.h"
#include "tests/shapes/mesh_test_support.h"

namespace shapediff::shapes::sdf {
namespace {

TEST(ProceduralSdf, PrimitivesMeasureTrueDistances) {
  const auto box = Part::round_box({1, 2, 3});
  EXPECT_NEAR(box.distance({3, 0, 0}), 2.0, 1e-12);
  EXPECT_NEAR(box.distance({0, 0, 0}), -1.0, 1e-12);
  EXPECT_NEAR(box.distance({2, 3, 0}), std::sqrt(2.0), 1e-12);
  const auto rounded = Part::round_box({1, 1, 1}, 0.5);
  EXPECT_NEAR(rounded.distance({2, 0, 0}), 1.0, 1e-12);  // flat faces stay put
  EXPECT_NEAR(rounded.distance({2, 2, 2}), std::sqrt(3.0) * 1.5 - 0.5, 1e-12);

  const auto cyl = Part::cylinder(1, 2);
  EXPECT_NEAR(cyl.distance({3, 0, 0}), 2.0, 1e-12);
  EXPECT_NEAR(cyl.distance({0, 5, 0}), 3.0, 1e-12);
  EXPECT_NEAR(cyl.distance({0, 0, 0}), -1.0, 1e-12);

  const auto cap = Part::capsule({0, 0, 0}, {0, 0, 2}, 0.5);
  EXPECT_NEAR(cap.distance({0, 0, 4}), 1.5, 1e-12);
  EXPECT_NEAR(cap.distance({1, 0, 1}), 0.5, 1e-12);

  const auto cone = Part::cone(1.0, 0.0, 1.0);  // apex up at y = 1
  EXPECT_NEAR(cone.distance({0, 2, 0}), 1.0, 1e-12);
  EXPECT_NEAR(cone.distance({0, -2, 0}), 1.0, 1e-12);
  EXPECT_NEAR(cone.distance({2, -1, 0}), 1.0, 1e-12);
  EXPECT_NEAR(cone.distance({0, 0, 0}), -1.0 / std::sqrt(5.0), 1e-12);

  const auto torus = Part::torus(2, 0.5);
  EXPECT_NEAR(torus.distance({2, 0, 0}), -0.5, 1e-12);
  EXPECT_NEAR(torus.distance({0, 0, 0}), 1.5, 1e-12);
  EXPECT_NEAR(torus.distance({0, 1, -2}), 0.5, 1e-12);

  const auto sphere = Part::ellipsoid({1, 1, 1});
  EXPECT_NEAR(sphere.distance({0, 3, 0}), 2.0, 1e-12);

  // A rectangle revolved is a cylinder; an extruded square is a box.
  const auto rev = Part::revolve({{0, -2}, {1, -2}, {1, 2}, {0, 2}});
  for (const Vec3& p : {Vec3{3, 0, 0}, Vec3{0, 5, 0}, Vec3{0.3, 0.1, -0.2}, Vec3{2, 3, 1}}) {
    EXPECT_NEAR(rev.distance(p), cyl.distance(p), 1e-12);
  }
  const auto ext = Part::extrude({{-1, -2}, {1, -2}, {1, 2}, {-1, 2}}, 3);
  for (const Vec3& p : {Vec3{3, 0, 0}, Vec3{2, 3, 0}, Vec3{0.2, -0.4, 1}, Vec3{2, 3, 5}}) {
    EXPECT_NEAR(ext.distance(p), box.distance(p), 1e-12);
  }
}

TEST(ProceduralSdf, FramesPlaceParts) {
  const Frame f = Frame{}.translated({1, 0, 0}).rotated({0, 0, 1}, M_PI / 2);
  const auto p = f.to_world({1, 0, 0});
  EXPECT_NEAR(p.x, 1.0, 1e-12);
  EXPECT_NEAR(p.y, 1.0, 1e-12);
  const auto back = f.to_local(p);
  EXPECT_NEAR(back.x, 1.0, 1e-12);
  EXPECT_NEAR(back.y, 0.0, 1e-12);

  const auto along = frame_along({0, 0, 0}, {1, 1, 0});
  EXPECT_NEAR(dot(along.axes[1], normalized({1, 1, 0})), 1.0, 1e-12);
  EXPECT_NEAR(dot(cross(along.axes[0], along.axes[1]), along.axes[2]), 1.0, 1e-12);

  // A cylinder laid along x by its frame.
  const auto lying = Part::cylinder(0.5, 2).placed(frame_along({0, 1, 0}, {1, 0, 0}));
  EXPECT_NEAR(lying.distance({3, 1, 0}), 1.0, 1e-12);
  EXPECT_NEAR(lying.distance({0, 2, 0}), 0.5, 1e-12);
  const auto b = lying.bounds();
  EXPECT_NEAR(b.lo.x, -2.0, 1e-12);
  EXPECT_NEAR(b.hi.y, 1.5, 1e-12);
}

TEST(ProceduralSdf, SmoothUnionAndCarving) {
  Model m;
  m.add(Part::ellipsoid({1, 1, 1}).at({-0.9, 0, 0}));
  m.add(Part::ellipsoid({1, 1, 1}).at({0.9, 0, 0}));
  const double sharp = m.distance({0, 0.8, 0});
  Model smooth;
  smooth.add(Part::ellipsoid({1, 1, 1}).at({-0.9, 0, 0}));
  smooth.add(Part::ellipsoid({1, 1, 1}).at({0.9, 0, 0}), 0.4);
  EXPECT_LT(smooth.distance({0, 0.8, 0}), sharp) << "the blend fills the crease";
  EXPECT_NEAR(smooth.distance({3, 0, 0}), m.distance({3, 0, 0}), 1e-12) << "far away: unchanged";

  Model carved;
  carved.add(Part::round_box({1, 1, 1}));
  carved.subtract(Part::cylinder(0.5, 2));
  EXPECT_GT(carved.distance({0, 0, 0}), 0.0);
  EXPECT_LT(carved.distance({0.8, 0, 0}), 0.0);
  EXPECT_EQ(carved.bounds().hi.y, 1.0) << "carved parts do not grow the bounds";
}

TEST(ProceduralSdf, CulledSamplingMatchesFullEvaluationNearTheSurface) {
  Model m;
  m.add(Part::round_box({0.4, 0.05, 0.3}, 0.01).at({0, 0.5, 0}));
  m.add(Part::capsule({0.3, 0, 0.2}, {0.3, 0.5, 0.2}, 0.03), 0.02);
  m.add(Part::torus(0.2, 0.04).at({-0.2, 0.8, 0}), 0.02);
  m.subtract(Part::cylinder(0.1, 0.2).at({0, 0.5, 0}), 0.01);
  const VoxelGrid g = m.sample(40);
  EXPECT_EQ(g.kind, VoxelKind::SignedDistance);
  const auto dims = g.resolution();
  EXPECT_EQ(*std::max_element(dims.begin(), dims.end()), 40);
  const auto values = g.values.contiguous();
  const float* v = values.data_ptr<float>();
  int64_t near = 0;
  for (int64_t i = 0; i < dims[0]; ++i) {
    for (int64_t j = 0; j < dims[1]; ++j) {
      for (int64_t k = 0; k < dims[2]; ++k) {
        const Vec3 p{g.origin[0] + g.voxel_size * i, g.origin[1] + g.voxel_size * j,
                     g.origin[2] + g.voxel_size * k};
        const double full = m.distance(p);
        const double got = v[(i * dims[1] + j) * dims[2] + k];
        const bool border =
            i == 0 || j == 0 || k == 0 || i == dims[0] - 1 || j == dims[1] - 1 || k == dims[2] - 1;
        if (border) EXPECT_GT(got, 0.0);
        if (std::abs(full) < 2 * g.voxel_size) {
          ++near;
          ASSERT_NEAR(got, full, 1e-6) << i << " " << j << " " << k;
        } else {
          ASSERT_EQ(got > 0, full > 0) << i << " " << j << " " << k;
        }
      }
    }
  }
  EXPECT_GT(near, 1000);
  const auto t = testing::topology(marching_cubes(g));
  EXPECT_TRUE(t.watertight());
}

TEST(ProceduralSdf, RejectsDegenerateParts) {
  EXPECT_THROW(Part::round_box({0, 1, 1}), std::invalid_argument);
  EXPECT_THROW(Part::cylinder(-1, 1), std::invalid_argument);
  EXPECT_THROW(Part::capsule({1, 1, 1}, {1, 1, 1}, 0.1), std::invalid_argument);
  EXPECT_THROW(Part::revolve({{0, 0}, {1, 0}}), std::invalid_argument);
  EXPECT_THROW(Part::revolve({{0, 0}, {-1, 0}, {0, 1}}), std::invalid_argument);
  EXPECT_THROW(Part::extrude({{0, 0}, {1, 0}, {1, 0}, {0, 1}}, 1), std::invalid_argument);
  EXPECT_THROW(Model{}.sample(32), std::invalid_argument);
  Model m;
  m.add(Part::ellipsoid({1, 1, 1}));
  EXPECT_THROW(m.sample(4), std::invalid_argument);
}

}  // namespace
}  // namespace shapediff::shapes::sdf

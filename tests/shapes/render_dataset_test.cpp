// The embedded depth renders: value ranges, framing, order, determinism.
#include "shapes/render_dataset.h"

#include <gtest/gtest.h>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "tests/shapes/geometry_fixtures.h"

namespace shapediff::shapes {
namespace {

RenderDatasetOptions small_options() {
  RenderDatasetOptions o;
  o.families = {ShapeFamily::Mug, ShapeFamily::Chair};
  o.per_family = 2;
  o.views = 2;
  o.size = 16;
  o.resolution = 24;
  return o;
}

TEST(RenderDataset, CubeFaceOnIsFlatAndFitted) {
  const auto cube = testing::box_mesh({-0.5, -0.5, -0.5}, {0.5, 0.5, 0.5});
  RenderDatasetOptions o;
  o.size = 20;
  o.fill = 0.8;
  o.supersample = 1;
  const auto img = render_depth_image(cube, 0.0, 0.0, o);
  ASSERT_EQ(img.sizes(), (std::vector<int64_t>{1, 20, 20}));
  // The square spans 80% of the image (16 pixels, centred); its face is the nearest surface.
  auto expected = torch::full({1, 20, 20}, -1.0f);
  expected.slice(1, 2, 18).slice(2, 2, 18).fill_(1.0f);
  EXPECT_TRUE(torch::allclose(img, expected));
}

TEST(RenderDataset, DepthUsesTheImageScale) {
  // A cube seen from 45 degrees azimuth: its vertical front edge is nearest (1) and the side
  // faces recede; a depth of one image width would span [floor, 1].
  const auto cube = testing::box_mesh({-0.5, -0.5, -0.5}, {0.5, 0.5, 0.5});
  RenderDatasetOptions o;
  o.size = 32;
  o.fill = 1.0;
  o.floor = -0.5;
  o.supersample = 1;
  const auto img = render_depth_image(cube, 45.0, 0.0, o)[0];
  const auto surface = img.masked_select(img > -1);
  // The cube spans the image width exactly (its height, 1 / sqrt(2) of it, is centred).
  EXPECT_TRUE((img[16] > -1).all().item<bool>());
  EXPECT_EQ((img.select(1, 16) > -1).sum().item<int64_t>(), 22);
  EXPECT_NEAR(surface.max().item<double>(), 1.0, 0.02);
  // Image width sqrt(2); the farthest visible points (the side edges) lie sqrt(2)/2 deeper.
  EXPECT_NEAR(surface.min().item<double>(), 1.0 - 1.5 * 0.5, 0.05);
  // Symmetric about the middle column.
  EXPECT_TRUE(torch::allclose(img, img.flip({1}), 1e-5, 0.05));
}

TEST(RenderDataset, SupersamplingKeepsThinPartsAndTheGap) {
  // A pole 0.02 wide beside a unit cube: at 16 pixels over ~1.5 units (0.094 per pixel) single
  // samples miss it in most columns; 4x4 sub-samples catch it.
  TriangleMesh scene = testing::box_mesh({-0.5, -0.5, -0.5}, {0.5, 0.5, 0.5});
  const auto pole = testing::box_mesh({0.85, -0.5, -0.01}, {0.87, 0.5, 0.01});
  scene.faces = torch::cat({scene.faces, pole.faces + scene.num_vertices()});
  scene.vertices = torch::cat({scene.vertices, pole.vertices});
  RenderDatasetOptions o;
  o.size = 16;
  o.supersample = 1;
  const auto coarse = render_depth_image(scene, 0.0, 0.0, o);
  o.supersample = 4;
  const auto fine = render_depth_image(scene, 0.0, 0.0, o);
  const auto pole_columns = [](const torch::Tensor& img) {
    return (img[0].slice(1, 13, 16) > -1).any(0).sum().item<int64_t>();
  };
  EXPECT_EQ(pole_columns(coarse), 0);
  EXPECT_EQ(pole_columns(fine), 1);
  const auto surface = fine.masked_select(fine > -1);
  EXPECT_GE(surface.min().item<double>(), o.floor - 1e-6);
}

TEST(RenderDataset, RangeOrderAndNames) {
  const auto o = small_options();
  const auto r = render_dataset(o);
  ASSERT_EQ(r.images.sizes(), (std::vector<int64_t>{8, 1, 16, 16}));
  EXPECT_TRUE(torch::equal(r.labels, torch::tensor({0, 0, 0, 0, 1, 1, 1, 1}, torch::kLong)));
  ASSERT_EQ(r.names.size(), 8u);
  EXPECT_EQ(r.names[0], "mug/mug-0000-v00");
  EXPECT_EQ(r.names[3], "mug/mug-0001-v01");
  EXPECT_EQ(r.names[4], "chair/chair-0000-v00");
  // Background -1, surface in [floor, 1], nothing in the gap, every image shows a shape
  // touching 1 and its views differ.
  const auto surface = r.images.masked_select(r.images > -1);
  EXPECT_GE(surface.min().item<double>(), o.floor - 1e-6);
  EXPECT_LE(r.images.max().item<double>(), 1.0);
  for (int64_t i = 0; i < 8; ++i) {
    EXPECT_NEAR(r.images[i].max().item<double>(), 1.0, 1e-6);
    EXPECT_TRUE((r.images[i] == -1).any().item<bool>());
  }
  EXPECT_FALSE(torch::equal(r.images[0], r.images[1]));
  // The view of shape 0 does not depend on how many shapes are rendered.
  auto fewer = o;
  fewer.per_family = 1;
  EXPECT_TRUE(torch::equal(render_dataset(fewer).images[1], r.images[1]));
}

TEST(RenderDataset, SameImagesOnAnyThreadCount) {
  const auto o = small_options();
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto one = render_dataset(o);
  at::set_num_threads(2);
  const auto two = render_dataset(o);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one.images, two.images));
}

TEST(RenderDataset, BadOptions) {
  auto o = small_options();
  o.size = 4;
  EXPECT_THROW(render_dataset(o), std::invalid_argument);
  o = small_options();
  o.families.clear();
  EXPECT_THROW(render_dataset(o), std::invalid_argument);
  o = small_options();
  o.views = 0;
  EXPECT_THROW(render_dataset(o), std::invalid_argument);
  o = small_options();
  o.floor = -1.0;
  EXPECT_THROW(render_dataset(o), std::invalid_argument);
  o = small_options();
  o.min_elevation = 50;
  o.max_elevation = 10;
  EXPECT_THROW(render_dataset(o), std::invalid_argument);
  TriangleMesh empty{torch::zeros({0, 3}), torch::zeros({0, 3}, torch::kLong)};
  EXPECT_THROW(render_depth_image(empty, 0, 0, small_options()), std::invalid_argument);
}

}  // namespace
}  // namespace shapediff::shapes

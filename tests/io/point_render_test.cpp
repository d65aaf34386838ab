#include "io/point_render.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <stdexcept>

namespace shapediff::io {
namespace {

TEST(PointRender, DrawsEachCloudInItsColourNearTheCentre) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(1);
  const auto a = torch::rand({300, 3}, g) * 0.5 - 0.25;
  RenderOptions o;
  o.width = 64;
  o.height = 48;
  o.extent = 1.0;
  const auto img = render_points({{a, {1.0, 0.0, 0.0}}}, o);
  ASSERT_EQ(img.sizes(), (std::vector<int64_t>{48, 64, 3}));
  ASSERT_EQ(img.scalar_type(), torch::kUInt8);
  const auto drawn = (img.to(torch::kInt32).sum(2) < 3 * 255);
  EXPECT_GT(drawn.sum().item<int64_t>(), 50);
  // Red discs: no green or blue in drawn pixels; white elsewhere; nothing near the borders
  // (the cloud spans a quarter of the view around the centre).
  EXPECT_EQ(img.select(2, 1).masked_select(drawn).max().item<uint8_t>(), 0);
  EXPECT_EQ(drawn.slice(1, 0, 8).sum().item<int64_t>(), 0);
  EXPECT_EQ(drawn.slice(0, 0, 6).sum().item<int64_t>(), 0);
  // A second, blue cloud off to the side adds blue pixels and leaves the first cloud's.
  const auto b = a + torch::tensor({0.6f, 0.0f, 0.0f});
  const auto two = render_points({{a, {1.0, 0.0, 0.0}}, {b, {0.0, 0.0, 1.0}}}, o);
  EXPECT_GT((two.select(2, 2).to(torch::kInt32) > two.select(2, 0).to(torch::kInt32) + 50).sum().item<int64_t>(), 50);
  // Fitted view (extent 0) of a far cloud still lands in the picture.
  o.extent = 0;
  const auto far = render_points({{a + 1000.0, {0.0, 0.0, 0.0}}}, o);
  EXPECT_GT((far.to(torch::kInt32).sum(2) < 3 * 255).sum().item<int64_t>(), 50);
}

TEST(PointRender, StacksAndRefusesBadInput) {
  const auto a = torch::full({10, 20, 3}, 7, torch::kUInt8), b = torch::zeros({10, 5, 3}, torch::kUInt8);
  const auto s = hstack_images({a, b}, 4);
  ASSERT_EQ(s.sizes(), (std::vector<int64_t>{10, 29, 3}));
  EXPECT_EQ(s[0][21][0].item<uint8_t>(), 255);  // the gap is white
  EXPECT_EQ(s[0][25][0].item<uint8_t>(), 0);
  EXPECT_THROW(hstack_images({a, torch::zeros({9, 5, 3}, torch::kUInt8)}), std::invalid_argument);
  EXPECT_THROW(render_points({{torch::zeros({4, 2}), {0, 0, 0}}}), std::invalid_argument);
  RenderOptions tiny;
  tiny.width = 4;
  EXPECT_THROW(render_points({}, tiny), std::invalid_argument);
}

}  // namespace
}  // namespace shapediff::io

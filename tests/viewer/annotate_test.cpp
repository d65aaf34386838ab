#include "viewer/annotate.h"
#include "viewer/colouring.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace shapediff::viewer {
namespace {

TEST(ColourRamp, InterpolatesTheStopsAndClamps) {
  auto c = colour_ramp(torch::tensor({-1.0f, 0.0f, 0.125f, 1.0f, 2.0f}));
  EXPECT_TRUE(torch::allclose(c[0], c[1]));
  EXPECT_TRUE(torch::allclose(c[3], c[4]));
  // 0.125 is halfway between the first two stops.
  EXPECT_TRUE(torch::allclose(c[2], (colour_ramp(torch::tensor({0.0f}))[0] + colour_ramp(torch::tensor({0.25f}))[0]) / 2, 1e-5, 1e-6));
  EXPECT_TRUE(((c >= 0) & (c <= 1)).all().item<bool>());
}

TEST(PointColours, DisplacementIsBrightestInPlaceAndDarkensWithDistance) {
  auto final_points = torch::rand({100, 3}, at::make_generator<at::CPUGeneratorImpl>(1));
  const double scale = colour_scale(final_points);
  // Brute-force reference: scale is half the bounding-box diagonal.
  auto ext = std::get<0>(final_points.max(0)) - std::get<0>(final_points.min(0));
  EXPECT_NEAR(scale, ext.norm().item<double>() / 2, 1e-6);
  auto shift = torch::zeros({100, 3});
  shift.select(1, 0).copy_(torch::linspace(0, 2 * scale, 100));
  auto c = point_colours(ColourMode::kDisplacement, final_points + shift, final_points, {}, scale);
  auto brightness = c.sum(1);
  EXPECT_TRUE(torch::allclose(c[0], colour_ramp(torch::tensor({1.0f}))[0]));
  EXPECT_GT(brightness[0].item<float>(), brightness[40].item<float>());
  EXPECT_TRUE(torch::allclose(c[99], colour_ramp(torch::tensor({0.0f}))[0]));
}

TEST(PointColours, KnownSeparatesInputFromGenerated) {
  auto pts = torch::rand({10, 3});
  auto known = torch::zeros({10}, torch::kBool);
  known.slice(0, 0, 3).fill_(true);
  auto c = point_colours(ColourMode::kKnown, pts, pts, known, 1.0);
  EXPECT_TRUE(torch::equal(c[0], c[2]));
  EXPECT_TRUE(torch::equal(c[3], c[9]));
  EXPECT_FALSE(torch::equal(c[0], c[3]));
  auto none = point_colours(ColourMode::kKnown, pts, pts, {}, 1.0);
  EXPECT_TRUE(torch::equal(none, c[3].expand({10, 3})));
  auto h = point_colours(ColourMode::kHeight, pts, pts, {}, 1.0);
  const auto lowest = pts.select(1, 1).argmin().item<int64_t>();
  EXPECT_TRUE(torch::allclose(h[lowest], colour_ramp(torch::tensor({0.0f}))[0]));
}

TEST(PointColours, ParsesModeNames) {
  for (auto m : {ColourMode::kDisplacement, ColourMode::kKnown, ColourMode::kHeight}) {
    EXPECT_EQ(parse_colour_mode(to_string(m)), m);
  }
  EXPECT_EQ(next_colour_mode(next_colour_mode(next_colour_mode(ColourMode::kKnown))), ColourMode::kKnown);
  try {
    parse_colour_mode("rainbow");
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("rainbow"), std::string::npos);
  }
}

TEST(DrawText, InksExactlyTheGlyphBoxes) {
  auto img = torch::full({40, 120, 3}, 255, torch::kUInt8);
  draw_text(img, 5, 6, "t=80", 2, {10, 20, 30});
  auto ink = (img.select(2, 0) != 255).nonzero();
  ASSERT_GT(ink.size(0), 20);
  const auto [w, h] = text_size("t=80", 2);
  EXPECT_EQ(w, (4 * 6 - 1) * 2);
  EXPECT_EQ(h, 14);
  // All ink lies inside the text box, and touches its left/top/bottom edges.
  EXPECT_GE(ink.select(1, 1).min().item<int64_t>(), 5);
  EXPECT_LT(ink.select(1, 1).max().item<int64_t>(), 5 + w);
  EXPECT_GE(ink.select(1, 0).min().item<int64_t>(), 6);
  EXPECT_EQ(ink.select(1, 0).max().item<int64_t>(), 6 + h - 1);
  EXPECT_EQ(img[ink[0][0].item<int64_t>()][ink[0][1].item<int64_t>()][2].item<int>(), 30);
  // Different digits give different ink; upper case draws as lower case.
  auto a = torch::full({20, 20, 3}, 255, torch::kUInt8), b = a.clone(), c = a.clone(), d = a.clone();
  draw_text(a, 0, 0, "1", 1);
  draw_text(b, 0, 0, "7", 1);
  draw_text(c, 0, 0, "X", 1);
  draw_text(d, 0, 0, "x", 1);
  EXPECT_FALSE(torch::equal(a, b));
  EXPECT_TRUE(torch::equal(c, d));
  // Clipped at the borders, no crash.
  draw_text(img, 110, 35, "clipped", 3);
  EXPECT_THROW(draw_text(a, 0, 0, "1", 0), std::invalid_argument);
  auto f = torch::zeros({4, 4, 3});
  EXPECT_THROW(draw_text(f, 0, 0, "1"), std::invalid_argument);
}

TEST(TileImages, PlacesImagesRowMajorWithMargins) {
  std::vector<torch::Tensor> imgs;
  for (int i = 0; i < 5; ++i) imgs.push_back(torch::full({3, 4, 3}, i * 10, torch::kUInt8));
  auto sheet = tile_images(imgs, 2, 1, 200);
  EXPECT_EQ(sheet.size(0), 3 * 3 + 4);  // 3 rows
  EXPECT_EQ(sheet.size(1), 2 * 4 + 3);
  for (int i = 0; i < 5; ++i) {
    const int64_t r = i / 2, c = i % 2;
    auto tile = sheet.slice(0, 1 + r * 4, 1 + r * 4 + 3).slice(1, 1 + c * 5, 1 + c * 5 + 4);
    EXPECT_TRUE(torch::equal(tile, imgs[i])) << i;
  }
  EXPECT_EQ(sheet[0][0][0].item<int>(), 200);
  EXPECT_EQ(sheet[9][7][0].item<int>(), 200);  // the empty sixth cell
  EXPECT_THROW(tile_images({}, 2), std::invalid_argument);
  EXPECT_THROW(tile_images({imgs[0], torch::zeros({2, 2, 3}, torch::kUInt8)}, 2), std::invalid_argument);
}

}  // namespace
}  // namespace shapediff::viewer

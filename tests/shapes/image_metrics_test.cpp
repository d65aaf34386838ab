// Image metrics (shapes/image_metrics.h) against plain loops over the definitions.
#include "shapes/image_metrics.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <vector>

namespace shapediff::shapes {
namespace {

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no std::invalid_argument)";
}

// Pixel L2 on the [0, 1] scale, one pair at a time.
double l2(const torch::Tensor& a, const torch::Tensor& b) {
  const auto x = a.to(torch::kFloat64).flatten(), y = b.to(torch::kFloat64).flatten();
  double sum = 0;
  for (int64_t i = 0; i < x.size(0); ++i) {
    const double d = (x[i].item<double>() - y[i].item<double>()) / 2;
    sum += d * d;
  }
  return std::sqrt(sum);
}

TEST(ImageMetrics, PixelDistancesMmdCovAndOneNnaMatchTheirDefinitions) {
  for (int seed = 0; seed < 3; ++seed) {
    torch::manual_seed(seed);
    const int64_t g = 4 + seed, r = 5;
    const auto gen = torch::rand({g, 2, 5, 4}) * 2 - 1, ref = torch::rand({r, 2, 5, 4}) * 2 - 1;
    const auto d = pixel_l2_distances(gen, ref);
    ASSERT_EQ(d.sizes(), torch::IntArrayRef({g, r}));
    for (int64_t i = 0; i < g; ++i) {
      for (int64_t j = 0; j < r; ++j) EXPECT_NEAR(d[i][j].item<double>(), l2(gen[i], ref[j]), 1e-6);
    }
    // The definitions, written out: MMD = mean over reference of the closest generated; COV =
    // share of reference images that are some generated image's closest; 1-NNA = leave-one-out
    // nearest-neighbour accuracy over both sets.
    double mmd = 0;
    for (int64_t j = 0; j < r; ++j) {
      double best = std::numeric_limits<double>::infinity();
      for (int64_t i = 0; i < g; ++i) best = std::min(best, l2(gen[i], ref[j]));
      mmd += best / static_cast<double>(r);
    }
    std::set<int64_t> covered;
    for (int64_t i = 0; i < g; ++i) {
      int64_t best = 0;
      for (int64_t j = 1; j < r; ++j) {
        if (l2(gen[i], ref[j]) < l2(gen[i], ref[best])) best = j;
      }
      covered.insert(best);
    }
    const auto all = torch::cat({ref, gen});
    int64_t correct = 0;
    for (int64_t s = 0; s < g + r; ++s) {
      int64_t nearest = -1;
      for (int64_t t = 0; t < g + r; ++t) {
        if (t != s && (nearest < 0 || l2(all[s], all[t]) < l2(all[s], all[nearest]))) nearest = t;
      }
      correct += (nearest < r) == (s < r);
    }
    const auto scores = image_set_scores(gen, ref);
    EXPECT_EQ(scores.generated, g);
    EXPECT_EQ(scores.reference, r);
    EXPECT_NEAR(scores.mmd, mmd, 1e-6);
    EXPECT_DOUBLE_EQ(scores.coverage, static_cast<double>(covered.size()) / static_cast<double>(r));
    EXPECT_DOUBLE_EQ(scores.nna, static_cast<double>(correct) / static_cast<double>(g + r));
  }
  // Copies of the reference: MMD 0, full coverage.
  torch::manual_seed(9);
  const auto ref = torch::rand({6, 1, 4, 4}) * 2 - 1;
  const auto same = image_set_scores(ref.clone(), ref);
  EXPECT_NEAR(same.mmd, 0.0, 1e-9);
  EXPECT_DOUBLE_EQ(same.coverage, 1.0);
}

TEST(ImageMetrics, PsnrAndSsimMatchTheirDefinitions) {
  torch::manual_seed(4);
  const auto a = torch::rand({2, 2, 13, 14}, torch::kFloat64) * 2 - 1;
  const auto b = (a + 0.3 * torch::randn_like(a)).clamp(-1, 1);
  // PSNR per image on the [0, 1] scale, averaged.
  double expected = 0;
  for (int64_t n = 0; n < 2; ++n) {
    double se = 0;
    const auto x = a[n].flatten(), y = b[n].flatten();
    for (int64_t i = 0; i < x.size(0); ++i) {
      const double d = (x[i].item<double>() - y[i].item<double>()) / 2;
      se += d * d;
    }
    expected += 10 * std::log10(1.0 / (se / static_cast<double>(x.size(0)))) / 2;
  }
  EXPECT_NEAR(psnr(a, b), expected, 1e-9);
  EXPECT_TRUE(std::isinf(psnr(a[0], a[0])));

  // SSIM: every 11x11 window position inside the image, Gaussian weights (sigma 1.5).
  double w[11][11], total = 0;
  for (int u = 0; u < 11; ++u) {
    for (int v = 0; v < 11; ++v) {
      w[u][v] = std::exp(-((u - 5) * (u - 5) + (v - 5) * (v - 5)) / (2 * 1.5 * 1.5));
      total += w[u][v];
    }
  }
  const double c1 = 1e-4, c2 = 9e-4;
  const auto x = ((a + 1) / 2).contiguous(), y = ((b + 1) / 2).contiguous();
  const auto ax = x.accessor<double, 4>(), ay = y.accessor<double, 4>();
  double sum = 0;
  int64_t count = 0;
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t c = 0; c < 2; ++c) {
      for (int64_t i = 0; i + 11 <= 13; ++i) {
        for (int64_t j = 0; j + 11 <= 14; ++j) {
          double mx = 0, my = 0, xx = 0, yy = 0, xy = 0;
          for (int u = 0; u < 11; ++u) {
            for (int v = 0; v < 11; ++v) {
              const double k = w[u][v] / total, p = ax[n][c][i + u][j + v], q = ay[n][c][i + u][j + v];
              mx += k * p, my += k * q, xx += k * p * p, yy += k * q * q, xy += k * p * q;
            }
          }
          const double vx = xx - mx * mx, vy = yy - my * my, cxy = xy - mx * my;
          sum += ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
          ++count;
        }
      }
    }
  }
  EXPECT_EQ(count, 2 * 2 * 3 * 4);
  EXPECT_NEAR(ssim(a, b), sum / static_cast<double>(count), 1e-9);
  EXPECT_NEAR(ssim(a, a), 1.0, 1e-12);
  EXPECT_LT(ssim(a, b), 0.99);
}

TEST(ImageMetrics, BadInputIsRefusedWithOneLine) {
  const auto a = torch::zeros({2, 1, 16, 16});
  EXPECT_NE(message_of([&] { pixel_l2_distances(a, torch::zeros({2, 1, 8, 8})); }).find("differ in size"),
            std::string::npos);
  EXPECT_NE(message_of([&] { pixel_l2_distances(a, torch::zeros({2, 3, 16, 16})); }).find("differ in size"),
            std::string::npos);
  EXPECT_NE(message_of([&] { image_set_scores(a, torch::zeros({0, 1, 16, 16})); }).find("need at least one"),
            std::string::npos);
  EXPECT_NE(message_of([&] { pixel_l2_distances(a[0], a); }).find("[N,C,H,W]"), std::string::npos);
  EXPECT_NE(message_of([&] { psnr(a, a[0]); }).find("differ in shape"), std::string::npos);
  EXPECT_NE(message_of([&] { ssim(torch::zeros({1, 8, 8}), torch::zeros({1, 8, 8})); }).find("at least 11x11"),
            std::string::npos);
  auto nan = a.clone();
  nan[0][0][3][3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NE(message_of([&] { psnr(nan, a); }).find("NaN"), std::string::npos);
}

}  // namespace
}  // namespace shapediff::shapes

#include "shapes/normalization.h"

#include <cmath>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "tests/shapes/geometry_fixtures.h"

namespace shapediff::shapes {
namespace {

using testing::expect_invalid;

torch::Tensor skewed_cloud(int64_t n, int64_t seed) {
  torch::manual_seed(seed);
  return torch::rand({n, 3}) * torch::tensor({3.f, 1.f, 0.5f}) + torch::tensor({10.f, -4.f, 2.f});
}

TEST(Normalization, UnitSphereFitsTheBallAndInverts) {
  const auto p = skewed_cloud(1000, 0);
  for (auto center : {SphereCenter::BoundingBox, SphereCenter::Mean}) {
    const auto norm = Normalization::unit_sphere(p, center);
    EXPECT_EQ(norm.kind, NormalizationKind::UnitSphere);
    const auto q = norm.apply(p);
    EXPECT_NEAR(q.norm(2, 1).max().item<float>(), 1.0, 1e-6);
    EXPECT_LT((norm.invert(q) - p).abs().max().item<float>(), 1e-5);
  }
  const auto bbox = Normalization::unit_sphere(p, SphereCenter::BoundingBox).apply(p);
  EXPECT_LT((std::get<0>(bbox.min(0)) + std::get<0>(bbox.max(0))).abs().max().item<float>(), 1e-5);
  const auto mean = Normalization::unit_sphere(p, SphereCenter::Mean).apply(p);
  EXPECT_LT(mean.mean(0).abs().max().item<float>(), 1e-5);
}

TEST(Normalization, UnitBoxTouchesOneAxis) {
  const auto p = skewed_cloud(1000, 1);
  const auto norm = Normalization::unit_box(p);
  const auto q = norm.apply(p);
  const auto lo = std::get<0>(q.min(0));
  const auto hi = std::get<0>(q.max(0));
  EXPECT_GE(lo.min().item<float>(), -1 - 1e-6);
  EXPECT_LE(hi.max().item<float>(), 1 + 1e-6);
  // x has the largest extent: it spans [-1, 1]; the others are centred and shorter.
  EXPECT_NEAR(lo[0].item<float>(), -1, 1e-6);
  EXPECT_NEAR(hi[0].item<float>(), 1, 1e-6);
  EXPECT_LT(hi[1].item<float>(), 0.9);
  EXPECT_NEAR((lo[2] + hi[2]).item<float>(), 0, 1e-6);
  EXPECT_LT((norm.invert(q) - p).abs().max().item<float>(), 1e-5);
}

TEST(Normalization, DatasetGlobalMatchesPooledStatistics) {
  // PointFlow: mean over all points per axis, std over all coordinates pooled (ddof 0).
  std::vector<torch::Tensor> shapes;
  for (int i = 0; i < 5; ++i)
    shapes.push_back(skewed_cloud(200 + 37 * i, 10 + i).to(torch::kFloat64) * (1 + 0.1 * i));
  DatasetStatistics stats;
  stats.add(shapes[0]);
  stats.add(torch::stack({shapes[1].slice(0, 0, 200), shapes[2].slice(0, 0, 200)}));  // [B,N,3]
  stats.add(shapes[1].slice(0, 200));
  stats.add(shapes[2].slice(0, 200));
  stats.add(shapes[3]);
  stats.add(shapes[4]);
  const auto all = torch::cat(shapes);
  EXPECT_EQ(stats.num_points(), all.size(0));
  const auto norm = stats.normalization();
  EXPECT_EQ(norm.kind, NormalizationKind::DatasetGlobal);
  const auto mean = all.mean(0);
  for (int d = 0; d < 3; ++d) EXPECT_NEAR(norm.center[d], mean[d].item<double>(), 1e-10);
  EXPECT_NEAR(norm.scale, all.reshape(-1).std(/*unbiased=*/false).item<double>(), 1e-10);
  const auto q = norm.apply(all);
  EXPECT_LT((norm.invert(q) - all).abs().max().item<double>(), 1e-10);
}

TEST(Normalization, KeepsDtypeAndBatchShape) {
  const auto p = skewed_cloud(64, 2);
  const auto norm = Normalization::unit_box(p);
  const auto batch = torch::stack({p, p * 2}).to(torch::kFloat64);  // [2,64,3]
  const auto q = norm.apply(batch);
  EXPECT_EQ(q.scalar_type(), torch::kFloat64);
  EXPECT_EQ(q.sizes(), batch.sizes());
  EXPECT_TRUE(torch::allclose(q[0].to(torch::kFloat32), norm.apply(p), 1e-5, 1e-5));
}

TEST(Normalization, JsonRoundTrip) {
  const auto norm = Normalization::unit_sphere(skewed_cloud(50, 3));
  const auto json = norm.to_json();
  EXPECT_EQ(json.at("kind"), "unit_sphere");
  const auto back = Normalization::from_json(nlohmann::json::parse(json.dump()));
  EXPECT_EQ(back.kind, norm.kind);
  EXPECT_EQ(back.center, norm.center);
  EXPECT_EQ(back.scale, norm.scale);
  for (auto kind : {NormalizationKind::Identity, NormalizationKind::UnitSphere,
                    NormalizationKind::UnitBox, NormalizationKind::DatasetGlobal}) {
    EXPECT_EQ(parse_normalization_kind(to_string(kind)), kind);
  }
}

TEST(Normalization, RejectsBadInput) {
  expect_invalid([] { Normalization::unit_sphere(torch::zeros({0, 3})); }, "empty");
  expect_invalid([] { Normalization::unit_box(torch::ones({5, 3})); }, "coincide");
  auto nan = torch::zeros({4, 3});
  nan[3][0] = NAN;
  expect_invalid([&] { Normalization::unit_sphere(nan); }, "points row 3");
  expect_invalid([] { Normalization::unit_box(torch::zeros({4, 2})); }, "points must be [N,3]");
  expect_invalid([] { Normalization{}.apply(torch::zeros({4, 2})); }, "[..., 3]");
  expect_invalid([] { DatasetStatistics{}.normalization(); }, "no points");
  expect_invalid([] { DatasetStatistics{}.add(torch::zeros({2, 2, 2, 3})); }, "[B,N,3]");
  expect_invalid([] { parse_normalization_kind("sphere"); }, "unit_sphere, unit_box");
  const auto parse = [](const char* text) {
    return Normalization::from_json(nlohmann::json::parse(text), "norm.json");
  };
  expect_invalid([&] { parse(R"({"kind": "unit_box", "center": [0, 0, 0]})"); },
                 "norm.json: field 'scale' is missing");
  expect_invalid([&] { parse(R"({"kind": "cube", "center": [0, 0, 0], "scale": 1})"); },
                 "field 'kind'");
  expect_invalid([&] { parse(R"({"kind": "unit_box", "center": [0, 0], "scale": 1})"); },
                 "field 'center'");
  expect_invalid([&] { parse(R"({"kind": "unit_box", "center": [0, 0, 0], "scale": -1})"); },
                 "scale must be");
  expect_invalid([&] { parse(R"([1, 2])"); }, "JSON object");
}

}  // namespace
}  // namespace shapediff::shapes

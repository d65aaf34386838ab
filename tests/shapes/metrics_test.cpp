// Set metrics (MMD, COV, 1-NNA, JSD), normalization protocols and evaluate_sets, on small
// matrices and sets whose answers are known by hand, and against plain references.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "shapes/metrics.h"

namespace {

using namespace shapediff::shapes;

torch::Tensor mat(std::vector<std::vector<double>> rows) {
  auto t = torch::empty({static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())},
                        torch::kFloat64);
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < rows[i].size(); ++j) t[i][j] = rows[i][j];
  }
  return t;
}

// |x_i - y_j| for 1-D positions.
torch::Tensor line_distances(const std::vector<double>& x, const std::vector<double>& y) {
  auto t = torch::empty({static_cast<int64_t>(x.size()), static_cast<int64_t>(y.size())}, torch::kFloat64);
  for (size_t i = 0; i < x.size(); ++i) {
    for (size_t j = 0; j < y.size(); ++j) t[i][j] = std::abs(x[i] - y[j]);
  }
  return t;
}

class Metrics : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(3);
    at::set_num_threads(2);
  }
};

TEST_F(Metrics, MmdAndCoverageByHand) {
  // 2 generated x 3 reference. Closest generated per reference: 1, 0.5, 7 -> MMD 8.5 / 3.
  // Closest reference per generated: 0 and 1 -> COV 2 / 3.
  auto m = mat({{1, 5, 9}, {2, 0.5, 7}});
  auto r = mmd_and_coverage(m);
  EXPECT_DOUBLE_EQ(r.mmd, 8.5 / 3);
  EXPECT_DOUBLE_EQ(r.coverage, 2.0 / 3);
  // A tie counts for the first reference only.
  EXPECT_DOUBLE_EQ(mmd_and_coverage(mat({{1, 1}})).coverage, 0.5);
  EXPECT_THROW(mmd_and_coverage(mat({{1, std::nan("")}})), std::invalid_argument);
}

TEST_F(Metrics, OneNnaByHand) {
  // Far apart sets: every shape's neighbour is in its own set -> accuracy 1.
  std::vector<double> ref = {0, 1, 2}, gen = {100, 101};
  EXPECT_DOUBLE_EQ(one_nn_accuracy(line_distances(gen, gen), line_distances(gen, ref),
                                   line_distances(ref, ref)), 1.0);
  // Interleaved pairs: each shape's neighbour is its twin in the other set -> 0.
  ref = {0, 10, 20};
  gen = {0.1, 10.1, 20.1};
  EXPECT_DOUBLE_EQ(one_nn_accuracy(line_distances(gen, gen), line_distances(gen, ref),
                                   line_distances(ref, ref)), 0.0);
  // ref {0, 1}, gen {1.4, 5}: ref0 -> ref1 (right), ref1 -> gen0 (wrong), gen0 -> ref1 (wrong),
  // gen1 -> gen0 (right): 2 of 4.
  ref = {0, 1};
  gen = {1.4, 5};
  EXPECT_DOUBLE_EQ(one_nn_accuracy(line_distances(gen, gen), line_distances(gen, ref),
                                   line_distances(ref, ref)), 0.5);
  // A tie between a reference and a generated neighbour goes to the reference (PointFlow's
  // [reference; generated] order): ref {0, 2}, gen {1}: ref0 -> gen0 (1 vs 2: wrong), ref1 ->
  // gen0 (wrong), gen0 -> ref0 (tie at 1, first index: wrong) -> 0.
  ref = {0, 2};
  gen = {1};
  EXPECT_DOUBLE_EQ(one_nn_accuracy(line_distances(gen, gen), line_distances(gen, ref),
                                   line_distances(ref, ref)), 0.0);
  EXPECT_THROW(one_nn_accuracy(mat({{0}}), mat({{1, 2}}), mat({{0}})), std::invalid_argument);
}

TEST_F(Metrics, OneNnaMatchesPlainClassifier) {
  auto ref = torch::rand({7}).to(torch::kFloat64), gen = torch::rand({5}).to(torch::kFloat64) + 0.2;
  std::vector<double> r(ref.data_ptr<double>(), ref.data_ptr<double>() + 7);
  std::vector<double> g(gen.data_ptr<double>(), gen.data_ptr<double>() + 5);
  std::vector<std::pair<double, bool>> all;  // position, is reference
  for (double v : r) all.emplace_back(v, true);
  for (double v : g) all.emplace_back(v, false);
  int correct = 0;
  for (size_t s = 0; s < all.size(); ++s) {
    size_t best = s == 0 ? 1 : 0;
    for (size_t t = 0; t < all.size(); ++t) {
      if (t != s && std::abs(all[t].first - all[s].first) < std::abs(all[best].first - all[s].first)) best = t;
    }
    correct += all[best].second == all[s].second;
  }
  EXPECT_DOUBLE_EQ(one_nn_accuracy(line_distances(g, g), line_distances(g, r), line_distances(r, r)),
                   correct / 12.0);
}

TEST_F(Metrics, JensenShannonByHand) {
  auto a = torch::tensor({1.0, 0.0}), b = torch::tensor({0.0, 1.0});
  EXPECT_NEAR(jensen_shannon_divergence(a, b), 1.0, 1e-12);
  EXPECT_NEAR(jensen_shannon_divergence(a, a * 5), 0.0, 1e-12);
  // P = (1/2, 1/2), Q = (1, 0): H(3/4, 1/4) - (1 + 0) / 2.
  const double h = -(0.75 * std::log2(0.75) + 0.25 * std::log2(0.25));
  EXPECT_NEAR(jensen_shannon_divergence(torch::tensor({1.0, 1.0}), a), h - 0.5, 1e-12);
  EXPECT_THROW(jensen_shannon_divergence(torch::tensor({0.0, 0.0}), a), std::invalid_argument);
  EXPECT_THROW(jensen_shannon_divergence(torch::tensor({-1.0, 2.0}), a), std::invalid_argument);
}

TEST_F(Metrics, OccupancyMatchesBruteForceNearestCell) {
  // A coarse grid and points well outside its ball, so the ring search is exercised.
  JsdGrid grid;
  grid.resolution = 7;
  grid.half_extent = 0.5;
  auto clouds = (torch::rand({3, 200, 3}) * 2 - 1) * 0.9;
  auto counts = occupancy_counts(clouds, grid);
  std::vector<std::array<double, 3>> centers;
  const double s = 1.0 / 6;
  for (int i = 0; i < 7; ++i) {
    for (int j = 0; j < 7; ++j) {
      for (int k = 0; k < 7; ++k) {
        const double x = -0.5 + i * s, y = -0.5 + j * s, z = -0.5 + k * s;
        if (std::sqrt(x * x + y * y + z * z) <= 0.5) centers.push_back({x, y, z});
      }
    }
  }
  ASSERT_EQ(counts.size(0), static_cast<int64_t>(centers.size()));
  std::vector<double> expected(centers.size(), 0);
  auto pts = clouds.reshape({-1, 3});
  auto acc = pts.accessor<float, 2>();
  for (int64_t p = 0; p < pts.size(0); ++p) {
    size_t best = 0;
    double bd = std::numeric_limits<double>::infinity();
    for (size_t c = 0; c < centers.size(); ++c) {
      double d = 0;
      for (int k = 0; k < 3; ++k) d += (acc[p][k] - centers[c][k]) * (acc[p][k] - centers[c][k]);
      if (d < bd) {
        bd = d;
        best = c;
      }
    }
    expected[best] += 1;
  }
  for (size_t c = 0; c < centers.size(); ++c) EXPECT_EQ(counts[c].item<double>(), expected[c]) << c;
  EXPECT_EQ(counts.sum().item<double>(), 600.0);
  // PointFlow's default grid keeps the cells within radius 0.5 of 28^3.
  EXPECT_GT(occupancy_counts(clouds * 0.5).size(0), 10000);
  EXPECT_LT(occupancy_counts(clouds * 0.5).size(0), 28 * 28 * 28);
}

TEST_F(Metrics, NormalizationProtocols) {
  auto gen = torch::rand({3, 50, 3}) * 4 + 2, ref = torch::randn({4, 50, 3}) * 3;
  auto [gb, rb] = normalize_sets(gen, ref, EvalNormalization::UnitBox);
  for (int64_t k = 0; k < 3; ++k) EXPECT_NEAR(gb[k].abs().max().item<double>(), 1.0, 1e-5);
  auto [gs, rs] = normalize_sets(gen, ref, EvalNormalization::UnitSphere);
  for (int64_t k = 0; k < 4; ++k) EXPECT_NEAR(rs[k].norm(2, -1).max().item<double>(), 1.0, 1e-5);
  auto [gr, rr] = normalize_sets(gen, ref, EvalNormalization::Reference);
  // PointFlow: per-axis mean of the reference points, std of all their coordinates pooled.
  const auto pooled = ref.reshape({-1, 3}).to(torch::kFloat64);
  const auto expected = (ref.to(torch::kFloat64) - pooled.mean(0)) / pooled.reshape({-1}).std(false);
  EXPECT_TRUE(torch::allclose(rr.to(torch::kFloat64), expected, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(gr.to(torch::kFloat64),
                              (gen.to(torch::kFloat64) - pooled.mean(0)) / pooled.reshape({-1}).std(false),
                              1e-5, 1e-5));
  auto [gn, rn] = normalize_sets(gen, ref, EvalNormalization::None);
  EXPECT_TRUE(torch::equal(gn, gen));
  EXPECT_EQ(parse_eval_normalization(to_string(EvalNormalization::UnitSphere)),
            EvalNormalization::UnitSphere);
  EXPECT_THROW(parse_eval_normalization("unit_cube"), std::invalid_argument);
  auto flat = gen.clone();
  flat[1].fill_(0.5);
  try {
    normalize_sets(flat, ref, EvalNormalization::UnitBox);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("generated set shape 1"), std::string::npos) << e.what();
  }
}

TEST_F(Metrics, EvaluateCopiesAndFarSets) {
  auto ref = torch::rand({6, 64, 3}) - 0.5;
  EvalOptions o;
  o.paired = true;
  std::map<std::string, int64_t> last;
  o.progress = [&](const std::string& stage, int64_t done, int64_t total) {
    EXPECT_EQ(total, 6 * 6 + 15 + 15);
    EXPECT_GE(done, last[stage]);
    last[stage] = done;
  };
  // Copies of the reference (shuffled points): MMD 0, COV 1, 1-NNA 0 (each shape's twin is
  // nearest), JSD 0, paired CD and EMD 0, F-score 1.
  auto copies = ref.index_select(1, torch::randperm(64));
  auto r = evaluate_sets(copies, ref, o);
  EXPECT_EQ(last["CD"], 66);
  EXPECT_EQ(last["EMD"], 66);
  EXPECT_NEAR(r.cd->mmd, 0, 1e-12);
  EXPECT_DOUBLE_EQ(r.cd->coverage, 1.0);
  EXPECT_DOUBLE_EQ(r.cd->nna, 0.0);
  EXPECT_NEAR(r.emd->mmd, 0, 1e-7);
  EXPECT_DOUBLE_EQ(r.emd->nna, 0.0);
  EXPECT_NEAR(r.jsd.value(), 0, 1e-12);
  ASSERT_TRUE(r.paired);
  EXPECT_NEAR(r.paired->cd, 0, 1e-12);
  EXPECT_DOUBLE_EQ(r.paired->fscore, 1.0);
  ASSERT_TRUE(r.paired->emd);
  EXPECT_NEAR(*r.paired->emd, 0, 1e-7);
  // Automatic JSD grid: the reference set's radius.
  EXPECT_NEAR(r.jsd_grid.half_extent, ref.norm(2, -1).max().item<double>(), 1e-6);

  // Far away, all alike: 1-NNA 1; every generated shape's nearest reference is the same one.
  auto far = torch::rand({4, 64, 3}) * 0.01 + 50;
  o.paired = false;
  o.progress = nullptr;
  o.emd = false;
  auto f = evaluate_sets(far, ref, o);
  EXPECT_DOUBLE_EQ(f.cd->nna, 1.0);
  EXPECT_DOUBLE_EQ(f.cd->coverage, 1.0 / 6);
  ASSERT_TRUE(f.jsd);
  EXPECT_GT(*f.jsd, 0.5);
  EXPECT_FALSE(f.emd);
  EXPECT_FALSE(f.emd_options);
  auto j = f.to_json();
  EXPECT_TRUE(j["emd"].is_null());
  EXPECT_FALSE(j["metrics"].contains("MMD-EMD"));
  EXPECT_EQ(j["metrics"]["1-NNA-CD"].get<double>(), 1.0);
  EXPECT_EQ(j["normalization"], "none");
  EXPECT_EQ(j["generated"]["count"], 4);
}

TEST_F(Metrics, EvaluateMatchesPieces) {
  auto gen = torch::rand({4, 40, 3}), ref = torch::rand({5, 40, 3});
  EvalOptions o;
  o.normalization = EvalNormalization::UnitSphere;
  o.emd_options.method = EmdMethod::Approximate;
  auto r = evaluate_sets(gen, ref, o);
  auto [g, rf] = normalize_sets(gen, ref, o.normalization);
  auto gr = chamfer_matrix(g, rf);
  const auto mc = mmd_and_coverage(gr);
  EXPECT_DOUBLE_EQ(r.cd->mmd, mc.mmd);
  EXPECT_DOUBLE_EQ(r.cd->coverage, mc.coverage);
  EXPECT_DOUBLE_EQ(r.cd->nna, one_nn_accuracy(chamfer_matrix(g, g), gr, chamfer_matrix(rf, rf)));
  ASSERT_TRUE(r.emd && r.emd_options);
  EXPECT_EQ(r.emd_options->method, EmdMethod::Approximate);
  EXPECT_GE(r.emd_max_gap, 0.0);
  auto j = r.to_json();
  EXPECT_EQ(j["emd"]["method"], "approx");
  EXPECT_EQ(j["normalization"], "unit_sphere");
  EXPECT_EQ(j["jsd_grid"]["resolution"], 28);
}

TEST_F(Metrics, EvaluateBadInput) {
  auto a = torch::rand({3, 40, 3}), b = torch::rand({3, 30, 3});
  EXPECT_THROW(evaluate_sets(a, b), std::invalid_argument);  // EMD on unequal counts
  EvalOptions o;
  o.emd = false;
  EXPECT_NO_THROW(evaluate_sets(a, b, o));
  o.paired = true;
  EXPECT_THROW(evaluate_sets(a, b.slice(0, 0, 2), o), std::invalid_argument);
  o.fscore_threshold = -1;
  EXPECT_THROW(evaluate_sets(a, b, o), std::invalid_argument);
  EXPECT_THROW(evaluate_sets(a.slice(0, 0, 1), b.slice(0, 0, 0), EvalOptions{}), std::invalid_argument);
  EvalOptions none;
  none.cd = none.emd = none.jsd = false;
  EXPECT_THROW(evaluate_sets(a, a, none), std::invalid_argument);
  auto nan = a.clone();
  nan[2][3][1] = std::nanf("");
  EXPECT_THROW(evaluate_sets(nan, a), std::invalid_argument);
}

}  // namespace

// EMD: the auction against brute force over permutations (n <= 7) and against a plain
// Hungarian solver (n = 64), cases known by hand, and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>
#include <stdexcept>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "shapes/emd.h"

namespace {

using namespace shapediff::shapes;

std::vector<std::vector<double>> costs(const torch::Tensor& a, const torch::Tensor& b,
                                       EmdGround ground) {
  auto A = a.to(torch::kFloat64), B = b.to(torch::kFloat64);
  const int64_t n = A.size(0);
  std::vector<std::vector<double>> c(n, std::vector<double>(n));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      const double d2 = (A[i] - B[j]).pow(2).sum().item<double>();
      c[i][j] = ground == EmdGround::Euclidean ? std::sqrt(d2) : d2;
    }
  }
  return c;
}

double brute_force(const std::vector<std::vector<double>>& c) {
  std::vector<int> p(c.size());
  std::iota(p.begin(), p.end(), 0);
  double best = std::numeric_limits<double>::infinity();
  do {
    double s = 0;
    for (size_t i = 0; i < p.size(); ++i) s += c[i][p[i]];
    best = std::min(best, s);
  } while (std::next_permutation(p.begin(), p.end()));
  return best;
}

// Textbook O(n^3) Hungarian algorithm (shortest augmenting paths with potentials).
double hungarian(const std::vector<std::vector<double>>& c) {
  const int n = static_cast<int>(c.size());
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(n + 1, 0), v(n + 1, 0);
  std::vector<int> p(n + 1, 0), way(n + 1, 0);
  for (int i = 1; i <= n; ++i) {
    p[0] = i;
    int j0 = 0;
    std::vector<double> minv(n + 1, inf);
    std::vector<bool> used(n + 1, false);
    do {
      used[j0] = true;
      const int i0 = p[j0];
      double delta = inf;
      int j1 = 0;
      for (int j = 1; j <= n; ++j) {
        if (used[j]) continue;
        const double cur = c[i0 - 1][j - 1] - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (int j = 0; j <= n; ++j) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] != 0);
    do {
      const int j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  double total = 0;
  for (int j = 1; j <= n; ++j) total += c[p[j] - 1][j - 1];
  return total;
}

class Emd : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(11);
    at::set_num_threads(2);
  }
};

TEST_F(Emd, ExactMatchesBruteForceOnTinySets) {
  for (auto ground : {EmdGround::Euclidean, EmdGround::SquaredEuclidean}) {
    EmdOptions o;
    o.ground = ground;
    for (int64_t n = 1; n <= 7; ++n) {
      for (int trial = 0; trial < 3; ++trial) {
        auto a = torch::rand({n, 3}), b = torch::rand({n, 3});
        const double expected = brute_force(costs(a, b, ground)) / n;
        auto r = earth_movers_distance(a.unsqueeze(0), b.unsqueeze(0), o);
        EXPECT_NEAR(r.value.item<double>(), expected, 1e-6 * (1 + expected))
            << "n=" << n << " ground=" << to_string(ground);
        EXPECT_GE(r.gap.item<double>(), 0.0);
        EXPECT_LE(r.gap.item<double>(), 1e-6 * (1 + expected));
      }
    }
  }
}

TEST_F(Emd, ExactAndApproxAgainstHungarian) {
  const int64_t n = 64;
  for (auto ground : {EmdGround::Euclidean, EmdGround::SquaredEuclidean}) {
    auto a = torch::randn({n, 3}), b = torch::randn({n, 3}) * 0.7 + 0.3;
    const double optimum = hungarian(costs(a, b, ground)) / n;
    EmdOptions o;
    o.ground = ground;
    const auto exact = earth_movers_distance(a.unsqueeze(0), b.unsqueeze(0), o);
    EXPECT_NEAR(exact.value.item<double>(), optimum, 1e-6 * optimum) << to_string(ground);
    o.method = EmdMethod::Approximate;
    const auto approx = earth_movers_distance(a.unsqueeze(0), b.unsqueeze(0), o);
    const double value = approx.value.item<double>(), gap = approx.gap.item<double>();
    // Never below the optimum; above it by at most the certified gap, itself at most 1%.
    EXPECT_GE(value, optimum * (1 - 1e-6));
    EXPECT_LE(value - optimum, gap + 1e-6 * optimum);
    EXPECT_LE(gap, 0.01 * value + 1e-12);
  }
}

TEST_F(Emd, AssignmentIsAPermutationWithBoundedGap) {
  auto a = torch::rand({100, 3}), b = torch::rand({100, 3});
  EmdOptions o;
  const auto s = emd_assignment(a, b, o, 1e-7);
  ASSERT_EQ(s.object_of.size(), 100u);
  std::set<int64_t> seen(s.object_of.begin(), s.object_of.end());
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(*seen.begin(), 0);
  EXPECT_EQ(*seen.rbegin(), 99);
  double sum = 0;
  for (int64_t i = 0; i < 100; ++i) {
    sum += (a[i] - b[s.object_of[i]]).norm().item<double>();
  }
  EXPECT_NEAR(sum, s.primal, 1e-4);
  EXPECT_LE(s.dual, s.primal);
  EXPECT_LE(s.primal - s.dual, 1e-7 * s.primal + 1e-9);
}

TEST_F(Emd, TranslationByHand) {
  // Moving every point by t: the identity matching is optimal, EMD = |t| (Euclidean; any
  // matching costs at least |sum of its vectors| = n|t|) and |t|^2 (squared).
  auto a = torch::rand({1, 300, 3});
  auto t = torch::tensor({0.3f, -0.4f, 0.0f});
  auto r = earth_movers_distance(a, a + t);
  EXPECT_NEAR(r.value.item<double>(), 0.5, 1e-6);
  EmdOptions sq;
  sq.ground = EmdGround::SquaredEuclidean;
  EXPECT_NEAR(earth_movers_distance(a, a + t, sq).value.item<double>(), 0.25, 1e-6);
  // A cloud against a shuffled copy of itself: 0 (with duplicates too).
  auto dup = torch::cat({a, a.slice(1, 0, 10)}, 1);
  auto shuffled = dup.index_select(1, torch::randperm(dup.size(1)));
  EXPECT_NEAR(earth_movers_distance(dup, shuffled).value.item<double>(), 0.0, 1e-7);
  // All points at one place.
  auto point = torch::zeros({1, 5, 3});
  EXPECT_EQ(earth_movers_distance(point, point).value.item<double>(), 0.0);
}

TEST_F(Emd, BatchAndMatrixAgreeWithSinglePairs) {
  auto x = torch::rand({4, 50, 3}), y = torch::rand({3, 50, 3});
  int64_t last = 0;
  const auto m = emd_matrix(x, y, {}, [&](int64_t done, int64_t total) {
    EXPECT_EQ(total, 12);
    last = done;
  });
  EXPECT_EQ(last, 12);
  ASSERT_EQ(m.value.sizes(), (std::vector<int64_t>{4, 3}));
  ASSERT_EQ(m.gap.sizes(), (std::vector<int64_t>{4, 3}));
  for (int64_t i = 0; i < 4; ++i) {
    for (int64_t j = 0; j < 3; ++j) {
      const double one = earth_movers_distance(x[i].unsqueeze(0), y[j].unsqueeze(0)).value.item<double>();
      EXPECT_NEAR(m.value[i][j].item<double>(), one, 1e-9);
    }
  }
  const auto batch = earth_movers_distance(x.slice(0, 0, 3), y);
  for (int64_t k = 0; k < 3; ++k) {
    EXPECT_NEAR(batch.value[k].item<double>(), m.value[k][k].item<double>(), 1e-9);
  }
  const auto s = emd_matrix(x, x);
  EXPECT_TRUE(torch::equal(s.value, s.value.t()));
  EXPECT_EQ(s.value.diag().abs().max().item<double>(), 0.0);
  EXPECT_NEAR(s.value[0][1].item<double>(),
              earth_movers_distance(x[0].unsqueeze(0), x[1].unsqueeze(0)).value.item<double>(), 1e-6);
}

TEST_F(Emd, NamesAndBadInput) {
  EXPECT_EQ(parse_emd_method("exact"), EmdMethod::Exact);
  EXPECT_EQ(parse_emd_method("approx"), EmdMethod::Approximate);
  EXPECT_EQ(parse_emd_ground(to_string(EmdGround::SquaredEuclidean)), EmdGround::SquaredEuclidean);
  try {
    parse_emd_method("sinkhorn");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("exact, approx"), std::string::npos) << e.what();
  }
  auto a = torch::rand({2, 10, 3});
  EXPECT_THROW(earth_movers_distance(a, torch::rand({2, 11, 3})), std::invalid_argument);
  EXPECT_THROW(earth_movers_distance(a, torch::rand({3, 10, 3})), std::invalid_argument);
  EXPECT_THROW(emd_matrix(a, torch::rand({3, 11, 3})), std::invalid_argument);
  auto bad = a.clone();
  bad[0][0][0] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(earth_movers_distance(a, bad), std::invalid_argument);
  EXPECT_THROW(emd_assignment(a[0], a[1], {}, -1.0), std::invalid_argument);
}

}  // namespace

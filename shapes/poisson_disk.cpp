#include "shapes/poisson_disk.h"

#include <algorithm>
#include <cmath>
#include <queue>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "shapes/validation.h"

namespace shapediff::shapes {
namespace {

// Buckets points by the cell of size `cell`; different cells may share a bucket (the key is a
// hash), which only adds candidates that the exact distance test then rejects.
class HashGrid {
 public:
  HashGrid(const double* points, double cell) : points_(points), inv_cell_(1.0 / cell) {}

  void insert(int64_t i) { buckets_[key(cell_of(i))].push_back(i); }

  // Calls f(j) for every inserted j in the 27 cells around point i's cell.
  template <typename F>
  void for_neighbors(int64_t i, F&& f) const {
    const auto c = cell_of(i);
    for (int64_t dx = -1; dx <= 1; ++dx) {
      for (int64_t dy = -1; dy <= 1; ++dy) {
        for (int64_t dz = -1; dz <= 1; ++dz) {
          const auto it = buckets_.find(key({c[0] + dx, c[1] + dy, c[2] + dz}));
          if (it == buckets_.end()) continue;
          for (int64_t j : it->second) f(j);
        }
      }
    }
  }

 private:
  // Clamping is monotone, so points within one cell size still land in adjacent (or equal)
  // cells; it only keeps the integer conversion defined for tiny cells far from the origin.
  std::array<int64_t, 3> cell_of(int64_t i) const {
    std::array<int64_t, 3> c;
    for (int k = 0; k < 3; ++k) {
      c[k] = static_cast<int64_t>(
          std::clamp(std::floor(points_[3 * i + k] * inv_cell_), -kLimit, kLimit));
    }
    return c;
  }
  static constexpr double kLimit = 4.0e18;
  static uint64_t key(const std::array<int64_t, 3>& c) {
    return static_cast<uint64_t>(c[0]) * 73856093ULL ^ static_cast<uint64_t>(c[1]) * 19349663ULL ^
           static_cast<uint64_t>(c[2]) * 83492791ULL;
  }

  const double* points_;
  double inv_cell_;
  std::unordered_map<uint64_t, std::vector<int64_t>> buckets_;
};

double squared_distance(const double* p, int64_t i, int64_t j) {
  const double dx = p[3 * i] - p[3 * j], dy = p[3 * i + 1] - p[3 * j + 1],
               dz = p[3 * i + 2] - p[3 * j + 2];
  return dx * dx + dy * dy + dz * dz;
}

// Greedy dart throwing in `order`: keeps a point when no kept point is closer than r.
std::vector<int64_t> dart_throw(const double* p, const std::vector<int64_t>& order, double r) {
  if (r <= 0) return order;
  HashGrid grid(p, r);
  const double r2 = r * r;
  std::vector<int64_t> kept;
  for (int64_t i : order) {
    bool free = true;
    grid.for_neighbors(i, [&](int64_t j) {
      if (free && squared_distance(p, i, j) < r2) free = false;
    });
    if (free) {
      grid.insert(i);
      kept.push_back(i);
    }
  }
  return kept;
}

// Weighted sample elimination (Yuksel 2015): repeatedly drops the point that is most crowded
// by its neighbours within 2 * r_max, weight (1 - d / (2 r_max))^8, until `count` remain.
std::vector<int64_t> eliminate(const double* p, std::vector<int64_t> candidates, int64_t count,
                               double r_max) {
  const auto size = static_cast<int64_t>(candidates.size());
  if (size <= count) return candidates;
  const double reach = 2.0 * r_max;
  HashGrid grid(p, reach);
  for (int64_t i : candidates) grid.insert(i);
  std::unordered_map<int64_t, int64_t> slot;
  for (int64_t s = 0; s < size; ++s) slot[candidates[s]] = s;
  std::vector<std::vector<std::pair<int64_t, double>>> neighbors(size);
  std::vector<double> weight(size, 0.0);
  for (int64_t s = 0; s < size; ++s) {
    grid.for_neighbors(candidates[s], [&](int64_t j) {
      if (j == candidates[s]) return;
      const double d = std::sqrt(squared_distance(p, candidates[s], j));
      if (d >= reach) return;
      const double w = std::pow(1.0 - d / reach, 8);
      neighbors[s].push_back({slot[j], w});
      weight[s] += w;
    });
  }
  // Max-heap on weight; stale entries (weight changed since the push) are skipped. Equal
  // weights pop the lower slot first, so the result is deterministic.
  using Entry = std::pair<double, int64_t>;
  auto less = [](const Entry& x, const Entry& y) {
    return x.first < y.first || (x.first == y.first && x.second > y.second);
  };
  std::priority_queue<Entry, std::vector<Entry>, decltype(less)> heap(less);
  for (int64_t s = 0; s < size; ++s) heap.push({weight[s], s});
  std::vector<char> alive(size, 1);
  int64_t remaining = size;
  while (remaining > count) {
    const auto [w, s] = heap.top();
    heap.pop();
    if (!alive[s] || w != weight[s]) continue;
    alive[s] = 0;
    --remaining;
    for (const auto& [t, wt] : neighbors[s]) {
      if (!alive[t]) continue;
      weight[t] -= wt;
      heap.push({weight[t], t});
    }
  }
  std::vector<int64_t> kept;
  kept.reserve(count);
  for (int64_t s = 0; s < size; ++s) {
    if (alive[s]) kept.push_back(candidates[s]);
  }
  return kept;
}

}  // namespace

PoissonDiskResult poisson_disk_subsample(const torch::Tensor& points,
                                         const PoissonDiskOptions& options) {
  const std::string context = "poisson_disk_subsample";
  detail::check_matrix(points, 3, context, "points");
  detail::check_finite(points, context, "points");
  const int64_t n = points.size(0);
  if (n == 0) throw std::invalid_argument(context + ": points is empty");
  if (options.target_count < 0 || options.target_count > n) {
    throw std::invalid_argument(context + ": target_count must be in [0, " + std::to_string(n) +
                                "], got " + std::to_string(options.target_count));
  }
  if (!(options.min_distance >= 0) || !std::isfinite(options.min_distance)) {
    throw std::invalid_argument(context + ": min_distance must be finite and >= 0, got " +
                                std::to_string(options.min_distance));
  }
  if (options.target_count == 0 && options.min_distance == 0) {
    throw std::invalid_argument(context + ": set target_count or min_distance (both are 0)");
  }
  const auto p = points.to(torch::kCPU, torch::kFloat64).contiguous();
  const double* pp = p.data_ptr<double>();
  auto generator = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  const auto perm = torch::randperm(n, generator, torch::kLong);
  const std::vector<int64_t> order(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + n);

  double r = options.min_distance;
  double crowding_scale = r;
  std::vector<int64_t> kept;
  if (r > 0) {
    kept = dart_throw(pp, order, r);
  } else {
    // Fewer points survive as r grows (not strictly monotone, hence "largest r seen that works").
    const auto extent = std::get<0>(p.max(0)) - std::get<0>(p.min(0));
    double hi = extent.norm().item<double>() + 1e-12;
    double lo = 0;
    kept = order;
    for (int iter = 0; iter < 60; ++iter) {
      if (lo > 0 && hi - lo < 1e-3 * hi) break;
      const double mid = 0.5 * (lo + hi);
      auto trial = dart_throw(pp, order, mid);
      if (static_cast<int64_t>(trial.size()) >= options.target_count) {
        lo = mid;
        kept = std::move(trial);
      } else {
        hi = mid;
      }
    }
    r = lo;
    // Even the smallest r tried kept too few points (near-duplicates): crowding is measured at
    // that scale instead.
    crowding_scale = lo > 0 ? lo : hi;
  }
  if (options.target_count > 0) {
    kept = eliminate(pp, std::move(kept), options.target_count, crowding_scale);
  }
  std::sort(kept.begin(), kept.end());
  PoissonDiskResult result;
  result.indices = torch::tensor(kept, torch::kLong);
  result.min_distance = r;
  return result;
}

}  // namespace shapediff::shapes

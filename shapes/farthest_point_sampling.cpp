#include "shapes/farthest_point_sampling.h"

#include <limits>
#include <stdexcept>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "shapes/validation.h"

namespace shapediff::shapes {

torch::Tensor farthest_point_sampling(const torch::Tensor& points, int64_t num_samples,
                                      int64_t start_index) {
  const std::string context = "farthest_point_sampling";
  detail::check_matrix(points, 3, context, "points");
  detail::check_finite(points, context, "points");
  const int64_t n = points.size(0);
  if (n == 0) throw std::invalid_argument(context + ": points is empty");
  if (num_samples < 0 || num_samples > n) {
    throw std::invalid_argument(context + ": num_samples must be in [0, " + std::to_string(n) +
                                "], got " + std::to_string(num_samples));
  }
  if (start_index < 0 || start_index >= n) {
    throw std::invalid_argument(context + ": start_index must be in [0, " + std::to_string(n) +
                                "), got " + std::to_string(start_index));
  }
  auto out = torch::empty({num_samples}, torch::kLong);
  if (num_samples == 0) return out;
  const auto p = points.to(torch::kCPU, torch::kFloat64).contiguous();
  const double* pp = p.data_ptr<double>();
  int64_t* op = out.data_ptr<int64_t>();
  std::vector<double> nearest(n, std::numeric_limits<double>::infinity());

  // Each chunk reports its own farthest point; chunks are reduced in index order, so the result
  // does not depend on the thread count.
  constexpr int64_t kGrain = 4096;
  const int64_t num_chunks = (n + kGrain - 1) / kGrain;
  std::vector<double> chunk_best(num_chunks);
  std::vector<int64_t> chunk_index(num_chunks);
  int64_t current = start_index;
  for (int64_t m = 0; m < num_samples; ++m) {
    op[m] = current;
    if (m + 1 == num_samples) break;
    const double cx = pp[3 * current], cy = pp[3 * current + 1], cz = pp[3 * current + 2];
    at::parallel_for(0, num_chunks, 1, [&](int64_t cb, int64_t ce) {
      for (int64_t chunk = cb; chunk < ce; ++chunk) {
        const int64_t begin = chunk * kGrain;
        const int64_t end = std::min(n, begin + kGrain);
        double best = -1;
        int64_t best_i = begin;
        for (int64_t i = begin; i < end; ++i) {
          const double dx = pp[3 * i] - cx, dy = pp[3 * i + 1] - cy, dz = pp[3 * i + 2] - cz;
          const double d = dx * dx + dy * dy + dz * dz;
          if (d < nearest[i]) nearest[i] = d;
          if (nearest[i] > best) {
            best = nearest[i];
            best_i = i;
          }
        }
        chunk_best[chunk] = best;
        chunk_index[chunk] = best_i;
      }
    });
    double best = -1;
    for (int64_t chunk = 0; chunk < num_chunks; ++chunk) {
      if (chunk_best[chunk] > best) {
        best = chunk_best[chunk];
        current = chunk_index[chunk];
      }
    }
  }
  return out;
}

}  // namespace shapediff::shapes

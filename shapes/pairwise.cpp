#include "shapes/pairwise.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/Parallel.h>

namespace shapediff::shapes {

void check_cloud_set(const torch::Tensor& clouds, const std::string& context) {
  if (!clouds.defined()) throw std::invalid_argument(context + ": undefined tensor");
  if (clouds.dim() != 3 || clouds.size(2) != 3) {
    throw std::invalid_argument(context + ": expected clouds [K,N,3], got " +
                                c10::str(clouds.sizes()));
  }
  if (!at::isFloatingType(clouds.scalar_type())) {
    throw std::invalid_argument(context + ": expected floating-point coordinates, got " +
                                std::string(c10::toString(clouds.scalar_type())));
  }
  if (clouds.size(0) < 1) throw std::invalid_argument(context + ": no clouds");
  if (clouds.size(1) < 1) throw std::invalid_argument(context + ": clouds have no points");
  if (!torch::isfinite(clouds).all().item<bool>()) {
    throw std::invalid_argument(context + ": coordinates contain NaN or Inf");
  }
}

torch::Tensor pairwise_values(int64_t rows, int64_t cols, int64_t channels, bool symmetric,
                              const std::function<void(int64_t, int64_t, double*)>& value,
                              const PairProgress& progress) {
  if (rows < 0 || cols < 0 || channels < 1) {
    throw std::invalid_argument("pairwise_values: bad size " + std::to_string(rows) + " x " +
                                std::to_string(cols) + " x " + std::to_string(channels));
  }
  if (symmetric && rows != cols) {
    throw std::invalid_argument("pairwise_values: a symmetric matrix must be square, got " +
                                std::to_string(rows) + " x " + std::to_string(cols));
  }
  auto out = torch::zeros({rows, cols, channels}, torch::kFloat64);
  double* data = out.data_ptr<double>();
  std::vector<std::pair<int64_t, int64_t>> pairs;
  pairs.reserve(static_cast<size_t>(symmetric ? rows * (rows - 1) / 2 : rows * cols));
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = symmetric ? i + 1 : 0; j < cols; ++j) pairs.emplace_back(i, j);
  }
  const auto total = static_cast<int64_t>(pairs.size());
  // Chunks are several pairs per thread (little idle time at chunk ends) but small enough
  // that progress moves about every 1% of the work.
  const int64_t threads = at::get_num_threads();
  const int64_t chunk = std::max<int64_t>(4 * threads, (total + 99) / 100);
  for (int64_t start = 0; start < total; start += chunk) {
    const int64_t end = std::min(total, start + chunk);
    at::parallel_for(start, end, 1, [&](int64_t begin, int64_t stop) {
      for (int64_t k = begin; k < stop; ++k) {
        const auto [i, j] = pairs[static_cast<size_t>(k)];
        value(i, j, data + channels * (i * cols + j));
      }
    });
    if (progress) progress(end, total);
  }
  if (symmetric) {
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = i + 1; j < rows; ++j) {
        std::copy_n(data + channels * (i * cols + j), channels, data + channels * (j * cols + i));
      }
    }
  }
  return out;
}

}  // namespace shapediff::shapes

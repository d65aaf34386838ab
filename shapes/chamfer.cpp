#include "shapes/chamfer.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "shapes/simd.h"

namespace shapediff::shapes {
namespace {

using v16sf = float __attribute__((vector_size(64)));

constexpr int64_t kLanes = 16;  // points of b per vector
constexpr int64_t kRows = 4;    // points of a sharing each load of b
constexpr int64_t kTile = 4096;  // points of b per pass (x, y, z and column minima stay in L2)
// Padding points: far enough never to be anyone's nearest, small enough that their squared
// distances stay finite in float32.
constexpr float kFar = 1e18f;
constexpr float kInf = std::numeric_limits<float>::infinity();

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// One cloud in structure-of-arrays layout: x[0..padded), y[...], z[...], padded with kFar.
struct SoaCloud {
  std::vector<float> data;
  int64_t n = 0, padded = 0;
  const float* x() const { return data.data(); }
  const float* y() const { return data.data() + padded; }
  const float* z() const { return data.data() + 2 * padded; }
};

SoaCloud to_soa(const float* points, int64_t n) {
  SoaCloud c;
  c.n = n;
  c.padded = round_up(n, kLanes);
  c.data.assign(static_cast<size_t>(3 * c.padded), kFar);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < 3; ++k) c.data[static_cast<size_t>(k * c.padded + i)] = points[3 * i + k];
  }
  return c;
}

// kRows points of a (AoS, rows[3r+k]) against `count` (a multiple of kLanes) points of b:
// row_best[r] = min_j |a_r - b_j|^2, col_best[j] = min(col_best[j], min_r |a_r - b_j|^2).
SHAPEDIFF_SIMD_CLONES
void nearest_tile(const float* rows, const float* bx, const float* by, const float* bz,
                  int64_t count, float* row_best, float* col_best) {
  v16sf best[kRows];
  for (auto& b : best) b = v16sf{} + kInf;
  for (int64_t j = 0; j < count; j += kLanes) {
    v16sf x, y, z, c;
    std::memcpy(&x, bx + j, sizeof(x));
    std::memcpy(&y, by + j, sizeof(y));
    std::memcpy(&z, bz + j, sizeof(z));
    std::memcpy(&c, col_best + j, sizeof(c));
    for (int64_t r = 0; r < kRows; ++r) {
      const v16sf dx = x - rows[3 * r], dy = y - rows[3 * r + 1], dz = z - rows[3 * r + 2];
      const v16sf d = dx * dx + dy * dy + dz * dz;
      best[r] = d < best[r] ? d : best[r];
      c = d < c ? d : c;
    }
    std::memcpy(col_best + j, &c, sizeof(c));
  }
  for (int64_t r = 0; r < kRows; ++r) {
    float m = best[r][0];
    for (int64_t l = 1; l < kLanes; ++l) m = best[r][l] < m ? best[r][l] : m;
    row_best[r] = m;
  }
}

// Rows [r0, r1) of cloud a (AoS) against all of b: a_to_b[i] for those rows, and col_best
// (b.padded floats, +inf on entry) lowered to the minima over those rows.
void nearest_rows(const float* a, int64_t r0, int64_t r1, const SoaCloud& b, float* a_to_b,
                  float* col_best) {
  for (int64_t t0 = 0; t0 < b.padded; t0 += kTile) {
    const int64_t count = std::min(kTile, b.padded - t0);
    for (int64_t i = r0; i < r1; i += kRows) {
      // A short last block repeats its last row: the repeat finds the same minima.
      float rows[3 * kRows];
      for (int64_t r = 0; r < kRows; ++r) {
        std::memcpy(rows + 3 * r, a + 3 * std::min(i + r, r1 - 1), 3 * sizeof(float));
      }
      float best[kRows];
      nearest_tile(rows, b.x() + t0, b.y() + t0, b.z() + t0, count, best, col_best + t0);
      for (int64_t r = 0; r < std::min(kRows, r1 - i); ++r) {
        a_to_b[i + r] = t0 == 0 ? best[r] : std::min(a_to_b[i + r], best[r]);
      }
    }
  }
}

void check_pair(const torch::Tensor& a, const torch::Tensor& b, const std::string& fn) {
  check_cloud_set(a, fn + ": a");
  check_cloud_set(b, fn + ": b");
  if (a.size(0) != b.size(0)) {
    throw std::invalid_argument(fn + ": batch sizes differ: a has " + std::to_string(a.size(0)) +
                                " clouds, b has " + std::to_string(b.size(0)));
  }
  if (a.device() != b.device()) {
    throw std::invalid_argument(fn + ": a is on " + a.device().str() + ", b on " +
                                b.device().str());
  }
}

NearestSquared nearest_cpu(const torch::Tensor& a_in, const torch::Tensor& b_in) {
  const auto a = a_in.to(torch::kFloat32).contiguous();
  const auto b = b_in.to(torch::kFloat32).contiguous();
  const int64_t batch = a.size(0), n = a.size(1), m = b.size(1);
  std::vector<SoaCloud> soa(static_cast<size_t>(batch));
  at::parallel_for(0, batch, 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      soa[static_cast<size_t>(k)] = to_soa(b.data_ptr<float>() + k * m * 3, m);
    }
  });
  // Few clouds: split each cloud's rows so every thread has work; column minima are kept per
  // part and merged afterwards (min is exact, so the result does not depend on the split).
  const int64_t threads = at::get_num_threads();
  const int64_t parts =
      std::max<int64_t>(1, std::min((threads + batch - 1) / batch, (n + 63) / 64));
  const int64_t padded = round_up(m, kLanes);
  std::vector<float> cols(static_cast<size_t>(batch * parts * padded), kInf);
  auto a_to_b = torch::empty({batch, n}, torch::kFloat32);
  auto b_to_a = torch::empty({batch, m}, torch::kFloat32);
  float* out_ab = a_to_b.data_ptr<float>();
  at::parallel_for(0, batch * parts, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t k = item / parts, p = item % parts;
      const int64_t r0 = n * p / parts, r1 = n * (p + 1) / parts;
      if (r0 == r1) continue;
      nearest_rows(a.data_ptr<float>() + k * n * 3, r0, r1, soa[static_cast<size_t>(k)],
                   out_ab + k * n, cols.data() + item * padded);
    }
  });
  float* out_ba = b_to_a.data_ptr<float>();
  for (int64_t k = 0; k < batch; ++k) {
    for (int64_t j = 0; j < m; ++j) {
      float v = kInf;
      for (int64_t p = 0; p < parts; ++p) v = std::min(v, cols[static_cast<size_t>((k * parts + p) * padded + j)]);
      out_ba[k * m + j] = v;
    }
  }
  return {a_to_b, b_to_a};
}

NearestSquared nearest_torch_unchecked(const torch::Tensor& a_in, const torch::Tensor& b_in) {
  const auto a = a_in.to(torch::kFloat32);
  const auto b = b_in.to(torch::kFloat32);
  const int64_t batch = a.size(0), n = a.size(1), m = b.size(1);
  // About 64M floats of differences per chunk.
  const int64_t chunk = std::max<int64_t>(1, (int64_t{1} << 26) / std::max<int64_t>(1, batch * m * 3));
  std::vector<torch::Tensor> rows;
  torch::Tensor cols;
  for (int64_t r0 = 0; r0 < n; r0 += chunk) {
    const auto part = a.slice(1, r0, std::min(n, r0 + chunk));
    const auto d = (part.unsqueeze(2) - b.unsqueeze(1)).pow(2).sum(-1);  // [B,c,M]
    rows.push_back(std::get<0>(d.min(2)));
    const auto c = std::get<0>(d.min(1));
    cols = cols.defined() ? torch::minimum(cols, c) : c;
  }
  return {torch::cat(rows, 1), cols};
}

}  // namespace

NearestSquared nearest_squared_distances(const torch::Tensor& a, const torch::Tensor& b) {
  check_pair(a, b, "nearest_squared_distances");
  if (!a.device().is_cpu()) return nearest_torch_unchecked(a, b);
  return nearest_cpu(a, b);
}

NearestSquared nearest_squared_distances_torch(const torch::Tensor& a, const torch::Tensor& b) {
  check_pair(a, b, "nearest_squared_distances_torch");
  return nearest_torch_unchecked(a, b);
}

torch::Tensor chamfer_distance(const torch::Tensor& a, const torch::Tensor& b) {
  const auto d = nearest_squared_distances(a, b);
  return d.a_to_b.to(torch::kFloat64).mean(1) + d.b_to_a.to(torch::kFloat64).mean(1);
}

FScore fscore(const torch::Tensor& a, const torch::Tensor& b, double threshold) {
  if (!(threshold > 0) || !std::isfinite(threshold)) {
    throw std::invalid_argument("fscore: threshold must be a finite distance > 0, got " +
                                std::to_string(threshold));
  }
  const auto d = nearest_squared_distances(a, b);
  const double t2 = threshold * threshold;
  FScore f;
  f.precision = (d.a_to_b.to(torch::kFloat64) < t2).to(torch::kFloat64).mean(1);
  f.recall = (d.b_to_a.to(torch::kFloat64) < t2).to(torch::kFloat64).mean(1);
  const auto sum = f.precision + f.recall;
  f.fscore = torch::where(sum > 0, 2 * f.precision * f.recall / sum.clamp_min(1e-300),
                          torch::zeros_like(sum));
  return f;
}

torch::Tensor chamfer_matrix(const torch::Tensor& x, const torch::Tensor& y,
                             const PairProgress& progress) {
  check_cloud_set(x, "chamfer_matrix: x");
  const bool symmetric = x.is_same(y);
  if (!symmetric) check_cloud_set(y, "chamfer_matrix: y");
  if (x.device() != y.device()) {
    throw std::invalid_argument("chamfer_matrix: x is on " + x.device().str() + ", y on " +
                                y.device().str());
  }
  const int64_t g = x.size(0), r = y.size(0), n = x.size(1), m = y.size(1);
  if (!x.device().is_cpu()) {
    // One generated cloud against chunks of the reference set, all on the device.
    auto out = torch::empty({g, r}, torch::kFloat64);
    constexpr int64_t chunk = 64;  // reference clouds per call; the call chunks its rows itself
    for (int64_t i = 0; i < g; ++i) {
      for (int64_t j0 = 0; j0 < r; j0 += chunk) {
        const auto refs = y.slice(0, j0, std::min(r, j0 + chunk));
        const auto d = nearest_torch_unchecked(x[i].unsqueeze(0).expand({refs.size(0), n, 3}), refs);
        const auto cd = d.a_to_b.to(torch::kFloat64).mean(1) + d.b_to_a.to(torch::kFloat64).mean(1);
        out[i].slice(0, j0, j0 + refs.size(0)).copy_(cd.cpu());
      }
      if (progress) progress((i + 1) * r, g * r);
    }
    return out;
  }
  const auto xs = x.to(torch::kFloat32).contiguous();
  const auto ys = symmetric ? xs : y.to(torch::kFloat32).contiguous();
  std::vector<SoaCloud> soa(static_cast<size_t>(r));
  at::parallel_for(0, r, 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      soa[static_cast<size_t>(k)] = to_soa(ys.data_ptr<float>() + k * m * 3, m);
    }
  });
  const float* xp = xs.data_ptr<float>();
  auto values = pairwise_values(
      g, r, 1, symmetric,
      [&](int64_t i, int64_t j, double* out) {
        thread_local std::vector<float> rows, cols;
        const auto& b = soa[static_cast<size_t>(j)];
        rows.resize(static_cast<size_t>(n));
        cols.assign(static_cast<size_t>(b.padded), kInf);
        nearest_rows(xp + i * n * 3, 0, n, b, rows.data(), cols.data());
        double sa = 0, sb = 0;
        for (int64_t k = 0; k < n; ++k) sa += rows[static_cast<size_t>(k)];
        for (int64_t k = 0; k < m; ++k) sb += cols[static_cast<size_t>(k)];
        out[0] = sa / static_cast<double>(n) + sb / static_cast<double>(m);
      },
      progress);
  return values.squeeze(2);
}

}  // namespace shapediff::shapes

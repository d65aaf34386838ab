#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "networks/point_ops_backend.h"

namespace shapediff::networks::detail::cpu {
namespace {

// Rows of work below this size are not worth a thread hand-off.
constexpr int64_t kGrain = 64;
// Farthest point sampling splits one cloud across threads only from this size on: below it
// the per-step thread hand-off costs more than the distance update it shares.
constexpr int64_t kFpsSplitPoints = 16384;
constexpr int64_t kFpsChunk = 4096;

// One cloud p [n, 3] -> out [m]. The distance of point i to the picked set is kept in dist[i];
// each step updates it with the newest pick and takes the farthest point. With `split` the
// points are cut into chunks that threads scan in parallel; chunks are reduced in index order,
// so the pick does not depend on the thread count.
template <typename T>
void fps_cloud(const T* p, int64_t n, int64_t m, bool split, int64_t* out) {
  // Structure-of-arrays so the inner loop reads three unit-stride streams.
  std::vector<T> x(n), y(n), z(n);
  for (int64_t i = 0; i < n; ++i) {
    x[i] = p[3 * i];
    y[i] = p[3 * i + 1];
    z[i] = p[3 * i + 2];
  }
  std::vector<T> dist(n, std::numeric_limits<T>::infinity());
  const int64_t chunk = split ? kFpsChunk : n;
  const int64_t num_chunks = (n + chunk - 1) / chunk;
  std::vector<T> chunk_best(num_chunks);
  std::vector<int64_t> chunk_index(num_chunks);
  int64_t current = 0;
  out[0] = 0;
  for (int64_t s = 1; s < m; ++s) {
    const T cx = x[current], cy = y[current], cz = z[current];
    const auto scan = [&](int64_t c) {
      const int64_t begin = c * chunk, end = std::min(n, begin + chunk);
      T best = -1;
      int64_t best_i = begin;
      for (int64_t i = begin; i < end; ++i) {
        const T dx = x[i] - cx, dy = y[i] - cy, dz = z[i] - cz;
        const T d = dx * dx + dy * dy + dz * dz;
        const T di = d < dist[i] ? d : dist[i];
        dist[i] = di;
        if (di > best) {
          best = di;
          best_i = i;
        }
      }
      chunk_best[c] = best;
      chunk_index[c] = best_i;
    };
    if (split) {
      at::parallel_for(0, num_chunks, 1, [&](int64_t begin, int64_t end) {
        for (int64_t c = begin; c < end; ++c) scan(c);
      });
    } else {
      scan(0);
    }
    T best = -1;
    for (int64_t c = 0; c < num_chunks; ++c) {
      if (chunk_best[c] > best) {
        best = chunk_best[c];
        current = chunk_index[c];
      }
    }
    out[s] = current;
  }
}

// The eight corner voxels (flat index) and weights of one point, PVCNN's layout: a corner with
// zero fractional offset collapses onto the lower voxel, so coords equal to r - 1 stay inside
// the grid.
template <typename T>
void trilinear_corner(T x, T y, T z, int64_t r, std::array<int64_t, 8>& index,
                      std::array<T, 8>& weight) {
  const std::array<T, 3> v{x, y, z};
  const std::array<int64_t, 3> stride{r * r, r, 1};
  std::array<int64_t, 3> lo{}, step{};
  std::array<T, 3> d1{}, d0{};
  for (int a = 0; a < 3; ++a) {
    const T fl = std::floor(v[a]);
    d1[a] = v[a] - fl;
    d0[a] = T(1) - d1[a];
    lo[a] = static_cast<int64_t>(fl);
    step[a] = d1[a] > 0 ? stride[a] : 0;
  }
  const int64_t base = lo[0] * stride[0] + lo[1] * stride[1] + lo[2];
  for (int corner = 0; corner < 8; ++corner) {
    const int hx = (corner >> 2) & 1, hy = (corner >> 1) & 1, hz = corner & 1;
    index[corner] = base + hx * step[0] + hy * step[1] + hz * step[2];
    weight[corner] = (hx ? d1[0] : d0[0]) * (hy ? d1[1] : d0[1]) * (hz ? d1[2] : d0[2]);
  }
}

}  // namespace

torch::Tensor farthest_point_sample(const torch::Tensor& points, int64_t m) {
  const int64_t B = points.size(0), N = points.size(1);
  auto out = torch::empty({B, m}, points.options().dtype(torch::kLong));
  AT_DISPATCH_FLOATING_TYPES(points.scalar_type(), "farthest_point_sample", [&] {
    const scalar_t* p = points.data_ptr<scalar_t>();
    int64_t* o = out.data_ptr<int64_t>();
    if (B < at::get_num_threads() && N >= kFpsSplitPoints) {
      for (int64_t b = 0; b < B; ++b) fps_cloud(p + b * N * 3, N, m, /*split=*/true, o + b * m);
    } else {
      at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) {
          fps_cloud(p + b * N * 3, N, m, /*split=*/false, o + b * m);
        }
      });
    }
  });
  return out;
}

torch::Tensor ball_query(const torch::Tensor& centers, const torch::Tensor& points, double radius,
                         int64_t k) {
  const int64_t B = centers.size(0), M = centers.size(1), N = points.size(1);
  auto out = torch::zeros({B, M, k}, centers.options().dtype(torch::kLong));
  AT_DISPATCH_FLOATING_TYPES(centers.scalar_type(), "ball_query", [&] {
    const scalar_t* ca = centers.data_ptr<scalar_t>();
    const scalar_t* pa = points.data_ptr<scalar_t>();
    int64_t* oa = out.data_ptr<int64_t>();
    const auto r2 = static_cast<scalar_t>(radius * radius);
    at::parallel_for(0, B * M, kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t bm = begin; bm < end; ++bm) {
        const scalar_t* c = ca + bm * 3;
        const scalar_t* p = pa + (bm / M) * N * 3;
        int64_t* o = oa + bm * k;
        int64_t found = 0;
        for (int64_t n = 0; n < N && found < k; ++n) {
          const scalar_t dx = p[3 * n] - c[0];
          const scalar_t dy = p[3 * n + 1] - c[1];
          const scalar_t dz = p[3 * n + 2] - c[2];
          if (dx * dx + dy * dy + dz * dz < r2) {
            if (found == 0) std::fill(o, o + k, n);
            o[found++] = n;
          }
        }
      }
    });
  });
  return out;
}

torch::Tensor group_forward(const torch::Tensor& features, const torch::Tensor& idx) {
  const int64_t B = features.size(0), C = features.size(1);
  const int64_t M = idx.size(1), K = idx.size(2);
  auto out = torch::empty({B, C, M, K}, features.options());
  AT_DISPATCH_FLOATING_TYPES(features.scalar_type(), "group_forward", [&] {
    const auto f = features.accessor<scalar_t, 3>();
    const auto ix = idx.accessor<int64_t, 3>();
    auto o = out.accessor<scalar_t, 4>();
    at::parallel_for(0, B * M, kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t bm = begin; bm < end; ++bm) {
        const int64_t b = bm / M, m = bm % M;
        for (int64_t c = 0; c < C; ++c) {
          for (int64_t k = 0; k < K; ++k) o[b][c][m][k] = f[b][c][ix[b][m][k]];
        }
      }
    });
  });
  return out;
}

// Scatter-add; each (b, c) row is owned by one task so no two tasks write the same element.
torch::Tensor group_backward(const torch::Tensor& grad, const torch::Tensor& idx, int64_t n) {
  const int64_t B = grad.size(0), C = grad.size(1), M = grad.size(2), K = grad.size(3);
  auto out = torch::zeros({B, C, n}, grad.options());
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "group_backward", [&] {
    const auto g = grad.accessor<scalar_t, 4>();
    const auto ix = idx.accessor<int64_t, 3>();
    auto o = out.accessor<scalar_t, 3>();
    at::parallel_for(0, B * C, 1, [&](int64_t begin, int64_t end) {
      for (int64_t bc = begin; bc < end; ++bc) {
        const int64_t b = bc / C, c = bc % C;
        for (int64_t m = 0; m < M; ++m) {
          for (int64_t k = 0; k < K; ++k) o[b][c][ix[b][m][k]] += g[b][c][m][k];
        }
      }
    });
  });
  return out;
}

std::pair<torch::Tensor, torch::Tensor> three_nn(const torch::Tensor& unknown,
                                                 const torch::Tensor& known) {
  const int64_t B = unknown.size(0), n = unknown.size(1), m = known.size(1);
  auto dist = torch::empty({B, n, 3}, unknown.options());
  auto idx = torch::empty({B, n, 3}, unknown.options().dtype(torch::kLong));
  AT_DISPATCH_FLOATING_TYPES(unknown.scalar_type(), "three_nn", [&] {
    const scalar_t* ua = unknown.data_ptr<scalar_t>();
    const scalar_t* ka = known.data_ptr<scalar_t>();
    scalar_t* da = dist.data_ptr<scalar_t>();
    int64_t* ia = idx.data_ptr<int64_t>();
    at::parallel_for(0, B * n, kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t bi = begin; bi < end; ++bi) {
        const scalar_t ux = ua[3 * bi], uy = ua[3 * bi + 1], uz = ua[3 * bi + 2];
        const scalar_t* k = ka + (bi / n) * m * 3;
        std::array<scalar_t, 3> best;
        best.fill(std::numeric_limits<scalar_t>::infinity());
        std::array<int64_t, 3> arg{0, 0, 0};
        for (int64_t j = 0; j < m; ++j) {
          const scalar_t dx = k[3 * j] - ux;
          const scalar_t dy = k[3 * j + 1] - uy;
          const scalar_t dz = k[3 * j + 2] - uz;
          const scalar_t d = dx * dx + dy * dy + dz * dz;
          if (d < best[0]) {
            best = {d, best[0], best[1]};
            arg = {j, arg[0], arg[1]};
          } else if (d < best[1]) {
            best = {best[0], d, best[1]};
            arg = {arg[0], j, arg[1]};
          } else if (d < best[2]) {
            best[2] = d;
            arg[2] = j;
          }
        }
        for (int s = 0; s < 3; ++s) {
          da[3 * bi + s] = best[s];
          ia[3 * bi + s] = arg[s];
        }
      }
    });
  });
  return {dist, idx};
}

torch::Tensor three_interpolate_forward(const torch::Tensor& features, const torch::Tensor& idx,
                                        const torch::Tensor& weight) {
  const int64_t B = features.size(0), C = features.size(1), n = idx.size(1);
  auto out = torch::empty({B, C, n}, features.options());
  AT_DISPATCH_FLOATING_TYPES(features.scalar_type(), "three_interpolate_forward", [&] {
    const auto f = features.accessor<scalar_t, 3>();
    const auto ix = idx.accessor<int64_t, 3>();
    const auto w = weight.accessor<scalar_t, 3>();
    auto o = out.accessor<scalar_t, 3>();
    at::parallel_for(0, B * n, kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t bi = begin; bi < end; ++bi) {
        const int64_t b = bi / n, i = bi % n;
        for (int64_t c = 0; c < C; ++c) {
          o[b][c][i] = w[b][i][0] * f[b][c][ix[b][i][0]] + w[b][i][1] * f[b][c][ix[b][i][1]] +
                       w[b][i][2] * f[b][c][ix[b][i][2]];
        }
      }
    });
  });
  return out;
}

std::pair<torch::Tensor, torch::Tensor> three_interpolate_backward(const torch::Tensor& grad,
                                                                   const torch::Tensor& features,
                                                                   const torch::Tensor& idx,
                                                                   const torch::Tensor& weight) {
  const int64_t B = features.size(0), C = features.size(1), m = features.size(2);
  const int64_t n = idx.size(1);
  auto grad_features = torch::zeros({B, C, m}, features.options());
  auto grad_weight = torch::empty({B, n, 3}, weight.options());
  AT_DISPATCH_FLOATING_TYPES(features.scalar_type(), "three_interpolate_backward", [&] {
    const auto g = grad.accessor<scalar_t, 3>();
    const auto f = features.accessor<scalar_t, 3>();
    const auto ix = idx.accessor<int64_t, 3>();
    const auto w = weight.accessor<scalar_t, 3>();
    auto gf = grad_features.accessor<scalar_t, 3>();
    auto gw = grad_weight.accessor<scalar_t, 3>();
    at::parallel_for(0, B * C, 1, [&](int64_t begin, int64_t end) {
      for (int64_t bc = begin; bc < end; ++bc) {
        const int64_t b = bc / C, c = bc % C;
        for (int64_t i = 0; i < n; ++i) {
          for (int64_t j = 0; j < 3; ++j) gf[b][c][ix[b][i][j]] += w[b][i][j] * g[b][c][i];
        }
      }
    });
    at::parallel_for(0, B * n, kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t bi = begin; bi < end; ++bi) {
        const int64_t b = bi / n, i = bi % n;
        for (int64_t j = 0; j < 3; ++j) {
          scalar_t acc = 0;
          for (int64_t c = 0; c < C; ++c) acc += g[b][c][i] * f[b][c][ix[b][i][j]];
          gw[b][i][j] = acc;
        }
      }
    });
  });
  return {grad_features, grad_weight};
}

VoxelAssignment assign_voxels(const torch::Tensor& coords, int64_t r, bool normalize, double eps) {
  auto norm = coords.transpose(1, 2);
  norm = norm - norm.mean(2, /*keepdim=*/true);
  if (normalize) {
    const auto max_norm = std::get<0>(norm.norm(2, 1, /*keepdim=*/true).max(2, /*keepdim=*/true));
    norm = norm / (max_norm * 2.0 + eps) + 0.5;
  } else {
    norm = (norm + 1.0) / 2.0;
  }
  norm = torch::clamp(norm * static_cast<double>(r), 0.0, static_cast<double>(r - 1)).contiguous();
  if (norm.isnan().any().item<bool>()) {
    throw std::invalid_argument(
        "avg_voxelize: coords collapse to one point and eps is 0; pass eps > 0");
  }
  const auto cell = torch::round(norm).to(torch::kLong);
  const auto voxel =
      (cell.select(1, 0) * (r * r) + cell.select(1, 1) * r + cell.select(1, 2)).contiguous();
  const auto counts = torch::zeros({coords.size(0), r * r * r}, voxel.options())
                          .scatter_add_(1, voxel, torch::ones_like(voxel));
  return {norm, voxel, counts.gather(1, voxel), torch::Tensor(), torch::Tensor()};
}

// Sums each voxel's points in point order, then divides by the count: the order the CUDA
// version follows too, so both give the same bits.
torch::Tensor avg_voxelize_forward(const torch::Tensor& features, const VoxelAssignment& a,
                                   int64_t r) {
  const int64_t B = features.size(0), C = features.size(1), N = features.size(2);
  const int64_t voxels = r * r * r;
  const auto vi = a.voxel.accessor<int64_t, 2>();
  // first[b][p]: p is the first point of its voxel, the one that divides the voxel's sum. The
  // division then walks the N points instead of all r^3 voxels of every (b, c) row.
  std::vector<uint8_t> first(B * N);
  at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> seen(voxels);
    for (int64_t b = begin; b < end; ++b) {
      std::fill(seen.begin(), seen.end(), 0);
      for (int64_t p = 0; p < N; ++p) {
        first[b * N + p] = !seen[vi[b][p]];
        seen[vi[b][p]] = 1;
      }
    }
  });
  auto out = torch::zeros({B, C, voxels}, features.options());
  AT_DISPATCH_FLOATING_TYPES(features.scalar_type(), "avg_voxelize_forward", [&] {
    const auto f = features.accessor<scalar_t, 3>();
    const auto cnt = a.count.accessor<int64_t, 2>();
    auto o = out.accessor<scalar_t, 3>();
    at::parallel_for(0, B * C, 1, [&](int64_t begin, int64_t end) {
      for (int64_t bc = begin; bc < end; ++bc) {
        const int64_t b = bc / C, c = bc % C;
        for (int64_t p = 0; p < N; ++p) o[b][c][vi[b][p]] += f[b][c][p];
        for (int64_t p = 0; p < N; ++p) {
          if (first[b * N + p]) o[b][c][vi[b][p]] /= static_cast<scalar_t>(cnt[b][p]);
        }
      }
    });
  });
  return out;
}

torch::Tensor avg_voxelize_backward(const torch::Tensor& grad, const torch::Tensor& voxel,
                                    const torch::Tensor& count) {
  const int64_t B = grad.size(0), C = grad.size(1), N = voxel.size(1);
  auto out = torch::empty({B, C, N}, grad.options());
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "avg_voxelize_backward", [&] {
    const auto g = grad.accessor<scalar_t, 3>();
    const auto vi = voxel.accessor<int64_t, 2>();
    const auto cnt = count.accessor<int64_t, 2>();
    auto o = out.accessor<scalar_t, 3>();
    at::parallel_for(0, B * N, kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t bp = begin; bp < end; ++bp) {
        const int64_t b = bp / N, p = bp % N;
        const auto scale = static_cast<scalar_t>(cnt[b][p]);
        for (int64_t c = 0; c < C; ++c) o[b][c][p] = g[b][c][vi[b][p]] / scale;
      }
    });
  });
  return out;
}

torch::Tensor trilinear_devoxelize_forward(const torch::Tensor& grid, const torch::Tensor& coords,
                                           int64_t r) {
  const int64_t B = grid.size(0), C = grid.size(1), N = coords.size(2);
  auto out = torch::empty({B, C, N}, grid.options());
  AT_DISPATCH_FLOATING_TYPES(grid.scalar_type(), "trilinear_devoxelize_forward", [&] {
    const auto g = grid.accessor<scalar_t, 3>();
    const auto x = coords.accessor<scalar_t, 3>();
    auto o = out.accessor<scalar_t, 3>();
    at::parallel_for(0, B * N, kGrain, [&](int64_t begin, int64_t end) {
      std::array<int64_t, 8> index{};
      std::array<scalar_t, 8> weight{};
      for (int64_t bp = begin; bp < end; ++bp) {
        const int64_t b = bp / N, p = bp % N;
        trilinear_corner(x[b][0][p], x[b][1][p], x[b][2][p], r, index, weight);
        for (int64_t c = 0; c < C; ++c) {
          scalar_t acc = 0;
          for (int corner = 0; corner < 8; ++corner) acc += weight[corner] * g[b][c][index[corner]];
          o[b][c][p] = acc;
        }
      }
    });
  });
  return out;
}

// The corners are computed once per point; each (b, c) row of the result is then owned by one
// task, so the scatter needs no atomics.
torch::Tensor trilinear_devoxelize_backward(const torch::Tensor& grad, const torch::Tensor& coords,
                                            int64_t r) {
  const int64_t B = grad.size(0), C = grad.size(1), N = grad.size(2);
  auto out = torch::zeros({B, C, r * r * r}, grad.options());
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "trilinear_devoxelize_backward", [&] {
    std::vector<std::array<int64_t, 8>> index(B * N);
    std::vector<std::array<scalar_t, 8>> weight(B * N);
    const auto x = coords.accessor<scalar_t, 3>();
    at::parallel_for(0, B * N, kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t bp = begin; bp < end; ++bp) {
        const int64_t b = bp / N, p = bp % N;
        trilinear_corner(x[b][0][p], x[b][1][p], x[b][2][p], r, index[bp], weight[bp]);
      }
    });
    const scalar_t* g = grad.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    const int64_t voxels = r * r * r;
    at::parallel_for(0, B * C, 1, [&](int64_t begin, int64_t end) {
      for (int64_t bc = begin; bc < end; ++bc) {
        const int64_t b = bc / C;
        const scalar_t* grow = g + bc * N;
        scalar_t* orow = o + bc * voxels;
        for (int64_t p = 0; p < N; ++p) {
          const auto& ix = index[b * N + p];
          const auto& w = weight[b * N + p];
          for (int corner = 0; corner < 8; ++corner) orow[ix[corner]] += w[corner] * grow[p];
        }
      }
    });
  });
  return out;
}

}  // namespace shapediff::networks::detail::cpu

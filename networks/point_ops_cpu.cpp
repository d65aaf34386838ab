#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>
#include <torch/torch.h>

#include <array>
#include <cmath>
#include <limits>

#include "networks/point_ops.h"

namespace shapediff::networks {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rows of work below this size are not worth a thread hand-off.
constexpr int64_t kGrain = 64;

void check_cpu_float(const torch::Tensor& t, const char* op, const char* name) {
  TORCH_CHECK(t.defined(), op, ": ", name, " is undefined");
  TORCH_CHECK(t.device().is_cpu(), op, ": ", name, " must be a CPU tensor, got ", t.device());
  TORCH_CHECK(t.is_floating_point(), op, ": ", name, " must be float32/float64, got ",
              t.scalar_type());
}

void check_points(const torch::Tensor& t, const char* op, const char* name) {
  check_cpu_float(t, op, name);
  TORCH_CHECK(t.dim() == 3 && t.size(2) == 3, op, ": ", name, " must be [B, N, 3], got ",
              t.sizes());
  TORCH_CHECK(!t.isnan().any().item<bool>(), op, ": ", name, " contains NaN");
}

void check_index(const torch::Tensor& idx, const char* op, int64_t batch, int64_t limit) {
  TORCH_CHECK(idx.defined() && idx.device().is_cpu(), op, ": idx must be a CPU tensor");
  TORCH_CHECK(idx.scalar_type() == torch::kLong, op, ": idx must be int64, got ",
              idx.scalar_type());
  TORCH_CHECK(idx.dim() == 3 && idx.size(0) == batch, op, ": idx must be [", batch, ", M, k], got ",
              idx.sizes());
  if (idx.numel() > 0) {
    const auto lo = idx.min().item<int64_t>();
    const auto hi = idx.max().item<int64_t>();
    TORCH_CHECK(lo >= 0 && hi < limit, op, ": idx values must lie in [0, ", limit, "), got [", lo,
                ", ", hi, "]");
  }
}

// ---- group ----------------------------------------------------------------------------------

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

class GroupFunction : public torch::autograd::Function<GroupFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& features,
                               const torch::Tensor& idx) {
    ctx->save_for_backward({idx});
    ctx->saved_data["n"] = features.size(2);
    return group_forward(features, idx);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto idx = ctx->get_saved_variables()[0];
    const auto n = ctx->saved_data["n"].toInt();
    return {group_backward(grads[0].contiguous(), idx, n), torch::Tensor()};
  }
};

// ---- three_interpolate ----------------------------------------------------------------------

torch::Tensor interpolate_forward(const torch::Tensor& features, const torch::Tensor& idx,
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

class ThreeInterpolateFunction : public torch::autograd::Function<ThreeInterpolateFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& features,
                               const torch::Tensor& idx, const torch::Tensor& weight) {
    ctx->save_for_backward({features, idx, weight});
    return interpolate_forward(features, idx, weight);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& features = saved[0];
    const auto& idx = saved[1];
    const auto& weight = saved[2];
    const auto grad = grads[0].contiguous();
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
    return {grad_features, torch::Tensor(), grad_weight};
  }
};

// ---- avg_voxelize ---------------------------------------------------------------------------

// Saves the flat voxel index of each point and each voxel's point count for the backward.
class AvgVoxelizeFunction : public torch::autograd::Function<AvgVoxelizeFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& features,
                               const torch::Tensor& voxel_index, int64_t voxels) {
    const int64_t B = features.size(0), C = features.size(1), N = features.size(2);
    auto counts = torch::zeros({B, voxels}, voxel_index.options());
    counts.scatter_add_(1, voxel_index, torch::ones_like(voxel_index));
    auto out = torch::zeros({B, C, voxels}, features.options());
    AT_DISPATCH_FLOATING_TYPES(features.scalar_type(), "avg_voxelize_forward", [&] {
      const auto f = features.accessor<scalar_t, 3>();
      const auto vi = voxel_index.accessor<int64_t, 2>();
      const auto cnt = counts.accessor<int64_t, 2>();
      auto o = out.accessor<scalar_t, 3>();
      at::parallel_for(0, B * C, 1, [&](int64_t begin, int64_t end) {
        for (int64_t bc = begin; bc < end; ++bc) {
          const int64_t b = bc / C, c = bc % C;
          for (int64_t p = 0; p < N; ++p) o[b][c][vi[b][p]] += f[b][c][p];
          for (int64_t v = 0; v < voxels; ++v) {
            if (cnt[b][v] > 0) o[b][c][v] /= static_cast<scalar_t>(cnt[b][v]);
          }
        }
      });
    });
    ctx->save_for_backward({voxel_index, counts});
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& voxel_index = saved[0];
    const auto& counts = saved[1];
    const auto grad = grads[0].contiguous();
    const int64_t B = grad.size(0), C = grad.size(1), N = voxel_index.size(1);
    auto out = torch::empty({B, C, N}, grad.options());
    AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "avg_voxelize_backward", [&] {
      const auto g = grad.accessor<scalar_t, 3>();
      const auto vi = voxel_index.accessor<int64_t, 2>();
      const auto cnt = counts.accessor<int64_t, 2>();
      auto o = out.accessor<scalar_t, 3>();
      at::parallel_for(0, B * N, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t bp = begin; bp < end; ++bp) {
          const int64_t b = bp / N, p = bp % N;
          const int64_t v = vi[b][p];
          const auto scale = static_cast<scalar_t>(cnt[b][v]);
          for (int64_t c = 0; c < C; ++c) o[b][c][p] = g[b][c][v] / scale;
        }
      });
    });
    return {out, torch::Tensor(), torch::Tensor()};
  }
};

// ---- trilinear_devoxelize -------------------------------------------------------------------

// For each point the eight corner voxels (flat index) and weights, PVCNN's layout: a corner
// with zero fractional offset collapses onto the lower voxel, so coords equal to r - 1 stay
// inside the grid.
std::pair<torch::Tensor, torch::Tensor> trilinear_corners(const torch::Tensor& coords, int64_t r) {
  const int64_t B = coords.size(0), N = coords.size(2);
  auto index = torch::empty({B, N, 8}, coords.options().dtype(torch::kLong));
  auto weight = torch::empty({B, N, 8}, coords.options());
  AT_DISPATCH_FLOATING_TYPES(coords.scalar_type(), "trilinear_corners", [&] {
    const auto x = coords.accessor<scalar_t, 3>();
    auto ix = index.accessor<int64_t, 3>();
    auto w = weight.accessor<scalar_t, 3>();
    at::parallel_for(0, B * N, kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t bp = begin; bp < end; ++bp) {
        const int64_t b = bp / N, p = bp % N;
        std::array<int64_t, 3> lo{}, step{};
        std::array<scalar_t, 3> d1{}, d0{};
        const std::array<int64_t, 3> stride{r * r, r, 1};
        for (int a = 0; a < 3; ++a) {
          const scalar_t v = x[b][a][p];
          const scalar_t fl = std::floor(v);
          d1[a] = v - fl;
          d0[a] = scalar_t(1) - d1[a];
          lo[a] = static_cast<int64_t>(fl);
          step[a] = d1[a] > 0 ? stride[a] : 0;
        }
        const int64_t base = lo[0] * stride[0] + lo[1] * stride[1] + lo[2];
        for (int corner = 0; corner < 8; ++corner) {
          const int hx = (corner >> 2) & 1, hy = (corner >> 1) & 1, hz = corner & 1;
          ix[b][p][corner] = base + hx * step[0] + hy * step[1] + hz * step[2];
          w[b][p][corner] = (hx ? d1[0] : d0[0]) * (hy ? d1[1] : d0[1]) * (hz ? d1[2] : d0[2]);
        }
      }
    });
  });
  return {index, weight};
}

torch::Tensor devoxelize_forward(const torch::Tensor& grid, const torch::Tensor& index,
                                 const torch::Tensor& weight) {
  const int64_t B = grid.size(0), C = grid.size(1), N = index.size(1);
  const auto flat = grid.reshape({B, C, -1});
  auto out = torch::empty({B, C, N}, grid.options());
  AT_DISPATCH_FLOATING_TYPES(grid.scalar_type(), "trilinear_devoxelize_forward", [&] {
    const auto g = flat.accessor<scalar_t, 3>();
    const auto ix = index.accessor<int64_t, 3>();
    const auto w = weight.accessor<scalar_t, 3>();
    auto o = out.accessor<scalar_t, 3>();
    at::parallel_for(0, B * N, kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t bp = begin; bp < end; ++bp) {
        const int64_t b = bp / N, p = bp % N;
        for (int64_t c = 0; c < C; ++c) {
          scalar_t acc = 0;
          for (int corner = 0; corner < 8; ++corner)
            acc += w[b][p][corner] * g[b][c][ix[b][p][corner]];
          o[b][c][p] = acc;
        }
      }
    });
  });
  return out;
}

class TrilinearDevoxelizeFunction : public torch::autograd::Function<TrilinearDevoxelizeFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& grid,
                               const torch::Tensor& index, const torch::Tensor& weight) {
    ctx->save_for_backward({index, weight});
    ctx->saved_data["r"] = grid.size(2);
    return devoxelize_forward(grid, index, weight);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& index = saved[0];
    const auto& weight = saved[1];
    const int64_t r = ctx->saved_data["r"].toInt();
    const auto grad = grads[0].contiguous();
    const int64_t B = grad.size(0), C = grad.size(1), N = grad.size(2);
    auto out = torch::zeros({B, C, r * r * r}, grad.options());
    AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "trilinear_devoxelize_backward", [&] {
      const auto g = grad.accessor<scalar_t, 3>();
      const auto ix = index.accessor<int64_t, 3>();
      const auto w = weight.accessor<scalar_t, 3>();
      auto o = out.accessor<scalar_t, 3>();
      at::parallel_for(0, B * C, 1, [&](int64_t begin, int64_t end) {
        for (int64_t bc = begin; bc < end; ++bc) {
          const int64_t b = bc / C, c = bc % C;
          for (int64_t p = 0; p < N; ++p) {
            for (int corner = 0; corner < 8; ++corner) {
              o[b][c][ix[b][p][corner]] += w[b][p][corner] * g[b][c][p];
            }
          }
        }
      });
    });
    return {out.view({B, C, r, r, r}), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor ball_query(const torch::Tensor& centers, const torch::Tensor& points, double radius,
                         int64_t k) {
  check_points(centers, "ball_query", "centers");
  check_points(points, "ball_query", "points");
  TORCH_CHECK(centers.size(0) == points.size(0), "ball_query: batch sizes differ, centers ",
              centers.sizes(), " vs points ", points.sizes());
  TORCH_CHECK(centers.scalar_type() == points.scalar_type(), "ball_query: dtypes differ, ",
              centers.scalar_type(), " vs ", points.scalar_type());
  TORCH_CHECK(points.size(1) >= 1, "ball_query: points is empty");
  TORCH_CHECK(std::isfinite(radius) && radius > 0, "ball_query: radius must be > 0, got ", radius);
  TORCH_CHECK(k >= 1, "ball_query: k must be >= 1, got ", k);
  const auto c = centers.contiguous();
  const auto p = points.contiguous();
  const int64_t B = c.size(0), M = c.size(1), N = p.size(1);
  auto out = torch::zeros({B, M, k}, c.options().dtype(torch::kLong));
  AT_DISPATCH_FLOATING_TYPES(c.scalar_type(), "ball_query", [&] {
    const auto ca = c.accessor<scalar_t, 3>();
    const auto pa = p.accessor<scalar_t, 3>();
    auto o = out.accessor<int64_t, 3>();
    const auto r2 = static_cast<scalar_t>(radius * radius);
    at::parallel_for(0, B * M, kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t bm = begin; bm < end; ++bm) {
        const int64_t b = bm / M, m = bm % M;
        int64_t found = 0;
        for (int64_t n = 0; n < N && found < k; ++n) {
          const scalar_t dx = pa[b][n][0] - ca[b][m][0];
          const scalar_t dy = pa[b][n][1] - ca[b][m][1];
          const scalar_t dz = pa[b][n][2] - ca[b][m][2];
          if (dx * dx + dy * dy + dz * dz < r2) {
            if (found == 0) {
              for (int64_t s = 0; s < k; ++s) o[b][m][s] = n;
            }
            o[b][m][found++] = n;
          }
        }
      }
    });
  });
  return out;
}

torch::Tensor group(const torch::Tensor& features, const torch::Tensor& idx) {
  check_cpu_float(features, "group", "features");
  TORCH_CHECK(features.dim() == 3, "group: features must be [B, C, N], got ", features.sizes());
  check_index(idx, "group", features.size(0), features.size(2));
  return GroupFunction::apply(features.contiguous(), idx.contiguous());
}

std::pair<torch::Tensor, torch::Tensor> three_nn(const torch::Tensor& unknown,
                                                 const torch::Tensor& known) {
  check_points(unknown, "three_nn", "unknown");
  check_points(known, "three_nn", "known");
  TORCH_CHECK(unknown.size(0) == known.size(0), "three_nn: batch sizes differ, unknown ",
              unknown.sizes(), " vs known ", known.sizes());
  TORCH_CHECK(unknown.scalar_type() == known.scalar_type(), "three_nn: dtypes differ, ",
              unknown.scalar_type(), " vs ", known.scalar_type());
  TORCH_CHECK(known.size(1) >= 3, "three_nn: known needs at least 3 points, got ", known.size(1));
  const auto u = unknown.contiguous().detach();
  const auto kn = known.contiguous().detach();
  const int64_t B = u.size(0), n = u.size(1), m = kn.size(1);
  auto dist = torch::empty({B, n, 3}, u.options());
  auto idx = torch::empty({B, n, 3}, u.options().dtype(torch::kLong));
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "three_nn", [&] {
    const auto ua = u.accessor<scalar_t, 3>();
    const auto ka = kn.accessor<scalar_t, 3>();
    auto da = dist.accessor<scalar_t, 3>();
    auto ia = idx.accessor<int64_t, 3>();
    at::parallel_for(0, B * n, kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t bi = begin; bi < end; ++bi) {
        const int64_t b = bi / n, i = bi % n;
        std::array<scalar_t, 3> best;
        best.fill(std::numeric_limits<scalar_t>::infinity());
        std::array<int64_t, 3> arg{0, 0, 0};
        for (int64_t j = 0; j < m; ++j) {
          const scalar_t dx = ka[b][j][0] - ua[b][i][0];
          const scalar_t dy = ka[b][j][1] - ua[b][i][1];
          const scalar_t dz = ka[b][j][2] - ua[b][i][2];
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
          da[b][i][s] = best[s];
          ia[b][i][s] = arg[s];
        }
      }
    });
  });
  return {dist, idx};
}

torch::Tensor three_interpolate(const torch::Tensor& features, const torch::Tensor& idx,
                                const torch::Tensor& weight) {
  check_cpu_float(features, "three_interpolate", "features");
  check_cpu_float(weight, "three_interpolate", "weight");
  TORCH_CHECK(features.dim() == 3, "three_interpolate: features must be [B, C, m], got ",
              features.sizes());
  check_index(idx, "three_interpolate", features.size(0), features.size(2));
  TORCH_CHECK(idx.size(2) == 3, "three_interpolate: idx must be [B, n, 3], got ", idx.sizes());
  TORCH_CHECK(weight.sizes() == idx.sizes(), "three_interpolate: weight must be ", idx.sizes(),
              ", got ", weight.sizes());
  TORCH_CHECK(weight.scalar_type() == features.scalar_type(),
              "three_interpolate: dtypes differ, features ", features.scalar_type(), " vs weight ",
              weight.scalar_type());
  return ThreeInterpolateFunction::apply(features.contiguous(), idx.contiguous(),
                                         weight.contiguous());
}

std::pair<torch::Tensor, torch::Tensor> avg_voxelize(const torch::Tensor& features,
                                                     const torch::Tensor& coords,
                                                     int64_t resolution, bool normalize,
                                                     double eps) {
  check_cpu_float(features, "avg_voxelize", "features");
  check_points(coords, "avg_voxelize", "coords");
  TORCH_CHECK(features.dim() == 3 && features.size(0) == coords.size(0) &&
                  features.size(2) == coords.size(1),
              "avg_voxelize: features must be [B, C, N] matching coords ", coords.sizes(), ", got ",
              features.sizes());
  TORCH_CHECK(coords.size(1) >= 1, "avg_voxelize: coords is empty");
  TORCH_CHECK(resolution >= 1, "avg_voxelize: resolution must be >= 1, got ", resolution);
  TORCH_CHECK(std::isfinite(eps) && eps >= 0, "avg_voxelize: eps must be >= 0, got ", eps);
  const int64_t r = resolution;
  auto norm = coords.detach().transpose(1, 2);
  norm = norm - norm.mean(2, /*keepdim=*/true);
  if (normalize) {
    const auto max_norm = std::get<0>(norm.norm(2, 1, /*keepdim=*/true).max(2, /*keepdim=*/true));
    norm = norm / (max_norm * 2.0 + eps) + 0.5;
  } else {
    norm = (norm + 1.0) / 2.0;
  }
  norm = torch::clamp(norm * static_cast<double>(r), 0.0, static_cast<double>(r - 1)).contiguous();
  TORCH_CHECK(!norm.isnan().any().item<bool>(),
              "avg_voxelize: coords collapse to one point and eps is 0; pass eps > 0");
  const auto cell = torch::round(norm).to(torch::kLong);
  const auto voxel_index =
      (cell.select(1, 0) * (r * r) + cell.select(1, 1) * r + cell.select(1, 2)).contiguous();
  const auto grid = AvgVoxelizeFunction::apply(features.contiguous(), voxel_index, r * r * r);
  return {grid.view({features.size(0), features.size(1), r, r, r}), norm};
}

torch::Tensor trilinear_devoxelize(const torch::Tensor& grid, const torch::Tensor& coords,
                                   int64_t resolution, bool training) {
  check_cpu_float(grid, "trilinear_devoxelize", "grid");
  check_cpu_float(coords, "trilinear_devoxelize", "coords");
  TORCH_CHECK(resolution >= 1, "trilinear_devoxelize: resolution must be >= 1, got ", resolution);
  const int64_t r = resolution;
  TORCH_CHECK(grid.dim() == 5 && grid.size(2) == r && grid.size(3) == r && grid.size(4) == r,
              "trilinear_devoxelize: grid must be [B, C, ", r, ", ", r, ", ", r, "], got ",
              grid.sizes());
  TORCH_CHECK(coords.dim() == 3 && coords.size(0) == grid.size(0) && coords.size(1) == 3,
              "trilinear_devoxelize: coords must be [", grid.size(0), ", 3, N], got ",
              coords.sizes());
  TORCH_CHECK(grid.scalar_type() == coords.scalar_type(),
              "trilinear_devoxelize: dtypes differ, grid ", grid.scalar_type(), " vs coords ",
              coords.scalar_type());
  TORCH_CHECK(!coords.isnan().any().item<bool>(), "trilinear_devoxelize: coords contains NaN");
  if (coords.numel() > 0) {
    const double lo = coords.min().item<double>();
    const double hi = coords.max().item<double>();
    TORCH_CHECK(lo >= 0 && hi <= static_cast<double>(r - 1),
                "trilinear_devoxelize: coords must lie in [0, ", r - 1, "], got [", lo, ", ", hi,
                "]");
  }
  const auto corners = trilinear_corners(coords.detach().contiguous(), r);
  if (!training) {
    torch::NoGradGuard no_grad;
    return devoxelize_forward(grid.detach().contiguous(), corners.first, corners.second);
  }
  return TrilinearDevoxelizeFunction::apply(grid.contiguous(), corners.first, corners.second);
}

}  // namespace shapediff::networks

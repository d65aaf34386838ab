#include "networks/point_ops.h"

#include <c10/util/StringUtil.h>
#include <torch/autograd.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "networks/point_ops_backend.h"
#include "shapediff/config.h"

namespace shapediff::networks {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
namespace cpu = detail::cpu;
#if SHAPEDIFF_WITH_CUDA
namespace cuda = detail::cuda;
#endif

template <typename... Args>
void require(bool ok, const char* op, const Args&... message) {
  if (!ok) throw std::invalid_argument(c10::str(op, ": ", message...));
}

// A defined float32/float64 tensor on the CPU or, in CUDA builds, on a CUDA device.
void check_float(const torch::Tensor& t, const char* op, const char* name) {
  require(t.defined(), op, name, " is undefined");
  require(t.is_cpu() || t.is_cuda(), op, name, " must be a CPU or CUDA tensor, got ", t.device());
  require(!t.is_cuda() || SHAPEDIFF_WITH_CUDA, op, name,
          " is a CUDA tensor but shapediff was built without CUDA");
  require(t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kDouble, op, name,
          " must be float32 or float64, got ", t.scalar_type());
}

void check_same_device(const torch::Tensor& a, const char* a_name, const torch::Tensor& b,
                       const char* b_name, const char* op) {
  require(a.device() == b.device(), op, "devices differ, ", a_name, " on ", a.device(), " vs ",
          b_name, " on ", b.device());
}

// Value checks read the data, so they run on CPU tensors only (see point_ops.h).
void check_no_nan(const torch::Tensor& t, const char* op, const char* name) {
  if (t.is_cpu()) require(!t.isnan().any().item<bool>(), op, name, " contains NaN");
}

void check_points(const torch::Tensor& t, const char* op, const char* name) {
  check_float(t, op, name);
  require(t.dim() == 3 && t.size(2) == 3, op, name, " must be [B, N, 3], got ", t.sizes());
  check_no_nan(t, op, name);
}

void check_index(const torch::Tensor& idx, const torch::Tensor& features, const char* op,
                 int64_t batch, int64_t limit) {
  require(idx.defined(), op, "idx is undefined");
  check_same_device(features, "features", idx, "idx", op);
  require(idx.scalar_type() == torch::kLong, op, "idx must be int64, got ", idx.scalar_type());
  require(idx.dim() == 3 && idx.size(0) == batch, op, "idx must be [", batch, ", M, k], got ",
          idx.sizes());
  if (idx.is_cpu() && idx.numel() > 0) {
    const auto lo = idx.min().item<int64_t>();
    const auto hi = idx.max().item<int64_t>();
    require(lo >= 0 && hi < limit, op, "idx values must lie in [0, ", limit, "), got [", lo, ", ",
            hi, "]");
  }
}

// The CUDA kernels index within one (batch, channel) row with 32-bit integers.
void check_cuda_row(const torch::Tensor& t, int64_t row, const char* op, const char* what) {
  require(!t.is_cuda() || row <= std::numeric_limits<int32_t>::max(), op, what, " (", row,
          ") is too large for the CUDA kernels");
}

// ---- device dispatch ------------------------------------------------------------------------
// Every helper runs the half of point_ops_backend.h that matches its first tensor's device; the
// public functions have already rejected CUDA tensors in builds without CUDA.

torch::Tensor fps_on_device(const torch::Tensor& points, int64_t m) {
#if SHAPEDIFF_WITH_CUDA
  if (points.is_cuda()) return cuda::farthest_point_sample(points, m);
#endif
  return cpu::farthest_point_sample(points, m);
}

torch::Tensor ball_query_on_device(const torch::Tensor& centers, const torch::Tensor& points,
                                   double radius, int64_t k) {
#if SHAPEDIFF_WITH_CUDA
  if (centers.is_cuda()) return cuda::ball_query(centers, points, radius, k);
#endif
  return cpu::ball_query(centers, points, radius, k);
}

torch::Tensor group_forward(const torch::Tensor& features, const torch::Tensor& idx) {
#if SHAPEDIFF_WITH_CUDA
  if (features.is_cuda()) return cuda::group_forward(features, idx);
#endif
  return cpu::group_forward(features, idx);
}

torch::Tensor group_backward(const torch::Tensor& grad, const torch::Tensor& idx, int64_t n) {
#if SHAPEDIFF_WITH_CUDA
  if (grad.is_cuda()) return cuda::group_backward(grad, idx, n);
#endif
  return cpu::group_backward(grad, idx, n);
}

std::pair<torch::Tensor, torch::Tensor> three_nn_on_device(const torch::Tensor& unknown,
                                                           const torch::Tensor& known) {
#if SHAPEDIFF_WITH_CUDA
  if (unknown.is_cuda()) return cuda::three_nn(unknown, known);
#endif
  return cpu::three_nn(unknown, known);
}

torch::Tensor interpolate_forward(const torch::Tensor& features, const torch::Tensor& idx,
                                  const torch::Tensor& weight) {
#if SHAPEDIFF_WITH_CUDA
  if (features.is_cuda()) return cuda::three_interpolate_forward(features, idx, weight);
#endif
  return cpu::three_interpolate_forward(features, idx, weight);
}

std::pair<torch::Tensor, torch::Tensor> interpolate_backward(const torch::Tensor& grad,
                                                             const torch::Tensor& features,
                                                             const torch::Tensor& idx,
                                                             const torch::Tensor& weight) {
#if SHAPEDIFF_WITH_CUDA
  if (grad.is_cuda()) return cuda::three_interpolate_backward(grad, features, idx, weight);
#endif
  return cpu::three_interpolate_backward(grad, features, idx, weight);
}

detail::VoxelAssignment assign_voxels(const torch::Tensor& coords, int64_t r, bool normalize,
                                      double eps) {
#if SHAPEDIFF_WITH_CUDA
  if (coords.is_cuda()) return cuda::assign_voxels(coords, r, normalize, eps);
#endif
  return cpu::assign_voxels(coords, r, normalize, eps);
}

torch::Tensor voxelize_forward(const torch::Tensor& features, const detail::VoxelAssignment& a,
                               int64_t r) {
#if SHAPEDIFF_WITH_CUDA
  if (features.is_cuda()) return cuda::avg_voxelize_forward(features, a, r);
#endif
  return cpu::avg_voxelize_forward(features, a, r);
}

torch::Tensor voxelize_backward(const torch::Tensor& grad, const torch::Tensor& voxel,
                                const torch::Tensor& count) {
#if SHAPEDIFF_WITH_CUDA
  if (grad.is_cuda()) return cuda::avg_voxelize_backward(grad, voxel, count);
#endif
  return cpu::avg_voxelize_backward(grad, voxel, count);
}

torch::Tensor devoxelize_forward(const torch::Tensor& grid, const torch::Tensor& coords,
                                 int64_t r) {
#if SHAPEDIFF_WITH_CUDA
  if (grid.is_cuda()) return cuda::trilinear_devoxelize_forward(grid, coords, r);
#endif
  return cpu::trilinear_devoxelize_forward(grid, coords, r);
}

torch::Tensor devoxelize_backward(const torch::Tensor& grad, const torch::Tensor& coords,
                                  int64_t r) {
#if SHAPEDIFF_WITH_CUDA
  if (grad.is_cuda()) return cuda::trilinear_devoxelize_backward(grad, coords, r);
#endif
  return cpu::trilinear_devoxelize_backward(grad, coords, r);
}

// ---- autograd -------------------------------------------------------------------------------

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

class ThreeInterpolateFunction : public torch::autograd::Function<ThreeInterpolateFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& features,
                               const torch::Tensor& idx, const torch::Tensor& weight) {
    ctx->save_for_backward({features, idx, weight});
    return interpolate_forward(features, idx, weight);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto [grad_features, grad_weight] =
        interpolate_backward(grads[0].contiguous(), saved[0], saved[1], saved[2]);
    return {grad_features, torch::Tensor(), grad_weight};
  }
};

// The assignment is a plain argument (autograd ignores it); the backward keeps only where each
// point went and how many points share its voxel. Works on the flat grid [B, C, r^3].
class AvgVoxelizeFunction : public torch::autograd::Function<AvgVoxelizeFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& features,
                               const detail::VoxelAssignment& assignment, int64_t r) {
    ctx->save_for_backward({assignment.voxel, assignment.count});
    return voxelize_forward(features, assignment, r);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    return {voxelize_backward(grads[0].contiguous(), saved[0], saved[1]), torch::Tensor(),
            torch::Tensor()};
  }
};

// Works on the flat grid [B, C, r^3]; coords [B, 3, N] get no gradient.
class TrilinearDevoxelizeFunction : public torch::autograd::Function<TrilinearDevoxelizeFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& grid,
                               const torch::Tensor& coords, int64_t r) {
    ctx->save_for_backward({coords});
    ctx->saved_data["r"] = r;
    return devoxelize_forward(grid, coords, r);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto coords = ctx->get_saved_variables()[0];
    const int64_t r = ctx->saved_data["r"].toInt();
    return {devoxelize_backward(grads[0].contiguous(), coords, r), torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

torch::Tensor farthest_point_sample(const torch::Tensor& points, int64_t m) {
  constexpr const char* op = "farthest_point_sample";
  check_float(points, op, "points");
  require(points.dim() == 3 && points.size(2) == 3, op, "points must be [B, N, 3], got ",
          points.sizes());
  if (points.is_cpu()) {
    require(torch::isfinite(points).all().item<bool>(), op, "points contains NaN or Inf");
  }
  const int64_t n = points.size(1);
  require(m >= 1 && m <= n, op, "m must be in [1, ", n, "], got ", m);
  check_cuda_row(points, n, op, "N");
  return fps_on_device(points.detach().contiguous(), m);
}

torch::Tensor ball_query(const torch::Tensor& centers, const torch::Tensor& points, double radius,
                         int64_t k) {
  constexpr const char* op = "ball_query";
  check_points(centers, op, "centers");
  check_points(points, op, "points");
  check_same_device(centers, "centers", points, "points", op);
  require(centers.size(0) == points.size(0), op, "batch sizes differ, centers ", centers.sizes(),
          " vs points ", points.sizes());
  require(centers.scalar_type() == points.scalar_type(), op, "dtypes differ, ",
          centers.scalar_type(), " vs ", points.scalar_type());
  require(points.size(1) >= 1, op, "points is empty");
  require(std::isfinite(radius) && radius > 0, op, "radius must be > 0, got ", radius);
  require(k >= 1, op, "k must be >= 1, got ", k);
  check_cuda_row(points, points.size(1), op, "N");
  check_cuda_row(centers, centers.size(1) * k, op, "M * k");
  return ball_query_on_device(centers.detach().contiguous(), points.detach().contiguous(), radius,
                              k);
}

torch::Tensor group(const torch::Tensor& features, const torch::Tensor& idx) {
  constexpr const char* op = "group";
  check_float(features, op, "features");
  require(features.dim() == 3, op, "features must be [B, C, N], got ", features.sizes());
  check_index(idx, features, op, features.size(0), features.size(2));
  check_cuda_row(features, features.size(2), op, "N");
  check_cuda_row(features, idx.size(1) * idx.size(2), op, "M * k");
  return GroupFunction::apply(features.contiguous(), idx.contiguous());
}

std::pair<torch::Tensor, torch::Tensor> three_nn(const torch::Tensor& unknown,
                                                 const torch::Tensor& known) {
  constexpr const char* op = "three_nn";
  check_points(unknown, op, "unknown");
  check_points(known, op, "known");
  check_same_device(unknown, "unknown", known, "known", op);
  require(unknown.size(0) == known.size(0), op, "batch sizes differ, unknown ", unknown.sizes(),
          " vs known ", known.sizes());
  require(unknown.scalar_type() == known.scalar_type(), op, "dtypes differ, ",
          unknown.scalar_type(), " vs ", known.scalar_type());
  require(known.size(1) >= 3, op, "known needs at least 3 points, got ", known.size(1));
  check_cuda_row(unknown, unknown.size(1), op, "n");
  check_cuda_row(known, known.size(1), op, "m");
  return three_nn_on_device(unknown.detach().contiguous(), known.detach().contiguous());
}

torch::Tensor three_interpolate(const torch::Tensor& features, const torch::Tensor& idx,
                                const torch::Tensor& weight) {
  constexpr const char* op = "three_interpolate";
  check_float(features, op, "features");
  check_float(weight, op, "weight");
  require(features.dim() == 3, op, "features must be [B, C, m], got ", features.sizes());
  check_index(idx, features, op, features.size(0), features.size(2));
  check_same_device(features, "features", weight, "weight", op);
  require(idx.size(2) == 3, op, "idx must be [B, n, 3], got ", idx.sizes());
  require(weight.sizes() == idx.sizes(), op, "weight must be ", idx.sizes(), ", got ",
          weight.sizes());
  require(weight.scalar_type() == features.scalar_type(), op, "dtypes differ, features ",
          features.scalar_type(), " vs weight ", weight.scalar_type());
  check_cuda_row(features, features.size(2), op, "m");
  check_cuda_row(features, idx.size(1), op, "n");
  return ThreeInterpolateFunction::apply(features.contiguous(), idx.contiguous(),
                                         weight.contiguous());
}

std::pair<torch::Tensor, torch::Tensor> avg_voxelize(const torch::Tensor& features,
                                                     const torch::Tensor& coords,
                                                     int64_t resolution, bool normalize,
                                                     double eps) {
  constexpr const char* op = "avg_voxelize";
  check_float(features, op, "features");
  check_points(coords, op, "coords");
  check_same_device(features, "features", coords, "coords", op);
  require(features.dim() == 3 && features.size(0) == coords.size(0) &&
              features.size(2) == coords.size(1),
          op, "features must be [B, C, N] matching coords ", coords.sizes(), ", got ",
          features.sizes());
  require(coords.size(1) >= 1, op, "coords is empty");
  require(resolution >= 1, op, "resolution must be >= 1, got ", resolution);
  require(std::isfinite(eps) && eps >= 0, op, "eps must be >= 0, got ", eps);
  const int64_t r = resolution;
  // r^3 must not overflow before the CUDA bound below is checked.
  require(r <= 1290, op, "resolution must be <= 1290, got ", r);
  check_cuda_row(coords, coords.size(0) * r * r * r, op, "B * r^3");
  check_cuda_row(coords, coords.size(0) * coords.size(1), op, "B * N");
  const auto assignment = assign_voxels(coords.detach().contiguous(), r, normalize, eps);
  const auto grid = AvgVoxelizeFunction::apply(features.contiguous(), assignment, r);
  return {grid.view({features.size(0), features.size(1), r, r, r}), assignment.coords};
}

torch::Tensor trilinear_devoxelize(const torch::Tensor& grid, const torch::Tensor& coords,
                                   int64_t resolution, bool training) {
  constexpr const char* op = "trilinear_devoxelize";
  check_float(grid, op, "grid");
  check_float(coords, op, "coords");
  check_same_device(grid, "grid", coords, "coords", op);
  require(resolution >= 1, op, "resolution must be >= 1, got ", resolution);
  const int64_t r = resolution;
  require(grid.dim() == 5 && grid.size(2) == r && grid.size(3) == r && grid.size(4) == r, op,
          "grid must be [B, C, ", r, ", ", r, ", ", r, "], got ", grid.sizes());
  require(coords.dim() == 3 && coords.size(0) == grid.size(0) && coords.size(1) == 3, op,
          "coords must be [", grid.size(0), ", 3, N], got ", coords.sizes());
  require(grid.scalar_type() == coords.scalar_type(), op, "dtypes differ, grid ",
          grid.scalar_type(), " vs coords ", coords.scalar_type());
  check_no_nan(coords, op, "coords");
  if (coords.is_cpu() && coords.numel() > 0) {
    const double lo = coords.min().item<double>();
    const double hi = coords.max().item<double>();
    require(lo >= 0 && hi <= static_cast<double>(r - 1), op, "coords must lie in [0, ", r - 1,
            "], got [", lo, ", ", hi, "]");
  }
  check_cuda_row(grid, r * r * r, op, "r^3");
  check_cuda_row(coords, coords.size(2), op, "N");
  const auto flat = grid.reshape({grid.size(0), grid.size(1), r * r * r});
  const auto c = coords.detach().contiguous();
  if (!training) {
    torch::NoGradGuard no_grad;
    return devoxelize_forward(flat.detach().contiguous(), c, r);
  }
  return TrilinearDevoxelizeFunction::apply(flat.contiguous(), c, r);
}

}  // namespace shapediff::networks

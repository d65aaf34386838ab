#include "shapes/voxelize.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include <torch/torch.h>

#include "shapes/validation.h"

namespace shapediff::shapes {
namespace {

// Cell coordinates [N,3] of points [N,3], still float64 so that range checks come before any
// (possibly overflowing) integer conversion.
torch::Tensor cell_of(const torch::Tensor& points, const std::array<double, 3>& origin,
                      double voxel_size) {
  const auto o = torch::tensor({origin[0], origin[1], origin[2]}, torch::kFloat64);
  return torch::floor((points.to(torch::kCPU, torch::kFloat64) - o) / voxel_size + 0.5);
}

torch::Tensor centers_of(const torch::Tensor& cells, const VoxelGrid& grid) {
  const auto o = torch::tensor({grid.origin[0], grid.origin[1], grid.origin[2]}, torch::kFloat64);
  return (cells.to(torch::kFloat64) * grid.voxel_size + o).to(torch::kFloat32);
}

}  // namespace

VoxelGrid voxelize_points(const torch::Tensor& points, const GridSpec& grid,
                          OutsidePoints outside) {
  const std::string context = "voxelize_points";
  detail::check_matrix(points, 3, context, "points");
  detail::check_finite(points, context, "points");
  if (points.size(0) == 0) throw std::invalid_argument(context + ": points is empty");
  grid.validate(context);
  auto cells = cell_of(points, grid.origin, grid.voxel_size);
  const auto res = torch::tensor(
      {static_cast<double>(grid.resolution[0]), static_cast<double>(grid.resolution[1]),
       static_cast<double>(grid.resolution[2])},
      torch::kFloat64);
  const auto in = ((cells >= 0) & (cells < res)).all(1);
  if (!in.all().item<bool>()) {
    if (outside == OutsidePoints::Throw) {
      const int64_t row = in.logical_not().nonzero()[0][0].item<int64_t>();
      const auto p = points[row].to(torch::kCPU, torch::kFloat64);
      throw std::invalid_argument(context + ": points row " + std::to_string(row) + " (" +
                                  std::to_string(p[0].item<double>()) + ", " +
                                  std::to_string(p[1].item<double>()) + ", " +
                                  std::to_string(p[2].item<double>()) + ") is outside the grid");
    }
    cells = cells.index({in});
  }
  cells = cells.to(torch::kLong);
  auto values = torch::zeros({grid.num_voxels()}, torch::kFloat32);
  const auto linear =
      (cells.select(1, 0) * grid.resolution[1] + cells.select(1, 1)) * grid.resolution[2] +
      cells.select(1, 2);
  values.index_fill_(0, linear, 1.0);
  return grid.make_grid(values, VoxelKind::Occupancy);
}

SparseVoxelization voxelize_points_sparse(const torch::Tensor& points, double voxel_size,
                                          const torch::Tensor& features,
                                          const std::array<double, 3>& origin) {
  const std::string context = "voxelize_points_sparse";
  detail::check_matrix(points, 3, context, "points");
  detail::check_finite(points, context, "points");
  if (!(voxel_size > 0) || !std::isfinite(voxel_size)) {
    throw std::invalid_argument(context + ": voxel_size must be > 0, got " +
                                std::to_string(voxel_size));
  }
  for (int d = 0; d < 3; ++d) {
    if (!std::isfinite(origin[d])) {
      throw std::invalid_argument(context + ": origin[" + std::to_string(d) + "] is not finite");
    }
  }
  const int64_t n = points.size(0);
  if (n == 0) throw std::invalid_argument(context + ": points is empty");
  if (features.defined()) {
    if (features.dim() != 2 || !at::isFloatingType(features.scalar_type())) {
      throw std::invalid_argument(context + ": features must be a floating [N,C] tensor, got " +
                                  c10::str(features.sizes()));
    }
    detail::check_rows(features, n, context, "features");
    detail::check_finite(features, context, "features");
  }
  const auto cells = cell_of(points, origin, voxel_size);
  const double lo = cells.min().item<double>(), hi = cells.max().item<double>();
  if (lo < std::numeric_limits<int32_t>::min() || hi > std::numeric_limits<int32_t>::max()) {
    throw std::invalid_argument(context + ": cell coordinates [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "] do not fit int32 at voxel_size " +
                                std::to_string(voxel_size));
  }
  SparseVoxelization out;
  out.voxels.origin = origin;
  out.voxels.voxel_size = voxel_size;
  auto [unique, inverse, counts] = at::unique_dim(cells.to(torch::kLong), 0, /*sorted=*/true,
                                                  /*return_inverse=*/true, /*return_counts=*/true);
  const int64_t k = unique.size(0);
  out.voxels.coords = unique.to(torch::kInt);
  out.counts = counts;
  out.point_to_voxel = inverse;
  if (features.defined()) {
    auto sums = torch::zeros({k, features.size(1)}, torch::kFloat64);
    sums.index_add_(0, inverse, features.to(torch::kCPU, torch::kFloat64));
    out.voxels.features = (sums / counts.to(torch::kFloat64).unsqueeze(1)).to(torch::kFloat32);
  } else {
    out.voxels.features = torch::ones({k, 1}, torch::kFloat32);
  }
  return out;
}

torch::Tensor inside_mask(const VoxelGrid& grid) {
  grid.validate("inside_mask");
  const auto v = grid.values.to(torch::kCPU);
  return grid.kind == VoxelKind::Occupancy ? v > 0.5 : v <= 0;
}

torch::Tensor occupied_centers(const VoxelGrid& grid) {
  return centers_of(inside_mask(grid).nonzero(), grid);
}

torch::Tensor surface_centers(const VoxelGrid& grid) {
  const auto inside = inside_mask(grid);
  const auto padded =
      torch::constant_pad_nd(inside.to(torch::kByte), {1, 1, 1, 1, 1, 1}, 0).to(torch::kBool);
  const auto r = grid.resolution();
  auto interior = inside.clone();
  for (int d = 0; d < 3; ++d) {
    interior &= padded.narrow(0, d == 0 ? 0 : 1, r[0])
                    .narrow(1, d == 1 ? 0 : 1, r[1])
                    .narrow(2, d == 2 ? 0 : 1, r[2]);
    interior &= padded.narrow(0, d == 0 ? 2 : 1, r[0])
                    .narrow(1, d == 1 ? 2 : 1, r[1])
                    .narrow(2, d == 2 ? 2 : 1, r[2]);
  }
  return centers_of((inside & interior.logical_not()).nonzero(), grid);
}

}  // namespace shapediff::shapes

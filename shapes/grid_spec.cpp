#include "shapes/grid_spec.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <torch/torch.h>

namespace shapediff::shapes {

GridSpec GridSpec::from_bounds(const std::array<double, 3>& lo, const std::array<double, 3>& hi,
                               int64_t resolution) {
  if (resolution < 2) {
    throw std::invalid_argument("GridSpec::from_bounds: resolution must be >= 2, got " +
                                std::to_string(resolution));
  }
  double longest = 0;
  for (int d = 0; d < 3; ++d) {
    if (!std::isfinite(lo[d]) || !std::isfinite(hi[d]) || hi[d] < lo[d]) {
      throw std::invalid_argument("GridSpec::from_bounds: bounds axis " + std::to_string(d) +
                                  " is not a finite interval [" + std::to_string(lo[d]) + ", " +
                                  std::to_string(hi[d]) + "]");
    }
    longest = std::max(longest, hi[d] - lo[d]);
  }
  if (!(longest > 0)) {
    throw std::invalid_argument("GridSpec::from_bounds: bounds box has zero size");
  }
  GridSpec spec;
  spec.voxel_size = longest / static_cast<double>(resolution - 1);
  spec.resolution = {resolution, resolution, resolution};
  const double half_span = 0.5 * spec.voxel_size * static_cast<double>(resolution - 1);
  for (int d = 0; d < 3; ++d) spec.origin[d] = 0.5 * (lo[d] + hi[d]) - half_span;
  return spec;
}

GridSpec GridSpec::of(const VoxelGrid& grid) {
  grid.validate("GridSpec::of");
  GridSpec spec;
  spec.origin = grid.origin;
  spec.voxel_size = grid.voxel_size;
  spec.resolution = grid.resolution();
  return spec;
}

void GridSpec::validate(const std::string& context) const {
  for (int d = 0; d < 3; ++d) {
    if (resolution[d] < 1) {
      throw std::invalid_argument(context + ": grid resolution[" + std::to_string(d) +
                                  "] must be >= 1, got " + std::to_string(resolution[d]));
    }
    if (!std::isfinite(origin[d])) {
      throw std::invalid_argument(context + ": grid origin[" + std::to_string(d) +
                                  "] is not finite");
    }
  }
  if (!(voxel_size > 0) || !std::isfinite(voxel_size)) {
    throw std::invalid_argument(context + ": grid voxel_size must be > 0, got " +
                                std::to_string(voxel_size));
  }
}

torch::Tensor GridSpec::centers(torch::Dtype dtype) const {
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  std::vector<torch::Tensor> axes;
  for (int d = 0; d < 3; ++d)
    axes.push_back(torch::arange(resolution[d], f64) * voxel_size + origin[d]);
  const auto mesh = torch::meshgrid(axes, "ij");
  return torch::stack({mesh[0].reshape(-1), mesh[1].reshape(-1), mesh[2].reshape(-1)}, 1)
      .to(dtype)
      .contiguous();
}

VoxelGrid GridSpec::make_grid(const torch::Tensor& values, VoxelKind kind) const {
  if (!values.defined() || values.numel() != num_voxels()) {
    throw std::invalid_argument("GridSpec::make_grid: values must hold " +
                                std::to_string(num_voxels()) + " voxels, got " +
                                (values.defined() ? c10::str(values.sizes()) : "nothing"));
  }
  VoxelGrid grid;
  grid.values = values.reshape({resolution[0], resolution[1], resolution[2]}).to(torch::kFloat32);
  grid.origin = origin;
  grid.voxel_size = voxel_size;
  grid.kind = kind;
  return grid;
}

}  // namespace shapediff::shapes

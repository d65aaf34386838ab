#include "shapes/sparse_voxels.h"

#include <cmath>
#include <stdexcept>

#include <torch/torch.h>

#include "shapes/validation.h"

namespace shapediff::shapes {

void SparseVoxels::validate(const std::string& context) const {
  detail::check_matrix(coords, 3, context, "coords", /*integer=*/true);
  if (!features.defined() || features.dim() != 2) {
    throw std::invalid_argument(context + ": features must be [N,C]");
  }
  detail::check_rows(features, coords.size(0), context, "features");
  detail::check_finite(features, context, "features");
  if (!(voxel_size > 0) || !std::isfinite(voxel_size)) {
    throw std::invalid_argument(context + ": voxel_size must be > 0, got " + std::to_string(voxel_size));
  }
  if (coords.size(0) > 1) {
    const auto unique = std::get<0>(at::unique_dim(coords, 0));
    if (unique.size(0) != coords.size(0)) {
      throw std::invalid_argument(context + ": coords contain " +
                                  std::to_string(coords.size(0) - unique.size(0)) +
                                  " duplicate cells");
    }
  }
}

torch::Tensor SparseVoxels::centers() const {
  auto o = torch::tensor({origin[0], origin[1], origin[2]}, torch::kFloat32);
  return coords.to(torch::kFloat32) * static_cast<float>(voxel_size) + o;
}

}  // namespace shapediff::shapes

#include "diffusion/sparse_voxel_training.h"

#include <stdexcept>
#include <string>

#include <torch/torch.h>

#include "shapes/grid_spec.h"
#include "shapes/oriented_points_sdf.h"

namespace shapediff::diffusion {
namespace {

torch::Tensor normalized_sdf(const torch::Tensor& points, const torch::Tensor& normals, int64_t grid,
                             double truncation_voxels) {
  const auto spec = shapes::GridSpec::from_bounds({-1, -1, -1}, {1, 1, 1}, grid);
  const double truncation = truncation_voxels * spec.voxel_size;
  // As the dense voxel targets (point_training.cpp): far signs from connectivity.
  const auto sdf = shapes::connected_far_signs(
      shapes::truncated_sdf_from_oriented_points(points, normals, spec, truncation), truncation);
  return (sdf.values / truncation).to(torch::kFloat32).contiguous();
}

}  // namespace

SparseVoxelTargets sparse_voxel_targets(const torch::Tensor& points, const torch::Tensor& normals,
                                        const SparseVoxelSettings& s) {
  SparseVoxelTargets t;
  t.fine = normalized_sdf(points, normals, s.grid, s.truncation);
  t.coarse = normalized_sdf(points, normals, s.coarse_grid, s.coarse_truncation);
  return t;
}

torch::Tensor sparse_voxel_loss(sparse::SparseUNet& net, const NoiseSchedule& schedule,
                                const SparseVoxelBatch& batch, const torch::Tensor& timesteps,
                                const torch::Tensor& noise, const torch::Tensor& labels,
                                const LossOptions& options) {
  if (!batch.values.defined()) throw std::invalid_argument("sparse_voxel_loss: the batch has no fine values");
  if (batch.cells() == 0) throw std::invalid_argument("sparse_voxel_loss: the batch has no band cells");
  if (timesteps.dim() != 1 || timesteps.size(0) != batch.shapes()) {
    throw std::invalid_argument("sparse_voxel_loss: timesteps must be [" + std::to_string(batch.shapes()) +
                                "], one per shape");
  }
  // One timestep per cell: its shape's.
  const auto cell_t = timesteps.index_select(0, batch.coords.select(1, 0).to(torch::kLong));
  NoisedBatch noised;
  noised.noise = noise;
  noised.timesteps = cell_t;
  noised.x_t = schedule.add_noise(batch.values, noise, cell_t);
  noised.target = prediction_target(schedule, batch.values, noise, cell_t, schedule.prediction());
  const sparse::SparseTensor x(batch.coords, torch::cat({noised.x_t, batch.coarse}, 1));
  const auto out = net->forward(x, timesteps, labels).features();
  return diffusion_loss(schedule, out.to(torch::kFloat32), noised, {}, options);
}

}  // namespace shapediff::diffusion

// The training pieces of a sparse-voxel model (docs/sparse_voxels.md): a shape's fine and
// coarse truncated signed-distance grids from its oriented points, and the denoising loss on a
// batch of band cells. The trainer (diffusion/point_training.h) draws the batches, timesteps,
// noise and labels, exactly as for the other representations.
//
//   auto targets = sparse_voxel_targets(points, normals, settings);  // fine [R,R,R], coarse [Gc,Gc,Gc]
//   auto batch = sparse_voxel_batch(coarse [B,Gc,Gc,Gc], fine [B,R,R,R], settings);
//   auto noise = torch::randn({batch.cells(), 1}, gen);
//   auto loss = sparse_voxel_loss(net, schedule, batch, timesteps /*[B]*/, noise, labels, {});
#pragma once

#include <torch/types.h>

#include "diffusion/noise_schedule.h"
#include "diffusion/sparse_voxel_band.h"
#include "diffusion/sparse_voxel_settings.h"
#include "diffusion/training_loss.h"
#include "networks/sparse/sparse_unet.h"

namespace shapediff::diffusion {

struct SparseVoxelTargets {
  torch::Tensor fine;    // [R,R,R] float32: signed distance / (truncation * fine voxel), clamped
  torch::Tensor coarse;  // [Gc,Gc,Gc] float32: the same at the coarse grid, as the stage-1
                         // voxel model of those settings sees the shape
};

// points [N,3], normals [N,3] on the CPU, the dataset's stored frame (the grids span [-1, 1]^3).
SparseVoxelTargets sparse_voxel_targets(const torch::Tensor& points, const torch::Tensor& normals,
                                        const SparseVoxelSettings& settings);

// The mean over the batch's cells of the squared error between the network's output and the
// schedule's prediction target, every cell noised at its shape's timestep. timesteps [B]
// integer, noise [N,1], labels [B] (or undefined for an unconditional net); all on the net's
// device, as the batch. The network sees [x_t, upsampled coarse] per cell.
torch::Tensor sparse_voxel_loss(sparse::SparseUNet& net, const NoiseSchedule& schedule,
                                const SparseVoxelBatch& batch, const torch::Tensor& timesteps,
                                const torch::Tensor& noise, const torch::Tensor& labels,
                                const LossOptions& options = {});

}  // namespace shapediff::diffusion

// The active cells of a sparse-voxel model (diffusion/sparse_voxel_settings.h): the narrow
// band of fine cells around the surface that a coarse truncated signed-distance grid sees, as
// one variable-size batch of sparse cells for the SparseUNet, and back to dense fine grids.
//
// Grids hold normalized truncated signed distances (negative inside, in [-1, 1]): the coarse
// grid [B,Gc,Gc,Gc] in units of coarse_truncation coarse voxels, the fine grid [B,R,R,R] in
// units of truncation fine voxels. Both span [-1, 1]^3 corner-aligned, so fine cell i sits at
// coarse index i * (Gc - 1) / (R - 1) and upsampling is trilinear with aligned corners.
//
//   auto up = upsample_coarse_grid(coarse, s.grid);               // [B,R,R,R]
//   auto batch = sparse_voxel_batch(coarse, fine, s);             // cells of B shapes
//   batch.coords [N,4] int32 (b, x, y, z); batch.coarse [N,1]; batch.values [N,1]; counts [B]
//   auto dense = assemble_fine_grids(batch, values, up);          // [B,R,R,R]
#pragma once

#include <cstdint>

#include <torch/types.h>

#include "diffusion/sparse_voxel_settings.h"

namespace shapediff::diffusion {

// Trilinear, corner-aligned: coarse [B,Gc,Gc,Gc] float -> [B,R,R,R] float32 on its device.
torch::Tensor upsample_coarse_grid(const torch::Tensor& coarse, int64_t grid);

// Bool [B,R,R,R]: cells whose upsampled coarse distance (upsampled [B,R,R,R], coarse units) is
// at most settings.band fine voxels, grown by settings.dilation cells (a (2d+1)^3 cube).
torch::Tensor surface_band(const torch::Tensor& upsampled, const SparseVoxelSettings& settings);

// The band cells of B shapes concatenated, shape by shape, each in row-major (x, y, z) order.
struct SparseVoxelBatch {
  torch::Tensor coords;  // int32 [N,4]: batch index, x, y, z (fine cells)
  torch::Tensor coarse;  // float32 [N,1]: the upsampled coarse value of each cell (the condition)
  torch::Tensor values;  // float32 [N,1]: the fine value (the diffused feature); undefined
                         // when the batch was built without fine grids (sampling)
  torch::Tensor counts;  // int64 [B]: cells per shape
  int64_t shapes() const { return counts.size(0); }
  int64_t cells() const { return coords.size(0); }
};

// coarse [B,Gc,Gc,Gc] with Gc = settings.coarse_grid; fine [B,R,R,R] with R = settings.grid, or
// undefined. Tensors stay on coarse's device. Throws std::invalid_argument naming the argument
// and its shape when the sizes disagree with the settings or each other.
SparseVoxelBatch sparse_voxel_batch(const torch::Tensor& coarse, const torch::Tensor& fine,
                                    const SparseVoxelSettings& settings);

// Shapes [begin, end) of a batch, their batch indices renumbered from 0 (a data-parallel
// rank's share).
SparseVoxelBatch select_shapes(const SparseVoxelBatch& batch, int64_t begin, int64_t end);

// Dense fine grids [B,R,R,R]: `values` [N,1] (or [N]) on the batch's cells, and outside the
// band the sign of the upsampled coarse grid (-1 inside, +1 outside, +1 at exactly 0).
torch::Tensor assemble_fine_grids(const SparseVoxelBatch& batch, const torch::Tensor& values,
                                  const torch::Tensor& upsampled);

}  // namespace shapediff::diffusion

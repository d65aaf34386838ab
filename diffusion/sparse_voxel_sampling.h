// Generating shapes with the two-stage voxel pipeline (docs/sparse_voxels.md): a stage-1 dense
// voxel model samples coarse truncated signed-distance grids (diffusion/point_sampling.h
// sample_grids), then a sparse-voxel model denoises the fine values of the band cells around
// each coarse surface (diffusion/sparse_voxel_band.h), conditioned on the upsampled coarse
// grid, and the fine dense grid is assembled: band values inside the band, the coarse sign
// outside it.
//
//   auto fine = load_point_model("runs/sparse/model.pt");     // representation sparse_voxels
//   auto coarse = load_point_model("runs/voxels/model.pt");   // its stage 1
//   PointSampleOptions o;  o.count = 4;  o.steps = 100;  o.sampler = SamplerKind::DDPM;
//   o.sampler_options.clip_sample = true;
//   SparseVoxelSamples s = sample_sparse_voxels(fine, coarse, o);
//   s.grids [4,R,R,R], s.coarse [4,Gc,Gc,Gc], s.band_cells [4], s.labels [4]
//
// Seeds: stage 1 batch j draws from seed + j (as sample_grids does), stage 2 batch j from
// seed + batches + j, so a given (seed, batch_size) always gives the same grids.
#pragma once

#include <cstdint>
#include <string>

#include <torch/types.h>

#include "diffusion/point_model.h"
#include "diffusion/point_sampling.h"
#include "diffusion/sparse_voxel_settings.h"
#include "networks/sparse/sparse_unet.h"

namespace shapediff::diffusion {

struct SparseVoxelSamples {
  torch::Tensor grids;       // [K,R,R,R] float32, CPU: the assembled fine grids in [-1, 1]
  torch::Tensor coarse;      // [K,Gc,Gc,Gc] float32, CPU: the stage-1 grids they refine
  torch::Tensor labels;      // [K] int64 (the null label for unconditional shapes)
  torch::Tensor band_cells;  // [K] int64: active cells per shape
};

// Stage 2 alone, on given coarse grids [K,Gc,Gc,Gc] (any device; moved to options.device).
// Uses options' count (must equal K), sampler, steps, label, guidance, seed, batch_size, device
// and on_progress; std::invalid_argument for a bad count, steps, label or coarse shape.
SparseVoxelSamples refine_coarse_grids(sparse::SparseUNet& net, const SparseVoxelSettings& settings,
                                       int64_t num_classes, const ScheduleConfig& schedule,
                                       const torch::Tensor& coarse, const PointSampleOptions& options);

// Whether `coarse` can be the stage 1 of `fine`: a voxel model of fine's coarse_grid and
// coarse_truncation with the same classes. Throws std::invalid_argument
// "<coarse_name>: not the stage 1 of this sparse-voxel model (voxels.grid 32, the sparse model
// wants coarse_grid 16)"; also when `fine` is not a sparse-voxel model.
void check_coarse_model(const PointModelConfig& fine, const PointModelConfig& coarse,
                        const std::string& coarse_name);

// Both stages: check_coarse_model, sample_grids on the coarse model, refine_coarse_grids.
// on_progress counts the steps of both stages.
SparseVoxelSamples sample_sparse_voxels(PointModel& fine, PointModel& coarse, const PointSampleOptions& options);

}  // namespace shapediff::diffusion

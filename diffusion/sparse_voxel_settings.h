// The settings of a sparse-voxel model, stage 2 of the two-stage voxel pipeline
// (docs/sparse_voxels.md): a stage-1 dense voxel model generates a coarse truncated signed-
// distance grid (coarse_grid cells a side); the sparse model refines it on a grid of `grid`
// cells a side (both grids span [-1, 1]^3 with their outer cell centres on the cube's faces,
// as shapes::GridSpec::from_bounds places them), on the narrow band of fine cells around the
// surface the coarse grid sees (diffusion/sparse_voxel_band.h).
//
// Units: truncation and band are in fine voxels (2 / (grid - 1) world units), coarse_truncation
// in coarse voxels; dilation in fine cells.
//
//   SparseVoxelSettings s;   s.grid = 32;  s.coarse_grid = 16;  s.unet = SparseUNetPreset::Tiny;
//   s.validate("config");                       // std::invalid_argument naming the field
//   nlohmann::json j = sparse_voxel_settings_to_json(s);
//   // {"grid": 32, "coarse_grid": 16, "truncation": 3, "coarse_truncation": 3, "band": 2,
//   //  "dilation": 1, "coarse_noise": 0, "unet": "tiny"}
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "io/json_fields.h"
#include "networks/sparse/sparse_unet.h"

namespace shapediff::diffusion {

struct SparseVoxelSettings {
  int64_t grid = 64;               // fine cells a side
  int64_t coarse_grid = 32;        // the stage-1 voxel model's voxels.grid
  double truncation = 3.0;         // fine voxels: the fine signed distance is clamped beyond it
  double coarse_truncation = 3.0;  // coarse voxels: the stage-1 model's voxels.truncation
  // Fine voxels: a fine cell is active when the trilinearly upsampled coarse signed distance is
  // within band * fine voxel size of zero; then the active set grows by `dilation` cells.
  double band = 2.0;
  int64_t dilation = 1;
  // Training only: the standard deviation of Gaussian noise added to the coarse grid before
  // the band and the condition are taken from it, so that the model sees coarse grids as
  // imperfect as a stage-1 model's samples (conditioning augmentation).
  double coarse_noise = 0.0;
  sparse::SparseUNetPreset unet = sparse::SparseUNetPreset::Small;

  double voxel_size() const { return 2.0 / static_cast<double>(grid - 1); }
  double coarse_voxel_size() const { return 2.0 / static_cast<double>(coarse_grid - 1); }

  // Throws std::invalid_argument "<context>: sparse_voxels.<field> must be ..., got ...".
  void validate(const std::string& context) const;
};

// The SparseUNet of a sparse-voxel model: 2 input channels (the noisy fine value and the
// upsampled coarse value), 1 output channel.
sparse::SparseUNetOptions sparse_voxel_network(const SparseVoxelSettings& settings, int64_t num_classes);

// The fields above under their own names ("unet" holds the preset's name).
nlohmann::json sparse_voxel_settings_to_json(const SparseVoxelSettings& settings);
// Reads the fields from `fields`, every one optional except grid and coarse_grid; the preset
// is read by the caller (its key differs between model and training configs). Does not call
// finish() or validate().
void read_sparse_voxel_fields(io::JsonFields& fields, SparseVoxelSettings& settings);

// The first field in which two settings differ, as "sparse_voxels.grid 32 vs 64".
std::optional<std::string> sparse_voxel_difference(const SparseVoxelSettings& a, const SparseVoxelSettings& b);

}  // namespace shapediff::diffusion

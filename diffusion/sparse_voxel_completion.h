// Masked completion of a partial scan with the two-stage voxel pipeline (docs/sparse_voxels.md):
// the cells whose value the scan determines are fixed on both grids, and the replacement
// strategy of diffusion/completion.h generates the rest, first the coarse dense grid (stage 1,
// a dense mask), then the fine values on the band around the completed coarse surface (stage 2,
// a mask over the band's rows).
//
// Known cells: a cell is known when its centre lies within `known_distance` voxels (of that
// grid) of a scan point; its value is the normalized truncated signed distance of the scan's
// oriented points (shapes/oriented_points_sdf.h), computed as the trainers compute their
// targets. Only cells this close are trusted: farther away the nearest scan point need not be
// the nearest surface point, since the scan misses part of the surface. Scans without normals
// get them from estimate_scan_normals.
//
//   auto normals = estimate_scan_normals(points);          // points [M,3] in [-1, 1]^3
//   SparseVoxelCompletionOptions o;  o.count = 2;  o.steps = 100;
//   auto c = complete_sparse_voxels(fine, coarse, points, normals, o);
//   c.samples.grids [2,R,R,R], c.samples.coarse [2,Gc,Gc,Gc]
//   // c.samples.coarse[k] == c.coarse_known where c.coarse_mask, and the fine grids equal
//   // c.fine_known where c.fine_mask on the band.
//
// Seeds: stage 1 draws from seed, stage 2 from seed + 1.
//
// A voxel model alone (complete_voxels) runs stage 1 only. grid_surface_points meshes a
// completed grid and samples its surface, for scoring against a shape's points:
//   auto v = complete_voxels(coarse, points, normals, o);   // v.grids [2,Gc,Gc,Gc]
//   auto surface = grid_surface_points(c.samples.grids[0], 2048, /*seed=*/0);  // [2048,3]
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include <torch/types.h>

#include "diffusion/completion.h"
#include "diffusion/point_model.h"
#include "diffusion/sampler.h"
#include "diffusion/sparse_voxel_sampling.h"
#include "shapes/triangle_mesh.h"

namespace shapediff::diffusion {

// Unit normals [M,3] float32 for points [M,3] (CPU, finite, M > neighbors): the direction of
// least variance of each point's `neighbors` nearest points (itself included), turned to point
// away from the origin. The orientation assumes the scan of one object centred in its frame
// (as shapes/scan_preparation.h leaves it); concave regions facing the centre get inward
// normals. Throws std::invalid_argument naming the shape or the point count.
torch::Tensor estimate_scan_normals(const torch::Tensor& points, int64_t neighbors = 16);

struct SparseVoxelCompletionOptions {
  int64_t count = 1;  // completions of the scan, all in one batch per stage
  CompletionStrategy strategy = CompletionStrategy::Replacement;  // the only one supported
  SamplerKind sampler = SamplerKind::DDPM;
  SamplerOptions sampler_options;  // clip_sample is forced on: grids live in [-1, 1]
  int64_t steps = 100;
  std::optional<int64_t> label;  // class index; unset: the null label
  double guidance = 1.0;         // classifier-free guidance scale (needs a label)
  uint64_t seed = 0;
  double known_distance = 1.0;  // voxels of each grid, in (0, that grid's truncation)
  torch::Device device = torch::kCPU;
  std::function<void(int64_t done, int64_t total)> on_progress;  // steps of both stages
};

struct SparseVoxelCompletion {
  SparseVoxelSamples samples;  // grids [K,R,R,R], coarse [K,Gc,Gc,Gc], labels, band_cells
  torch::Tensor coarse_known;  // [Gc,Gc,Gc] float32: the scan's values (meaningful where known)
  torch::Tensor coarse_mask;   // [Gc,Gc,Gc] bool: the known coarse cells
  torch::Tensor fine_known;    // [R,R,R] float32
  torch::Tensor fine_mask;     // [R,R,R] bool: the known fine cells (fixed where on the band)
  torch::Tensor band_known;    // [K] int64: band cells of each completion fixed by the scan
};

// points, normals [M,3] in the grids' frame ([-1, 1]^3, the dataset frame), M >= 1. Throws
// std::invalid_argument for a coarse model that is not fine's stage 1 (check_coarse_model), a
// strategy other than replacement, bad count/steps/label/guidance/known_distance, bad point
// or normal tensors, or a scan that fixes no coarse cell.
SparseVoxelCompletion complete_sparse_voxels(PointModel& fine, PointModel& coarse, const torch::Tensor& points,
                                             const torch::Tensor& normals, const SparseVoxelCompletionOptions& options);

struct VoxelCompletion {
  torch::Tensor grids;  // [K,G,G,G] float32 CPU
  torch::Tensor known;  // [G,G,G] float32: the scan's values (meaningful where known)
  torch::Tensor mask;   // [G,G,G] bool: the known cells
};

// Stage 1 alone: a voxel model (representation voxels) completes the scan as dense grids with
// the same known cells and options as complete_sparse_voxels (known_distance below the model's
// truncation; on_progress counts this stage's steps). Throws std::invalid_argument for another
// representation, the bad options and tensors complete_sparse_voxels refuses, or a scan that
// fixes no cell.
VoxelCompletion complete_voxels(PointModel& model, const torch::Tensor& points, const torch::Tensor& normals,
                                const SparseVoxelCompletionOptions& options);

// The surface of a voxel model's grid [G,G,G] (values in [-1, 1], spanning [-1, 1]^3 of the
// dataset frame, so the vertices are in the dataset's stored frame): its zero level set by
// classic marching cubes, less the faces of cubes whose eight corners are all saturated
// (|value| >= kSaturatedValue). Such corners are a truncation or more from every surface
// and carry only a sign: a crossing between them is a sign flip, not surface. The training
// targets no longer have such flips (shapes::connected_far_signs), but a model's grid can. On
// the 18 procedural test shapes of benchmarks/RESULTS.md, targets signed by the nearest sample
// alone lie at Chamfer distance 0.042 from their shapes at 32^3 when meshed whole; with
// connected far signs 0.0075 meshed whole and 0.0076 with those faces dropped.
// Throws std::invalid_argument for a grid that is not [G,G,G] with G >= 2.
constexpr double kSaturatedValue = 0.99;
shapes::TriangleMesh grid_surface(const torch::Tensor& grid);

// `count` points drawn uniformly (seeded) on grid_surface(grid), float32 [count,3] in the
// dataset's stored frame; [0,3] when the grid has no surface. Throws std::invalid_argument for
// a bad grid or count < 1.
torch::Tensor grid_surface_points(const torch::Tensor& grid, int64_t count, uint64_t seed);

}  // namespace shapediff::diffusion

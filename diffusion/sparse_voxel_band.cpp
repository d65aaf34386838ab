#include "diffusion/sparse_voxel_band.h"

#include <sstream>
#include <stdexcept>
#include <string>

#include <torch/torch.h>

namespace shapediff::diffusion {
namespace {

std::string shape_of(const torch::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

void check_grids(const torch::Tensor& grids, int64_t size, const std::string& name) {
  if (!grids.defined() || grids.dim() != 4 || grids.size(1) != size || grids.size(2) != size ||
      grids.size(3) != size || !grids.is_floating_point()) {
    throw std::invalid_argument("sparse voxels: " + name + " must be floating point [B," + std::to_string(size) +
                                "," + std::to_string(size) + "," + std::to_string(size) + "], got " +
                                (grids.defined() ? shape_of(grids) + " " + std::string(grids.dtype().name())
                                                 : std::string("an undefined tensor")));
  }
}

}  // namespace

torch::Tensor upsample_coarse_grid(const torch::Tensor& coarse, int64_t grid) {
  if (!coarse.defined() || coarse.dim() != 4 || !coarse.is_floating_point()) {
    throw std::invalid_argument("upsample_coarse_grid: coarse must be floating point [B,G,G,G], got " +
                                (coarse.defined() ? shape_of(coarse) : std::string("undefined")));
  }
  namespace F = torch::nn::functional;
  return F::interpolate(coarse.to(torch::kFloat32).unsqueeze(1),
                        F::InterpolateFuncOptions()
                            .size(std::vector<int64_t>{grid, grid, grid})
                            .mode(torch::kTrilinear)
                            .align_corners(true))
      .squeeze(1);
}

torch::Tensor surface_band(const torch::Tensor& upsampled, const SparseVoxelSettings& s) {
  check_grids(upsampled, s.grid, "upsampled");
  // The coarse unit in fine voxels: |value| * that is the distance in fine voxels.
  const double scale = s.coarse_truncation * s.coarse_voxel_size() / s.voxel_size();
  auto band = upsampled.abs() * scale <= s.band;
  if (s.dilation == 0) return band;
  namespace F = torch::nn::functional;
  const int64_t k = 2 * s.dilation + 1;
  return F::max_pool3d(band.to(torch::kFloat32).unsqueeze(1),
                       F::MaxPool3dFuncOptions(k).stride(1).padding(s.dilation))
             .squeeze(1) > 0.5;
}

SparseVoxelBatch sparse_voxel_batch(const torch::Tensor& coarse, const torch::Tensor& fine,
                                    const SparseVoxelSettings& s) {
  check_grids(coarse, s.coarse_grid, "coarse");
  if (fine.defined()) {
    check_grids(fine, s.grid, "fine");
    if (fine.size(0) != coarse.size(0)) {
      throw std::invalid_argument("sparse voxels: fine holds " + std::to_string(fine.size(0)) +
                                  " grids but coarse holds " + std::to_string(coarse.size(0)));
    }
  }
  const auto up = upsample_coarse_grid(coarse, s.grid);
  const auto band = surface_band(up, s);
  SparseVoxelBatch b;
  b.coords = band.nonzero().to(torch::kInt32).contiguous();
  b.coarse = up.masked_select(band).unsqueeze(1).contiguous();
  if (fine.defined()) b.values = fine.to(torch::kFloat32).masked_select(band).unsqueeze(1).contiguous();
  b.counts = band.flatten(1).sum(1).to(torch::kLong);
  return b;
}

SparseVoxelBatch select_shapes(const SparseVoxelBatch& batch, int64_t begin, int64_t end) {
  if (begin < 0 || end > batch.shapes() || begin > end) {
    throw std::invalid_argument("select_shapes: [" + std::to_string(begin) + ", " + std::to_string(end) +
                                ") is not a range of the batch's " + std::to_string(batch.shapes()) + " shapes");
  }
  const auto b = batch.coords.select(1, 0);
  const auto rows = torch::nonzero((b >= begin) & (b < end)).squeeze(1);
  SparseVoxelBatch out;
  out.coords = batch.coords.index_select(0, rows);
  out.coords.select(1, 0).sub_(static_cast<int32_t>(begin));
  out.coarse = batch.coarse.index_select(0, rows);
  if (batch.values.defined()) out.values = batch.values.index_select(0, rows);
  out.counts = batch.counts.slice(0, begin, end).clone();
  return out;
}

torch::Tensor assemble_fine_grids(const SparseVoxelBatch& batch, const torch::Tensor& values,
                                  const torch::Tensor& upsampled) {
  if (!values.defined() || values.numel() != batch.cells()) {
    throw std::invalid_argument("assemble_fine_grids: values must hold one number per cell (" +
                                std::to_string(batch.cells()) + "), got " +
                                (values.defined() ? shape_of(values) : std::string("undefined")));
  }
  if (!upsampled.defined() || upsampled.dim() != 4 || upsampled.size(0) != batch.shapes()) {
    throw std::invalid_argument("assemble_fine_grids: upsampled must be [" + std::to_string(batch.shapes()) +
                                ",R,R,R], got " + (upsampled.defined() ? shape_of(upsampled) : std::string("undefined")));
  }
  auto out = torch::where(upsampled < 0, torch::full({}, -1.0f, upsampled.options()),
                          torch::full({}, 1.0f, upsampled.options()))
                 .to(torch::kFloat32)
                 .contiguous();
  const auto c = batch.coords.to(torch::kLong);
  out.index_put_({c.select(1, 0), c.select(1, 1), c.select(1, 2), c.select(1, 3)},
                 values.reshape({-1}).to(out.device(), torch::kFloat32));
  return out;
}

}  // namespace shapediff::diffusion

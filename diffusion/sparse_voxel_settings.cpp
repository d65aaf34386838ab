#include "diffusion/sparse_voxel_settings.h"

#include <stdexcept>

#include "diffusion/number_text.h"

namespace shapediff::diffusion {

void SparseVoxelSettings::validate(const std::string& context) const {
  auto fail = [&](const std::string& field, const std::string& rule, const std::string& got) {
    throw std::invalid_argument(context + ": sparse_voxels." + field + " must be " + rule + ", got " + got);
  };
  const auto net = sparse_voxel_network(*this, 0);
  const int64_t multiple = int64_t{1} << (net.levels() - 1);
  if (coarse_grid < 4) fail("coarse_grid", ">= 4", std::to_string(coarse_grid));
  if (grid <= coarse_grid) {
    fail("grid", "larger than coarse_grid " + std::to_string(coarse_grid), std::to_string(grid));
  }
  if (grid % multiple != 0) {
    fail("grid", "divisible by " + std::to_string(multiple) + " (the SparseUNet's " +
                     std::to_string(net.levels()) + " levels)",
         std::to_string(grid));
  }
  if (!(truncation > 0 && truncation <= static_cast<double>(grid))) {
    fail("truncation", "in (0, grid]", number_text(truncation));
  }
  if (!(coarse_truncation > 0 && coarse_truncation <= static_cast<double>(coarse_grid))) {
    fail("coarse_truncation", "in (0, coarse_grid]", number_text(coarse_truncation));
  }
  // Beyond the coarse truncation the coarse grid says nothing about where the surface is: a
  // wider band would take in the whole clamped region.
  const double limit = coarse_truncation * coarse_voxel_size() / voxel_size();
  if (!(band > 0 && band < limit)) {
    fail("band", "in (0, " + number_text(limit) + ") fine voxels (the coarse truncation)", number_text(band));
  }
  if (dilation < 0 || dilation > 8) fail("dilation", "in [0, 8]", std::to_string(dilation));
  if (!(coarse_noise >= 0 && coarse_noise <= 1)) fail("coarse_noise", "in [0, 1]", number_text(coarse_noise));
}

sparse::SparseUNetOptions sparse_voxel_network(const SparseVoxelSettings& settings, int64_t num_classes) {
  return sparse::sparse_unet_preset(settings.unet, /*in_channels=*/2, /*out_channels=*/1, num_classes);
}

nlohmann::json sparse_voxel_settings_to_json(const SparseVoxelSettings& s) {
  return {{"grid", s.grid},
          {"coarse_grid", s.coarse_grid},
          {"truncation", s.truncation},
          {"coarse_truncation", s.coarse_truncation},
          {"band", s.band},
          {"dilation", s.dilation},
          {"coarse_noise", s.coarse_noise},
          {"unet", sparse::to_string(s.unet)}};
}

void read_sparse_voxel_fields(io::JsonFields& f, SparseVoxelSettings& s) {
  s.grid = f.require<int64_t>("grid");
  s.coarse_grid = f.require<int64_t>("coarse_grid");
  s.truncation = f.get<double>("truncation", s.truncation);
  s.coarse_truncation = f.get<double>("coarse_truncation", s.coarse_truncation);
  s.band = f.get<double>("band", s.band);
  s.dilation = f.get<int64_t>("dilation", s.dilation);
  s.coarse_noise = f.get<double>("coarse_noise", s.coarse_noise);
}

std::optional<std::string> sparse_voxel_difference(const SparseVoxelSettings& a, const SparseVoxelSettings& b) {
  const auto ja = sparse_voxel_settings_to_json(a), jb = sparse_voxel_settings_to_json(b);
  for (const auto& item : ja.items()) {
    if (jb.at(item.key()) != item.value()) {
      return "sparse_voxels." + item.key() + " " + item.value().dump() + " vs " + jb.at(item.key()).dump();
    }
  }
  return std::nullopt;
}

}  // namespace shapediff::diffusion

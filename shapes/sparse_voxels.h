// SparseVoxels: the occupied cells of a grid as integer coordinates [N,3] int32 (i,j,k) plus
// features [N,C] float32; cell (i,j,k) has its centre at origin + voxel_size * (i,j,k).
// This is the shape-side form of sparse::SparseTensor (which adds the batch column and stride).
#pragma once

#include <array>
#include <string>

#include <torch/types.h>

namespace shapediff::shapes {

struct SparseVoxels {
  torch::Tensor coords;    // [N,3] int32
  torch::Tensor features;  // [N,C] float32
  std::array<double, 3> origin{0, 0, 0};
  double voxel_size = 1.0;

  int64_t size() const { return coords.defined() ? coords.size(0) : 0; }
  // Shapes, dtypes, finite features, no duplicate coordinates.
  void validate(const std::string& context) const;
  // Cell centres [N,3] float32.
  torch::Tensor centers() const;
};

}  // namespace shapediff::shapes

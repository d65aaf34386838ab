// SparseTensor: the active cells of a batch of voxel grids as int32 coordinates [N,4]
// (batch, x, y, z) and features [N,C]; the form sparse convolutions run on (MinkowskiEngine /
// torchsparse style).
//
// Coordinates are in the units of the tensor's own grid: a tensor of stride 2 made by a
// stride-2 convolution of a stride-1 tensor holds floor(x / 2). `stride` records how many
// finest-grid cells one cell spans (1, 2, 4, ...). Coordinates are >= 0 and unique.
//
// Immutable: operations return new tensors. Tensors derived from one another share a
// CoordinateManager (kernel_map.h), which caches the coordinate sets and kernel maps of one
// forward pass or one sampling run; there is no global cache. replace_features() keeps the
// coordinates and the manager, so every sampling step over the same coordinates reuses the maps.
//
//   auto coords = torch::tensor({0, 1, 2, 3, 0, 1, 2, 4}, torch::kInt32).reshape({2, 4});
//   SparseTensor x(coords, torch::randn({2, 16}));       // stride 1, a new manager
//   auto dense = x.to_dense({8, 8, 8}, 1);                // [1, 16, 8, 8, 8]
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include <torch/types.h>

namespace shapediff::sparse {

class CoordinateManager;

class SparseTensor {
 public:
  // Validates (std::invalid_argument naming the problem and the offending row or value):
  // coords int32, 2-D, 4 columns; features floating point, 2-D; the same row count and device;
  // every coordinate >= 0; no duplicate rows. A null manager starts a new one.
  SparseTensor(torch::Tensor coords, torch::Tensor features, int64_t stride = 1,
               std::shared_ptr<CoordinateManager> manager = nullptr);

  const torch::Tensor& coords() const { return coords_; }
  const torch::Tensor& features() const { return features_; }
  int64_t stride() const { return stride_; }
  int64_t size() const { return coords_.size(0); }
  int64_t channels() const { return features_.size(1); }
  torch::Device device() const { return coords_.device(); }
  const std::shared_ptr<CoordinateManager>& manager() const { return manager_; }

  // Same coordinates, stride and manager; features must have size() rows (any channel count).
  SparseTensor replace_features(torch::Tensor features) const;
  // Both tensors moved; the copy gets a new manager on the target device.
  SparseTensor to(torch::Device device) const;

  // Dense [batch, C, X, Y, Z] (zeros where inactive); every coordinate must lie inside.
  torch::Tensor to_dense(std::array<int64_t, 3> spatial, int64_t batch) const;
  // The cells of dense [B, C, X, Y, Z] where active [B, X, Y, Z] (bool) is set, in row-major
  // (b, x, y, z) order.
  static SparseTensor from_dense(const torch::Tensor& dense, const torch::Tensor& active,
                                 int64_t stride = 1);

 private:
  SparseTensor(torch::Tensor coords, torch::Tensor features, int64_t stride,
               std::shared_ptr<CoordinateManager> manager, bool validated);
  torch::Tensor coords_;
  torch::Tensor features_;
  int64_t stride_ = 1;
  std::shared_ptr<CoordinateManager> manager_;
};

}  // namespace shapediff::sparse

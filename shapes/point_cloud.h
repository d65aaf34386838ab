// PointCloud: points [N,3] float32 (model or world units), with optional per-point normals
// [N,3] (unit length) and colors [N,3] (float in [0,1]). The tensors are the storage: building a
// cloud from tensors or handing them to a model copies nothing.
//
//   PointCloud pc{torch::rand({2048, 3})};
//   pc.validate("scan.ply");          // throws std::invalid_argument naming the problem
//   auto batch = torch::stack({pc.points, other.points});   // [2, N, 3]
#pragma once

#include <string>

#include <torch/types.h>

namespace shapediff::shapes {

struct PointCloud {
  torch::Tensor points;   // [N,3] float32
  torch::Tensor normals;  // [N,3] float32 or undefined
  torch::Tensor colors;   // [N,3] float32 in [0,1] or undefined

  int64_t size() const { return points.defined() ? points.size(0) : 0; }
  bool empty() const { return size() == 0; }
  bool has_normals() const { return normals.defined(); }
  bool has_colors() const { return colors.defined(); }

  // Checks shapes, dtypes and finiteness; `context` (a file name, a field) starts the message.
  // An empty cloud is valid here; callers that need points check empty().
  void validate(const std::string& context) const;

  // The subset at `index` (int64 [M]); attributes follow.
  PointCloud select(const torch::Tensor& index) const;
};

}  // namespace shapediff::shapes

// Tensor <-> Open3D conversions shared by the viewer's Open3D files (kept out of the public
// headers: Open3D's headers are heavy).
#pragma once

#include <open3d/geometry/PointCloud.h>
#include <open3d/geometry/TriangleMesh.h>
#include <torch/types.h>

#include <vector>

#include "shapes/triangle_mesh.h"

namespace shapediff::viewer::detail {

// [N,3] float tensor -> Eigen vectors.
std::vector<Eigen::Vector3d> to_eigen(const torch::Tensor& points);
// Fills `cloud` with `points` [N,3] and `colours` [N,3] (undefined: no colours).
void set_cloud(open3d::geometry::PointCloud& cloud, const torch::Tensor& points,
               const torch::Tensor& colours);
std::shared_ptr<open3d::geometry::TriangleMesh> to_open3d(const shapes::TriangleMesh& mesh,
                                                          const Eigen::Vector3d& colour);
// A float RGB image from CaptureScreenFloatBuffer -> uint8 [H,W,3].
torch::Tensor to_tensor(const open3d::geometry::Image& image);

}  // namespace shapediff::viewer::detail

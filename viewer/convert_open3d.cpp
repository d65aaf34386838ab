#include "viewer/convert_open3d.h"

#include <torch/torch.h>

namespace shapediff::viewer::detail {

std::vector<Eigen::Vector3d> to_eigen(const torch::Tensor& points) {
  auto p = points.to(torch::kCPU, torch::kDouble).contiguous();
  const double* d = p.data_ptr<double>();
  std::vector<Eigen::Vector3d> out(static_cast<size_t>(p.size(0)));
  for (size_t i = 0; i < out.size(); ++i) out[i] = Eigen::Vector3d(d[3 * i], d[3 * i + 1], d[3 * i + 2]);
  return out;
}

void set_cloud(open3d::geometry::PointCloud& cloud, const torch::Tensor& points,
               const torch::Tensor& colours) {
  cloud.points_ = to_eigen(points);
  if (colours.defined()) {
    cloud.colors_ = to_eigen(colours);
  } else {
    cloud.colors_.clear();
  }
}

std::shared_ptr<open3d::geometry::TriangleMesh> to_open3d(const shapes::TriangleMesh& mesh,
                                                          const Eigen::Vector3d& colour) {
  auto m = std::make_shared<open3d::geometry::TriangleMesh>();
  m->vertices_ = to_eigen(mesh.vertices);
  auto f = mesh.faces.to(torch::kCPU, torch::kInt).contiguous();
  const int* d = f.data_ptr<int>();
  m->triangles_.resize(static_cast<size_t>(f.size(0)));
  for (size_t i = 0; i < m->triangles_.size(); ++i) m->triangles_[i] = Eigen::Vector3i(d[3 * i], d[3 * i + 1], d[3 * i + 2]);
  m->ComputeVertexNormals();
  m->PaintUniformColor(colour);
  return m;
}

torch::Tensor to_tensor(const open3d::geometry::Image& image) {
  auto f = torch::from_blob(const_cast<uint8_t*>(image.data_.data()),
                            {image.height_, image.width_, image.num_of_channels_}, torch::kFloat32);
  return (f.clamp(0, 1) * 255).round().to(torch::kUInt8).contiguous();
}

}  // namespace shapediff::viewer::detail

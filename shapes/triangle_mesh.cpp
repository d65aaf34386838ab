#include "shapes/triangle_mesh.h"

#include <stdexcept>

#include <torch/torch.h>

#include "shapes/validation.h"

namespace shapediff::shapes {

void TriangleMesh::validate(const std::string& context) const {
  detail::check_matrix(vertices, 3, context, "vertices");
  detail::check_finite(vertices, context, "vertices");
  detail::check_matrix(faces, 3, context, "faces", /*integer=*/true);
  if (faces.numel() > 0) {
    const int64_t lo = faces.min().item<int64_t>();
    const int64_t hi = faces.max().item<int64_t>();
    if (lo < 0 || hi >= vertices.size(0)) {
      const auto bad = ((faces < 0) | (faces >= vertices.size(0))).any(1).nonzero()[0][0].item<int64_t>();
      throw std::invalid_argument(context + ": face " + std::to_string(bad) +
                                  " has a vertex index outside [0, " +
                                  std::to_string(vertices.size(0)) + ")");
    }
  }
  if (vertex_normals.defined()) {
    detail::check_matrix(vertex_normals, 3, context, "vertex_normals");
    detail::check_rows(vertex_normals, vertices.size(0), context, "vertex_normals");
    detail::check_finite(vertex_normals, context, "vertex_normals");
  }
  if (vertex_colors.defined()) {
    detail::check_matrix(vertex_colors, 3, context, "vertex_colors");
    detail::check_rows(vertex_colors, vertices.size(0), context, "vertex_colors");
  }
}

namespace {
torch::Tensor face_cross(const TriangleMesh& m) {
  const auto f = m.faces.to(torch::kLong);
  const auto a = m.vertices.index_select(0, f.select(1, 0));
  const auto b = m.vertices.index_select(0, f.select(1, 1));
  const auto c = m.vertices.index_select(0, f.select(1, 2));
  return torch::cross(b - a, c - a, 1);
}
}  // namespace

torch::Tensor TriangleMesh::face_areas() const { return 0.5 * face_cross(*this).norm(2, 1); }

torch::Tensor TriangleMesh::face_normals() const {
  const auto n = face_cross(*this);
  const auto len = n.norm(2, 1, true);
  return torch::where(len > 0, n / len.clamp_min(1e-30), torch::zeros_like(n));
}

torch::Tensor TriangleMesh::compute_vertex_normals() const {
  const auto n = face_cross(*this);  // area-weighted (|cross| = 2 * area)
  auto acc = torch::zeros_like(vertices);
  const auto f = faces.to(torch::kLong);
  for (int k = 0; k < 3; ++k) acc.index_add_(0, f.select(1, k), n);
  const auto len = acc.norm(2, 1, true);
  return torch::where(len > 0, acc / len.clamp_min(1e-30), torch::zeros_like(acc));
}

std::pair<torch::Tensor, torch::Tensor> TriangleMesh::bounds() const {
  if (num_vertices() == 0) throw std::invalid_argument("bounds of a mesh without vertices");
  return {std::get<0>(vertices.min(0)), std::get<0>(vertices.max(0))};
}

}  // namespace shapediff::shapes

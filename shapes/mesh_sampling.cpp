#include "shapes/mesh_sampling.h"

#include <stdexcept>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

namespace shapediff::shapes {

PointCloud sample_surface(const TriangleMesh& mesh, int64_t num_points, at::Generator generator,
                          torch::Tensor* face_index) {
  mesh.validate("sample_surface");
  if (mesh.empty()) throw std::invalid_argument("sample_surface: mesh has no faces");
  if (num_points < 0) {
    throw std::invalid_argument("sample_surface: num_points must be >= 0, got " +
                                std::to_string(num_points));
  }
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const auto verts = mesh.vertices.to(torch::kCPU, torch::kFloat64);
  const auto faces = mesh.faces.to(torch::kCPU, torch::kLong);
  const auto a = verts.index_select(0, faces.select(1, 0));
  const auto b = verts.index_select(0, faces.select(1, 1));
  const auto c = verts.index_select(0, faces.select(1, 2));
  const auto cross = torch::cross(b - a, c - a, 1);
  const auto area = cross.norm(2, 1);
  if (!(area.sum().item<double>() > 0)) {
    throw std::invalid_argument("sample_surface: mesh has zero total area (" +
                                std::to_string(mesh.num_faces()) + " degenerate faces)");
  }
  const auto normals = cross / area.clamp_min(1e-300).unsqueeze(1);

  const c10::optional<at::Generator> gen =
      generator.defined() ? c10::optional<at::Generator>(generator) : c10::nullopt;
  // Inverse CDF over cumulative areas: a zero-area face spans an empty interval, so it is never
  // found; the clamp keeps a u rounded up to the total on the last face with area.
  const auto cdf = area.cumsum(0);
  const int64_t last_with_area = area.gt(0).nonzero().max().item<int64_t>();
  const auto u = torch::rand({num_points}, gen, f64) * cdf[-1];
  const auto chosen =
      torch::searchsorted(cdf, u, /*out_int32=*/false, /*right=*/true).clamp_max(last_with_area);
  const auto r = torch::rand({num_points, 2}, gen, f64);
  const auto s = r.select(1, 0).sqrt().unsqueeze(1);
  const auto t = r.select(1, 1).unsqueeze(1);
  const auto pa = a.index_select(0, chosen);
  const auto pb = b.index_select(0, chosen);
  const auto pc = c.index_select(0, chosen);
  const auto points = (1 - s) * pa + s * (1 - t) * pb + s * t * pc;

  if (face_index) *face_index = chosen;
  PointCloud cloud;
  cloud.points = points.to(torch::kFloat32);
  cloud.normals = normals.index_select(0, chosen).to(torch::kFloat32);
  return cloud;
}

PointCloud sample_surface(const TriangleMesh& mesh, int64_t num_points, uint64_t seed,
                          torch::Tensor* face_index) {
  return sample_surface(mesh, num_points, at::make_generator<at::CPUGeneratorImpl>(seed),
                        face_index);
}

}  // namespace shapediff::shapes

#include "shapes/mesh_to_grid.h"

#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "shapes/validation.h"

namespace shapediff::shapes {
namespace {

void check_threshold(const MeshToGridOptions& options, const std::string& context) {
  if (!std::isfinite(options.inside_threshold)) {
    throw std::invalid_argument(context + ": inside_threshold must be finite, got " +
                                std::to_string(options.inside_threshold));
  }
}

void check_mesh(const TriangleMesh& mesh, const std::string& context) {
  mesh.validate(context);
  if (mesh.empty()) throw std::invalid_argument(context + ": mesh has no faces");
}

// Signed distance at each row of q [Q,3] float64 (CPU, contiguous), as float64 [Q].
torch::Tensor signed_distance_rows(const TriangleMesh& mesh, const torch::Tensor& q,
                                   const MeshToGridOptions& options) {
  auto bvh = std::make_shared<const TriangleBvh>(mesh);
  const WindingNumber winding(bvh, options.winding);
  const int64_t count = q.size(0);
  auto out = torch::empty({count}, torch::kFloat64);
  const double* qp = q.data_ptr<double>();
  double* op = out.data_ptr<double>();
  at::parallel_for(0, count, 32, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const double d = std::sqrt(bvh->closest_point(qp + 3 * i, nullptr, nullptr));
      op[i] = winding.at(qp + 3 * i) > options.inside_threshold ? -d : d;
    }
  });
  return out;
}

}  // namespace

VoxelGrid mesh_to_occupancy(const TriangleMesh& mesh, const GridSpec& grid,
                            const MeshToGridOptions& options) {
  check_mesh(mesh, "mesh_to_occupancy");
  grid.validate("mesh_to_occupancy");
  check_threshold(options, "mesh_to_occupancy");
  const WindingNumber winding(mesh, options.winding);
  const auto w = winding(grid.centers(torch::kFloat64));
  return grid.make_grid((w > options.inside_threshold).to(torch::kFloat32), VoxelKind::Occupancy);
}

VoxelGrid mesh_to_sdf(const TriangleMesh& mesh, const GridSpec& grid,
                      const MeshToGridOptions& options) {
  check_mesh(mesh, "mesh_to_sdf");
  grid.validate("mesh_to_sdf");
  check_threshold(options, "mesh_to_sdf");
  return grid.make_grid(signed_distance_rows(mesh, grid.centers(torch::kFloat64), options),
                        VoxelKind::SignedDistance);
}

torch::Tensor signed_distance(const TriangleMesh& mesh, const torch::Tensor& points,
                              const MeshToGridOptions& options) {
  check_mesh(mesh, "signed_distance");
  detail::check_matrix(points, 3, "signed_distance", "points");
  detail::check_finite(points, "signed_distance", "points");
  check_threshold(options, "signed_distance");
  const auto q = points.to(torch::kCPU, torch::kFloat64).contiguous();
  return signed_distance_rows(mesh, q, options).to(torch::kFloat32);
}

}  // namespace shapediff::shapes

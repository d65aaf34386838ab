#include "shapes/reconstruct.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include <torch/torch.h>

#include "shapediff/config.h"

namespace shapediff::shapes {

namespace {

constexpr int64_t kMinPoints = 10;
// Spread along the thinnest principal axis, relative to the widest, below which points count as
// lying on a plane (or a line, for the middle axis): float32 rounding is ~1e-7 of the extent.
constexpr double kFlatRatio = 1e-5;

}  // namespace

ReconstructMethod parse_reconstruct_method(const std::string& name) {
  if (name == "poisson") return ReconstructMethod::Poisson;
  if (name == "advancing-front") return ReconstructMethod::AdvancingFront;
  if (name == "scale-space") return ReconstructMethod::ScaleSpace;
  throw std::invalid_argument("reconstruction method '" + name +
                              "' (choose from: poisson, advancing-front, scale-space)");
}

std::string to_string(ReconstructMethod method) {
  switch (method) {
    case ReconstructMethod::Poisson: return "poisson";
    case ReconstructMethod::AdvancingFront: return "advancing-front";
    case ReconstructMethod::ScaleSpace: return "scale-space";
  }
  throw std::invalid_argument("unknown reconstruction method");
}

NormalEstimation parse_normal_estimation(const std::string& name) {
  if (name == "jet") return NormalEstimation::Jet;
  if (name == "pca") return NormalEstimation::Pca;
  throw std::invalid_argument("normal estimation '" + name + "' (choose from: jet, pca)");
}

PointCloud prepare_reconstruction_input(const PointCloud& cloud, const std::string& context,
                                        std::vector<std::string>& warnings) {
  cloud.validate(context);
  const int64_t n = cloud.size();
  if (n < kMinPoints) {
    throw std::invalid_argument(context + ": reconstruction needs at least " + std::to_string(kMinPoints) +
                                " points, got " + std::to_string(n));
  }
  PointCloud out = cloud;
  const auto points = cloud.points.to(torch::kCPU, torch::kFloat32).contiguous();
  const auto unique = at::unique_dim(points, 0, /*sorted=*/true, /*return_inverse=*/true);
  const int64_t distinct = std::get<0>(unique).size(0);
  if (distinct < n) {
    // The first occurrence of each distinct point carries its attributes.
    const auto& inverse = std::get<1>(unique);
    auto first = torch::full({distinct}, n, torch::kLong)
                     .scatter_reduce(0, inverse, torch::arange(n, torch::kLong), "amin");
    first = std::get<0>(first.sort());
    out = cloud.select(first.to(cloud.points.device()));
    warnings.push_back(context + ": merged " + std::to_string(n - distinct) + " duplicate point" +
                       (n - distinct == 1 ? "" : "s") + " (" + std::to_string(distinct) + " left)");
    if (distinct < kMinPoints) {
      throw std::invalid_argument(context + ": reconstruction needs at least " + std::to_string(kMinPoints) +
                                  " distinct points, got " + std::to_string(distinct));
    }
  }
  const auto p = out.points.to(torch::kCPU, torch::kFloat64);
  const auto centered = p - p.mean(0);
  const auto cov = centered.t().mm(centered) / static_cast<double>(p.size(0));
  const auto eig = at::linalg_eigvalsh(cov).clamp_min(0).sqrt();  // ascending spreads
  const double s0 = eig[0].item<double>(), s1 = eig[1].item<double>(), s2 = eig[2].item<double>();
  if (s1 <= kFlatRatio * s2) {
    throw std::invalid_argument(context + ": the points are collinear; a surface needs points spread in 3D");
  }
  if (s0 <= kFlatRatio * s2) {
    throw std::invalid_argument(context + ": the points are coplanar; a surface needs points spread in 3D");
  }
  return out;
}

#if !SHAPEDIFF_WITH_CGAL
bool reconstruction_available() { return false; }

PointCloud estimate_normals(const PointCloud&, const NormalOptions&, std::vector<std::string>&) {
  throw std::runtime_error("normal estimation needs CGAL: this build has SHAPEDIFF_WITH_CGAL=OFF");
}

Reconstruction reconstruct(const PointCloud&, const ReconstructOptions&) {
  throw std::runtime_error("surface reconstruction needs CGAL: this build has SHAPEDIFF_WITH_CGAL=OFF");
}
#endif

}  // namespace shapediff::shapes

#include "shapes/scan_preparation.h"

#include <cmath>
#include <stdexcept>

#include <torch/torch.h>


namespace shapediff::shapes {

UpAxis parse_up_axis(const std::string& name) {
  if (name == "y") return UpAxis::Y;
  if (name == "z") return UpAxis::Z;
  if (name == "x") return UpAxis::X;
  if (name == "-y") return UpAxis::NegY;
  if (name == "-z") return UpAxis::NegZ;
  if (name == "-x") return UpAxis::NegX;
  throw std::invalid_argument("unknown up axis '" + name + "' (choose from: y, z, x, -y, -z, -x)");
}

std::string to_string(UpAxis axis) {
  switch (axis) {
    case UpAxis::Y: return "y";
    case UpAxis::Z: return "z";
    case UpAxis::X: return "x";
    case UpAxis::NegY: return "-y";
    case UpAxis::NegZ: return "-z";
    case UpAxis::NegX: return "-x";
  }
  return "?";
}

namespace {

// A proper rotation (det +1) taking the given up axis to +y.
torch::Tensor up_rotation(UpAxis up) {
  const auto f = torch::kFloat64;
  switch (up) {
    case UpAxis::Y: return torch::eye(3, f);
    case UpAxis::NegY: return torch::tensor({1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, -1.0}, f).view({3, 3});
    case UpAxis::Z: return torch::tensor({1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, -1.0, 0.0}, f).view({3, 3});
    case UpAxis::NegZ: return torch::tensor({1.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 1.0, 0.0}, f).view({3, 3});
    case UpAxis::X: return torch::tensor({0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0}, f).view({3, 3});
    case UpAxis::NegX: return torch::tensor({0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0}, f).view({3, 3});
  }
  return torch::eye(3, f);
}

}  // namespace

torch::Tensor ScanFrame::to_unit(const torch::Tensor& points) const {
  auto p = points.to(torch::kFloat64);
  return torch::matmul((p - center.to(p.device())) / scale, rotation.to(p.device()).t()).to(torch::kFloat32);
}

torch::Tensor ScanFrame::to_scan(const torch::Tensor& points) const {
  auto q = points.to(torch::kFloat64);
  return (torch::matmul(q, rotation.to(q.device())) * scale + center.to(q.device())).to(torch::kFloat32);
}

torch::Tensor statistical_inliers(const torch::Tensor& points, int64_t neighbors, double std_ratio) {
  const int64_t n = points.size(0);
  if (neighbors < 1 || neighbors >= n - 1) return torch::ones({n}, torch::kBool);
  // k nearest neighbours by brute force in chunks (scans are thousands of points, not millions).
  auto p = points.to(torch::kFloat64).contiguous();
  std::vector<torch::Tensor> means;
  const int64_t chunk = 1024;
  for (int64_t s = 0; s < n; s += chunk) {
    auto block = p.slice(0, s, std::min(n, s + chunk));
    auto d2 = (block.unsqueeze(1) - p.unsqueeze(0)).pow(2).sum(-1);  // [c,N]
    // k + 1 smallest: the point itself is at distance 0.
    auto nearest = std::get<0>(d2.topk(neighbors + 1, 1, /*largest=*/false));
    means.push_back(nearest.slice(1, 1).sqrt().mean(1));
  }
  auto mean_dist = torch::cat(means);
  const double mu = mean_dist.mean().item<double>();
  const double sd = mean_dist.std(/*unbiased=*/false).item<double>();
  return mean_dist <= mu + std_ratio * sd;
}

PreparedScan prepare_scan(const torch::Tensor& points, const ScanPrepOptions& o) {
  if (!points.defined() || points.dim() != 2 || points.size(1) != 3) {
    throw std::invalid_argument("scan points must be [N,3], got " +
                                (points.defined() ? c10::str(points.sizes()) : std::string("none")));
  }
  if (!(o.fill > 0 && std::isfinite(o.fill))) {
    throw std::invalid_argument("scan fill must be > 0, got " + std::to_string(o.fill));
  }
  auto p = points.to(torch::kCPU, torch::kFloat64);
  auto finite = torch::isfinite(p).all(1);
  auto finite_rows = torch::nonzero(finite).squeeze(1);
  PreparedScan out;
  out.nonfinite = p.size(0) - finite_rows.size(0);
  if (finite_rows.size(0) < o.min_points) {
    throw std::invalid_argument("scan has " + std::to_string(finite_rows.size(0)) + " finite points" +
                                (out.nonfinite > 0 ? " (" + std::to_string(out.nonfinite) + " with NaN/Inf)" : "") +
                                "; at least " + std::to_string(o.min_points) + " are needed");
  }
  auto fp = p.index_select(0, finite_rows);
  auto keep = statistical_inliers(fp, o.neighbors, o.std_ratio);
  auto kept_local = torch::nonzero(keep).squeeze(1);
  out.outliers = fp.size(0) - kept_local.size(0);
  out.kept = finite_rows.index_select(0, kept_local);
  auto clean = fp.index_select(0, kept_local);

  const auto rotation = up_rotation(o.up);
  const auto lo = std::get<0>(clean.min(0)), hi = std::get<0>(clean.max(0));
  const auto center = (lo + hi) / 2.0;
  const double radius = (clean - center).norm(2, 1).max().item<double>();
  // Relative to the scan's own size and position: a millimetre-wide scan far from the origin is
  // fine, one whose points coincide (to float precision) is not.
  const double magnitude = std::max(1.0, center.abs().max().item<double>());
  if (!(radius > 1e-9 * magnitude)) {
    throw std::invalid_argument("scan has no extent: all " + std::to_string(clean.size(0)) +
                                " points lie in one spot");
  }
  out.frame.rotation = rotation;
  out.frame.center = center;
  out.frame.scale = radius / o.fill;
  out.points = out.frame.to_unit(clean);
  return out;
}

}  // namespace shapediff::shapes

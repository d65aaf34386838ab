#include "shapes/oriented_points_sdf.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/torch.h>

namespace shapediff::shapes {
namespace {

constexpr const char* kContext = "truncated_sdf_from_oriented_points";

void check_rows(const torch::Tensor& t, const char* name) {
  if (!t.defined() || t.dim() != 2 || t.size(1) != 3) {
    throw std::invalid_argument(std::string(kContext) + ": " + name + " must be [N,3], got " +
                                (t.defined() ? c10::str(t.sizes()) : "nothing"));
  }
  if (!at::isFloatingType(t.scalar_type())) {
    throw std::invalid_argument(std::string(kContext) + ": " + name +
                                " must be floating point, got " + c10::str(t.scalar_type()));
  }
  if (!t.device().is_cpu()) {
    throw std::invalid_argument(std::string(kContext) + ": " + name + " must be on the CPU, got " +
                                c10::str(t.device()));
  }
}

// A k-d tree over the points (median splits along the widest side of each node's tight
// bounding box, leaves of at most kLeafSize points, coordinates stored in leaf order). A query
// descends nearer child first and skips nodes whose box is farther than the best point found,
// so a query far from the cloud touches few nodes where a uniform bucket grid would walk many
// empty cells.
class PointKdTree {
 public:
  PointKdTree(const double* p, int64_t n) : index_(n), xyz_(3 * n) {
    for (int64_t i = 0; i < n; ++i) index_[i] = i;
    build(p, 0, n);
    for (int64_t s = 0; s < n; ++s) {
      for (int d = 0; d < 3; ++d) xyz_[3 * s + d] = p[3 * index_[s] + d];
    }
  }

  // Index of the nearest point to q and its squared distance. Ties go to the lowest index:
  // a node is skipped only when its box is strictly farther than the best distance.
  // `hint` (any point index) seeds the bound; neighbouring queries pass their last answer.
  std::pair<int64_t, double> nearest(const double* q, int64_t hint, const double* p) const {
    int64_t best_index = hint;
    double best = squared(q, p + 3 * hint);
    int32_t stack[128];
    int top = 0;
    stack[top++] = 0;
    while (top > 0) {
      const Node& node = nodes_[stack[--top]];
      if (box_distance2(node, q) > best) continue;
      if (node.left < 0) {
        for (int64_t s = node.begin; s < node.end; ++s) {
          const double d2 = squared(q, &xyz_[3 * s]);
          if (d2 < best || (d2 == best && index_[s] < best_index)) {
            best = d2;
            best_index = index_[s];
          }
        }
        continue;
      }
      const Node& l = nodes_[node.left];
      const Node& r = nodes_[node.right];
      const bool left_first = box_distance2(l, q) <= box_distance2(r, q);
      stack[top++] = left_first ? node.right : node.left;
      stack[top++] = left_first ? node.left : node.right;
    }
    return {best_index, best};
  }

 private:
  static constexpr int64_t kLeafSize = 8;

  struct Node {
    double lo[3], hi[3];
    int64_t begin, end;
    int32_t left = -1, right = -1;
  };

  static double squared(const double* a, const double* b) {
    const double dx = a[0] - b[0], dy = a[1] - b[1], dz = a[2] - b[2];
    return dx * dx + dy * dy + dz * dz;
  }

  static double box_distance2(const Node& node, const double* q) {
    double d2 = 0;
    for (int d = 0; d < 3; ++d) {
      const double gap = std::max({0.0, node.lo[d] - q[d], q[d] - node.hi[d]});
      d2 += gap * gap;
    }
    return d2;
  }

  // Builds the node for index_[begin, end) and returns its position in nodes_. Median splits
  // keep the depth at log2(N / kLeafSize) + 1, far below the query stack's 128 entries.
  int32_t build(const double* p, int64_t begin, int64_t end) {
    const auto id = static_cast<int32_t>(nodes_.size());
    nodes_.push_back(Node{});
    Node node;
    node.begin = begin;
    node.end = end;
    for (int d = 0; d < 3; ++d) {
      node.lo[d] = std::numeric_limits<double>::infinity();
      node.hi[d] = -std::numeric_limits<double>::infinity();
    }
    for (int64_t s = begin; s < end; ++s) {
      for (int d = 0; d < 3; ++d) {
        node.lo[d] = std::min(node.lo[d], p[3 * index_[s] + d]);
        node.hi[d] = std::max(node.hi[d], p[3 * index_[s] + d]);
      }
    }
    if (end - begin > kLeafSize) {
      int axis = 0;
      for (int d = 1; d < 3; ++d) {
        if (node.hi[d] - node.lo[d] > node.hi[axis] - node.lo[axis]) axis = d;
      }
      const int64_t mid = begin + (end - begin) / 2;
      std::nth_element(index_.begin() + begin, index_.begin() + mid, index_.begin() + end,
                       [&](int64_t a, int64_t b) { return p[3 * a + axis] < p[3 * b + axis]; });
      node.left = build(p, begin, mid);
      node.right = build(p, mid, end);
    }
    nodes_[id] = node;
    return id;
  }

  std::vector<Node> nodes_;
  std::vector<int64_t> index_;
  std::vector<double> xyz_;
};

}  // namespace

VoxelGrid truncated_sdf_from_oriented_points(const torch::Tensor& points,
                                             const torch::Tensor& normals, const GridSpec& grid,
                                             double truncation) {
  const std::string context = kContext;
  check_rows(points, "points");
  check_rows(normals, "normals");
  if (points.size(0) == 0) throw std::invalid_argument(context + ": points is empty ([0,3])");
  if (normals.size(0) != points.size(0)) {
    throw std::invalid_argument(context + ": normals " + c10::str(normals.sizes()) +
                                " do not match points " + c10::str(points.sizes()));
  }
  if (!(truncation > 0)) {
    throw std::invalid_argument(context + ": truncation must be > 0, got " + std::to_string(truncation));
  }
  grid.validate(context);
  const auto p = points.to(torch::kFloat64).contiguous();
  const auto nrm = normals.to(torch::kFloat64).contiguous();
  if (!torch::isfinite(p).all().item<bool>()) {
    throw std::invalid_argument(context + ": points contain NaN or Inf");
  }
  if (!torch::isfinite(nrm).all().item<bool>()) {
    throw std::invalid_argument(context + ": normals contain NaN or Inf");
  }
  const auto zero_rows = (nrm.abs().sum(1) == 0).nonzero();
  if (zero_rows.size(0) > 0) {
    throw std::invalid_argument(context + ": normal of point " +
                                std::to_string(zero_rows[0][0].item<int64_t>()) +
                                " has zero length");
  }

  const double* pp = p.data_ptr<double>();
  const double* np = nrm.data_ptr<double>();
  const PointKdTree tree(pp, p.size(0));
  const int64_t nx = grid.resolution[0], ny = grid.resolution[1], nz = grid.resolution[2];
  auto values = torch::empty({nx, ny, nz}, torch::kFloat32);
  float* out = values.data_ptr<float>();
  at::parallel_for(0, grid.num_voxels(), 256, [&](int64_t begin, int64_t end) {
    int64_t hint = 0;
    for (int64_t v = begin; v < end; ++v) {
      const int64_t idx[3] = {v / (ny * nz), (v / nz) % ny, v % nz};
      double x[3];
      for (int d = 0; d < 3; ++d) x[d] = grid.origin[d] + grid.voxel_size * static_cast<double>(idx[d]);
      const auto [i, d2] = tree.nearest(x, hint, pp);
      hint = i;
      double dot = 0;
      for (int d = 0; d < 3; ++d) dot += (x[d] - pp[3 * i + d]) * np[3 * i + d];
      const double dist = std::min(std::sqrt(d2), truncation);
      out[v] = static_cast<float>(dot < 0 ? -dist : dist);
    }
  });
  return grid.make_grid(values, VoxelKind::SignedDistance);
}

VoxelGrid connected_far_signs(const VoxelGrid& sdf, double truncation) {
  sdf.validate("connected_far_signs");
  if (sdf.kind != VoxelKind::SignedDistance) {
    throw std::invalid_argument("connected_far_signs: grid kind is Occupancy, expected SignedDistance");
  }
  if (!(truncation > 0)) {
    throw std::invalid_argument("connected_far_signs: truncation must be > 0, got " + std::to_string(truncation));
  }
  const auto r = sdf.resolution();
  const int64_t nx = r[0], ny = r[1], nz = r[2];
  auto values = sdf.values.to(torch::kFloat32).contiguous().clone();
  float* v = values.data_ptr<float>();
  // Clamped values are exactly +-truncation in float; the margin absorbs a float64 round trip.
  const float far = static_cast<float>(truncation) * (1.0f - 1e-6f);
  const int64_t count = nx * ny * nz;
  std::vector<uint8_t> outside(static_cast<size_t>(count), 0);
  std::vector<int64_t> queue;
  auto visit = [&](int64_t i) {
    if (!outside[static_cast<size_t>(i)] && std::abs(v[i]) >= far) {
      outside[static_cast<size_t>(i)] = 1;
      queue.push_back(i);
    }
  };
  for (int64_t i = 0; i < nx; ++i) {
    for (int64_t j = 0; j < ny; ++j) {
      for (int64_t k = 0; k < nz; ++k) {
        if (i == 0 || j == 0 || k == 0 || i == nx - 1 || j == ny - 1 || k == nz - 1) visit((i * ny + j) * nz + k);
      }
    }
  }
  // Breadth-first through face neighbours (the queue grows while it is read).
  for (size_t head = 0; head < queue.size(); ++head) {
    const int64_t c = queue[head];
    const int64_t i = c / (ny * nz), j = (c / nz) % ny, k = c % nz;
    if (i > 0) visit(c - ny * nz);
    if (i + 1 < nx) visit(c + ny * nz);
    if (j > 0) visit(c - nz);
    if (j + 1 < ny) visit(c + nz);
    if (k > 0) visit(c - 1);
    if (k + 1 < nz) visit(c + 1);
  }
  for (int64_t c = 0; c < count; ++c) {
    if (std::abs(v[c]) >= far) v[c] = outside[static_cast<size_t>(c)] ? std::abs(v[c]) : -std::abs(v[c]);
  }
  VoxelGrid out = sdf;
  out.values = values;
  return out;
}

VoxelGrid occupancy_from_sdf(const VoxelGrid& sdf) {
  sdf.validate("occupancy_from_sdf");
  if (sdf.kind != VoxelKind::SignedDistance) {
    throw std::invalid_argument("occupancy_from_sdf: grid kind is Occupancy, expected SignedDistance");
  }
  VoxelGrid occ = sdf;
  occ.values = (sdf.values < 0).to(torch::kFloat32);
  occ.kind = VoxelKind::Occupancy;
  return occ;
}

}  // namespace shapediff::shapes

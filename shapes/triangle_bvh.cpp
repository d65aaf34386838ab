#include "shapes/triangle_bvh.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "shapes/validation.h"

namespace shapediff::shapes {
namespace {

inline double dot3(const double* u, const double* v) {
  return u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
}

double closest_point_on_segment(const double p[3], const double a[3], const double b[3],
                                double out[3]) {
  const double ab[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
  const double ap[3] = {p[0] - a[0], p[1] - a[1], p[2] - a[2]};
  const double len2 = dot3(ab, ab);
  const double t = len2 > 0 ? std::clamp(dot3(ap, ab) / len2, 0.0, 1.0) : 0.0;
  double d2 = 0;
  for (int k = 0; k < 3; ++k) {
    out[k] = a[k] + t * ab[k];
    d2 += (p[k] - out[k]) * (p[k] - out[k]);
  }
  return d2;
}

double squared_box_distance(const double q[3], const TriangleBvh::Node& n) {
  double d2 = 0;
  for (int k = 0; k < 3; ++k) {
    const double e = std::max({n.lo[k] - q[k], 0.0, q[k] - n.hi[k]});
    d2 += e * e;
  }
  return d2;
}

// The ray's entry parameter into the node's box (slab test with the reciprocal direction), or
// +infinity when it misses the box or enters it beyond `limit`.
double ray_box_entry(const double o[3], const double inv[3], const TriangleBvh::Node& n, double limit) {
  double t0 = 0.0, t1 = limit;
  for (int k = 0; k < 3; ++k) {
    double a = (n.lo[k] - o[k]) * inv[k], b = (n.hi[k] - o[k]) * inv[k];
    if (a > b) std::swap(a, b);
    // A direction component of 0 gives inf/-inf here, or NaN for an origin on the slab's face;
    // the NaN comparisons leave t0/t1 as they were, which keeps the box (a safe answer).
    if (a > t0) t0 = a;
    if (b < t1) t1 = b;
    if (t0 > t1) return std::numeric_limits<double>::infinity();
  }
  return t0;
}

}  // namespace

double closest_point_on_triangle(const double p[3], const double a[3], const double b[3],
                                 const double c[3], double closest[3]) {
  const double ab[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
  const double ac[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
  const double n[3] = {ab[1] * ac[2] - ab[2] * ac[1], ab[2] * ac[0] - ab[0] * ac[2],
                       ab[0] * ac[1] - ab[1] * ac[0]};
  const double area2 = dot3(n, n);
  // Below this the barycentric divisions lose all precision (sin^2 of the corner angle < 1e-24).
  if (!(area2 > 1e-24 * dot3(ab, ab) * dot3(ac, ac))) {
    double best = std::numeric_limits<double>::infinity();
    double tmp[3];
    const double* ends[3][2] = {{a, b}, {b, c}, {c, a}};
    for (auto& e : ends) {
      const double d2 = closest_point_on_segment(p, e[0], e[1], tmp);
      if (d2 < best) {
        best = d2;
        std::copy(tmp, tmp + 3, closest);
      }
    }
    return best;
  }
  auto finish = [&](const double* base, const double* dir1, double s, const double* dir2,
                    double t) {
    double d2 = 0;
    for (int k = 0; k < 3; ++k) {
      closest[k] = base[k] + s * dir1[k] + t * (dir2 ? dir2[k] : 0.0);
      d2 += (p[k] - closest[k]) * (p[k] - closest[k]);
    }
    return d2;
  };
  // Voronoi regions of the corners, then of the edges, then the face (Ericson, RTCD 5.1.5).
  const double ap[3] = {p[0] - a[0], p[1] - a[1], p[2] - a[2]};
  const double d1 = dot3(ab, ap), d2 = dot3(ac, ap);
  if (d1 <= 0 && d2 <= 0) return finish(a, ab, 0, nullptr, 0);
  const double bp[3] = {p[0] - b[0], p[1] - b[1], p[2] - b[2]};
  const double d3 = dot3(ab, bp), d4 = dot3(ac, bp);
  if (d3 >= 0 && d4 <= d3) return finish(b, ab, 0, nullptr, 0);
  const double vc = d1 * d4 - d3 * d2;
  if (vc <= 0 && d1 >= 0 && d3 <= 0) return finish(a, ab, d1 / (d1 - d3), nullptr, 0);
  const double cp[3] = {p[0] - c[0], p[1] - c[1], p[2] - c[2]};
  const double d5 = dot3(ab, cp), d6 = dot3(ac, cp);
  if (d6 >= 0 && d5 <= d6) return finish(c, ab, 0, nullptr, 0);
  const double vb = d5 * d2 - d1 * d6;
  if (vb <= 0 && d2 >= 0 && d6 <= 0) return finish(a, ac, d2 / (d2 - d6), nullptr, 0);
  const double va = d3 * d6 - d5 * d4;
  if (va <= 0 && (d4 - d3) >= 0 && (d5 - d6) >= 0) {
    const double bc[3] = {c[0] - b[0], c[1] - b[1], c[2] - b[2]};
    return finish(b, bc, (d4 - d3) / ((d4 - d3) + (d5 - d6)), nullptr, 0);
  }
  const double inv = 1.0 / (va + vb + vc);
  return finish(a, ab, vb * inv, ac, vc * inv);
}

double ray_triangle_hit(const double origin[3], const double dir[3], const double a[3], const double b[3],
                        const double c[3]) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  double e1[3], e2[3];
  for (int k = 0; k < 3; ++k) {
    e1[k] = b[k] - a[k];
    e2[k] = c[k] - a[k];
  }
  const double p[3] = {dir[1] * e2[2] - dir[2] * e2[1], dir[2] * e2[0] - dir[0] * e2[2],
                       dir[0] * e2[1] - dir[1] * e2[0]};
  const double det = dot3(e1, p);
  // Relative to the edge and direction lengths, so the test does not depend on the mesh's units.
  const double scale = std::sqrt(dot3(e1, e1) * dot3(e2, e2) * dot3(dir, dir));
  if (!(std::abs(det) > 1e-12 * scale)) return kInf;
  const double inv = 1.0 / det;
  const double s[3] = {origin[0] - a[0], origin[1] - a[1], origin[2] - a[2]};
  const double u = dot3(s, p) * inv;
  if (u < 0.0 || u > 1.0) return kInf;
  const double q[3] = {s[1] * e1[2] - s[2] * e1[1], s[2] * e1[0] - s[0] * e1[2], s[0] * e1[1] - s[1] * e1[0]};
  const double v = dot3(dir, q) * inv;
  if (v < 0.0 || u + v > 1.0) return kInf;
  const double t = dot3(e2, q) * inv;
  return t > 0.0 ? t : kInf;
}

TriangleBvh::TriangleBvh(const TriangleMesh& mesh, int64_t leaf_size) {
  mesh.validate("TriangleBvh");
  if (mesh.empty()) throw std::invalid_argument("TriangleBvh: mesh has no faces");
  if (leaf_size < 1) {
    throw std::invalid_argument("TriangleBvh: leaf_size must be >= 1, got " +
                                std::to_string(leaf_size));
  }
  const auto v = mesh.vertices.to(torch::kCPU, torch::kFloat64).contiguous();
  const auto f = mesh.faces.to(torch::kCPU, torch::kLong).contiguous();
  const double* vp = v.data_ptr<double>();
  const int64_t* fp = f.data_ptr<int64_t>();
  const int64_t num_faces = f.size(0);

  std::vector<Triangle> input(num_faces);
  std::vector<std::array<double, 3>> centroids(num_faces);
  for (int64_t i = 0; i < num_faces; ++i) {
    for (int corner = 0; corner < 3; ++corner) {
      const double* src = vp + 3 * fp[3 * i + corner];
      for (int k = 0; k < 3; ++k) input[i][3 * corner + k] = src[k];
    }
    for (int k = 0; k < 3; ++k)
      centroids[i][k] = (input[i][k] + input[i][3 + k] + input[i][6 + k]) / 3.0;
  }
  std::vector<int64_t> order(num_faces);
  std::iota(order.begin(), order.end(), 0);
  nodes_.reserve(static_cast<size_t>(2 * (num_faces / leaf_size + 1)));
  triangles_ = std::move(input);
  build(order, centroids, 0, num_faces, leaf_size);

  std::vector<Triangle> sorted(num_faces);
  for (int64_t i = 0; i < num_faces; ++i) sorted[i] = triangles_[order[i]];
  triangles_ = std::move(sorted);
  face_index_ = std::move(order);
}

int32_t TriangleBvh::build(std::vector<int64_t>& order,
                           const std::vector<std::array<double, 3>>& centroids, int64_t begin,
                           int64_t end, int64_t leaf_size) {
  const auto index = static_cast<int32_t>(nodes_.size());
  nodes_.emplace_back();
  Node node;
  node.begin = begin;
  node.end = end;
  std::array<double, 3> clo, chi;
  for (int k = 0; k < 3; ++k) {
    node.lo[k] = clo[k] = std::numeric_limits<double>::infinity();
    node.hi[k] = chi[k] = -std::numeric_limits<double>::infinity();
  }
  for (int64_t i = begin; i < end; ++i) {
    const Triangle& t = triangles_[order[i]];
    for (int corner = 0; corner < 3; ++corner) {
      for (int k = 0; k < 3; ++k) {
        node.lo[k] = std::min(node.lo[k], t[3 * corner + k]);
        node.hi[k] = std::max(node.hi[k], t[3 * corner + k]);
      }
    }
    for (int k = 0; k < 3; ++k) {
      clo[k] = std::min(clo[k], centroids[order[i]][k]);
      chi[k] = std::max(chi[k], centroids[order[i]][k]);
    }
  }
  if (end - begin > leaf_size) {
    int axis = 0;
    for (int k = 1; k < 3; ++k) {
      if (chi[k] - clo[k] > chi[axis] - clo[axis]) axis = k;
    }
    const int64_t mid = begin + (end - begin) / 2;
    std::nth_element(order.begin() + begin, order.begin() + mid, order.begin() + end,
                     [&](int64_t x, int64_t y) { return centroids[x][axis] < centroids[y][axis]; });
    node.left = build(order, centroids, begin, mid, leaf_size);
    node.right = build(order, centroids, mid, end, leaf_size);
  }
  nodes_[index] = node;
  return index;
}

double TriangleBvh::closest_point(const double q[3], int64_t* face, double point[3]) const {
  double best = std::numeric_limits<double>::infinity();
  int64_t best_tri = -1;
  double best_point[3] = {0, 0, 0};
  double tmp[3];
  // Depth is about log2(F / leaf_size); 128 slots cover any tree a median split can build.
  std::pair<int32_t, double> stack[128];
  int top = 0;
  stack[top++] = {0, squared_box_distance(q, nodes_[0])};
  while (top > 0) {
    const auto [ni, box_d2] = stack[--top];
    if (box_d2 >= best) continue;
    const Node& n = nodes_[ni];
    if (n.is_leaf()) {
      for (int64_t i = n.begin; i < n.end; ++i) {
        const Triangle& t = triangles_[i];
        const double d2 = closest_point_on_triangle(q, t.data(), t.data() + 3, t.data() + 6, tmp);
        if (d2 < best) {
          best = d2;
          best_tri = i;
          std::copy(tmp, tmp + 3, best_point);
        }
      }
      continue;
    }
    const double dl = squared_box_distance(q, nodes_[n.left]);
    const double dr = squared_box_distance(q, nodes_[n.right]);
    // The nearer child is popped first so that `best` shrinks early.
    if (dl <= dr) {
      stack[top++] = {n.right, dr};
      stack[top++] = {n.left, dl};
    } else {
      stack[top++] = {n.left, dl};
      stack[top++] = {n.right, dr};
    }
  }
  if (face) *face = face_index_[best_tri];
  if (point) std::copy(best_point, best_point + 3, point);
  return best;
}

double TriangleBvh::first_hit(const double origin[3], const double dir[3], int64_t* face) const {
  double best = std::numeric_limits<double>::infinity();
  int64_t best_tri = -1;
  const double inv[3] = {1.0 / dir[0], 1.0 / dir[1], 1.0 / dir[2]};
  std::pair<int32_t, double> stack[128];  // as in closest_point
  int top = 0;
  const double root = ray_box_entry(origin, inv, nodes_[0], best);
  if (root < best) stack[top++] = {0, root};
  while (top > 0) {
    const auto [ni, entry] = stack[--top];
    if (entry >= best) continue;
    const Node& n = nodes_[ni];
    if (n.is_leaf()) {
      for (int64_t i = n.begin; i < n.end; ++i) {
        const Triangle& t = triangles_[i];
        const double h = ray_triangle_hit(origin, dir, t.data(), t.data() + 3, t.data() + 6);
        if (h < best) {
          best = h;
          best_tri = i;
        }
      }
      continue;
    }
    const double el = ray_box_entry(origin, inv, nodes_[n.left], best);
    const double er = ray_box_entry(origin, inv, nodes_[n.right], best);
    // The nearer box is popped first so that `best` shrinks early.
    if (el <= er) {
      if (er < best) stack[top++] = {n.right, er};
      if (el < best) stack[top++] = {n.left, el};
    } else {
      if (el < best) stack[top++] = {n.left, el};
      if (er < best) stack[top++] = {n.right, er};
    }
  }
  if (face) *face = best_tri >= 0 ? face_index_[best_tri] : -1;
  return best;
}

TriangleBvh::ClosestPoints TriangleBvh::closest_points(const torch::Tensor& queries) const {
  detail::check_matrix(queries, 3, "TriangleBvh::closest_points", "queries");
  detail::check_finite(queries, "TriangleBvh::closest_points", "queries");
  const auto q = queries.to(torch::kCPU, torch::kFloat64).contiguous();
  const int64_t count = q.size(0);
  auto distance = torch::empty({count}, torch::kFloat64);
  auto face = torch::empty({count}, torch::kLong);
  auto point = torch::empty({count, 3}, torch::kFloat64);
  const double* qp = q.data_ptr<double>();
  double* dp = distance.data_ptr<double>();
  int64_t* fp = face.data_ptr<int64_t>();
  double* pp = point.data_ptr<double>();
  at::parallel_for(0, count, 64, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      dp[i] = std::sqrt(closest_point(qp + 3 * i, fp + i, pp + 3 * i));
  });
  return {distance.to(torch::kFloat32), face, point.to(torch::kFloat32)};
}

}  // namespace shapediff::shapes

#include "shapes/winding_number.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "shapes/validation.h"

namespace shapediff::shapes {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kInv4Pi = 1.0 / (4.0 * kPi);

void check_options(const WindingNumberOptions& options) {
  if (!options.exact && !(options.beta > 1.0 && std::isfinite(options.beta))) {
    throw std::invalid_argument("WindingNumberOptions: beta must be a finite value > 1, got " +
                                std::to_string(options.beta));
  }
}

// Half the cross product of the edges (area times unit normal) and the centroid.
void area_normal_and_centroid(const TriangleBvh::Triangle& t, double an[3], double c[3]) {
  const double e1[3] = {t[3] - t[0], t[4] - t[1], t[5] - t[2]};
  const double e2[3] = {t[6] - t[0], t[7] - t[1], t[8] - t[2]};
  an[0] = 0.5 * (e1[1] * e2[2] - e1[2] * e2[1]);
  an[1] = 0.5 * (e1[2] * e2[0] - e1[0] * e2[2]);
  an[2] = 0.5 * (e1[0] * e2[1] - e1[1] * e2[0]);
  for (int k = 0; k < 3; ++k) c[k] = (t[k] + t[3 + k] + t[6 + k]) / 3.0;
}

}  // namespace

double triangle_solid_angle(const double q[3], const double a[3], const double b[3],
                            const double c[3]) {
  const double x[3] = {a[0] - q[0], a[1] - q[1], a[2] - q[2]};
  const double y[3] = {b[0] - q[0], b[1] - q[1], b[2] - q[2]};
  const double z[3] = {c[0] - q[0], c[1] - q[1], c[2] - q[2]};
  const double lx = std::sqrt(x[0] * x[0] + x[1] * x[1] + x[2] * x[2]);
  const double ly = std::sqrt(y[0] * y[0] + y[1] * y[1] + y[2] * y[2]);
  const double lz = std::sqrt(z[0] * z[0] + z[1] * z[1] + z[2] * z[2]);
  const double det = x[0] * (y[1] * z[2] - y[2] * z[1]) - x[1] * (y[0] * z[2] - y[2] * z[0]) +
                     x[2] * (y[0] * z[1] - y[1] * z[0]);
  const double xy = x[0] * y[0] + x[1] * y[1] + x[2] * y[2];
  const double yz = y[0] * z[0] + y[1] * z[1] + y[2] * z[2];
  const double zx = z[0] * x[0] + z[1] * x[1] + z[2] * x[2];
  const double den = lx * ly * lz + xy * lz + yz * lx + zx * ly;
  return 2.0 * std::atan2(det, den);
}

WindingNumber::WindingNumber(const TriangleMesh& mesh, const WindingNumberOptions& options)
    : WindingNumber(std::make_shared<const TriangleBvh>(mesh), options) {}

WindingNumber::WindingNumber(std::shared_ptr<const TriangleBvh> bvh,
                             const WindingNumberOptions& options)
    : bvh_(std::move(bvh)), options_(options) {
  if (!bvh_) throw std::invalid_argument("WindingNumber: no tree given");
  check_options(options_);
  if (!options_.exact) compute_moments();
}

void WindingNumber::compute_moments() {
  const auto& nodes = bvh_->nodes();
  const auto& tris = bvh_->triangles();
  moments_.assign(nodes.size(), Moments{});
  // Children follow their parents, so a reverse sweep sees both children before the parent.
  for (size_t r = nodes.size(); r-- > 0;) {
    const auto& node = nodes[r];
    Moments& m = moments_[r];
    if (node.is_leaf()) {
      std::array<double, 3> weighted{};
      for (int64_t i = node.begin; i < node.end; ++i) {
        double an[3], c[3];
        area_normal_and_centroid(tris[i], an, c);
        const double area = std::sqrt(an[0] * an[0] + an[1] * an[1] + an[2] * an[2]);
        m.area += area;
        for (int k = 0; k < 3; ++k) {
          m.normal[k] += an[k];
          weighted[k] += area * c[k];
        }
      }
      for (int k = 0; k < 3; ++k) {
        m.center[k] = m.area > 0 ? weighted[k] / m.area : 0.5 * (node.lo[k] + node.hi[k]);
      }
      for (int64_t i = node.begin; i < node.end; ++i) {
        const auto& t = tris[i];
        double an[3], c[3];
        area_normal_and_centroid(t, an, c);
        double off[3];
        for (int k = 0; k < 3; ++k) off[k] = c[k] - m.center[k];
        // E[(x - centre)(x - centre)^T] over a triangle: its covariance,
        // (1/12) sum_corners (v - centroid)(v - centroid)^T, plus the centroid's offset squared.
        double outer[9];
        for (int k = 0; k < 3; ++k) {
          for (int l = 0; l < 3; ++l) {
            double cov = 0;
            for (int corner = 0; corner < 3; ++corner) {
              cov += (t[3 * corner + k] - c[k]) * (t[3 * corner + l] - c[l]);
            }
            outer[3 * k + l] = cov / 12.0 + off[k] * off[l];
          }
        }
        for (int j = 0; j < 3; ++j) {
          for (int k = 0; k < 3; ++k) {
            m.first[3 * j + k] += an[j] * off[k];
            for (int l = 0; l < 3; ++l) m.second[9 * j + 3 * k + l] += an[j] * outer[3 * k + l];
          }
        }
        for (int corner = 0; corner < 3; ++corner) {
          double d2 = 0;
          for (int k = 0; k < 3; ++k) d2 += std::pow(t[3 * corner + k] - m.center[k], 2);
          m.radius = std::max(m.radius, std::sqrt(d2));
        }
      }
      continue;
    }
    const Moments* children[2] = {&moments_[node.left], &moments_[node.right]};
    m.area = children[0]->area + children[1]->area;
    const double w0 = m.area > 0 ? children[0]->area / m.area : 0.5;
    for (int k = 0; k < 3; ++k) {
      m.center[k] = w0 * children[0]->center[k] + (1 - w0) * children[1]->center[k];
    }
    // Moving a child's expansion centre by delta = child centre - new centre:
    // M += N (x) delta, T_jkl += M_jk delta_l + M_jl delta_k + N_j delta_k delta_l.
    double through_children = 0;
    for (const Moments* ch : children) {
      double delta[3];
      for (int k = 0; k < 3; ++k) delta[k] = ch->center[k] - m.center[k];
      for (int j = 0; j < 3; ++j) {
        m.normal[j] += ch->normal[j];
        for (int k = 0; k < 3; ++k) {
          m.first[3 * j + k] += ch->first[3 * j + k] + ch->normal[j] * delta[k];
          for (int l = 0; l < 3; ++l) {
            m.second[9 * j + 3 * k + l] +=
                ch->second[9 * j + 3 * k + l] + ch->first[3 * j + k] * delta[l] +
                ch->first[3 * j + l] * delta[k] + ch->normal[j] * delta[k] * delta[l];
          }
        }
      }
      through_children = std::max(
          through_children,
          ch->radius + std::sqrt(delta[0] * delta[0] + delta[1] * delta[1] + delta[2] * delta[2]));
    }
    // Two bounds on the distance from the centre to any corner: through the children's balls,
    // and the farthest corner of the node's box. The smaller one prunes more.
    double box2 = 0;
    for (int k = 0; k < 3; ++k) {
      box2 += std::pow(std::max(m.center[k] - node.lo[k], node.hi[k] - m.center[k]), 2);
    }
    m.radius = std::min(through_children, std::sqrt(box2));
  }
}

double WindingNumber::exact_at(const double q[3]) const {
  double sum = 0;
  for (const auto& t : bvh_->triangles())
    sum += triangle_solid_angle(q, t.data(), t.data() + 3, t.data() + 6);
  return sum * kInv4Pi;
}

double WindingNumber::fast_at(const double q[3]) const {
  const auto& nodes = bvh_->nodes();
  const auto& tris = bvh_->triangles();
  const double beta2 = options_.beta * options_.beta;
  double solid = 0;  // exact part, steradians
  double far = 0;    // expansion part, same units (4*pi times a winding number)
  int32_t stack[128];
  int top = 0;
  stack[top++] = 0;
  while (top > 0) {
    const int32_t ni = stack[--top];
    const Moments& m = moments_[ni];
    const double d[3] = {m.center[0] - q[0], m.center[1] - q[1], m.center[2] - q[2]};
    const double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    if (r2 > beta2 * m.radius * m.radius) {
      // Taylor expansion of (x - q) / |x - q|^3 about the centre, integrated against
      // area * normal: d.N / r^3, then the gradient term against M, the Hessian term against T.
      const double r = std::sqrt(r2);
      const double inv_r3 = 1.0 / (r2 * r);
      const double inv_r5 = inv_r3 / r2;
      const double inv_r7 = inv_r5 / r2;
      const auto& mf = m.first;
      const auto& ms = m.second;
      double dmd = 0, tddd = 0, tjjl_d = 0, tjkk_d = 0;
      for (int j = 0; j < 3; ++j) {
        double tkk = 0;
        for (int k = 0; k < 3; ++k) {
          dmd += d[j] * mf[3 * j + k] * d[k];
          tjjl_d += ms[9 * j + 3 * j + k] * d[k];
          tkk += ms[9 * j + 3 * k + k];
          double tkl = 0;
          for (int l = 0; l < 3; ++l) tkl += ms[9 * j + 3 * k + l] * d[l];
          tddd += d[j] * d[k] * tkl;
        }
        tjkk_d += d[j] * tkk;
      }
      const double order0 = (d[0] * m.normal[0] + d[1] * m.normal[1] + d[2] * m.normal[2]) * inv_r3;
      const double order1 = (mf[0] + mf[4] + mf[8]) * inv_r3 - 3.0 * dmd * inv_r5;
      const double order2 = 0.5 * (-3.0 * (2.0 * tjjl_d + tjkk_d) * inv_r5 + 15.0 * tddd * inv_r7);
      far += order0 + order1 + order2;
      continue;
    }
    const auto& node = nodes[ni];
    if (node.is_leaf()) {
      for (int64_t i = node.begin; i < node.end; ++i) {
        const auto& t = tris[i];
        solid += triangle_solid_angle(q, t.data(), t.data() + 3, t.data() + 6);
      }
      continue;
    }
    stack[top++] = node.left;
    stack[top++] = node.right;
  }
  return (solid + far) * kInv4Pi;
}

double WindingNumber::at(const double q[3]) const {
  return options_.exact ? exact_at(q) : fast_at(q);
}

torch::Tensor WindingNumber::operator()(const torch::Tensor& queries) const {
  detail::check_matrix(queries, 3, "winding_number", "queries");
  detail::check_finite(queries, "winding_number", "queries");
  const auto q = queries.to(torch::kCPU, torch::kFloat64).contiguous();
  const int64_t count = q.size(0);
  auto out = torch::empty({count}, torch::kFloat64);
  const double* qp = q.data_ptr<double>();
  double* op = out.data_ptr<double>();
  const int64_t grain = options_.exact ? 4 : 64;
  at::parallel_for(0, count, grain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) op[i] = at(qp + 3 * i);
  });
  return out.to(torch::kFloat32);
}

torch::Tensor winding_number(const TriangleMesh& mesh, const torch::Tensor& queries,
                             const WindingNumberOptions& options) {
  mesh.validate("winding_number");
  if (mesh.empty()) throw std::invalid_argument("winding_number: mesh has no faces");
  return WindingNumber(mesh, options)(queries);
}

}  // namespace shapediff::shapes

// Small meshes, rotations and error checks shared by the geometry-operation tests.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "shapes/triangle_mesh.h"

namespace shapediff::testing {

// Icosahedron subdivided `levels` times, projected onto a sphere; faces counter-clockwise seen
// from outside. levels 0..4 give 20, 80, 320, 1280, 5120 faces.
inline shapes::TriangleMesh icosphere(int levels, double radius = 1.0,
                                      std::array<double, 3> center = {0, 0, 0}) {
  const double t = (1.0 + std::sqrt(5.0)) / 2.0;
  std::vector<std::array<double, 3>> v = {{-1, t, 0}, {1, t, 0}, {-1, -t, 0}, {1, -t, 0},
                                          {0, -1, t}, {0, 1, t}, {0, -1, -t}, {0, 1, -t},
                                          {t, 0, -1}, {t, 0, 1}, {-t, 0, -1}, {-t, 0, 1}};
  std::vector<std::array<int64_t, 3>> f = {
      {0, 11, 5},  {0, 5, 1},  {0, 1, 7},  {0, 7, 10}, {0, 10, 11}, {1, 5, 9}, {5, 11, 4},
      {11, 10, 2}, {10, 7, 6}, {7, 1, 8},  {3, 9, 4},  {3, 4, 2},   {3, 2, 6}, {3, 6, 8},
      {3, 8, 9},   {4, 9, 5},  {2, 4, 11}, {6, 2, 10}, {8, 6, 7},   {9, 8, 1}};
  auto normalize = [](std::array<double, 3> p) {
    const double n = std::sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]);
    return std::array<double, 3>{p[0] / n, p[1] / n, p[2] / n};
  };
  for (auto& p : v) p = normalize(p);
  for (int level = 0; level < levels; ++level) {
    std::map<std::pair<int64_t, int64_t>, int64_t> mid;
    auto midpoint = [&](int64_t a, int64_t b) {
      const auto key = std::minmax(a, b);
      const auto it = mid.find(key);
      if (it != mid.end()) return it->second;
      v.push_back(normalize({v[a][0] + v[b][0], v[a][1] + v[b][1], v[a][2] + v[b][2]}));
      return mid[key] = static_cast<int64_t>(v.size()) - 1;
    };
    std::vector<std::array<int64_t, 3>> next;
    for (const auto& tri : f) {
      const int64_t ab = midpoint(tri[0], tri[1]), bc = midpoint(tri[1], tri[2]),
                    ca = midpoint(tri[2], tri[0]);
      next.push_back({tri[0], ab, ca});
      next.push_back({tri[1], bc, ab});
      next.push_back({tri[2], ca, bc});
      next.push_back({ab, bc, ca});
    }
    f = std::move(next);
  }
  auto verts = torch::empty({static_cast<int64_t>(v.size()), 3}, torch::kFloat32);
  for (size_t i = 0; i < v.size(); ++i) {
    for (int k = 0; k < 3; ++k) verts[i][k] = v[i][k] * radius + center[k];
  }
  auto faces = torch::empty({static_cast<int64_t>(f.size()), 3}, torch::kLong);
  for (size_t i = 0; i < f.size(); ++i) {
    for (int k = 0; k < 3; ++k) faces[i][k] = f[i][k];
  }
  return {verts, faces};
}

// Axis-aligned box [lo, hi], 12 triangles counter-clockwise seen from outside.
inline shapes::TriangleMesh box_mesh(std::array<double, 3> lo, std::array<double, 3> hi) {
  auto verts = torch::empty({8, 3}, torch::kFloat32);
  for (int i = 0; i < 8; ++i) {
    verts[i][0] = (i & 1) ? hi[0] : lo[0];
    verts[i][1] = (i & 2) ? hi[1] : lo[1];
    verts[i][2] = (i & 4) ? hi[2] : lo[2];
  }
  const auto faces = torch::tensor({0, 2, 1, 1, 2, 3, 4, 5, 6, 5, 7, 6, 0, 1, 4, 1, 5, 4,
                                    2, 6, 3, 3, 6, 7, 0, 4, 2, 2, 4, 6, 1, 3, 5, 3, 7, 5},
                                   torch::kLong)
                         .reshape({12, 3});
  return {verts, faces};
}

// Signed volume of a closed mesh (positive when its faces point outwards).
inline double signed_volume(const shapes::TriangleMesh& m) {
  const auto v = m.vertices.to(torch::kFloat64);
  const auto a = v.index_select(0, m.faces.select(1, 0));
  const auto b = v.index_select(0, m.faces.select(1, 1));
  const auto c = v.index_select(0, m.faces.select(1, 2));
  return (a * torch::cross(b, c, 1)).sum().item<double>() / 6.0;
}

// A uniformly random proper rotation [3,3] float64.
inline torch::Tensor random_rotation(at::Generator& gen) {
  const auto a = torch::randn({3, 3}, gen, torch::kFloat64);
  auto qr = torch::linalg_qr(a);
  auto q = std::get<0>(qr) * torch::sign(torch::diagonal(std::get<1>(qr))).unsqueeze(0);
  if (torch::det(q).item<double>() < 0) q = q * torch::tensor({1.0, 1.0, -1.0}, torch::kFloat64);
  return q;
}

// Distance from p to triangle (a, b, c) (all [3] float64) as the smaller of: the distance to
// its plane when the projection falls inside (three edge tests), and the distances to its edges.
inline double reference_distance(const torch::Tensor& p, const torch::Tensor& a,
                                 const torch::Tensor& b, const torch::Tensor& c) {
  auto seg = [&](const torch::Tensor& u, const torch::Tensor& v) {
    const auto e = v - u;
    const double len2 = e.dot(e).item<double>();
    const double t = len2 > 0 ? std::clamp((p - u).dot(e).item<double>() / len2, 0.0, 1.0) : 0.0;
    return (p - (u + t * e)).norm().item<double>();
  };
  double best = std::min({seg(a, b), seg(b, c), seg(c, a)});
  const auto n = torch::cross(b - a, c - a, 0);
  const double nn = n.norm().item<double>();
  if (nn > 0) {
    const auto proj = p - (p - a).dot(n) / (nn * nn) * n;
    const double s1 = torch::cross(b - a, proj - a, 0).dot(n).item<double>();
    const double s2 = torch::cross(c - b, proj - b, 0).dot(n).item<double>();
    const double s3 = torch::cross(a - c, proj - c, 0).dot(n).item<double>();
    if (s1 >= 0 && s2 >= 0 && s3 >= 0) best = std::min(best, (p - proj).norm().item<double>());
  }
  return best;
}

// `f` throws std::invalid_argument with a one-line message containing `needle`.
template <typename F>
void expect_invalid(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one mentioning '" << needle << "'";
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

}  // namespace shapediff::testing

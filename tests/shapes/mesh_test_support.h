// Test-only mesh checks shared by the marching cubes and procedural shape tests: edge manifold
// and orientation, Euler characteristic, connected components, enclosed volume.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "shapes/triangle_mesh.h"

namespace shapediff::shapes::testing {

struct MeshTopology {
  int64_t vertices = 0;  // vertices used by at least one face
  int64_t edges = 0;     // undirected edges
  int64_t faces = 0;
  int64_t boundary_edges = 0;     // edges with one face
  int64_t nonmanifold_edges = 0;  // edges with more than two faces
  int64_t misoriented_edges = 0;  // directed edges used twice (neighbours disagree)
  int64_t components = 0;         // face-connected through shared vertices

  bool watertight() const {
    return faces > 0 && boundary_edges == 0 && nonmanifold_edges == 0 && misoriented_edges == 0;
  }
  int64_t euler() const { return vertices - edges + faces; }
};

class UnionFind {
 public:
  explicit UnionFind(int64_t n) : parent_(n) { std::iota(parent_.begin(), parent_.end(), 0); }
  int64_t find(int64_t a) {
    while (parent_[a] != a) a = parent_[a] = parent_[parent_[a]];
    return a;
  }
  void join(int64_t a, int64_t b) { parent_[find(a)] = find(b); }

 private:
  std::vector<int64_t> parent_;
};

// Components of the faces for which keep(face) is true.
template <typename Keep>
int64_t count_components(const TriangleMesh& mesh, Keep keep) {
  const auto f = mesh.faces.contiguous();
  const int64_t* fp = f.data_ptr<int64_t>();
  UnionFind uf(mesh.num_vertices());
  std::vector<char> used(mesh.num_vertices(), 0);
  for (int64_t i = 0; i < mesh.num_faces(); ++i) {
    if (!keep(i)) continue;
    uf.join(fp[3 * i], fp[3 * i + 1]);
    uf.join(fp[3 * i], fp[3 * i + 2]);
    used[fp[3 * i]] = used[fp[3 * i + 1]] = used[fp[3 * i + 2]] = 1;
  }
  int64_t roots = 0;
  for (int64_t v = 0; v < mesh.num_vertices(); ++v) roots += used[v] && uf.find(v) == v;
  return roots;
}

inline MeshTopology topology(const TriangleMesh& mesh) {
  MeshTopology t;
  const auto f = mesh.faces.contiguous();
  const int64_t* fp = f.data_ptr<int64_t>();
  const int64_t nv = mesh.num_vertices();
  t.faces = mesh.num_faces();
  std::vector<int64_t> directed;  // a * nv + b for the edge a -> b
  directed.reserve(3 * t.faces);
  std::vector<char> used(nv, 0);
  for (int64_t i = 0; i < t.faces; ++i) {
    for (int k = 0; k < 3; ++k) {
      used[fp[3 * i + k]] = 1;
      directed.push_back(fp[3 * i + k] * nv + fp[3 * i + (k + 1) % 3]);
    }
  }
  std::sort(directed.begin(), directed.end());
  std::vector<int64_t> undirected;
  undirected.reserve(directed.size());
  for (size_t i = 0; i < directed.size(); ++i) {
    if (i > 0 && directed[i] == directed[i - 1]) ++t.misoriented_edges;
    const int64_t a = directed[i] / nv, b = directed[i] % nv;
    undirected.push_back(std::min(a, b) * nv + std::max(a, b));
  }
  std::sort(undirected.begin(), undirected.end());
  for (size_t i = 0; i < undirected.size();) {
    size_t j = i;
    while (j < undirected.size() && undirected[j] == undirected[i]) ++j;
    ++t.edges;
    if (j - i == 1) ++t.boundary_edges;
    if (j - i > 2) ++t.nonmanifold_edges;
    i = j;
  }
  t.vertices = std::count(used.begin(), used.end(), 1);
  t.components = count_components(mesh, [](int64_t) { return true; });
  return t;
}

// Volume enclosed by a closed mesh; positive when faces are counter-clockwise from outside.
inline double signed_volume(const TriangleMesh& mesh) {
  const auto v = mesh.vertices.to(torch::kFloat64);
  const auto f = mesh.faces;
  const auto a = v.index_select(0, f.select(1, 0));
  const auto b = v.index_select(0, f.select(1, 1));
  const auto c = v.index_select(0, f.select(1, 2));
  return (a * torch::cross(b, c, 1)).sum().item<double>() / 6.0;
}

inline double surface_area(const TriangleMesh& mesh) {
  return mesh.face_areas().to(torch::kFloat64).sum().item<double>();
}

}  // namespace shapediff::shapes::testing

#include "shapes/mesh_quality.h"

#include <algorithm>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <torch/torch.h>

#include "shapes/mesh_repair.h"

namespace shapediff::shapes {
namespace {

struct UnionFind {
  std::vector<int64_t> parent;
  explicit UnionFind(int64_t n) : parent(static_cast<size_t>(n)) {
    std::iota(parent.begin(), parent.end(), int64_t{0});
  }
  int64_t find(int64_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  }
  void unite(int64_t a, int64_t b) { parent[find(a)] = find(b); }
};

// One directed half of a face edge; sorting by key groups the faces around an undirected edge.
struct HalfEdge {
  uint64_t key;    // min(u,w) * V + max(u,w)
  int64_t corner;  // face * 3 + position of the edge's first vertex
  bool forward;    // u < w
  bool operator<(const HalfEdge& o) const { return key < o.key || (key == o.key && corner < o.corner); }
};

}  // namespace

MeshQuality mesh_quality(const TriangleMesh& mesh, bool check_self_intersections) {
  mesh.validate("mesh_quality");
  MeshQuality q;
  q.vertices = mesh.num_vertices();
  q.faces = mesh.num_faces();
  if (q.faces == 0) return q;
  const auto faces = mesh.faces.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t* f = faces.data_ptr<int64_t>();
  const int64_t F = q.faces;
  const auto V = static_cast<uint64_t>(q.vertices);

  const auto areas = mesh.face_areas().to(torch::kCPU, torch::kFloat64).contiguous();
  const double* area = areas.data_ptr<double>();
  std::vector<HalfEdge> halves;
  halves.reserve(static_cast<size_t>(3 * F));
  for (int64_t i = 0; i < F; ++i) {
    const int64_t a = f[3 * i], b = f[3 * i + 1], c = f[3 * i + 2];
    if (a == b || b == c || a == c || !(area[i] > 0)) ++q.degenerate_faces;
    for (int k = 0; k < 3; ++k) {
      const auto u = static_cast<uint64_t>(f[3 * i + k]);
      const auto w = static_cast<uint64_t>(f[3 * i + (k + 1) % 3]);
      halves.push_back({std::min(u, w) * V + std::max(u, w), 3 * i + k, u < w});
    }
  }
  std::sort(halves.begin(), halves.end());

  UnionFind face_sets(F), corner_sets(3 * F);
  UnionFind boundary_sets(q.vertices);
  std::vector<uint8_t> on_boundary(static_cast<size_t>(q.vertices), 0);
  for (size_t s = 0; s < halves.size();) {
    size_t e = s;
    while (e < halves.size() && halves[e].key == halves[s].key) ++e;
    const size_t uses = e - s;
    for (size_t j = s + 1; j < e; ++j) face_sets.unite(halves[s].corner / 3, halves[j].corner / 3);
    if (uses == 1) {
      ++q.boundary_edges;
      const int64_t u = static_cast<int64_t>(halves[s].key / V), w = static_cast<int64_t>(halves[s].key % V);
      boundary_sets.unite(u, w);
      on_boundary[u] = on_boundary[w] = 1;
    } else if (uses == 2) {
      if (halves[s].forward == halves[s + 1].forward) ++q.inconsistent_edges;
      // The two faces continue the same fan around both end vertices.
      const int64_t c0 = halves[s].corner, c1 = halves[s + 1].corner;
      const int64_t c0_next = c0 / 3 * 3 + (c0 % 3 + 1) % 3, c1_next = c1 / 3 * 3 + (c1 % 3 + 1) % 3;
      if (f[c0] == f[c1]) {
        corner_sets.unite(c0, c1);
        corner_sets.unite(c0_next, c1_next);
      } else {
        corner_sets.unite(c0, c1_next);
        corner_sets.unite(c0_next, c1);
      }
    } else {
      ++q.non_manifold_edges;
    }
    s = e;
  }

  std::vector<int64_t> fan_root(static_cast<size_t>(q.vertices), -1);
  std::vector<uint8_t> counted(static_cast<size_t>(q.vertices), 0);
  for (int64_t c = 0; c < 3 * F; ++c) {
    const int64_t v = f[c], root = corner_sets.find(c);
    if (fan_root[v] < 0) {
      fan_root[v] = root;
    } else if (fan_root[v] != root && !counted[v]) {
      counted[v] = 1;
      ++q.non_manifold_vertices;
    }
  }
  for (int64_t i = 0; i < F; ++i) q.components += face_sets.find(i) == i;
  for (int64_t v = 0; v < q.vertices; ++v) q.boundary_loops += on_boundary[v] && boundary_sets.find(v) == v;

  q.manifold = q.non_manifold_edges == 0 && q.non_manifold_vertices == 0 && q.inconsistent_edges == 0;
  q.closed = q.manifold && q.boundary_edges == 0;
  if (check_self_intersections) q.self_intersections = count_self_intersections(mesh);
  return q;
}

std::string to_string(const MeshQuality& q) {
  std::ostringstream out;
  out << "vertices " << q.vertices << " faces " << q.faces << " components " << q.components
      << " closed " << (q.closed ? "yes" : "no") << " manifold " << (q.manifold ? "yes" : "no")
      << " boundary_loops " << q.boundary_loops << " non_manifold_edges " << q.non_manifold_edges
      << " non_manifold_vertices " << q.non_manifold_vertices << " inconsistent_edges "
      << q.inconsistent_edges << " degenerate_faces " << q.degenerate_faces
      << " self_intersections " << q.self_intersections;
  return out.str();
}

}  // namespace shapediff::shapes

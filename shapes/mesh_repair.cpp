#include "shapes/mesh_repair.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "shapediff/config.h"

namespace shapediff::shapes {

TriangleMesh keep_largest_components(const TriangleMesh& mesh, int64_t count) {
  mesh.validate("keep_largest_components");
  if (count < 1) {
    throw std::invalid_argument("keep_largest_components: count must be >= 1, got " + std::to_string(count));
  }
  const auto faces = mesh.faces.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t* f = faces.data_ptr<int64_t>();
  const int64_t F = mesh.num_faces(), V = mesh.num_vertices();

  // Faces sharing an edge join; the edge is found by sorting (edge key, face) pairs.
  std::vector<int64_t> parent(static_cast<size_t>(F));
  std::iota(parent.begin(), parent.end(), int64_t{0});
  auto find = [&](int64_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  };
  std::vector<std::pair<uint64_t, int64_t>> edges;
  edges.reserve(static_cast<size_t>(3 * F));
  for (int64_t i = 0; i < F; ++i) {
    for (int k = 0; k < 3; ++k) {
      const auto u = static_cast<uint64_t>(f[3 * i + k]), w = static_cast<uint64_t>(f[3 * i + (k + 1) % 3]);
      edges.emplace_back(std::min(u, w) * static_cast<uint64_t>(V) + std::max(u, w), i);
    }
  }
  std::sort(edges.begin(), edges.end());
  for (size_t j = 1; j < edges.size(); ++j) {
    if (edges[j].first == edges[j - 1].first) parent[find(edges[j].second)] = find(edges[j - 1].second);
  }
  std::vector<int64_t> size(static_cast<size_t>(F), 0);
  for (int64_t i = 0; i < F; ++i) ++size[find(i)];
  std::vector<int64_t> roots;
  for (int64_t i = 0; i < F; ++i) {
    if (size[i] > 0) roots.push_back(i);
  }
  // Ties go to the component met first, so the result does not depend on the sort.
  std::stable_sort(roots.begin(), roots.end(), [&](int64_t a, int64_t b) { return size[a] > size[b]; });
  std::vector<uint8_t> keep_root(static_cast<size_t>(F), 0);
  for (size_t r = 0; r < roots.size() && static_cast<int64_t>(r) < count; ++r) keep_root[roots[r]] = 1;

  std::vector<int64_t> kept_faces;
  std::vector<uint8_t> used(static_cast<size_t>(V), 0);
  for (int64_t i = 0; i < F; ++i) {
    if (!keep_root[find(i)]) continue;
    kept_faces.push_back(i);
    for (int k = 0; k < 3; ++k) used[f[3 * i + k]] = 1;
  }
  std::vector<int64_t> new_index(static_cast<size_t>(V), -1), kept_vertices;
  for (int64_t v = 0; v < V; ++v) {
    if (used[v]) {
      new_index[v] = static_cast<int64_t>(kept_vertices.size());
      kept_vertices.push_back(v);
    }
  }
  const auto nv = static_cast<int64_t>(kept_vertices.size());
  const auto vi = torch::from_blob(kept_vertices.data(), {nv}, torch::kLong).clone();
  const auto fi = torch::from_blob(kept_faces.data(), {static_cast<int64_t>(kept_faces.size())}, torch::kLong).clone();
  const auto remap = torch::from_blob(new_index.data(), {V}, torch::kLong).clone();
  TriangleMesh out;
  out.vertices = mesh.vertices.index_select(0, vi.to(mesh.vertices.device()));
  out.faces = remap.index({faces.index_select(0, fi).reshape({-1})}).reshape({-1, 3}).to(mesh.faces.device());
  if (mesh.vertex_normals.defined()) out.vertex_normals = mesh.vertex_normals.index_select(0, vi.to(mesh.vertex_normals.device()));
  if (mesh.vertex_colors.defined()) out.vertex_colors = mesh.vertex_colors.index_select(0, vi.to(mesh.vertex_colors.device()));
  return out;
}

#if !SHAPEDIFF_WITH_CGAL
TriangleMesh fill_small_holes(const TriangleMesh&, int64_t, int64_t*) {
  throw std::runtime_error("hole filling needs CGAL: this build has SHAPEDIFF_WITH_CGAL=OFF");
}

int64_t count_self_intersections(const TriangleMesh& mesh) {
  mesh.validate("count_self_intersections");
  return -1;
}
#endif

}  // namespace shapediff::shapes

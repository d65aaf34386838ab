#include "shapes/marching_cubes.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace shapediff::shapes {
namespace {

// Cube corner c sits at offset (c & 1, c >> 1 & 1, c >> 2 & 1). The six Kuhn tetrahedra are
// the chains 0 -> one axis -> two axes -> 7; every edge of such a chain joins a corner `lo` to a
// corner `hi` with lo's bits a subset of hi's, so an edge is named by its lower sample and the
// direction hi ^ lo in 1..7 (seven edges owned per sample).
struct TetEdge {
  int lo;   // cube corner of the lower end
  int dir;  // bit mask of the step to the upper end
};

struct TetCase {
  int num_triangles = 0;
  std::array<std::array<int, 3>, 2> triangles{};  // tet edge indices, outward orientation
};

struct TetTable {
  std::array<std::array<int, 4>, 6> corners{};  // cube corner of each tet vertex
  std::array<std::array<TetEdge, 6>, 6> edges{};
  std::array<std::array<TetCase, 16>, 6> cases{};
};

constexpr std::array<std::array<int, 2>, 6> kTetEdgeVertices{
    {{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}}};

std::array<double, 3> corner_offset(int c) {
  return {double(c & 1), double((c >> 1) & 1), double((c >> 2) & 1)};
}

int tet_edge_index(int a, int b) {
  if (a > b) std::swap(a, b);
  for (int e = 0; e < 6; ++e) {
    if (kTetEdgeVertices[e][0] == a && kTetEdgeVertices[e][1] == b) return e;
  }
  throw std::logic_error("marching_cubes: no tetrahedron edge joins these vertices");
}

// The triangles of each case are derived here rather than typed in: the orientation is fixed
// with edge midpoints, which is valid for every crossing position because a triangle whose
// corners stay strictly inside their edges can never flip.
TetTable build_table() {
  TetTable table;
  const std::array<std::array<int, 3>, 6> orders{
      {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}};
  for (int t = 0; t < 6; ++t) {
    const auto& o = orders[t];
    table.corners[t] = {0, 1 << o[0], (1 << o[0]) | (1 << o[1]), 7};
    for (int e = 0; e < 6; ++e) {
      const int lo = table.corners[t][kTetEdgeVertices[e][0]];
      const int hi = table.corners[t][kTetEdgeVertices[e][1]];
      table.edges[t][e] = {lo, lo ^ hi};
    }
    auto midpoint = [&](int e) {
      const auto a = corner_offset(table.corners[t][kTetEdgeVertices[e][0]]);
      const auto b = corner_offset(table.corners[t][kTetEdgeVertices[e][1]]);
      return std::array<double, 3>{(a[0] + b[0]) / 2, (a[1] + b[1]) / 2, (a[2] + b[2]) / 2};
    };
    for (int mask = 1; mask < 15; ++mask) {
      std::vector<int> in, out;
      for (int v = 0; v < 4; ++v) ((mask >> v) & 1 ? in : out).push_back(v);
      TetCase& c = table.cases[t][mask];
      if (in.size() == 1 || in.size() == 3) {
        const bool lone_inside = in.size() == 1;
        const int s = lone_inside ? in[0] : out[0];
        const auto& others = lone_inside ? out : in;
        c.num_triangles = 1;
        c.triangles[0] = {tet_edge_index(s, others[0]), tet_edge_index(s, others[1]),
                          tet_edge_index(s, others[2])};
      } else {
        const int a = in[0], b = in[1], p = out[0], q = out[1];
        c.num_triangles = 2;
        c.triangles[0] = {tet_edge_index(a, p), tet_edge_index(a, q), tet_edge_index(b, q)};
        c.triangles[1] = {tet_edge_index(a, p), tet_edge_index(b, q), tet_edge_index(b, p)};
      }
      const auto outside = corner_offset(table.corners[t][out[0]]);
      for (int k = 0; k < c.num_triangles; ++k) {
        auto& tri = c.triangles[k];
        const auto p0 = midpoint(tri[0]), p1 = midpoint(tri[1]), p2 = midpoint(tri[2]);
        const std::array<double, 3> u{p1[0] - p0[0], p1[1] - p0[1], p1[2] - p0[2]};
        const std::array<double, 3> w{p2[0] - p0[0], p2[1] - p0[1], p2[2] - p0[2]};
        const std::array<double, 3> n{u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2],
                                      u[0] * w[1] - u[1] * w[0]};
        const double side =
            n[0] * (outside[0] - p0[0]) + n[1] * (outside[1] - p0[1]) + n[2] * (outside[2] - p0[2]);
        if (side < 0) std::swap(tri[1], tri[2]);
      }
    }
  }
  return table;
}

const TetTable& tet_table() {
  static const TetTable table = build_table();
  return table;
}

// Keeps vertices off the samples so that no triangle degenerates when a sample equals iso.
constexpr double kMinEdgeFraction = 1e-4;

template <typename T>
TriangleMesh contour(const T* values, const std::array<int64_t, 3>& dims, const VoxelGrid& grid,
                     const MarchingCubesOptions& options) {
  const int64_t nx = dims[0], ny = dims[1], nz = dims[2];
  const double iso = options.iso;
  std::vector<uint8_t> inside(static_cast<size_t>(nx * ny * nz));
  for (size_t n = 0; n < inside.size(); ++n) {
    const double v = values[n];
    inside[n] = options.inside_above ? (v > iso) : (v < iso);
  }
  const TetTable& table = tet_table();
  const int64_t slab_size = ny * nz * 7;
  std::array<std::vector<int64_t>, 2> slabs{std::vector<int64_t>(slab_size, -1),
                                            std::vector<int64_t>(slab_size, -1)};
  std::vector<float> vertices;
  std::vector<int64_t> faces;

  auto vertex_of = [&](int64_t i, int64_t j, int64_t k, const TetEdge& e) {
    const int64_t oi = i + (e.lo & 1), oj = j + ((e.lo >> 1) & 1), ok = k + ((e.lo >> 2) & 1);
    int64_t& slot = slabs[oi & 1][(oj * nz + ok) * 7 + (e.dir - 1)];
    if (slot >= 0) return slot;
    const int64_t di = e.dir & 1, dj = (e.dir >> 1) & 1, dk = (e.dir >> 2) & 1;
    const double f0 = values[(oi * ny + oj) * nz + ok];
    const double f1 = values[((oi + di) * ny + oj + dj) * nz + ok + dk];
    double t = (iso - f0) / (f1 - f0);
    t = std::min(std::max(t, kMinEdgeFraction), 1.0 - kMinEdgeFraction);
    slot = static_cast<int64_t>(vertices.size() / 3);
    vertices.push_back(static_cast<float>(grid.origin[0] + grid.voxel_size * (oi + t * di)));
    vertices.push_back(static_cast<float>(grid.origin[1] + grid.voxel_size * (oj + t * dj)));
    vertices.push_back(static_cast<float>(grid.origin[2] + grid.voxel_size * (ok + t * dk)));
    return slot;
  };

  for (int64_t i = 0; i + 1 < nx; ++i) {
    // The slab of layer i + 1 still holds layer i - 1's edges.
    std::fill(slabs[(i + 1) & 1].begin(), slabs[(i + 1) & 1].end(), -1);
    for (int64_t j = 0; j + 1 < ny; ++j) {
      for (int64_t k = 0; k + 1 < nz; ++k) {
        int cube = 0;
        for (int c = 0; c < 8; ++c) {
          const int64_t n = ((i + (c & 1)) * ny + j + ((c >> 1) & 1)) * nz + k + ((c >> 2) & 1);
          cube |= inside[n] << c;
        }
        if (cube == 0 || cube == 255) continue;
        for (int t = 0; t < 6; ++t) {
          int mask = 0;
          for (int v = 0; v < 4; ++v) mask |= ((cube >> table.corners[t][v]) & 1) << v;
          const TetCase& tc = table.cases[t][mask];
          for (int tri = 0; tri < tc.num_triangles; ++tri) {
            for (int e : tc.triangles[tri]) faces.push_back(vertex_of(i, j, k, table.edges[t][e]));
          }
        }
      }
    }
  }

  TriangleMesh mesh;
  const auto nv = static_cast<int64_t>(vertices.size() / 3);
  const auto nf = static_cast<int64_t>(faces.size() / 3);
  mesh.vertices = torch::from_blob(vertices.data(), {nv, 3}, torch::kFloat32).clone();
  mesh.faces = torch::from_blob(faces.data(), {nf, 3}, torch::kInt64).clone();
  return mesh;
}

}  // namespace

TriangleMesh marching_cubes(const VoxelGrid& grid, const MarchingCubesOptions& options) {
  grid.validate("marching_cubes");
  if (!std::isfinite(options.iso)) {
    throw std::invalid_argument("marching_cubes: iso must be finite, got " +
                                std::to_string(options.iso));
  }
  const auto dims = grid.resolution();
  if (dims[0] < 2 || dims[1] < 2 || dims[2] < 2) {
    TriangleMesh empty;
    empty.vertices = torch::zeros({0, 3}, torch::kFloat32);
    empty.faces = torch::zeros({0, 3}, torch::kInt64);
    return empty;
  }
  if (grid.values.scalar_type() == torch::kFloat64) {
    const auto values = grid.values.to(torch::kCPU).contiguous();
    return contour(values.data_ptr<double>(), dims, grid, options);
  }
  const auto values = grid.values.to(torch::kCPU, torch::kFloat32).contiguous();
  return contour(values.data_ptr<float>(), dims, grid, options);
}

}  // namespace shapediff::shapes

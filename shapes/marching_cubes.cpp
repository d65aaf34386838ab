#include "shapes/marching_cubes.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
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

// --- classic marching cubes ---

// Cube edge e = 4 * axis + m joins corner `lo` (the m-th corner, in increasing order, whose bit
// `axis` is clear) to lo | 1 << axis; it is owned by the sample at lo's offset.
struct CubeEdge {
  int lo;
  int axis;
};

// Triangle corners are cube edges 0..11, or 12 + L for a vertex at the centroid of the case's
// loop L (listed in `centroid_loops`).
struct CubeTable {
  std::array<CubeEdge, 12> edges{};
  std::array<std::vector<std::array<int8_t, 3>>, 256> triangles;  // outward
  std::array<std::vector<std::vector<int8_t>>, 256> centroid_loops;
};

// Triangulates the loop (cube edges, in order) without a diagonal between two edges of one cube
// face: the neighbouring cube would put the same diagonal in its own surface, and the mesh edge
// would join four triangles. Returns false when no such triangulation exists.
bool triangulate_loop(const std::vector<int>& loop, const std::array<CubeEdge, 12>& edges,
                      std::vector<std::array<int8_t, 3>>& out) {
  const int m = static_cast<int>(loop.size());
  auto on_common_face = [&](int a, int b) {
    const CubeEdge &ea = edges[loop[a]], &eb = edges[loop[b]];
    for (int axis = 0; axis < 3; ++axis) {
      if (axis == ea.axis || axis == eb.axis) continue;
      if (((ea.lo >> axis) & 1) == ((eb.lo >> axis) & 1)) return true;
    }
    return false;
  };
  auto allowed = [&](int a, int b) { return b - a == 1 || (a == 0 && b == m - 1) || !on_common_face(a, b); };
  // ok[i][j]: the sub-polygon i..j (closed by the chord i-j) can be triangulated; split[i][j]: its apex.
  std::vector<std::vector<int>> split(m, std::vector<int>(m, -1));
  std::vector<std::vector<char>> ok(m, std::vector<char>(m, 0));
  for (int i = 0; i + 1 < m; ++i) ok[i][i + 1] = 1;
  for (int len = 2; len < m; ++len) {
    for (int i = 0; i + len < m; ++i) {
      const int j = i + len;
      if (!allowed(i, j)) continue;
      for (int k = i + 1; k < j && !ok[i][j]; ++k) {
        if (ok[i][k] && ok[k][j]) {
          ok[i][j] = 1;
          split[i][j] = k;
        }
      }
    }
  }
  if (!ok[0][m - 1]) return false;
  std::vector<std::pair<int, int>> stack{{0, m - 1}};
  while (!stack.empty()) {
    const auto [i, j] = stack.back();
    stack.pop_back();
    if (j - i < 2) continue;
    const int k = split[i][j];
    out.push_back({static_cast<int8_t>(loop[i]), static_cast<int8_t>(loop[k]), static_cast<int8_t>(loop[j])});
    stack.push_back({i, k});
    stack.push_back({k, j});
  }
  return true;
}

// Each case's surface is derived from the loops it cuts on the cube's faces: on every face the
// crossed edges are paired (an ambiguous face cuts each inside corner off on its own, a rule
// that depends on the face's corners only, so neighbouring cubes agree); each segment is
// directed with the inside corner on its left seen from outside the cube, which chains the
// segments into closed loops, and every loop is closed with a fan of triangles.
CubeTable build_cube_table() {
  CubeTable table;
  std::array<std::array<int, 8>, 8> edge_of{};  // edge_of[a][b]: edge joining corners a and b
  for (int axis = 0; axis < 3; ++axis) {
    int m = 0;
    for (int c = 0; c < 8; ++c) {
      if ((c >> axis) & 1) continue;
      const int e = 4 * axis + m++;
      table.edges[e] = {c, axis};
      edge_of[c][c | 1 << axis] = edge_of[c | 1 << axis][c] = e;
    }
  }
  auto midpoint = [&](int e) {
    auto p = corner_offset(table.edges[e].lo);
    p[table.edges[e].axis] += 0.5;
    return p;
  };
  auto left_of = [](const std::array<double, 3>& n, const std::array<double, 3>& p,
                    const std::array<double, 3>& q, const std::array<double, 3>& c) {
    const std::array<double, 3> u{q[0] - p[0], q[1] - p[1], q[2] - p[2]};
    const std::array<double, 3> w{c[0] - p[0], c[1] - p[1], c[2] - p[2]};
    return n[0] * (u[1] * w[2] - u[2] * w[1]) + n[1] * (u[2] * w[0] - u[0] * w[2]) +
               n[2] * (u[0] * w[1] - u[1] * w[0]) > 0;
  };
  for (int cube = 1; cube < 255; ++cube) {
    std::array<int, 12> next;
    next.fill(-1);
    for (int axis = 0; axis < 3; ++axis) {
      const int b = (axis + 1) % 3, c = (axis + 2) % 3;
      for (int side = 0; side < 2; ++side) {
        std::array<double, 3> normal{0, 0, 0};
        normal[axis] = side ? 1.0 : -1.0;
        const int base = side << axis;
        const std::array<int, 4> ring{base, base | 1 << b, base | 1 << b | 1 << c, base | 1 << c};
        auto in = [&](int r) { return (cube >> ring[(r + 4) % 4]) & 1; };
        // Each inside corner whose two ring neighbours are outside is cut off alone; otherwise
        // a run of inside corners is cut off by the segment across its two end edges.
        for (int r = 0; r < 4; ++r) {
          if (!in(r) || in(r - 1)) continue;
          int end = r;
          while (in(end + 1) && end + 1 < r + 4) ++end;
          if (end - r >= 3) break;  // the whole face is inside: nothing crosses it
          const int e0 = edge_of[ring[(r + 3) % 4]][ring[r]];
          const int e1 = edge_of[ring[end % 4]][ring[(end + 1) % 4]];
          const auto corner = corner_offset(ring[r]);
          const bool forward = left_of(normal, midpoint(e0), midpoint(e1), corner);
          const int from = forward ? e0 : e1, to = forward ? e1 : e0;
          if (next[from] >= 0) throw std::logic_error("marching_cubes: two segments leave one edge");
          next[from] = to;
        }
      }
    }
    std::array<bool, 12> used{};
    for (int start = 0; start < 12; ++start) {
      if (next[start] < 0 || used[start]) continue;
      std::vector<int> loop;
      for (int e = start; !used[e]; e = next[e]) {
        if (next[e] < 0) throw std::logic_error("marching_cubes: an open loop");
        used[e] = true;
        loop.push_back(e);
      }
      if (triangulate_loop(loop, table.edges, table.triangles[cube])) continue;
      auto& centroids = table.centroid_loops[cube];
      const auto centre = static_cast<int8_t>(12 + centroids.size());
      centroids.emplace_back(loop.begin(), loop.end());
      for (size_t t = 0; t < loop.size(); ++t) {
        table.triangles[cube].push_back(
            {static_cast<int8_t>(loop[t]), static_cast<int8_t>(loop[(t + 1) % loop.size()]), centre});
      }
    }
  }
  // One global convention remains: flip everything if the lone-corner case faces inward.
  const auto& tri = table.triangles[1][0];
  const auto p0 = midpoint(tri[0]), p1 = midpoint(tri[1]), p2 = midpoint(tri[2]);
  if (left_of({1, 1, 1}, p0, p1, p2)) {
    // Normal along +(1,1,1) points away from the inside corner 0: already outward.
  } else {
    for (auto& list : table.triangles) {
      for (auto& t : list) std::swap(t[1], t[2]);
    }
  }
  return table;
}

const CubeTable& cube_table() {
  static const CubeTable table = build_cube_table();
  return table;
}

template <typename T>
TriangleMesh contour_cubes(const T* values, const std::array<int64_t, 3>& dims, const VoxelGrid& grid,
                           const MarchingCubesOptions& options) {
  const int64_t nx = dims[0], ny = dims[1], nz = dims[2];
  const double iso = options.iso;
  // Inside flags of the two sample layers of the current cube layer: small enough to stay in
  // cache, where a flag per sample of a 256³ grid would cost more in page faults than in work.
  const int64_t layer = ny * nz;
  std::array<std::vector<uint8_t>, 2> masks{std::vector<uint8_t>(layer), std::vector<uint8_t>(layer)};
  // Comparing in T vectorizes. `above` (`below`) is the least (greatest) T not below (above)
  // iso, so for any T value v, v < above is exactly double(v) < iso, and v > below is v > iso.
  const T near = static_cast<T>(iso);
  const T above = static_cast<double>(near) >= iso ? near : std::nextafter(near, std::numeric_limits<T>::infinity());
  const T below = static_cast<double>(near) <= iso ? near : std::nextafter(near, -std::numeric_limits<T>::infinity());
  auto classify = [&](int64_t i) {
    const T* v = values + i * layer;
    uint8_t* m = masks[i & 1].data();
    if (options.inside_above) {
      for (int64_t n = 0; n < layer; ++n) m[n] = v[n] > below;
    } else {
      for (int64_t n = 0; n < layer; ++n) m[n] = v[n] < above;
    }
  };
  const CubeTable& table = cube_table();
  const int64_t slab_size = ny * nz * 3;
  std::array<std::vector<int64_t>, 2> slabs{std::vector<int64_t>(slab_size, -1),
                                            std::vector<int64_t>(slab_size, -1)};
  std::vector<float> vertices;
  std::vector<int64_t> faces;
  const int64_t step[3] = {ny * nz, nz, 1};
  // Vertices of sample layer L are made while cube layers L-1 and L run, so a slab entry below
  // the first vertex of cube layer L-1 is a leftover of layer L-2: no clearing between layers.
  std::vector<int64_t> layer_start(static_cast<size_t>(nx), 0);

  auto vertex_of = [&](int64_t i, int64_t j, int64_t k, const CubeEdge& e) {
    const int64_t oi = i + (e.lo & 1), oj = j + ((e.lo >> 1) & 1), ok = k + ((e.lo >> 2) & 1);
    int64_t& slot = slabs[oi & 1][(oj * nz + ok) * 3 + e.axis];
    if (slot >= (oi > 0 ? layer_start[oi - 1] : 0)) return slot;
    const int64_t n0 = (oi * ny + oj) * nz + ok;
    const double f0 = values[n0], f1 = values[n0 + step[e.axis]];
    double t = (iso - f0) / (f1 - f0);
    t = std::min(std::max(t, kMinEdgeFraction), 1.0 - kMinEdgeFraction);
    slot = static_cast<int64_t>(vertices.size() / 3);
    const double p[3] = {double(oi), double(oj), double(ok)};
    for (int a = 0; a < 3; ++a) {
      vertices.push_back(static_cast<float>(grid.origin[a] + grid.voxel_size * (p[a] + (a == e.axis ? t : 0.0))));
    }
    return slot;
  };

  auto load8 = [](const uint8_t* p) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    return w;
  };
  constexpr uint64_t kAllInside = 0x0101010101010101ULL;
  classify(0);
  for (int64_t i = 0; i + 1 < nx; ++i) {
    layer_start[i] = static_cast<int64_t>(vertices.size() / 3);
    classify(i + 1);
    for (int64_t j = 0; j + 1 < ny; ++j) {
      const uint8_t* r00 = masks[i & 1].data() + j * nz;
      const uint8_t* r10 = masks[(i + 1) & 1].data() + j * nz;
      const uint8_t* r01 = r00 + step[1];
      const uint8_t* r11 = r10 + step[1];
      // The cube's low-z corners are the previous cube's high-z ones.
      int low = r00[0] | r10[0] << 1 | r01[0] << 2 | r11[0] << 3;
      for (int64_t k = 0; k + 1 < nz; ++k) {
        const int high = r00[k + 1] | r10[k + 1] << 1 | r01[k + 1] << 2 | r11[k + 1] << 3;
        const int cube = low | high << 4;
        low = high;
        if (cube == 0 || cube == 255) {
          // Most cubes are empty or full: when the next 8 samples of all four rows agree with
          // this cube, the next 7 cubes are alike and skipped at once.
          while (k + 9 < nz) {
            const uint64_t a = load8(r00 + k + 1), b = load8(r10 + k + 1), c = load8(r01 + k + 1),
                           d = load8(r11 + k + 1);
            const bool same = cube == 0 ? (a | b | c | d) == 0 : (a & b & c & d) == kAllInside;
            if (!same) break;
            k += 7;
          }
          continue;
        }
        const auto& centroid_loops = table.centroid_loops[cube];
        std::array<int64_t, 4> centres{};
        for (size_t l = 0; l < centroid_loops.size(); ++l) {
          double c[3] = {0, 0, 0};
          for (int e : centroid_loops[l]) {
            const int64_t v = vertex_of(i, j, k, table.edges[e]);
            for (int a = 0; a < 3; ++a) c[a] += vertices[3 * v + a];
          }
          centres[l] = static_cast<int64_t>(vertices.size() / 3);
          for (int a = 0; a < 3; ++a) vertices.push_back(static_cast<float>(c[a] / double(centroid_loops[l].size())));
        }
        for (const auto& tri : table.triangles[cube]) {
          for (int e : tri) faces.push_back(e < 12 ? vertex_of(i, j, k, table.edges[e]) : centres[e - 12]);
        }
      }
    }
  }

  // The tensors take over the vectors' buffers: copying them costs as much as the sweep.
  TriangleMesh mesh;
  const auto nv = static_cast<int64_t>(vertices.size() / 3);
  const auto nf = static_cast<int64_t>(faces.size() / 3);
  auto* vbuf = new std::vector<float>(std::move(vertices));
  auto* fbuf = new std::vector<int64_t>(std::move(faces));
  mesh.vertices = torch::from_blob(vbuf->data(), {nv, 3}, [vbuf](void*) { delete vbuf; }, torch::kFloat32);
  mesh.faces = torch::from_blob(fbuf->data(), {nf, 3}, [fbuf](void*) { delete fbuf; }, torch::kInt64);
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
    return options.method == IsoSurfaceMethod::Cubes ? contour_cubes(values.data_ptr<double>(), dims, grid, options)
                                                      : contour(values.data_ptr<double>(), dims, grid, options);
  }
  const auto values = grid.values.to(torch::kCPU, torch::kFloat32).contiguous();
  return options.method == IsoSurfaceMethod::Cubes ? contour_cubes(values.data_ptr<float>(), dims, grid, options)
                                                    : contour(values.data_ptr<float>(), dims, grid, options);
}

}  // namespace shapediff::shapes

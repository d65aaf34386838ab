#include "shapes/procedural_sdf.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include <torch/torch.h>

namespace shapediff::shapes::sdf {

double dot(const Vec3& a, const Vec3& b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
}
double length(const Vec3& a) { return std::sqrt(dot(a, a)); }
Vec3 normalized(const Vec3& a) {
  const double n = length(a);
  if (!(n > 0)) throw std::invalid_argument("procedural sdf: cannot normalize a zero vector");
  return a * (1.0 / n);
}

namespace {

Vec3 rotate(const Vec3& v, const Vec3& unit_axis, double radians) {
  const double c = std::cos(radians), s = std::sin(radians);
  return v * c + cross(unit_axis, v) * s + unit_axis * (dot(unit_axis, v) * (1.0 - c));
}

double clamp(double v, double lo, double hi) { return std::min(std::max(v, lo), hi); }

// Signed distance to a closed polygon (negative inside), by even-odd crossing. A revolve
// profile's edges on the axis (x = 0) are not surface and are skipped for the distance.
double polygon_distance(const std::vector<Vec2>& v, double px, double py, bool skip_axis) {
  double d = 1e300;
  double s = 1.0;
  const size_t n = v.size();
  for (size_t i = 0, j = n - 1; i < n; j = i, ++i) {
    const double ex = v[j].x - v[i].x, ey = v[j].y - v[i].y;
    const double wx = px - v[i].x, wy = py - v[i].y;
    // The vertical gap to the edge bounds its distance: most edges need no projection.
    const double gap =
        std::max({0.0, std::min(v[i].y, v[j].y) - py, py - std::max(v[i].y, v[j].y)});
    if (!(skip_axis && v[i].x == 0 && v[j].x == 0) && gap * gap < d) {
      const double t = clamp((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0, 1.0);
      const double bx = wx - ex * t, by = wy - ey * t;
      d = std::min(d, bx * bx + by * by);
    }
    const bool c1 = py >= v[i].y, c2 = py<v[j].y, c3 = ex * wy> ey * wx;
    if ((c1 && c2 && c3) || (!c1 && !c2 && !c3)) s = -s;
  }
  return s * std::sqrt(d);
}

// Distance of a 2-D point to the rounded "slab" |a| <= 0, |b| <= 0 given the two signed
// distances: exact for a convex cross-section, the usual extrusion formula.
double combine_2d(double a, double b, double rounding) {
  const double x = a + rounding, y = b + rounding;
  const double outside = std::hypot(std::max(x, 0.0), std::max(y, 0.0));
  return std::min(std::max(x, y), 0.0) + outside - rounding;
}

double smooth_min(double a, double b, double k) {
  if (k <= 0) return std::min(a, b);
  const double h = std::max(k - std::abs(a - b), 0.0) / k;
  return std::min(a, b) - h * h * k * 0.25;
}

void check_positive(double v, const char* field) {
  if (!(v > 0) || !std::isfinite(v)) {
    throw std::invalid_argument(std::string("procedural sdf: ") + field + " must be > 0, got " +
                                std::to_string(v));
  }
}

void check_polygon(const std::vector<Vec2>& poly, const char* field) {
  if (poly.size() < 3) {
    throw std::invalid_argument(std::string("procedural sdf: ") + field +
                                " needs at least 3 points, got " + std::to_string(poly.size()));
  }
  for (size_t i = 0; i < poly.size(); ++i) {
    const auto& a = poly[i];
    const auto& b = poly[(i + 1) % poly.size()];
    if (a.x == b.x && a.y == b.y) {
      throw std::invalid_argument(std::string("procedural sdf: ") + field + " point " +
                                  std::to_string(i) + " repeats its successor");
    }
  }
}

// Outside samples that cannot reach the border become inside: where several parts blend, a
// sliver of outside can be sealed in, and it would come out as an inner shell. Reachability
// follows the grid edges the contouring uses (axis steps and the Kuhn diagonals, both ways).
void fill_enclosed_pockets(torch::Tensor& values, double voxel) {
  const int64_t nx = values.size(0), ny = values.size(1), nz = values.size(2);
  float* v = values.data_ptr<float>();
  std::vector<uint8_t> seen(static_cast<size_t>(nx * ny * nz), 0);
  std::vector<uint32_t> queue;  // sample indices; sample() keeps grids under 2^32 samples
  auto visit = [&](int64_t i, int64_t j, int64_t k) {
    if (i < 0 || j < 0 || k < 0 || i >= nx || j >= ny || k >= nz) return;
    const int64_t n = (i * ny + j) * nz + k;
    if (seen[n] || v[n] < 0) return;
    seen[n] = 1;
    queue.push_back(static_cast<uint32_t>(n));
  };
  for (int64_t i = 0; i < nx; ++i) {
    for (int64_t j = 0; j < ny; ++j) {
      for (int64_t k = 0; k < nz; ++k) {
        if (i == 0 || j == 0 || k == 0 || i == nx - 1 || j == ny - 1 || k == nz - 1) visit(i, j, k);
      }
    }
  }
  for (size_t head = 0; head < queue.size(); ++head) {
    const int64_t n = static_cast<int64_t>(queue[head]);
    const int64_t i = n / (ny * nz), j = (n / nz) % ny, k = n % nz;
    for (int d = 1; d < 8; ++d) {
      const int64_t di = d & 1, dj = (d >> 1) & 1, dk = (d >> 2) & 1;
      visit(i + di, j + dj, k + dk);
      visit(i - di, j - dj, k - dk);
    }
  }
  const float inside = static_cast<float>(-0.5 * voxel);
  for (size_t n = 0; n < seen.size(); ++n) {
    if (!seen[n] && v[n] >= 0) v[n] = inside;
  }
}

}  // namespace

Vec3 Frame::to_local(const Vec3& p) const {
  const Vec3 d = p - origin;
  return {dot(d, axes[0]), dot(d, axes[1]), dot(d, axes[2])};
}

Vec3 Frame::to_world(const Vec3& p) const {
  return origin + axes[0] * p.x + axes[1] * p.y + axes[2] * p.z;
}

Frame Frame::rotated(const Vec3& axis, double radians, const Vec3& pivot) const {
  const Vec3 k = normalized(axis);
  Frame f;
  for (int i = 0; i < 3; ++i) f.axes[i] = rotate(axes[i], k, radians);
  f.origin = pivot + rotate(origin - pivot, k, radians);
  return f;
}

Frame Frame::translated(const Vec3& offset) const {
  Frame f = *this;
  f.origin = origin + offset;
  return f;
}

Frame frame_along(const Vec3& origin, const Vec3& up) {
  const Vec3 y = normalized(up);
  const Vec3 helper = std::abs(y.x) < 0.9 ? Vec3{1, 0, 0} : Vec3{0, 0, 1};
  const Vec3 x = normalized(helper - y * dot(helper, y));
  return frame_axes(x, y, origin);
}

Frame frame_axes(const Vec3& x, const Vec3& y, const Vec3& origin) {
  Frame f;
  f.axes = {x, y, cross(x, y)};
  f.origin = origin;
  return f;
}

void Aabb::include(const Vec3& p) {
  lo = {std::min(lo.x, p.x), std::min(lo.y, p.y), std::min(lo.z, p.z)};
  hi = {std::max(hi.x, p.x), std::max(hi.y, p.y), std::max(hi.z, p.z)};
}

void Aabb::include(const Aabb& b) {
  if (b.empty()) return;
  include(b.lo);
  include(b.hi);
}

Aabb Aabb::grown(double margin) const {
  Aabb b;
  b.lo = lo - Vec3{margin, margin, margin};
  b.hi = hi + Vec3{margin, margin, margin};
  return b;
}

bool Aabb::overlaps(const Aabb& b) const {
  return lo.x <= b.hi.x && b.lo.x <= hi.x && lo.y <= b.hi.y && b.lo.y <= hi.y && lo.z <= b.hi.z &&
         b.lo.z <= hi.z;
}

Part Part::round_box(const Vec3& half, double rounding) {
  check_positive(half.x, "box half.x");
  check_positive(half.y, "box half.y");
  check_positive(half.z, "box half.z");
  Part p;
  p.kind_ = PartKind::RoundBox;
  const double r = clamp(rounding, 0.0, std::min({half.x, half.y, half.z}));
  p.p_ = {half.x, half.y, half.z, r};
  return p;
}

Part Part::cylinder(double radius, double half_height, double rounding) {
  check_positive(radius, "cylinder radius");
  check_positive(half_height, "cylinder half_height");
  Part p;
  p.kind_ = PartKind::Cylinder;
  p.p_ = {radius, half_height, clamp(rounding, 0.0, std::min(radius, half_height)), 0};
  return p;
}

Part Part::capsule(const Vec3& a, const Vec3& b, double radius) {
  check_positive(radius, "capsule radius");
  Part p;
  p.kind_ = PartKind::Capsule;
  const double half = length(b - a) / 2;
  check_positive(half, "capsule length");
  p.p_ = {radius, half, 0, 0};
  p.frame_ = frame_along((a + b) * 0.5, b - a);
  return p;
}

Part Part::cone(double r_bottom, double r_top, double half_height) {
  check_positive(half_height, "cone half_height");
  check_positive(std::max(r_bottom, r_top), "cone radius");
  if (r_bottom < 0 || r_top < 0) throw std::invalid_argument("procedural sdf: cone radius < 0");
  Part p;
  p.kind_ = PartKind::Cone;
  p.p_ = {r_bottom, r_top, half_height, 0};
  return p;
}

Part Part::cone_between(const Vec3& a, const Vec3& b, double r_a, double r_b) {
  Part p = cone(r_a, r_b, length(b - a) / 2);
  p.frame_ = frame_along((a + b) * 0.5, b - a);
  return p;
}

Part Part::torus(double major, double minor) {
  check_positive(major, "torus major");
  check_positive(minor, "torus minor");
  Part p;
  p.kind_ = PartKind::Torus;
  p.p_ = {major, minor, 0, 0};
  return p;
}

Part Part::ellipsoid(const Vec3& radii) {
  check_positive(radii.x, "ellipsoid radii.x");
  check_positive(radii.y, "ellipsoid radii.y");
  check_positive(radii.z, "ellipsoid radii.z");
  Part p;
  p.kind_ = PartKind::Ellipsoid;
  p.p_ = {radii.x, radii.y, radii.z, 0};
  return p;
}

Part Part::revolve(std::vector<Vec2> profile) {
  check_polygon(profile, "revolve profile");
  for (const auto& v : profile) {
    if (v.x < 0) throw std::invalid_argument("procedural sdf: revolve profile has r < 0");
  }
  Part p;
  p.kind_ = PartKind::Revolve;
  p.polygon_ = std::move(profile);
  return p;
}

Part Part::extrude(std::vector<Vec2> outline, double half_depth, double rounding) {
  check_polygon(outline, "extrude outline");
  check_positive(half_depth, "extrude half_depth");
  Part p;
  p.kind_ = PartKind::Extrude;
  p.p_ = {half_depth, clamp(rounding, 0.0, half_depth), 0, 0};
  p.polygon_ = std::move(outline);
  return p;
}

Part Part::grown(double amount) const {
  if (!std::isfinite(amount))
    throw std::invalid_argument("procedural sdf: grown amount is not finite");
  Part p = *this;
  p.offset_ += amount;
  return p;
}

Part Part::at(const Vec3& origin) const {
  Part p = *this;
  p.frame_.origin = frame_.origin + origin;
  return p;
}

Part Part::placed(const Frame& frame) const {
  Part p = *this;
  for (int i = 0; i < 3; ++i) {
    p.frame_.axes[i] = frame.axes[0] * frame_.axes[i].x + frame.axes[1] * frame_.axes[i].y +
                       frame.axes[2] * frame_.axes[i].z;
  }
  p.frame_.origin = frame.to_world(frame_.origin);
  return p;
}

double Part::unoffset_distance(const Vec3& world) const {
  return local_distance(frame_.to_local(world));
}

bool Part::same_shape(const Part& o) const {
  auto same = [](const Vec3& a, const Vec3& b) { return a.x == b.x && a.y == b.y && a.z == b.z; };
  if (kind_ != o.kind_ || p_ != o.p_ || polygon_.size() != o.polygon_.size()) return false;
  if (!same(frame_.origin, o.frame_.origin)) return false;
  for (int i = 0; i < 3; ++i) {
    if (!same(frame_.axes[i], o.frame_.axes[i])) return false;
  }
  for (size_t i = 0; i < polygon_.size(); ++i) {
    if (polygon_[i].x != o.polygon_[i].x || polygon_[i].y != o.polygon_[i].y) return false;
  }
  return true;
}

double Part::local_distance(const Vec3& q) const {
  switch (kind_) {
    case PartKind::RoundBox: {
      const double r = p_[3];
      const double x = std::abs(q.x) - p_[0] + r, y = std::abs(q.y) - p_[1] + r,
                   z = std::abs(q.z) - p_[2] + r;
      const double outside = length({std::max(x, 0.0), std::max(y, 0.0), std::max(z, 0.0)});
      return outside + std::min(std::max({x, y, z}), 0.0) - r;
    }
    case PartKind::Cylinder:
      return combine_2d(std::hypot(q.x, q.z) - p_[0], std::abs(q.y) - p_[1], p_[2]);
    case PartKind::Capsule: {
      const double y = q.y - clamp(q.y, -p_[1], p_[1]);
      return std::sqrt(q.x * q.x + y * y + q.z * q.z) - p_[0];
    }
    case PartKind::Cone: {
      const double r1 = p_[0], r2 = p_[1], h = p_[2];
      const double qx = std::hypot(q.x, q.z), qy = q.y;
      const double k2x = r2 - r1, k2y = 2.0 * h;
      const double cax = qx - std::min(qx, qy < 0 ? r1 : r2), cay = std::abs(qy) - h;
      const double t = clamp(((r2 - qx) * k2x + (h - qy) * k2y) / (k2x * k2x + k2y * k2y), 0, 1);
      const double cbx = qx - r2 + k2x * t, cby = qy - h + k2y * t;
      const double s = (cbx < 0 && cay < 0) ? -1.0 : 1.0;
      return s * std::sqrt(std::min(cax * cax + cay * cay, cbx * cbx + cby * cby));
    }
    case PartKind::Torus:
      return std::hypot(std::hypot(q.x, q.z) - p_[0], q.y) - p_[1];
    case PartKind::Ellipsoid: {
      const double k0 = length({q.x / p_[0], q.y / p_[1], q.z / p_[2]});
      const double k1 =
          length({q.x / (p_[0] * p_[0]), q.y / (p_[1] * p_[1]), q.z / (p_[2] * p_[2])});
      if (k1 == 0) return -std::min({p_[0], p_[1], p_[2]});
      return k0 * (k0 - 1.0) / k1;
    }
    case PartKind::Revolve:
      return polygon_distance(polygon_, std::hypot(q.x, q.z), q.y, true);
    case PartKind::Extrude:
      return combine_2d(polygon_distance(polygon_, q.x, q.y, false), std::abs(q.z) - p_[0], p_[1]);
  }
  return 0;
}

Aabb Part::local_bounds() const {
  Aabb b;
  auto sym = [&](double x, double y, double z) {
    b.include(Vec3{-x, -y, -z});
    b.include(Vec3{x, y, z});
  };
  switch (kind_) {
    case PartKind::RoundBox:
    case PartKind::Ellipsoid:
      sym(p_[0], p_[1], p_[2]);
      break;
    case PartKind::Cylinder:
      sym(p_[0], p_[1], p_[0]);
      break;
    case PartKind::Capsule:
      sym(p_[0], p_[1] + p_[0], p_[0]);
      break;
    case PartKind::Cone: {
      const double r = std::max(p_[0], p_[1]);
      sym(r, p_[2], r);
      break;
    }
    case PartKind::Torus:
      sym(p_[0] + p_[1], p_[1], p_[0] + p_[1]);
      break;
    case PartKind::Revolve:
      for (const auto& v : polygon_) {
        b.include(Vec3{-v.x, v.y, -v.x});
        b.include(Vec3{v.x, v.y, v.x});
      }
      break;
    case PartKind::Extrude:
      for (const auto& v : polygon_) {
        b.include(Vec3{v.x, v.y, -p_[0]});
        b.include(Vec3{v.x, v.y, p_[0]});
      }
      break;
  }
  return b;
}

Aabb Part::bounds() const {
  const Aabb local = local_bounds();
  Aabb world;
  for (int c = 0; c < 8; ++c) {
    world.include(frame_.to_world({c & 1 ? local.hi.x : local.lo.x, c & 2 ? local.hi.y : local.lo.y,
                                   c & 4 ? local.hi.z : local.lo.z}));
  }
  return offset_ > 0 ? world.grown(offset_) : world;
}

void Model::add(const Part& part, double blend) { push(part, false, blend); }

void Model::subtract(const Part& part, double blend) { push(part, true, blend); }

void Model::push(const Part& part, bool carve, double blend) {
  if (!(blend >= 0) || !std::isfinite(blend)) {
    throw std::invalid_argument("procedural sdf: blend must be >= 0, got " + std::to_string(blend));
  }
  const bool shares = !ops_.empty() && ops_.back().part.same_shape(part);
  ops_.push_back({part, carve, blend, shares});
}

template <typename OpPointers>
double Model::evaluate(const OpPointers& ops, const Vec3& p) {
  double acc = 1e30, raw = 0;
  const Op* previous = nullptr;
  for (const Op* op : ops) {
    if (!(op->shares_previous && previous == op - 1)) raw = op->part.unoffset_distance(p);
    const double d = raw - op->part.offset();
    acc = op->carve ? -smooth_min(-acc, d, op->blend) : smooth_min(acc, d, op->blend);
    previous = op;
  }
  return acc;
}

double Model::distance(const Vec3& p) const {
  std::vector<const Op*> all;
  for (const auto& op : ops_) all.push_back(&op);
  return evaluate(all, p);
}

Aabb Model::bounds() const {
  Aabb b;
  for (const auto& op : ops_) {
    if (!op.carve) b.include(op.part.bounds());
  }
  return b;
}

double Model::max_blend() const {
  double k = 0;
  for (const auto& op : ops_) k = std::max(k, op.blend);
  return k;
}

VoxelGrid Model::sample(int64_t resolution) const {
  if (resolution < 8 || resolution > 1024) {
    throw std::invalid_argument("procedural sdf: resolution must be in [8, 1024], got " +
                                std::to_string(resolution));
  }
  const Aabb box = bounds();
  if (box.empty()) throw std::invalid_argument("procedural sdf: the model has no added parts");
  constexpr int64_t kBorder = 2;
  const double blend = max_blend();
  const Aabb outer = box.grown(blend);
  const Vec3 extent = outer.hi - outer.lo;
  const double longest = std::max({extent.x, extent.y, extent.z});
  const double voxel = longest / double(resolution - 1 - 2 * kBorder);
  const std::array<double, 3> ext{extent.x, extent.y, extent.z};
  const std::array<double, 3> mid{(outer.lo.x + outer.hi.x) / 2, (outer.lo.y + outer.hi.y) / 2,
                                  (outer.lo.z + outer.hi.z) / 2};
  std::array<int64_t, 3> dims{};
  VoxelGrid grid;
  grid.kind = VoxelKind::SignedDistance;
  grid.voxel_size = voxel;
  for (int d = 0; d < 3; ++d) {
    dims[d] =
        std::min<int64_t>(resolution, int64_t(std::ceil(ext[d] / voxel - 1e-9)) + 1 + 2 * kBorder);
    grid.origin[d] = mid[d] - 0.5 * voxel * double(dims[d] - 1);
  }
  grid.values = torch::empty({dims[0], dims[1], dims[2]}, torch::kFloat32);
  float* out = grid.values.data_ptr<float>();

  // Beyond this distance from a part's box the part cannot change a value near the surface.
  const double margin = blend + 3.0 * voxel;
  std::vector<Aabb> reach;
  for (const auto& op : ops_) reach.push_back(op.part.bounds().grown(margin));

  constexpr int64_t kBrick = 4;
  std::vector<const Op*> active;
  auto point = [&](int64_t i, int64_t j, int64_t k) {
    return Vec3{grid.origin[0] + voxel * double(i), grid.origin[1] + voxel * double(j),
                grid.origin[2] + voxel * double(k)};
  };
  auto eval_active = [&](const Vec3& p) { return evaluate(active, p); };
  for (int64_t bi = 0; bi < dims[0]; bi += kBrick) {
    for (int64_t bj = 0; bj < dims[1]; bj += kBrick) {
      for (int64_t bk = 0; bk < dims[2]; bk += kBrick) {
        const int64_t ei = std::min(bi + kBrick, dims[0]), ej = std::min(bj + kBrick, dims[1]),
                      ek = std::min(bk + kBrick, dims[2]);
        Aabb brick;
        brick.include(point(bi, bj, bk));
        brick.include(point(ei - 1, ej - 1, ek - 1));
        active.clear();
        for (size_t o = 0; o < ops_.size(); ++o) {
          if (reach[o].overlaps(brick)) active.push_back(&ops_[o]);
        }
        double fill = margin;
        bool uniform = active.empty();
        if (!uniform) {
          // The values are distance bounds; the slack covers the ellipsoid's approximation and
          // the depth that smooth blends add, so no crossing edge touches a filled brick.
          const double centre = eval_active((brick.lo + brick.hi) * 0.5);
          const double radius = 0.5 * length(brick.hi - brick.lo);
          if (std::abs(centre) > 1.25 * radius + 2.0 * voxel + 0.25 * blend) {
            uniform = true;
            fill = centre;
          }
        }
        for (int64_t i = bi; i < ei; ++i) {
          for (int64_t j = bj; j < ej; ++j) {
            float* row = out + (i * dims[1] + j) * dims[2];
            for (int64_t k = bk; k < ek; ++k) {
              row[k] = static_cast<float>(uniform ? fill : eval_active(point(i, j, k)));
            }
          }
        }
      }
    }
  }

  // Keep the border outside so that the extracted surface is always closed.
  const float outside = static_cast<float>(0.5 * voxel);
  for (int64_t i = 0; i < dims[0]; ++i) {
    for (int64_t j = 0; j < dims[1]; ++j) {
      float* row = out + (i * dims[1] + j) * dims[2];
      const bool face = i == 0 || j == 0 || i == dims[0] - 1 || j == dims[1] - 1;
      for (int64_t k = 0; k < dims[2]; ++k) {
        if (face || k == 0 || k == dims[2] - 1) row[k] = std::max(row[k], outside);
      }
    }
  }
  fill_enclosed_pockets(grid.values, voxel);
  return grid;
}

}  // namespace shapediff::shapes::sdf

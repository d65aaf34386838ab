// Signed distance models built from parts, the geometry kernel of the procedural shape families
// (shapes/procedural.h). A model is an ordered list of primitives (boxes, cylinders, capsules,
// cones, tori, ellipsoids, solids of revolution, extruded polygons), each in its own rigid frame
// and either added (smooth union with a blend radius) or carved out (smooth difference). Units
// are whatever the caller designs in (the families use metres); distances are in those units.
//
// sample() evaluates the model on a dense grid covering its bounds: parts are culled per 4^3
// brick with their bounding boxes (grown by the largest blend radius plus three voxels, so every
// value next to the surface is exact), and bricks whose centre lies far from the surface are
// filled with that centre's value. The grid border is forced outside, so marching cubes on the
// result always gives a closed mesh, and pockets of outside sealed in where parts blend are
// filled, so it has no inner shells.
//
//   sdf::Model m;
//   m.add(sdf::Part::round_box({0.2, 0.02, 0.2}, 0.005).at({0, 0.45, 0}));
//   m.add(sdf::Part::capsule({0.15, 0, 0.15}, {0.15, 0.45, 0.15}, 0.02), /*blend=*/0.01);
//   VoxelGrid grid = m.sample(/*resolution=*/64);
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "shapes/voxel_grid.h"

namespace shapediff::shapes::sdf {

struct Vec2 {
  double x = 0, y = 0;
};

struct Vec3 {
  double x = 0, y = 0, z = 0;
  Vec3 operator+(const Vec3& o) const { return {x + o.x, y + o.y, z + o.z}; }
  Vec3 operator-(const Vec3& o) const { return {x - o.x, y - o.y, z - o.z}; }
  Vec3 operator*(double s) const { return {x * s, y * s, z * s}; }
};

double dot(const Vec3& a, const Vec3& b);
Vec3 cross(const Vec3& a, const Vec3& b);
double length(const Vec3& a);
Vec3 normalized(const Vec3& a);

// Rigid placement: local point p maps to origin + axes[0] * p.x + axes[1] * p.y + axes[2] * p.z.
struct Frame {
  std::array<Vec3, 3> axes{Vec3{1, 0, 0}, Vec3{0, 1, 0}, Vec3{0, 0, 1}};
  Vec3 origin{};

  Vec3 to_local(const Vec3& p) const;
  Vec3 to_world(const Vec3& p) const;
  // This frame turned by `radians` about a world axis through `pivot` (right-hand rule).
  Frame rotated(const Vec3& axis, double radians, const Vec3& pivot) const;
  // This frame turned about its own origin.
  Frame rotated(const Vec3& axis, double radians) const { return rotated(axis, radians, origin); }
  Frame translated(const Vec3& offset) const;
};

// A frame at `origin` whose local +Y points along `up` (any perpendicular local X).
Frame frame_along(const Vec3& origin, const Vec3& up);
// A frame with local axes mapped to the given world axes (must be right-handed orthonormal).
Frame frame_axes(const Vec3& x, const Vec3& y, const Vec3& origin);

struct Aabb {
  Vec3 lo{1e300, 1e300, 1e300};
  Vec3 hi{-1e300, -1e300, -1e300};
  bool empty() const { return lo.x > hi.x; }
  void include(const Vec3& p);
  void include(const Aabb& b);
  Aabb grown(double margin) const;
  bool overlaps(const Aabb& b) const;
};

enum class PartKind { RoundBox, Cylinder, Capsule, Cone, Torus, Ellipsoid, Revolve, Extrude };

// One primitive in its local frame. Sizes are half extents / radii; `rounding` rounds edges
// without moving flat faces.
class Part {
 public:
  // Box with half extents `half`, edges rounded by `rounding`.
  static Part round_box(const Vec3& half, double rounding = 0);
  // Cylinder along local Y: radius, half height.
  static Part cylinder(double radius, double half_height, double rounding = 0);
  // Capsule between two world points.
  static Part capsule(const Vec3& a, const Vec3& b, double radius);
  // Truncated cone along local Y from radius r_bottom at -half_height to r_top at +half_height.
  static Part cone(double r_bottom, double r_top, double half_height);
  // Truncated cone between two world points.
  static Part cone_between(const Vec3& a, const Vec3& b, double r_a, double r_b);
  // Torus around local Y (ring in the local XZ plane).
  static Part torus(double major, double minor);
  // Ellipsoid with semi-axes `radii` (a close bound, not an exact distance).
  static Part ellipsoid(const Vec3& radii);
  // Solid of revolution about local Y of the closed polygon {(r, y)}, r >= 0.
  static Part revolve(std::vector<Vec2> profile);
  // Closed polygon in the local XY plane extruded to |z| <= half_depth, rims rounded.
  static Part extrude(std::vector<Vec2> outline, double half_depth, double rounding = 0);

  // The part's surface moved outwards by `amount` (inwards when negative): exact offsets, e.g.
  // the cavity of a shell is its outside grown by -thickness.
  Part grown(double amount) const;

  // Placement; the part's own frame (capsules and cones between points) is composed with it.
  Part at(const Vec3& origin) const;
  Part placed(const Frame& frame) const;

  double distance(const Vec3& world) const { return unoffset_distance(world) - offset_; }
  Aabb bounds() const;
  PartKind kind() const { return kind_; }
  // The distance before grown(): parts that differ only in their offset share it.
  double unoffset_distance(const Vec3& world) const;
  double offset() const { return offset_; }
  bool same_shape(const Part& other) const;

 private:
  double local_distance(const Vec3& q) const;
  Aabb local_bounds() const;

  PartKind kind_ = PartKind::RoundBox;
  Frame frame_;
  std::array<double, 4> p_{};
  double offset_ = 0;
  std::vector<Vec2> polygon_;
};

class Model {
 public:
  // Smooth union of the part with everything added so far; blend = 0 is a sharp union.
  void add(const Part& part, double blend = 0);
  // Smooth difference: carves the part out of everything added so far.
  void subtract(const Part& part, double blend = 0);

  double distance(const Vec3& p) const;
  // Union of the added parts' boxes.
  Aabb bounds() const;
  double max_blend() const;
  bool empty() const { return ops_.empty(); }

  // Samples the model on a grid whose longest side has `resolution` samples over the bounds
  // plus a border of at least two voxels (more where blends may bulge out of the parts' boxes).
  VoxelGrid sample(int64_t resolution) const;

 private:
  struct Op {
    Part part;
    bool carve = false;
    double blend = 0;
    // Same shape as the previous op up to the offset (a shell's outside and cavity): its
    // distance is reused instead of evaluated again.
    bool shares_previous = false;
  };
  void push(const Part& part, bool carve, double blend);
  // Ops in order, each evaluated once at p (or taken from its predecessor).
  template <typename OpPointers>
  static double evaluate(const OpPointers& ops, const Vec3& p);
  std::vector<Op> ops_;
};

}  // namespace shapediff::shapes::sdf

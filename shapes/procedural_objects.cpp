// Household object families: lamp, mug, bottle, vase, guitar. Metres, floor at y = 0, front +z.
#include <algorithm>
#include <cmath>
#include <vector>

#include "shapes/procedural_families.h"

namespace shapediff::shapes::detail {
namespace {

using sdf::Frame;
using sdf::Part;
using sdf::Vec2;
using sdf::Vec3;

// 0 at s = 0, 1 at s = 1, flat at both ends.
double ease(double s) { return 0.5 - 0.5 * std::cos(M_PI * std::clamp(s, 0.0, 1.0)); }

// Piecewise ease between control points (y, value) sorted by y: flat at every control point,
// which gives vase-like bellies and necks.
double eased_curve(const std::vector<Vec2>& knots, double y) {
  if (y <= knots.front().x) return knots.front().y;
  for (size_t i = 1; i < knots.size(); ++i) {
    if (y <= knots[i].x) {
      const double s = (y - knots[i - 1].x) / (knots[i].x - knots[i - 1].x);
      return knots[i - 1].y + (knots[i].y - knots[i - 1].y) * ease(s);
    }
  }
  return knots.back().y;
}

// A thin-walled lampshade: frustum from radius `bottom` at y0 to `top` at y0 + height, closed
// at the top by a cap and open below, as a revolve profile.
std::vector<Vec2> shade_profile(double bottom, double top, double y0, double height, double wall) {
  const double y1 = y0 + height;
  const double slope = (top - bottom) / height;
  const double inset = wall * std::sqrt(1 + slope * slope);  // horizontal, for a normal `wall`
  return {{0, y1},
          {top, y1},
          {bottom, y0},
          {bottom - inset, y0},
          {std::max(top - slope * wall - inset, 0.3 * top), y1 - wall},
          {0, y1 - wall}};
}

// The outline of a 2-D stadium (capsule) from a to b with radius r, as a polygon.
std::vector<Vec2> stadium(const Vec2& a, const Vec2& b, double r, int per_end = 8) {
  const double angle = std::atan2(b.y - a.y, b.x - a.x);
  std::vector<Vec2> pts;
  for (int i = 0; i <= per_end; ++i) {
    const double t = angle - M_PI / 2 + M_PI * i / per_end;
    pts.push_back({b.x + r * std::cos(t), b.y + r * std::sin(t)});
  }
  for (int i = 0; i <= per_end; ++i) {
    const double t = angle + M_PI / 2 + M_PI * i / per_end;
    pts.push_back({a.x + r * std::cos(t), a.y + r * std::sin(t)});
  }
  return pts;
}

// A frame whose local y runs along world z (cylinders and tori facing front).
Frame facing_front(const Vec3& origin) { return sdf::frame_axes({1, 0, 0}, {0, 0, 1}, origin); }

}  // namespace

void draw(ParamRng& rng, LampParams& p) {
  p.style = static_cast<LampStyle>(rng.pick({0.4, 0.3, 0.3}));
  const bool floor = p.style == LampStyle::Floor, desk = p.style == LampStyle::Desk;
  const double small_base = rng.uniform(0.07, 0.13), big_base = rng.uniform(0.13, 0.18);
  p.base_radius = floor ? big_base : small_base;
  p.base_height = rng.uniform(0.015, 0.04);
  const double table_h = rng.uniform(0.35, 0.6), floor_h = rng.uniform(1.3, 1.8);
  p.height = floor ? floor_h : table_h;
  p.pole_radius = std::max(rng.uniform(0.008, 0.02), 0.016 * p.height);
  const bool bulb = rng.chance(0.5), bowl = rng.chance(0.4);
  p.bulb_base = p.style == LampStyle::Table && bulb;
  p.bowl_shade = floor && bowl;
  const double sb_table = rng.uniform(0.12, 0.22), sb_floor = rng.uniform(0.18, 0.26),
               sb_desk = rng.uniform(0.06, 0.1);
  p.shade_bottom = floor ? sb_floor : desk ? sb_desk : sb_table;
  const double top_frac = rng.uniform(0.5, 0.9), cone_frac = rng.uniform(0.35, 0.5);
  p.shade_top = p.shade_bottom * (desk ? cone_frac : top_frac);
  const double sh_table = rng.uniform(0.14, 0.24), sh_floor = rng.uniform(0.2, 0.3),
               sh_desk = rng.uniform(0.1, 0.16);
  p.shade_height = floor ? sh_floor : desk ? sh_desk : sh_table;
  p.arm_length = rng.uniform(0.3, 0.45);
  p.arm_lean = rng.uniform(0.15, 0.5);
  p.arm_reach = rng.uniform(1.3, 1.85);
}

void build(const LampParams& p, sdf::Model& m) {
  const double br = p.base_radius, bh = p.base_height, pr = p.pole_radius;
  m.add(Part::cylinder(br, bh / 2, bh * 0.4).at({0, bh / 2, 0}));
  if (p.style == LampStyle::Desk) {
    const Vec3 p0{0, bh + 0.02, -br * 0.3};
    const Vec3 p1 = p0 + Vec3{0, std::cos(p.arm_lean), -std::sin(p.arm_lean)} * p.arm_length;
    const Vec3 p2 = p1 + Vec3{0, std::cos(p.arm_reach), std::sin(p.arm_reach)} * p.arm_length;
    m.add(Part::ellipsoid({pr * 2, pr * 2, pr * 2}).at(p0), 0.01);
    m.add(Part::capsule(p0, p1, pr), 0.008);
    m.add(Part::ellipsoid({pr * 1.8, pr * 1.8, pr * 1.8}).at(p1), 0.008);
    m.add(Part::capsule(p1, p2, pr), 0.008);
    // The head hangs from the arm's end, opening down and a little forward.
    const Vec3 light = sdf::normalized({0, -1, 0.45});
    const double wall =
        0.045 * std::max(p2.y + p.shade_height, std::abs(p2.z - p0.z) + p.shade_bottom);
    m.add(Part::revolve(
              shade_profile(p.shade_bottom, p.shade_top, -p.shade_height, p.shade_height, wall))
              .placed(sdf::frame_along(p2 + light * (-wall), light * -1.0)),
          0.008);
    return;
  }
  // Shade walls ~3 voxels at resolution 64: thinner shells sampled on the grid come out dimpled.
  const double wall = 0.045 * (p.height + p.shade_height * 0.35);
  if (p.bowl_shade) {
    // A torchiere: the bowl opens upward at the top of the pole.
    const double yb = p.height, sb = p.shade_bottom, sh = p.shade_height * 0.6;
    const double r0 = sb * 0.25;
    // The inner side is the outer one moved by `wall` along its normal.
    const double len = std::hypot(sb - r0, sh);
    const double nx = -sh / len * wall, ny = (sb - r0) / len * wall;
    auto inner_at = [&](double y) { return r0 + nx + (y - yb - ny) / sh * (sb - r0); };
    m.add(Part::revolve({{0, yb},
                         {r0, yb},
                         {sb, yb + sh},
                         {inner_at(yb + sh), yb + sh},
                         {inner_at(yb + wall), yb + wall},
                         {0, yb + wall}}),
          0.01);
    m.add(Part::cone_between({0, bh * 0.5, 0}, {0, yb + wall * 0.5, 0}, pr * 1.2, pr), 0.01);
    return;
  }
  const double y0 = p.height - p.shade_height * 0.65;
  m.add(Part::revolve(shade_profile(p.shade_bottom, p.shade_top, y0, p.shade_height, wall)), 0.006);
  const double cap = y0 + p.shade_height - wall * 0.5;
  if (p.bulb_base) {
    const double body_h = 0.45 * p.height, rb = 0.8 * br;
    const std::vector<Vec2> knots{
        {bh, rb * 0.6}, {bh + body_h * 0.45, rb}, {bh + body_h, pr * 1.6}};
    std::vector<Vec2> profile{{0, bh * 0.5}};
    for (int i = 0; i <= 16; ++i) {
      const double y = bh + body_h * i / 16.0;
      profile.push_back({eased_curve(knots, y), y});
    }
    profile.push_back({0, bh + body_h});
    m.add(Part::revolve(profile), 0.01);
    m.add(Part::cone_between({0, bh + body_h - 0.01, 0}, {0, cap, 0}, pr, pr), 0.006);
  } else {
    m.add(Part::cone_between({0, bh * 0.5, 0}, {0, cap, 0}, pr * 1.3, pr), 0.01);
  }
  m.add(Part::ellipsoid({0.03, 0.045, 0.03}).at({0, y0 + p.shade_height * 0.45, 0}), 0.004);
}

void draw(ParamRng& rng, MugParams& p) {
  p.radius = rng.uniform(0.035, 0.05);
  p.height = rng.uniform(0.08, 0.12);
  p.taper = rng.uniform(-0.1, 0.2);
  p.wall = rng.uniform(0.005, 0.008);
  p.bottom = rng.uniform(0.006, 0.012);
  p.handle = static_cast<MugHandle>(rng.pick({0.6, 0.4}));
  p.handle_span = rng.uniform(0.45, 0.7);
  p.handle_reach = rng.uniform(0.022, 0.035);
  p.handle_radius = rng.uniform(0.005, 0.008);
}

void build(const MugParams& p, sdf::Model& m) {
  const double r = p.radius, h = p.height, rb = r * (1 - p.taper), wall = p.wall;
  auto outer = [&](double y) { return rb + (r - rb) * y / h; };
  m.add(Part::revolve({{0, 0}, {rb - 0.003, 0}, {rb, 0.003}, {r, h}, {0, h}}));

  const double yc = h * 0.52, hr = p.handle_radius;
  const double span = p.handle_span * h;
  if (p.handle == MugHandle::Ring) {
    // A ring sunk into the wall: its inner arc falls in the cavity and is carved away below.
    const double major = span / 2 - hr;
    const double reach = std::min(p.handle_reach, 0.9 * major);
    m.add(Part::torus(major, hr).placed(facing_front({outer(yc) + reach - major, yc, 0})), 0.004);
  } else {
    const double top = yc + span / 2 - hr, low = yc - span / 2 + hr;
    const double xo = r + p.handle_reach;
    m.add(Part::capsule({outer(top) - wall / 2, top, 0}, {xo, top, 0}, hr), 0.004);
    m.add(Part::capsule({xo, top, 0}, {xo, low, 0}, hr), 0.004);
    m.add(Part::capsule({xo, low, 0}, {outer(low) - wall / 2, low, 0}, hr), 0.004);
  }
  const double lid = h + 0.02;
  m.subtract(
      Part::revolve(
          {{0, p.bottom}, {outer(p.bottom) - wall, p.bottom}, {outer(lid) - wall, lid}, {0, lid}}),
      0.002);
}

void draw(ParamRng& rng, BottleParams& p) {
  p.body_radius = rng.uniform(0.03, 0.05);
  p.body_height = rng.uniform(0.12, 0.22);
  p.shoulder = rng.uniform(0.02, 0.07);
  p.neck_radius = p.body_radius * rng.uniform(0.25, 0.45);
  p.neck_length = rng.uniform(0.02, 0.09);
  const bool waist = rng.chance(0.4);
  const double amount = rng.uniform(0.05, 0.15);
  p.square_body = rng.chance(0.2);
  p.waist = waist && !p.square_body ? amount : 0.0;
  p.cap = rng.chance(0.5);
  p.cap_height = rng.uniform(0.015, 0.03);
}

void build(const BottleParams& p, sdf::Model& m) {
  const double R = p.body_radius, hb = p.body_height, rn = p.neck_radius;
  const double neck_top = hb + p.shoulder + p.neck_length;
  const double lip = 0.003, lip_h = 0.008;
  const double top = neck_top + lip_h;
  std::vector<Vec2> profile{{0, 0}, {R * 0.9, 0}};
  const double foot = R * 0.1;
  const int body_steps = 10;
  for (int i = 0; i <= body_steps; ++i) {
    const double y = foot + (hb - foot) * i / body_steps;
    const double s = double(i) / body_steps;
    profile.push_back({R * (1 - p.waist * std::pow(std::sin(M_PI * s), 2)), y});
  }
  const int shoulder_steps = 10;
  for (int i = 1; i <= shoulder_steps; ++i) {
    const double s = double(i) / shoulder_steps;
    profile.push_back({rn + (R - rn) * (1 - ease(s)), hb + p.shoulder * s});
  }
  profile.push_back({rn, neck_top});
  profile.push_back({rn + lip, neck_top});
  profile.push_back({rn + lip, top});
  profile.push_back({0, top});
  if (p.square_body) {
    m.add(Part::round_box({R, hb / 2, R}, R * 0.35).at({0, hb / 2, 0}));
    std::vector<Vec2> upper{{0, hb * 0.9}};
    for (const auto& v : profile) {
      if (v.y >= hb * 0.9) upper.push_back(v);
    }
    m.add(Part::revolve(upper), 0.01);
  } else {
    m.add(Part::revolve(profile));
  }
  if (p.cap) {
    const double ch = p.cap_height;
    m.add(Part::cylinder(rn + lip + 0.003, ch / 2, 0.002).at({0, top + 0.002 - ch / 2, 0}), 0.001);
  }
}

void draw(ParamRng& rng, VaseParams& p) {
  p.height = rng.uniform(0.2, 0.5);
  p.foot_radius = rng.uniform(0.2, 0.35);
  p.belly_radius = rng.uniform(0.3, 0.55);
  p.belly_at = rng.uniform(0.25, 0.6);
  p.neck_radius = rng.uniform(0.1, 0.25);
  p.neck_at = rng.uniform(0.7, 0.88);
  p.lip_radius = rng.uniform(0.12, 0.35);
  p.wall = rng.uniform(0.05, 0.07);
  p.handles = rng.chance(0.25);
}

void build(const VaseParams& p, sdf::Model& m) {
  const double h = p.height, wall = p.wall * h;
  const std::vector<Vec2> knots{{0, p.foot_radius * h},
                                {p.belly_at * h, p.belly_radius * h},
                                {p.neck_at * h, p.neck_radius * h},
                                {h, p.lip_radius * h}};
  auto radius = [&](double y) { return eased_curve(knots, y); };
  const int steps = 28;
  std::vector<Vec2> outer{{0, 0}};
  for (int i = 0; i <= steps; ++i) {
    const double y = h * i / steps;
    outer.push_back({radius(y), y});
  }
  outer.push_back({0, h});
  m.add(Part::revolve(outer));
  if (p.handles) {
    // Loops from the neck out and down to the belly, where the profile is flat, so each end
    // meets the body in one place.
    const double y_top = p.neck_at * h, y_low = p.belly_at * h;
    const double hr = 0.022 * h;
    const double xo = radius(y_low) + 0.1 * h;
    for (double s : {-1.0, 1.0}) {
      const Vec3 a{s * (radius(y_top) - wall / 2), y_top, 0}, b{s * xo, y_top, 0},
          c{s * xo, y_low, 0}, e{s * (radius(y_low) - wall / 2), y_low, 0};
      m.add(Part::capsule(a, b, hr), 0.01 * h);
      m.add(Part::capsule(b, c, hr), 0.01 * h);
      m.add(Part::capsule(c, e, hr), 0.01 * h);
    }
  }
  // The cavity is the outside moved in by the wall (an exact offset, so the wall keeps its
  // thickness where the shoulder turns flat), opened at the top by a plug through the lip.
  const Part body = Part::revolve(outer);
  m.subtract(body.grown(-wall), 0.3 * wall);
  // The plug follows the inner surface (horizontal inset of a normal offset) through a flare.
  std::vector<Vec2> plug{{0, h - 1.5 * wall}};
  for (int i = 0; i <= 8; ++i) {
    const double y = h - 1.5 * wall * (1 - i / 8.0), dy = 1e-4 * h;
    const double slope =
        (radius(std::min(y + dy, h)) - radius(y - dy)) / (std::min(y + dy, h) - (y - dy));
    plug.push_back(
        {std::max(radius(y) - 1.1 * wall * std::sqrt(1 + slope * slope), 0.1 * radius(y)), y});
  }
  plug.push_back({plug.back().x, h + wall});
  plug.push_back({0, h + wall});
  m.subtract(Part::revolve(plug), 0.3 * wall);
}

void draw(ParamRng& rng, GuitarParams& p) {
  p.style = static_cast<GuitarStyle>(rng.pick({0.55, 0.45}));
  const bool acoustic = p.style == GuitarStyle::Acoustic;
  const double lower_a = rng.uniform(0.17, 0.21), lower_e = rng.uniform(0.15, 0.18);
  p.lower_bout = acoustic ? lower_a : lower_e;
  p.upper_bout = rng.uniform(0.7, 0.85);
  p.waist = rng.uniform(0.55, 0.68);
  const double len_a = rng.uniform(0.45, 0.52), len_e = rng.uniform(0.40, 0.46);
  p.body_length = acoustic ? len_a : len_e;
  const double depth_a = rng.uniform(0.08, 0.12), depth_e = rng.uniform(0.035, 0.05);
  p.body_depth = acoustic ? depth_a : depth_e;
  p.neck_length = rng.uniform(0.42, 0.5);
  p.neck_width = rng.uniform(0.045, 0.055);
  p.headstock_tilt = rng.uniform(0.0, 0.25);
  const bool cutaway = rng.chance(0.3);
  p.cutaway = acoustic && cutaway;
  p.sound_hole = rng.uniform(0.04, 0.055);
}

void build(const GuitarParams& p, sdf::Model& m) {
  const bool acoustic = p.style == GuitarStyle::Acoustic;
  const double r1 = p.lower_bout, r2 = p.upper_bout * r1, wa = p.waist * r1;
  const double len = p.body_length, depth = p.body_depth;
  const double c1 = r1, c2 = len - r2, yw = c1 + 0.55 * (c2 - c1);

  // Right half of the outline from the bottom up: lower bout arc, eased waist, upper bout arc.
  std::vector<Vec2> half;
  for (int i = 0; i <= 10; ++i) {
    const double a = -M_PI / 2 + M_PI / 2 * i / 10;
    half.push_back({r1 * std::cos(a), c1 + r1 * std::sin(a)});
  }
  for (int i = 1; i < 10; ++i) {
    const double y = c1 + (c2 - c1) * i / 10;
    const double w = y < yw ? r1 + (wa - r1) * ease((y - c1) / (yw - c1))
                            : wa + (r2 - wa) * ease((y - yw) / (c2 - yw));
    half.push_back({w, y});
  }
  for (int i = 0; i <= 10; ++i) {
    const double a = M_PI / 2 * i / 10;
    half.push_back({r2 * std::cos(a), c2 + r2 * std::sin(a)});
  }
  std::vector<Vec2> outline;
  for (const auto& v : half) {
    if (v.x > 1e-9) outline.push_back(v);
  }
  outline.insert(outline.begin(), Vec2{0, 0});
  outline.push_back({0, len});
  for (auto it = half.rbegin(); it != half.rend(); ++it) {
    if (it->x > 1e-9) outline.push_back({-it->x, it->y});
  }
  const double rim = std::min(0.012, depth * 0.3);
  m.add(Part::extrude(outline, depth / 2, rim));
  if (!acoustic) {
    // Double-cutaway horns either side of the neck, the bass one longer.
    for (double s : {-1.0, 1.0}) {
      const double horn = s < 0 ? 0.11 : 0.07;
      m.add(Part::extrude(
                stadium({s * r2 * 0.6, c2}, {s * r2 * 0.85, c2 + horn + r2 * 0.25}, r2 * 0.27),
                depth / 2, rim),
            0.04);
    }
    m.subtract(Part::cylinder(r2 * 0.3, depth).placed(facing_front({0, len + 0.02, 0})), 0.03);
  }
  if (p.cutaway) {
    m.subtract(
        Part::cylinder(r2 * 0.45, depth).placed(facing_front({r2 * 1.02, c2 + r2 * 0.62, 0})),
        0.02);
  }
  const double front = depth / 2;
  if (acoustic) {
    m.subtract(Part::cylinder(p.sound_hole, 0.012).placed(facing_front({0, c2 - 0.01, front})),
               0.004);
    m.add(Part::round_box({0.075, 0.013, 0.006}, 0.004).at({0, c1 * 0.75, front}), 0.004);
  } else {
    for (double y : {c1 * 0.9, c1 * 0.9 + 0.09}) {
      m.add(Part::round_box({0.045, 0.014, 0.007}, 0.003).at({0, y, front}), 0.003);
    }
  }

  // Neck from inside the upper bout to the nut; the headstock tilts back from there.
  const double nw = p.neck_width, nl = p.neck_length;
  const double neck_z = front - 0.012;
  const double neck_bottom = len - 0.06;
  const double nut = len + nl;
  m.add(Part::round_box({nw / 2, (nut - neck_bottom) / 2, 0.015}, 0.01)
            .at({0, (nut + neck_bottom) / 2, neck_z}),
        0.02);
  const Frame head =
      Frame{}.translated({0, nut - 0.01, neck_z}).rotated({1, 0, 0}, -p.headstock_tilt);
  m.add(Part::round_box({0.045, 0.1, 0.013}, 0.008).at({0, 0.1, 0}).placed(head), 0.015);
  for (double s : {-1.0, 1.0}) {
    for (double y : {0.05, 0.1, 0.15}) {
      m.add(Part::capsule({s * 0.04, y, 0}, {s * 0.07, y, 0}, 0.013).placed(head), 0.004);
    }
  }
}

}  // namespace shapediff::shapes::detail

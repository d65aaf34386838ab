// Vehicle families: airplane (units of fuselage length), car (metres), rocket (units of its
// height). +y up, +z front (nose, hood), floor at y = 0 for cars and rockets.
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

// Local x along world x, local y along world z, local z down: a planform in the horizontal
// plane extruded vertically.
Frame planform_frame(const Vec3& origin) { return sdf::frame_axes({1, 0, 0}, {0, 0, 1}, origin); }
// Local x along world z, local y up, local z along -x: a side view extruded across the width.
Frame side_frame(const Vec3& origin) { return sdf::frame_axes({0, 0, 1}, {0, 1, 0}, origin); }

// Trapezoid lifting surface: root at x = 0 with leading edge at z = le, tip at x = span.
std::vector<Vec2> trapezoid(double span, double le, double root, double tip, double sweep_back) {
  return {{0, le}, {span, le - sweep_back}, {span, le - sweep_back - tip}, {0, le - root}};
}

std::vector<Vec2> mirrored_x(std::vector<Vec2> poly) {
  for (auto& v : poly) v.x = -v.x;
  return poly;
}

}  // namespace

void draw(ParamRng& rng, AirplaneParams& p) {
  p.fuselage_radius = rng.uniform(0.035, 0.065);
  p.nose_length = rng.uniform(0.08, 0.16);
  p.tail_length = rng.uniform(0.2, 0.3);
  p.wing_span = rng.uniform(0.8, 1.15);
  p.wing_chord = rng.uniform(0.12, 0.22);
  p.wing_taper = rng.uniform(0.2, 0.5);
  p.wing_sweep = rng.uniform(0.0, 0.6);
  p.wing_position = rng.uniform(0.36, 0.48);
  p.wing_height = rng.uniform(-0.7, 0.7);
  p.dihedral = rng.uniform(0.0, 0.1);
  p.wing_thickness = rng.uniform(0.032, 0.042);
  p.tail_span = rng.uniform(0.3, 0.45);
  p.fin_height = rng.uniform(0.12, 0.2);
  p.t_tail = rng.chance(0.25);
  p.engines = static_cast<AirplaneEngines>(rng.pick({0.2, 0.55, 0.25}));
  p.engine_radius = rng.uniform(0.02, 0.035);
}

void build(const AirplaneParams& p, sdf::Model& m) {
  const double r = p.fuselage_radius;
  // Fuselage: revolve about the local y axis, which runs along world +z (nose at z = 0.5).
  std::vector<Vec2> body{{0, -0.5}, {0.2 * r, -0.5}};
  for (int i = 1; i <= 8; ++i) {
    const double s = double(i) / 8;
    body.push_back({r * (0.2 + 0.8 * std::sin(M_PI / 2 * s)), -0.5 + p.tail_length * s});
  }
  for (int i = 0; i < 10; ++i) {
    const double s = 1.0 - double(i) / 10;  // 1 where the nose starts, towards 0 at the tip
    body.push_back({r * std::sqrt(1.0 - (1.0 - s) * (1.0 - s)), 0.5 - p.nose_length * s});
  }
  body.push_back({0, 0.5});
  m.add(Part::revolve(body).placed(sdf::frame_axes({1, 0, 0}, {0, 0, 1}, {0, 0, 0})));

  const double half_t = p.wing_thickness / 2;
  const double span = p.wing_span / 2;
  const double le = 0.5 - p.wing_position;
  const double tip = p.wing_chord * p.wing_taper;
  const double sweep = span * std::tan(p.wing_sweep);
  const double wy = p.wing_height * r;
  const auto wing = trapezoid(span, le, p.wing_chord, tip, sweep);
  const Frame wf = planform_frame({0, wy, 0});
  m.add(Part::extrude(wing, half_t, half_t * 0.9).placed(wf.rotated({0, 0, 1}, p.dihedral)), 0.02);
  m.add(Part::extrude(mirrored_x(wing), half_t, half_t * 0.9)
            .placed(wf.rotated({0, 0, 1}, -p.dihedral)),
        0.02);

  // Vertical fin in the side plane; the stabiliser sits at its root or on its top (T-tail).
  const double fin_root = 0.6 * p.wing_chord + 0.06;
  const double fin_le = -0.5 + fin_root + 0.01;
  const double fin_top = r + p.fin_height;
  const double fin_back = 0.9 * p.fin_height;
  const double fin_half = 0.015;
  m.add(Part::extrude({{fin_le, 0},
                       {fin_le - fin_back, fin_top},
                       {fin_le - fin_back - 0.55 * fin_root, fin_top},
                       {fin_le - fin_root, 0}},
                      fin_half, fin_half * 0.9)
            .placed(side_frame({0, 0, 0})),
        0.015);
  const double stab_root = 0.45 * p.wing_chord + 0.03;
  const double stab_half = 0.4 * p.wing_thickness;
  const double stab_le = p.t_tail ? fin_le - fin_back : -0.5 + stab_root + 0.03;
  const double stab_y = p.t_tail ? fin_top - stab_half : 0.0;
  const auto stab = trapezoid(p.tail_span / 2, stab_le, stab_root, 0.5 * stab_root,
                              p.tail_span / 2 * std::tan(p.wing_sweep * 0.8 + 0.1));
  m.add(Part::extrude(stab, stab_half, stab_half * 0.9).placed(planform_frame({0, stab_y, 0})),
        0.01);
  m.add(Part::extrude(mirrored_x(stab), stab_half, stab_half * 0.9)
            .placed(planform_frame({0, stab_y, 0})),
        0.01);

  std::vector<double> stations;
  if (p.engines == AirplaneEngines::Two) stations = {0.33};
  if (p.engines == AirplaneEngines::Four) stations = {0.3, 0.62};
  const double er = p.engine_radius;
  for (double f : stations) {
    for (double s : {-1.0, 1.0}) {
      const double x = f * span;
      const double y = wy + x * std::tan(p.dihedral) - er * 0.9;
      const double z = le - sweep * f + er * 0.8;
      m.add(Part::cylinder(er, 2.2 * er, er * 0.4)
                .placed(sdf::frame_axes({1, 0, 0}, {0, 0, 1}, {s * x, y, z})),
            0.01);
    }
  }
}

void draw(ParamRng& rng, CarParams& p) {
  p.body = static_cast<CarBody>(rng.pick({0.25, 0.2, 0.2, 0.15, 0.2}));
  const bool suv = p.body == CarBody::Suv, pickup = p.body == CarBody::Pickup;
  const bool hatch = p.body == CarBody::Hatchback, sports = p.body == CarBody::Sports;
  const double lengths[5][2] = {{4.3, 5.0}, {3.7, 4.3}, {4.4, 5.0}, {5.0, 5.6}, {4.2, 4.7}};
  const auto& lr = lengths[static_cast<int>(p.body)];
  p.length = rng.uniform(lr[0], lr[1]);
  p.width = rng.uniform(1.65, 2.0);
  const double clear = rng.uniform(0.12, 0.18), clear_high = rng.uniform(0.2, 0.28),
               clear_low = rng.uniform(0.09, 0.12);
  p.clearance = (suv || pickup) ? clear_high : sports ? clear_low : clear;
  const double bh = rng.uniform(0.5, 0.65), bh_high = rng.uniform(0.65, 0.8),
               bh_low = rng.uniform(0.4, 0.48);
  p.body_height = (suv || pickup) ? bh_high : sports ? bh_low : bh;
  const double ch = rng.uniform(0.38, 0.5), ch_high = rng.uniform(0.5, 0.62),
               ch_low = rng.uniform(0.28, 0.36);
  p.cabin_height = suv ? ch_high : sports ? ch_low : ch;
  const double cl = rng.uniform(0.42, 0.52), cl_long = rng.uniform(0.55, 0.65),
               cl_pickup = rng.uniform(0.25, 0.32), cl_sports = rng.uniform(0.32, 0.38);
  p.cabin_length = (hatch || suv) ? cl_long : pickup ? cl_pickup : sports ? cl_sports : cl;
  p.cabin_offset = rng.uniform(-0.08, 0.02);
  const double ws = rng.uniform(0.6, 0.9), ws_upright = rng.uniform(0.35, 0.55),
               ws_fast = rng.uniform(0.9, 1.3);
  p.windshield = (suv || pickup) ? ws_upright : sports ? ws_fast : ws;
  const double rear = rng.uniform(0.6, 1.0), rear_steep = rng.uniform(0.05, 0.25),
               rear_fast = rng.uniform(1.3, 2.0);
  p.rear_window = (hatch || suv || pickup) ? rear_steep : sports ? rear_fast : rear;
  p.hood_drop = rng.uniform(0.03, 0.15);
  const double wr = rng.uniform(0.3, 0.36), wr_big = rng.uniform(0.36, 0.42);
  p.wheel_radius = (suv || pickup) ? wr_big : wr;
  p.wheel_width = rng.uniform(0.18, 0.26);
  p.wheelbase = rng.uniform(0.56, 0.64);
}

void build(const CarParams& p, sdf::Model& m) {
  const double len = p.length, w = p.width;
  const double y0 = p.clearance, y1 = p.clearance + p.body_height;
  const double front = len / 2, back = -len / 2;
  const double cab_len = p.cabin_length * len;
  double cab_front = p.cabin_offset * len + cab_len / 2;
  if (p.body == CarBody::Hatchback || p.body == CarBody::Suv) cab_front = back + 0.12 + cab_len;
  if (p.body == CarBody::Pickup) cab_front = front - 0.3 * len;
  const double cab_back = cab_front - cab_len;

  // Lower body, side view: rounded bumpers, the hood dropping towards the nose.
  m.add(Part::extrude({{back, y0 + 0.12},
                       {back + 0.25, y0},
                       {front - 0.3, y0},
                       {front, y0 + 0.15},
                       {front - 0.03, y1 - p.hood_drop - 0.06},
                       {front - 0.2, y1 - p.hood_drop},
                       {cab_front, y1},
                       {back + 0.1, y1 - 0.02},
                       {back, y1 - 0.1}},
                      w / 2, 0.1)
            .placed(side_frame({0, 0, 0})));
  const double ch = p.cabin_height;
  double top_front = cab_front - p.windshield * ch;
  double top_back = cab_back + p.rear_window * ch;
  if (top_front < top_back + 0.1) {  // slopes longer than the cabin: a short roof at the middle
    const double mid = (top_front + top_back) / 2;
    top_front = mid + 0.05;
    top_back = mid - 0.05;
  }
  m.add(Part::extrude({{cab_back, y1 - 0.06},
                       {cab_front + 0.05, y1 - 0.06},
                       {top_front, y1 + ch},
                       {top_back, y1 + ch}},
                      0.43 * w, 0.1)
            .placed(side_frame({0, 0, 0})),
        0.06);
  // Tumblehome: the cabin's sides lean in towards the roof.
  for (double sx : {-1.0, 1.0}) {
    const Frame side =
        Frame{}.translated({sx * 0.43 * w, y1 - 0.06, 0}).rotated({0, 0, 1}, sx * 0.17);
    m.subtract(Part::round_box({1, 1, len}).at({sx * 1.0, 1.0, 0}).placed(side), 0.03);
  }
  if (p.body == CarBody::Pickup) {
    const double bed_front = cab_back - 0.08, bed_back = back + 0.1;
    const double bed_floor = y1 - 0.45 * p.body_height;
    m.subtract(Part::round_box({w / 2 - 0.08, 0.5, (bed_front - bed_back) / 2}, 0.03)
                   .at({0, bed_floor + 0.5, (bed_front + bed_back) / 2}),
               0.02);
  }

  const double wr = p.wheel_radius, ww = p.wheel_width;
  const double axle = p.wheelbase * len / 2;
  // Fenders: half discs over each wheel, so low bodies still cover their wheels.
  const double fender = wr + 0.2, fender_half = (ww + 0.12) / 2;
  for (double sz : {-1.0, 1.0}) {
    std::vector<Vec2> arch;
    for (int i = 0; i <= 12; ++i) {
      const double a = M_PI * i / 12;
      arch.push_back({sz * axle + fender * std::cos(a), wr + fender * std::sin(a)});
    }
    for (double sx : {-1.0, 1.0}) {
      const double x = sx * (w / 2 - 0.02 - fender_half);
      m.add(Part::extrude(arch, fender_half, 0.05).placed(side_frame({x, 0, 0})), 0.12);
    }
  }
  // Arches cut the outer half of the wheel's width out of the body; the inner half stays buried
  // so each wheel is attached.
  const double arch_in = w / 2 - 0.55 * ww, arch_out = w / 2 + 0.2;
  for (double sz : {-1.0, 1.0}) {
    for (double sx : {-1.0, 1.0}) {
      const Vec3 c{sx * (arch_in + arch_out) / 2, wr, sz * axle};
      m.subtract(Part::cylinder(wr + 0.05, (arch_out - arch_in) / 2)
                     .placed(sdf::frame_along(c, {1, 0, 0})),
                 0.02);
    }
  }
  for (double sz : {-1.0, 1.0}) {
    for (double sx : {-1.0, 1.0}) {
      const Vec3 c{sx * (w / 2 - ww / 2 + 0.02), wr, sz * axle};
      m.add(Part::cylinder(wr, ww / 2, 0.05).placed(sdf::frame_along(c, {1, 0, 0})), 0.01);
    }
  }
}

void draw(ParamRng& rng, RocketParams& p) {
  p.body_radius = rng.uniform(0.045, 0.08);
  p.nose_length = rng.uniform(0.12, 0.25);
  p.fins = rng.integer(3, 4);
  p.fin_span = rng.uniform(0.06, 0.14);
  p.fin_height = rng.uniform(0.12, 0.25);
  p.fin_sweep = rng.uniform(0.0, 0.1);
  const int boosters = rng.pick({0.5, 0.25, 0.25});
  p.boosters = boosters * 2;
  p.booster_radius = rng.uniform(0.35, 0.55);
  p.booster_length = rng.uniform(0.35, 0.6);
  p.upper_stage = rng.chance(0.4);
  p.upper_radius = rng.uniform(0.6, 0.85);
  p.nozzle_radius = rng.uniform(0.5, 0.8);
}

void build(const RocketParams& p, sdf::Model& m) {
  const double r = p.body_radius, base = 0.06;
  const double ru = p.upper_stage ? p.upper_radius * r : r;
  const double nose_start = 1.0 - p.nose_length;
  std::vector<Vec2> body{{0, base}, {r, base}};
  if (p.upper_stage) {
    const double stage = base + 0.55 * (nose_start - base);
    body.push_back({r, stage});
    body.push_back({ru, stage + 0.03});
  }
  for (int i = 0; i < 12; ++i) {
    const double s = double(i) / 12;
    body.push_back({ru * std::pow(std::cos(M_PI / 2 * s), 0.7), nose_start + p.nose_length * s});
  }
  body.push_back({0, 1.0});
  m.add(Part::revolve(body));
  const double nozzle = p.nozzle_radius * r;
  m.add(Part::cone_between({0, 0.015, 0}, {0, base + 0.01, 0}, nozzle, nozzle * 0.55), 0.006);

  for (int i = 0; i < p.fins; ++i) {
    const double a = M_PI / 4 + 2 * M_PI * i / p.fins;
    const Vec3 radial{std::cos(a), 0, std::sin(a)};
    const double root = r * 0.8, tip = r + p.fin_span;
    m.add(Part::extrude({{root, p.fin_height},
                         {root, 0.01},
                         {tip, 0.0},
                         {tip, 0.35 * p.fin_height + p.fin_sweep}},
                        0.016, 0.01)
              .placed(sdf::frame_axes(radial, {0, 1, 0}, {0, 0, 0})),
          0.01);
  }
  const double rb = p.booster_radius * r;
  for (int j = 0; j < p.boosters; ++j) {
    const double a = 2 * M_PI * j / p.boosters;
    const Vec3 c{(r + 0.85 * rb) * std::cos(a), 0, (r + 0.85 * rb) * std::sin(a)};
    std::vector<Vec2> booster{{0, 0.04}, {rb, 0.04}, {rb, p.booster_length}};
    for (int i = 1; i < 8; ++i) {
      const double s = double(i) / 8;
      booster.push_back({rb * std::cos(M_PI / 2 * s), p.booster_length + 2.5 * rb * s});
    }
    booster.push_back({0, p.booster_length + 2.5 * rb});
    m.add(Part::revolve(booster).at(c), 0.01);
    m.add(Part::cone_between(c + Vec3{0, 0.005, 0}, c + Vec3{0, 0.045, 0}, rb * 0.7, rb * 0.45),
          0.004);
  }
}

}  // namespace shapediff::shapes::detail

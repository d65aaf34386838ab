// Furniture families: chair, table, sofa, bench. Metres, floor at y = 0, front +z.
#include <algorithm>
#include <cmath>

#include "shapes/procedural_families.h"

namespace shapediff::shapes::detail {
namespace {

using sdf::Frame;
using sdf::Part;
using sdf::Vec3;

// Blend radius where furniture parts meet: enough to read as one piece, small enough to keep
// edges crisp.
constexpr double kJoin = 0.012;

// A leg standing on the floor from `foot` up to `top`: round (cylinder or taper) or square.
Part leg(const Vec3& foot, const Vec3& top, double thickness, double foot_scale, bool square) {
  if (square) {
    const double half = (top.y - foot.y) / 2;
    return Part::round_box({thickness, half, thickness}, thickness * 0.2)
        .at({(foot.x + top.x) / 2, foot.y + half, (foot.z + top.z) / 2});
  }
  return Part::cone_between(foot, top, thickness * foot_scale, thickness);
}

}  // namespace

void draw(ParamRng& rng, ChairParams& p) {
  p.seat_width = rng.uniform(0.40, 0.60);
  p.seat_depth = rng.uniform(0.38, 0.55);
  p.seat_height = rng.uniform(0.40, 0.50);
  p.seat_thickness = rng.uniform(0.03, 0.08);
  p.back = static_cast<ChairBack>(rng.pick({0.4, 0.3, 0.3}));
  const int slats = rng.integer(3, 5), rails = rng.integer(2, 4);
  p.back_bars = p.back == ChairBack::Slats ? slats : rails;
  p.back_height = rng.uniform(0.30, 0.60);
  p.back_tilt = rng.uniform(0.0, 0.30);
  p.back_thickness = rng.uniform(0.025, 0.05);
  p.legs = static_cast<ChairLegs>(rng.pick({0.4, 0.25, 0.2, 0.15}));
  p.leg_thickness = rng.uniform(0.018, 0.032);
  const bool square = rng.chance(0.4);
  p.square_legs = p.legs == ChairLegs::Straight && square;
  const double splay = rng.uniform(0.0, 0.12);
  p.leg_splay = p.legs == ChairLegs::Tapered ? splay : 0.0;
  const bool arms = rng.chance(0.35);
  p.arms = p.legs != ChairLegs::Sled && arms;
  p.arm_height = rng.uniform(0.18, 0.26);
}

void build(const ChairParams& p, sdf::Model& m) {
  const double w = p.seat_width, d = p.seat_depth, h = p.seat_height, t = p.seat_thickness;
  const double lt = p.leg_thickness;
  const double under = h - t;
  m.add(Part::round_box({w / 2, t / 2, d / 2}, std::min(0.015, t * 0.4)).at({0, h - t / 2, 0}));

  switch (p.legs) {
    case ChairLegs::Straight:
    case ChairLegs::Tapered: {
      const double inset = lt + 0.015;
      const bool tapered = p.legs == ChairLegs::Tapered;
      const double spread = std::tan(p.leg_splay) * under;
      for (double sx : {-1.0, 1.0}) {
        for (double sz : {-1.0, 1.0}) {
          const Vec3 top{sx * (w / 2 - inset), under + t / 2, sz * (d / 2 - inset)};
          const Vec3 foot{top.x + sx * spread, 0.0, top.z + sz * spread * 0.5};
          m.add(leg(foot, top, lt, tapered ? 0.55 : 1.0, p.square_legs), kJoin);
        }
      }
      break;
    }
    case ChairLegs::Swivel: {
      const double reach = 0.55 * std::max(w, d);
      const Vec3 hub{0, 0.085, 0};
      m.add(Part::round_box({0.1, 0.02, 0.1}, 0.01).at({0, under - 0.015, 0}), kJoin);
      m.add(Part::cone_between({0, 0.08, 0}, {0, under, 0}, 0.028, 0.028), kJoin);
      m.add(Part::cylinder(0.05, 0.025, 0.01).at(hub), kJoin);
      for (int i = 0; i < 5; ++i) {
        const double a = M_PI / 2 + 2 * M_PI * i / 5;
        const Vec3 tip{reach * std::cos(a), 0.06, reach * std::sin(a)};
        m.add(Part::capsule(hub, tip, 0.02), kJoin);
        m.add(Part::ellipsoid({0.026, 0.026, 0.026}).at({tip.x, 0.026, tip.z}), kJoin);
      }
      break;
    }
    case ChairLegs::Sled: {
      const double r = lt * 0.8;
      const double zf = d / 2 - 0.04, zb = -d / 2 + 0.04;
      for (double sx : {-1.0, 1.0}) {
        const double x = sx * (w / 2 - r - 0.01);
        m.add(Part::capsule({x, r, zf + 0.03}, {x, r, zb - 0.03}, r), kJoin);
        m.add(Part::capsule({x, r, zf}, {x, h - t / 2, zf}, r), kJoin);
        m.add(Part::capsule({x, r, zb}, {x, h - t / 2, zb}, r), kJoin);
      }
      break;
    }
  }

  // The back is built upright in its own frame (y from the seat's mid plane) and then leaned.
  const double bt = p.back_thickness;
  const double top = p.back_height + t / 2;
  const Frame back =
      Frame{}.translated({0, h - t / 2, -d / 2 + bt / 2}).rotated({1, 0, 0}, -p.back_tilt);
  auto add_back = [&](const Part& part) { m.add(part.placed(back), kJoin); };
  if (p.back == ChairBack::Solid) {
    add_back(
        Part::round_box({w / 2, top / 2, bt / 2}, std::min(0.015, bt * 0.45)).at({0, top / 2, 0}));
  } else {
    const double post = std::max(lt, 0.02);
    for (double sx : {-1.0, 1.0}) {
      add_back(Part::round_box({post, (top + t / 2) / 2, bt / 2}, 0.006)
                   .at({sx * (w / 2 - post), (top - t / 2) / 2, 0}));
    }
    const double inner = w - 4 * post;
    if (p.back == ChairBack::Slats) {
      add_back(Part::round_box({w / 2, 0.035, bt / 2}, 0.008).at({0, top - 0.035, 0}));
      const double pitch = inner / p.back_bars;
      for (int i = 0; i < p.back_bars; ++i) {
        add_back(Part::round_box({pitch * 0.27, (top - 0.05) / 2, bt * 0.4}, 0.004)
                     .at({-inner / 2 + pitch * (i + 0.5), (top - 0.05) / 2, 0}));
      }
    } else {
      const double first = top - 0.03, last = top * 0.35;
      for (int i = 0; i < p.back_bars; ++i) {
        const double y = first - (first - last) * i / std::max(1, p.back_bars - 1);
        add_back(Part::round_box({w / 2 - post, 0.025, bt * 0.4}, 0.006).at({0, y, 0}));
      }
    }
  }

  if (p.arms) {
    const double y = h + p.arm_height;
    for (double sx : {-1.0, 1.0}) {
      const double x = sx * (w / 2 - 0.02);
      m.add(Part::round_box({0.03, 0.015, d * 0.42}, 0.01).at({x, y, -d * 0.08}), kJoin);
      m.add(Part::cone_between({x, h - t / 2, d * 0.28}, {x, y, d * 0.28}, 0.016, 0.016), kJoin);
      m.add(Part::cone_between({x, h - t / 2, -d / 2 + 0.05}, {x, y, -d / 2 + 0.05}, 0.016, 0.016),
            kJoin);
    }
  }
}

void draw(ParamRng& rng, TableParams& p) {
  p.top = static_cast<TableTop>(rng.pick({0.65, 0.35}));
  const bool round = p.top == TableTop::Round;
  p.width = round ? rng.uniform(0.6, 1.2) : rng.uniform(0.6, 1.8);
  const double depth = rng.uniform(0.5, 1.0);
  p.depth = round ? p.width : std::min(depth, p.width);
  const bool coffee = rng.chance(0.3);
  const double dining = rng.uniform(0.70, 0.78), low = rng.uniform(0.40, 0.50);
  p.height = coffee ? low : dining;
  // Thin parts stay at least ~1.5 voxels thick at resolution 64.
  p.top_thickness = std::max(rng.uniform(0.025, 0.06), 0.025 * p.width);
  const int base = rng.pick({0.55, 0.25, 0.2});
  p.base = static_cast<TableBase>(round && base == 2 ? 0 : base);
  p.leg_thickness = std::max(rng.uniform(0.02, 0.045), 0.014 * p.width);
  p.square_legs = rng.chance(0.5);
  const bool apron = rng.chance(0.5), shelf = rng.chance(0.3);
  p.apron = p.base == TableBase::FourLegs && apron;
  p.shelf = p.base == TableBase::FourLegs && !round && shelf;
  if (p.base == TableBase::Pedestal) p.width = std::min(p.width, 1.2);
  if (p.base == TableBase::Pedestal && round) p.depth = p.width;
  p.depth = std::min(p.depth, p.width);
}

void build(const TableParams& p, sdf::Model& m) {
  const double w = p.width, d = p.depth, h = p.height, tt = p.top_thickness;
  const double lt = p.leg_thickness;
  const double under = h - tt;
  const bool round = p.top == TableTop::Round;
  if (round) {
    m.add(Part::cylinder(w / 2, tt / 2, std::min(0.01, tt * 0.4)).at({0, h - tt / 2, 0}));
  } else {
    m.add(Part::round_box({w / 2, tt / 2, d / 2}, std::min(0.01, tt * 0.4)).at({0, h - tt / 2, 0}));
  }
  switch (p.base) {
    case TableBase::FourLegs: {
      std::vector<Vec3> feet;
      if (round) {
        for (int i = 0; i < 4; ++i) {
          const double a = M_PI / 4 + M_PI / 2 * i;
          feet.push_back({0.3 * w * std::cos(a), 0, 0.3 * w * std::sin(a)});
        }
      } else {
        const double inset = lt + 0.04;
        for (double sx : {-1.0, 1.0}) {
          for (double sz : {-1.0, 1.0})
            feet.push_back({sx * (w / 2 - inset), 0, sz * (d / 2 - inset)});
        }
      }
      for (const auto& f : feet) {
        m.add(leg(f, {f.x, under + 0.01, f.z}, lt, 0.8, p.square_legs), kJoin);
      }
      if (p.apron) {
        const double ax = round ? 0.3 * w / std::sqrt(2.0) : w / 2 - lt - 0.04;
        const double az = round ? ax : d / 2 - lt - 0.04;
        const double ah = 0.045, y = under - ah + 0.005;
        for (double s : {-1.0, 1.0}) {
          m.add(Part::round_box({ax, ah, 0.014}, 0.004).at({0, y, s * az}), kJoin);
          m.add(Part::round_box({0.014, ah, az}, 0.004).at({s * ax, y, 0}), kJoin);
        }
      }
      if (p.shelf) {
        const double inset = lt + 0.04;
        const double y = 0.12 + 0.1 * (h > 0.6);
        m.add(Part::round_box({w / 2 - inset, std::max(0.012, tt * 0.4), d / 2 - inset}, 0.004)
                  .at({0, y, 0}),
              kJoin);
      }
      break;
    }
    case TableBase::Pedestal: {
      const double column = 1.8 * lt;
      m.add(Part::cone_between({0, 0.02, 0}, {0, under + 0.01, 0}, column * 1.3, column), kJoin);
      if (round) {
        m.add(Part::cylinder(0.25 * w + 0.05, 0.02, 0.01).at({0, 0.02, 0}), 2 * kJoin);
      } else {
        m.add(Part::round_box({0.35 * w, 0.025, 0.04}, 0.01).at({0, 0.025, 0}), 2 * kJoin);
        m.add(Part::round_box({0.04, 0.025, 0.35 * d}, 0.01).at({0, 0.025, 0}), 2 * kJoin);
      }
      break;
    }
    case TableBase::Trestle: {
      const double x = w / 2 - 0.12 - lt;
      for (double s : {-1.0, 1.0}) {
        m.add(Part::round_box({lt, under / 2, d * 0.3}, 0.006).at({s * x, under / 2, 0}), kJoin);
        m.add(Part::round_box({lt * 1.5, 0.03, d * 0.42}, 0.01).at({s * x, 0.03, 0}), kJoin);
        m.add(Part::round_box({lt * 1.5, 0.02, d * 0.42}, 0.006).at({s * x, under - 0.02, 0}),
              kJoin);
      }
      m.add(Part::round_box({x, 0.035, lt}, 0.006).at({0, under * 0.35, 0}), kJoin);
      break;
    }
  }
}

void draw(ParamRng& rng, SofaParams& p) {
  p.width = rng.uniform(1.4, 2.4);
  p.depth = rng.uniform(0.8, 1.0);
  p.seat_height = rng.uniform(0.38, 0.48);
  p.cushions = rng.integer(1, 3);
  p.back_height = rng.uniform(0.30, 0.50);
  p.back_thickness = rng.uniform(0.15, 0.25);
  p.arms = rng.chance(0.85);
  p.arm_height = rng.uniform(0.12, 0.28);
  p.arm_width = rng.uniform(0.10, 0.25);
  const bool plinth = rng.chance(0.3);
  const double legs = rng.uniform(0.04, 0.12);
  p.leg_height = plinth ? 0.0 : legs;
  p.chaise = rng.chance(0.25);
  p.chaise_length = rng.uniform(0.5, 0.7);
  p.roundness = rng.uniform(0.02, 0.06);
}

void build(const SofaParams& p, sdf::Model& m) {
  const double w = p.width, d = p.depth, s = p.seat_height, r = p.roundness;
  const double bottom = p.leg_height;
  const double cushion = 0.14;
  const double base_top = s - cushion;
  const double aw = p.arms ? p.arm_width : 0.0;
  const double bt = p.back_thickness;
  const double seat_w = w - 2 * aw;
  const double cw = seat_w / p.cushions;
  // The chaise replaces the +x arm and one cushion's width of seat reaches forward.
  const double chaise_w = (p.cushions > 1 ? cw : 0.6 * seat_w) + (p.arms ? aw : 0.0);

  m.add(Part::round_box({w / 2, (base_top - bottom) / 2, d / 2}, r)
            .at({0, (base_top + bottom) / 2, 0}));
  for (int i = 0; i < p.cushions; ++i) {
    const double x = -seat_w / 2 + cw * (i + 0.5);
    m.add(Part::round_box({cw / 2 - 0.006, cushion / 2, (d - bt) / 2}, std::min(r * 1.2, 0.06))
              .at({x, base_top + cushion / 2, bt / 2}),
          0.01);
  }
  const double back_top = s + p.back_height;
  m.add(Part::round_box({w / 2, (back_top - bottom) / 2, bt / 2}, r)
            .at({0, (back_top + bottom) / 2, -d / 2 + bt / 2}),
        0.02);
  if (p.arms) {
    const double arm_top = s + p.arm_height;
    for (double sx : {-1.0, 1.0}) {
      if (p.chaise && sx > 0) continue;
      m.add(Part::round_box({aw / 2, (arm_top - bottom) / 2, d / 2}, r)
                .at({sx * (w / 2 - aw / 2), (arm_top + bottom) / 2, 0}),
            0.02);
    }
  }
  if (p.chaise) {
    const double x = w / 2 - chaise_w / 2;
    const double z0 = d / 2 - 0.1, z1 = d / 2 + p.chaise_length;
    m.add(Part::round_box({chaise_w / 2, (base_top - bottom) / 2, (z1 - z0) / 2}, r)
              .at({x, (base_top + bottom) / 2, (z0 + z1) / 2}),
          0.02);
    m.add(Part::round_box({chaise_w / 2 - 0.006, cushion / 2, (z1 - d / 2) / 2},
                          std::min(r * 1.2, 0.06))
              .at({x, base_top + cushion / 2, (z1 + d / 2) / 2}),
          0.01);
  }
  if (bottom > 0) {
    std::vector<Vec3> feet;
    for (double sx : {-1.0, 1.0}) {
      for (double sz : {-1.0, 1.0}) feet.push_back({sx * (w / 2 - 0.07), 0, sz * (d / 2 - 0.07)});
    }
    if (p.chaise) {
      feet.push_back({w / 2 - 0.07, 0, d / 2 + p.chaise_length - 0.07});
      feet.push_back({w / 2 - chaise_w + 0.07, 0, d / 2 + p.chaise_length - 0.07});
    }
    const double leg_r = std::max(0.03, 0.018 * w);
    for (const auto& f : feet) m.add(leg(f, {f.x, bottom + 0.03, f.z}, leg_r, 0.8, false), 0.01);
  }
}

void draw(ParamRng& rng, BenchParams& p) {
  p.style = static_cast<BenchStyle>(rng.pick({0.45, 0.55}));
  p.length = rng.uniform(1.0, 2.0);
  p.depth = rng.uniform(0.30, 0.45);
  p.seat_height = rng.uniform(0.40, 0.48);
  p.slats = rng.integer(1, 4);
  p.slat_thickness = std::max(rng.uniform(0.03, 0.05), 0.022 * p.length);
  p.panel_legs = rng.chance(0.4);
  p.leg_thickness = std::max(rng.uniform(0.025, 0.045), 0.015 * p.length);
  p.back_height = rng.uniform(0.30, 0.45);
  p.back_tilt = rng.uniform(0.10, 0.30);
  const bool arms = rng.chance(0.5);
  p.arms = p.style == BenchStyle::Park && arms;
}

void build(const BenchParams& p, sdf::Model& m) {
  const double len = p.length, d = p.depth, h = p.seat_height, st = p.slat_thickness;
  const double lt = p.leg_thickness;
  const double xs = len / 2 - 0.12;
  const double pitch = d / p.slats;
  const double gap = p.slats > 1 ? std::min(0.3 * pitch, 0.045) : 0.0;
  for (int i = 0; i < p.slats; ++i) {
    m.add(Part::round_box({len / 2, st / 2, (pitch - gap) / 2}, std::min(0.01, st * 0.3))
              .at({0, h - st / 2, -d / 2 + pitch * (i + 0.5)}),
          0.004);
  }
  const double rail_top = h - st;
  for (double sx : {-1.0, 1.0}) {
    m.add(Part::round_box({lt, 0.03, d / 2 - 0.005}, 0.006).at({sx * xs, rail_top - 0.03, 0}),
          0.006);
    if (p.panel_legs) {
      m.add(Part::round_box({lt, rail_top / 2, d / 2 - 0.02}, 0.006).at({sx * xs, rail_top / 2, 0}),
            kJoin);
    } else {
      for (double sz : {-1.0, 1.0}) {
        const double z = sz * (d / 2 - lt - 0.01);
        m.add(Part::round_box({lt, rail_top / 2, lt}, lt * 0.2).at({sx * xs, rail_top / 2, z}),
              kJoin);
      }
      m.add(Part::round_box({lt * 0.8, 0.02, d / 2 - lt - 0.01}, 0.005).at({sx * xs, 0.14, 0}),
            kJoin);
    }
  }
  if (p.style == BenchStyle::Park) {
    const double top = p.back_height + st;
    const Frame back =
        Frame{}.translated({0, rail_top - 0.02, -d / 2 + lt}).rotated({1, 0, 0}, -p.back_tilt);
    for (double sx : {-1.0, 1.0}) {
      m.add(Part::round_box({lt, top / 2 + 0.02, lt}, lt * 0.2)
                .at({sx * xs, top / 2, 0})
                .placed(back),
            kJoin);
    }
    const int rails = top > 0.4 ? 3 : 2;
    for (int i = 0; i < rails; ++i) {
      const double y = top - 0.05 - i * 0.11;
      m.add(Part::round_box({len / 2, 0.04, std::max(0.016, st * 0.4)}, 0.008)
                .at({0, y, lt + 0.012})
                .placed(back),
            0.006);
    }
    if (p.arms) {
      const double y = h + 0.22;
      for (double sx : {-1.0, 1.0}) {
        const double x = sx * xs;
        m.add(Part::capsule({x, y, -d / 2 + 0.02 - 0.22 * std::tan(p.back_tilt)},
                            {x, y, d / 2 - 0.01}, 0.022),
              kJoin);
        m.add(Part::capsule({x, rail_top - 0.03, d / 2 - 0.04}, {x, y, d / 2 - 0.02}, 0.02), kJoin);
      }
    }
  }
}

}  // namespace shapediff::shapes::detail

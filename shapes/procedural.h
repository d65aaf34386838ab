// Procedural shape families: seeded, parametric generators of closed (watertight, 2-manifold,
// outward-oriented) triangle meshes for twelve object categories, made for tests, demos and
// small training sets when no dataset is at hand.
//
// Each family draws a parameter struct (sizes in metres; the documented ranges are what the
// sampler draws) from a std::mt19937_64 seeded by (seed, family, index), builds a signed
// distance model from parts (shapes/procedural_sdf.h), samples it on a grid and extracts the
// surface with marching_cubes(). Like ShapeNet, +Y is up and +Z is the front; by default the mesh
// is centred on its bounding box and scaled so its longest side spans [-1, 1]. The same family,
// index and seed give the same mesh: each call seeds its own generator and no std:: distribution
// is used, so the drawn parameters are bit-identical on every platform (vertex coordinates can
// differ in the last bits where libm does).
//
//   auto chair = make_shape(ShapeFamily::Chair, /*index=*/7, /*seed=*/1);   // 64^3 sampling
//   ChairParams p = std::get<ChairParams>(sample_shape_params(ShapeFamily::Chair, 7, 1));
//   p.arms = true;
//   auto with_arms = make_shape(p, ProceduralOptions{}.set_resolution(96));
//
// Full ranges and pictures: docs/shape_families.md.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "shapes/procedural_sdf.h"
#include "shapes/triangle_mesh.h"

namespace shapediff::shapes {

enum class ShapeFamily {
  Airplane,
  Bench,
  Bottle,
  Car,
  Chair,
  Guitar,
  Lamp,
  Mug,
  Rocket,
  Sofa,
  Table,
  Vase
};

// Lower-case names ("chair"); parse throws std::invalid_argument listing the accepted names.
ShapeFamily parse_shape_family(const std::string& name);
std::string to_string(ShapeFamily family);
const std::vector<ShapeFamily>& all_shape_families();

struct ProceduralOptions {
  // Grid samples along the longest side of the shape, in [8, 1024]. At 64 every part of every
  // family stays attached; below ~56 thin parts (guitar pegs, rocket fins, lamp poles) may
  // come loose as separate pieces. Walls are designed ~3 voxels thick at 64.
  int64_t resolution = 64;
  // Centre on the bounding box and scale the longest side to [-1, 1]; otherwise metres with the
  // floor at y = 0.
  bool normalize = true;

  ProceduralOptions& set_resolution(int64_t r) {
    resolution = r;
    return *this;
  }
  ProceduralOptions& set_normalize(bool n) {
    normalize = n;
    return *this;
  }
};

// ---- Per-family parameters. Defaults are a typical member; comments give the sampled ranges.

enum class ChairLegs { Straight, Tapered, Swivel, Sled };
enum class ChairBack { Solid, Slats, Rails };
struct ChairParams {
  static constexpr ShapeFamily kFamily = ShapeFamily::Chair;
  double seat_width = 0.48;              // [0.40, 0.60] (x)
  double seat_depth = 0.46;              // [0.38, 0.55] (z)
  double seat_height = 0.45;             // [0.40, 0.50] floor to seat top
  double seat_thickness = 0.05;          // [0.03, 0.08]
  ChairBack back = ChairBack::Solid;     // solid 40%, slats 30%, rails 30%
  int back_bars = 3;                     // slats [3, 5], rails [2, 4]
  double back_height = 0.45;             // [0.30, 0.60] above the seat
  double back_tilt = 0.15;               // [0, 0.30] rad, top leaning back
  double back_thickness = 0.035;         // [0.025, 0.05]
  ChairLegs legs = ChairLegs::Straight;  // straight 40%, tapered 25%, swivel 20%, sled 15%
  double leg_thickness = 0.025;          // [0.018, 0.032] radius (half side for square legs)
  bool square_legs = false;              // 40% of straight legs
  double leg_splay = 0.0;                // [0, 0.12] rad outwards, tapered legs
  bool arms = false;                     // 35%, never with sled legs
  double arm_height = 0.22;              // [0.18, 0.26] above the seat
};

enum class TableTop { Rectangular, Round };
enum class TableBase { FourLegs, Pedestal, Trestle };
struct TableParams {
  static constexpr ShapeFamily kFamily = ShapeFamily::Table;
  TableTop top = TableTop::Rectangular;  // rectangular 65%, round 35%
  double width = 1.2;                    // rectangular [0.6, 1.8], round diameter [0.6, 1.2] (x)
  double depth = 0.8;                    // rectangular [0.5, 1.0] (z), round: = width
  double height = 0.75;                  // dining [0.70, 0.78] 70%, coffee [0.40, 0.50] 30%
  double top_thickness = 0.04;           // [0.025, 0.06], at least 0.025 x width
  TableBase base = TableBase::FourLegs;  // four legs 55%, pedestal 25%, trestle 20% (not round)
  double leg_thickness = 0.03;           // [0.02, 0.045], >= 0.014 x width; radius or half side
  bool square_legs = true;               // 50%
  bool apron = false;                    // 50% with four legs
  bool shelf = false;                    // 30% with four legs on a rectangular top
};

struct SofaParams {
  static constexpr ShapeFamily kFamily = ShapeFamily::Sofa;
  double width = 1.9;           // [1.4, 2.4] (x)
  double depth = 0.9;           // [0.8, 1.0]
  double seat_height = 0.44;    // [0.38, 0.48] top of the cushions
  int cushions = 3;             // [1, 3]
  double back_height = 0.42;    // [0.30, 0.50] above the seat
  double back_thickness = 0.2;  // [0.15, 0.25]
  bool arms = true;             // 85%
  double arm_height = 0.2;      // [0.12, 0.28] above the seat
  double arm_width = 0.18;      // [0.10, 0.25]
  double leg_height = 0.08;     // 0 (plinth on the floor) 30%, else [0.04, 0.12]
  bool chaise = false;          // 25%: an L-shaped seat reaching forward on the +x side
  double chaise_length = 0.6;   // [0.5, 0.7] beyond the seat front
  double roundness = 0.04;      // [0.02, 0.06] edge radius
};

enum class BenchStyle { Backless, Park };
struct BenchParams {
  static constexpr ShapeFamily kFamily = ShapeFamily::Bench;
  BenchStyle style = BenchStyle::Park;  // backless 45%, park 55%
  double length = 1.5;                  // [1.0, 2.0] (x)
  double depth = 0.4;                   // [0.30, 0.45]
  double seat_height = 0.44;            // [0.40, 0.48]
  int slats = 3;                        // [1, 4]; 1 is a solid board
  double slat_thickness = 0.04;         // [0.03, 0.05], at least 0.022 x length
  bool panel_legs = false;              // 40%: solid side panels instead of two legs per side
  double leg_thickness = 0.035;         // [0.025, 0.045], >= 0.015 x length; half side
  double back_height = 0.38;            // [0.30, 0.45] above the seat (park)
  double back_tilt = 0.2;               // [0.10, 0.30] rad (park)
  bool arms = false;                    // 50% of park benches
};

enum class LampStyle { Table, Floor, Desk };
struct LampParams {
  static constexpr ShapeFamily kFamily = ShapeFamily::Lamp;
  LampStyle style = LampStyle::Table;  // table 40%, floor 30%, desk 30%
  double base_radius = 0.1;            // table/desk [0.07, 0.13], floor [0.13, 0.18]
  double base_height = 0.025;          // [0.015, 0.04]
  double height = 0.5;                 // table [0.35, 0.6], floor [1.3, 1.8]: top of the pole
  double pole_radius = 0.012;          // [0.008, 0.02], at least 0.016 x height
  bool bulb_base = false;              // table 50%: a bulging ceramic body instead of a bare pole
  bool bowl_shade = false;             // floor 40%: an upward bowl (torchiere) instead of a shade
  double shade_bottom = 0.18;          // table [0.12, 0.22], floor [0.18, 0.26], desk [0.06, 0.1]
  double shade_top = 0.12;             // [0.5, 0.9] x shade_bottom (desk: [0.35, 0.5] x, a cone)
  double shade_height = 0.2;           // table [0.14, 0.24], floor [0.2, 0.3], desk [0.1, 0.16]
  double arm_length = 0.38;            // desk [0.3, 0.45] per segment
  double arm_lean = 0.35;              // desk [0.15, 0.5] rad, lower arm tilted back from vertical
  double arm_reach = 1.6;              // desk [1.3, 2.0] rad, upper arm from vertical, forward
};

enum class MugHandle { Ring, Square };
struct MugParams {
  static constexpr ShapeFamily kFamily = ShapeFamily::Mug;
  double radius = 0.042;               // [0.035, 0.05] outer radius at the rim
  double height = 0.1;                 // [0.08, 0.12]
  double taper = 0.05;                 // [-0.1, 0.2]: bottom radius = radius * (1 - taper)
  double wall = 0.006;                 // [0.005, 0.008]
  double bottom = 0.009;               // [0.006, 0.012]
  MugHandle handle = MugHandle::Ring;  // ring 60%, square 40%, on the +x side
  double handle_span = 0.6;            // [0.45, 0.7] x height, vertical extent
  double handle_reach = 0.028;         // [0.022, 0.035] from the wall out
  double handle_radius = 0.0065;       // [0.005, 0.008] thickness radius
};

struct BottleParams {
  static constexpr ShapeFamily kFamily = ShapeFamily::Bottle;
  double body_radius = 0.04;   // [0.03, 0.05]
  double body_height = 0.17;   // [0.12, 0.22]
  double shoulder = 0.05;      // [0.02, 0.07] height of the body-to-neck transition
  double neck_radius = 0.014;  // [0.25, 0.45] x body_radius
  double neck_length = 0.06;   // [0.02, 0.09]
  double waist = 0.0;          // 0 (60%) or [0.05, 0.15]: narrowing at mid body, a fraction
  bool square_body = false;    // 20%: a rounded box body
  bool cap = true;             // 50%
  double cap_height = 0.02;    // [0.015, 0.03]
};

struct VaseParams {
  static constexpr ShapeFamily kFamily = ShapeFamily::Vase;
  double height = 0.32;        // [0.2, 0.5]
  double foot_radius = 0.3;    // [0.2, 0.35] x height
  double belly_radius = 0.42;  // [0.3, 0.55] x height
  double belly_at = 0.4;       // [0.25, 0.6] x height
  double neck_radius = 0.18;   // [0.1, 0.25] x height
  double neck_at = 0.8;        // [0.7, 0.88] x height
  double lip_radius = 0.24;    // [0.12, 0.35] x height
  double wall = 0.06;          // [0.05, 0.07] x height (~3 voxels at resolution 64)
  bool handles = false;        // 25%: two loops on the sides (x)
};

enum class GuitarStyle { Acoustic, Electric };
struct GuitarParams {
  static constexpr ShapeFamily kFamily = ShapeFamily::Guitar;
  GuitarStyle style = GuitarStyle::Acoustic;  // acoustic 55%, electric 45%
  double lower_bout = 0.19;      // half width: acoustic [0.17, 0.21], electric [0.15, 0.18]
  double upper_bout = 0.78;      // [0.7, 0.85] x lower_bout
  double waist = 0.62;           // [0.55, 0.68] x lower_bout
  double body_length = 0.5;      // acoustic [0.45, 0.52], electric [0.40, 0.46]
  double body_depth = 0.1;       // acoustic [0.08, 0.12], electric [0.035, 0.05] (z)
  double neck_length = 0.46;     // [0.42, 0.5]
  double neck_width = 0.05;      // [0.045, 0.055]
  double headstock_tilt = 0.15;  // [0, 0.25] rad backwards
  bool cutaway = false;          // 30%
  double sound_hole = 0.045;     // [0.04, 0.055] radius (acoustic)
};

enum class AirplaneEngines { None, Two, Four };
// Airplane lengths are in units of the fuselage length.
struct AirplaneParams {
  static constexpr ShapeFamily kFamily = ShapeFamily::Airplane;
  double fuselage_radius = 0.05;  // [0.035, 0.065]
  double nose_length = 0.12;      // [0.08, 0.16]
  double tail_length = 0.25;      // [0.2, 0.3]
  double wing_span = 1.0;         // [0.8, 1.15]
  double wing_chord = 0.17;       // [0.12, 0.22] at the root
  double wing_taper = 0.35;       // [0.2, 0.5] tip / root chord
  double wing_sweep = 0.45;       // [0, 0.6] rad
  double wing_position = 0.42;    // [0.36, 0.48] leading edge behind the nose
  double wing_height = -0.5;      // [-0.7, 0.7] x fuselage_radius (low to high wing)
  double dihedral = 0.05;         // [0, 0.1] rad
  double wing_thickness = 0.036;  // [0.032, 0.042]
  double tail_span = 0.38;        // [0.3, 0.45]
  double fin_height = 0.15;       // [0.12, 0.2]
  bool t_tail = false;            // 25%
  AirplaneEngines engines = AirplaneEngines::Two;  // none 20%, two 55%, four 25%
  double engine_radius = 0.028;                    // [0.02, 0.035]
};

enum class CarBody { Sedan, Hatchback, Suv, Pickup, Sports };
struct CarParams {
  static constexpr ShapeFamily kFamily = ShapeFamily::Car;
  CarBody body = CarBody::Sedan;  // 25% / 20% / 20% / 15% / 20%
  double length = 4.6;            // sedan [4.3, 5.0], hatchback [3.7, 4.3], suv [4.4, 5.0],
                                  // pickup [5.0, 5.6], sports [4.2, 4.7]
  double width = 1.8;             // [1.65, 2.0]
  double clearance = 0.16;        // [0.12, 0.18], suv/pickup [0.2, 0.28], sports [0.09, 0.12]
  double body_height = 0.55;      // [0.5, 0.65], suv/pickup [0.65, 0.8], sports [0.4, 0.48]
  double cabin_height = 0.45;     // [0.38, 0.5], suv [0.5, 0.62], sports [0.28, 0.36]
  double cabin_length = 0.5;      // fraction of length: [0.42, 0.52], hatchback/suv [0.55, 0.65],
                                  // pickup [0.25, 0.32], sports [0.32, 0.38]
  double cabin_offset = -0.04;    // [-0.08, 0.02] fraction of length, + moves it forward
  double windshield = 0.75;    // run / rise: [0.6, 0.9], suv/pickup [0.35, 0.55], sports [0.9, 1.3]
  double rear_window = 0.8;    // [0.6, 1.0], hatchback/suv/pickup [0.05, 0.25], sports [1.3, 2.0]
  double hood_drop = 0.08;     // [0.03, 0.15]
  double wheel_radius = 0.33;  // [0.3, 0.36], suv/pickup [0.36, 0.42]
  double wheel_width = 0.22;   // [0.18, 0.26]
  double wheelbase = 0.6;      // [0.56, 0.64] fraction of length
};

// Rocket lengths are in units of the total height.
struct RocketParams {
  static constexpr ShapeFamily kFamily = ShapeFamily::Rocket;
  double body_radius = 0.06;     // [0.045, 0.08]
  double nose_length = 0.18;     // [0.12, 0.25]
  int fins = 4;                  // [3, 4]
  double fin_span = 0.1;         // [0.06, 0.14] beyond the body
  double fin_height = 0.18;      // [0.12, 0.25]
  double fin_sweep = 0.05;       // [0, 0.1] leading edge rise at the tip
  int boosters = 0;              // 0 (50%), 2 (25%), 4 (25%)
  double booster_radius = 0.45;  // [0.35, 0.55] x body_radius
  double booster_length = 0.45;  // [0.35, 0.6]
  bool upper_stage = false;      // 40%: a narrower upper stage
  double upper_radius = 0.75;    // [0.6, 0.85] x body_radius
  double nozzle_radius = 0.7;    // [0.5, 0.8] x body_radius
};

using ShapeParams =
    std::variant<AirplaneParams, BenchParams, BottleParams, CarParams, ChairParams, GuitarParams,
                 LampParams, MugParams, RocketParams, SofaParams, TableParams, VaseParams>;

ShapeFamily family_of(const ShapeParams& params);

// The parameters make_shape(family, index, seed) uses. index >= 0.
ShapeParams sample_shape_params(ShapeFamily family, int64_t index, uint64_t seed);

// The signed distance model in metres (airplane, rocket: relative units), floor at y = 0.
sdf::Model build_shape_model(const ShapeParams& params);

TriangleMesh make_shape(const ShapeParams& params, const ProceduralOptions& options = {});
TriangleMesh make_shape(ShapeFamily family, int64_t index, uint64_t seed,
                        const ProceduralOptions& options = {});

}  // namespace shapediff::shapes

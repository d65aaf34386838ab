// Internal to the procedural families (shapes/procedural.h): the portable parameter sampler and
// each family's draw / build pair, split over procedural_furniture.cpp, procedural_objects.cpp
// and procedural_vehicles.cpp.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <random>

#include "shapes/procedural.h"
#include "shapes/procedural_sdf.h"

namespace shapediff::shapes::detail {

// Draws from a std::mt19937_64 with its own arithmetic (the std:: distributions differ between
// standard libraries, and the families promise the same shape everywhere).
class ParamRng {
 public:
  explicit ParamRng(uint64_t seed) : engine_(seed) {}
  double uniform() { return double(engine_() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  int integer(int lo, int hi) {  // inclusive
    return lo + int(engine_() % uint64_t(hi - lo + 1));
  }
  bool chance(double p) { return uniform() < p; }
  // Index drawn with the given weights (they need not sum to one).
  int pick(std::initializer_list<double> weights) {
    double total = 0;
    for (double w : weights) total += w;
    double u = uniform() * total;
    int i = 0;
    for (double w : weights) {
      if (u < w) return i;
      u -= w;
      ++i;
    }
    return i - 1;
  }

 private:
  std::mt19937_64 engine_;
};

void draw(ParamRng& rng, ChairParams& p);
void draw(ParamRng& rng, TableParams& p);
void draw(ParamRng& rng, SofaParams& p);
void draw(ParamRng& rng, BenchParams& p);
void draw(ParamRng& rng, LampParams& p);
void draw(ParamRng& rng, MugParams& p);
void draw(ParamRng& rng, BottleParams& p);
void draw(ParamRng& rng, VaseParams& p);
void draw(ParamRng& rng, GuitarParams& p);
void draw(ParamRng& rng, AirplaneParams& p);
void draw(ParamRng& rng, CarParams& p);
void draw(ParamRng& rng, RocketParams& p);

void build(const ChairParams& p, sdf::Model& m);
void build(const TableParams& p, sdf::Model& m);
void build(const SofaParams& p, sdf::Model& m);
void build(const BenchParams& p, sdf::Model& m);
void build(const LampParams& p, sdf::Model& m);
void build(const MugParams& p, sdf::Model& m);
void build(const BottleParams& p, sdf::Model& m);
void build(const VaseParams& p, sdf::Model& m);
void build(const GuitarParams& p, sdf::Model& m);
void build(const AirplaneParams& p, sdf::Model& m);
void build(const CarParams& p, sdf::Model& m);
void build(const RocketParams& p, sdf::Model& m);

}  // namespace shapediff::shapes::detail

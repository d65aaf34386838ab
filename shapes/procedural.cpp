#include "shapes/procedural.h"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string>
#include <utility>

#include <torch/torch.h>

#include "shapes/marching_cubes.h"
#include "shapes/procedural_families.h"

namespace shapediff::shapes {
namespace {

constexpr std::array<std::pair<ShapeFamily, const char*>, 12> kFamilyNames{{
    {ShapeFamily::Airplane, "airplane"},
    {ShapeFamily::Bench, "bench"},
    {ShapeFamily::Bottle, "bottle"},
    {ShapeFamily::Car, "car"},
    {ShapeFamily::Chair, "chair"},
    {ShapeFamily::Guitar, "guitar"},
    {ShapeFamily::Lamp, "lamp"},
    {ShapeFamily::Mug, "mug"},
    {ShapeFamily::Rocket, "rocket"},
    {ShapeFamily::Sofa, "sofa"},
    {ShapeFamily::Table, "table"},
    {ShapeFamily::Vase, "vase"},
}};

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Keyed by the family's name, not its enum value, so adding a family never reshuffles others.
uint64_t family_key(ShapeFamily family) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (const unsigned char c : to_string(family)) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

template <typename Params>
ShapeParams draw_params(uint64_t stream) {
  detail::ParamRng rng(stream);
  Params p;
  detail::draw(rng, p);
  return p;
}

void check_index(int64_t index) {
  if (index < 0) {
    throw std::invalid_argument("procedural shape: index must be >= 0, got " +
                                std::to_string(index));
  }
}

void check_options(const ProceduralOptions& options) {
  if (options.resolution < 8 || options.resolution > 1024) {
    throw std::invalid_argument("procedural shape: resolution must be in [8, 1024], got " +
                                std::to_string(options.resolution));
  }
}

}  // namespace

ShapeFamily parse_shape_family(const std::string& name) {
  for (const auto& [family, n] : kFamilyNames) {
    if (name == n) return family;
  }
  std::string accepted;
  for (const auto& entry : kFamilyNames) {
    accepted += (accepted.empty() ? "" : ", ") + std::string(entry.second);
  }
  throw std::invalid_argument("shape family: unknown name '" + name + "' (accepted: " + accepted +
                              ")");
}

std::string to_string(ShapeFamily family) {
  for (const auto& [f, n] : kFamilyNames) {
    if (f == family) return n;
  }
  throw std::invalid_argument("shape family: unknown value " +
                              std::to_string(static_cast<int>(family)));
}

const std::vector<ShapeFamily>& all_shape_families() {
  static const std::vector<ShapeFamily> families = [] {
    std::vector<ShapeFamily> v;
    for (const auto& entry : kFamilyNames) v.push_back(entry.first);
    return v;
  }();
  return families;
}

ShapeFamily family_of(const ShapeParams& params) {
  return std::visit([](const auto& p) { return std::decay_t<decltype(p)>::kFamily; }, params);
}

ShapeParams sample_shape_params(ShapeFamily family, int64_t index, uint64_t seed) {
  check_index(index);
  const uint64_t stream =
      splitmix64(splitmix64(splitmix64(seed) ^ family_key(family)) ^ static_cast<uint64_t>(index));
  switch (family) {
    case ShapeFamily::Airplane:
      return draw_params<AirplaneParams>(stream);
    case ShapeFamily::Bench:
      return draw_params<BenchParams>(stream);
    case ShapeFamily::Bottle:
      return draw_params<BottleParams>(stream);
    case ShapeFamily::Car:
      return draw_params<CarParams>(stream);
    case ShapeFamily::Chair:
      return draw_params<ChairParams>(stream);
    case ShapeFamily::Guitar:
      return draw_params<GuitarParams>(stream);
    case ShapeFamily::Lamp:
      return draw_params<LampParams>(stream);
    case ShapeFamily::Mug:
      return draw_params<MugParams>(stream);
    case ShapeFamily::Rocket:
      return draw_params<RocketParams>(stream);
    case ShapeFamily::Sofa:
      return draw_params<SofaParams>(stream);
    case ShapeFamily::Table:
      return draw_params<TableParams>(stream);
    case ShapeFamily::Vase:
      return draw_params<VaseParams>(stream);
  }
  throw std::invalid_argument("shape family: unknown value " +
                              std::to_string(static_cast<int>(family)));
}

sdf::Model build_shape_model(const ShapeParams& params) {
  sdf::Model model;
  std::visit([&](const auto& p) { detail::build(p, model); }, params);
  return model;
}

TriangleMesh make_shape(const ShapeParams& params, const ProceduralOptions& options) {
  check_options(options);
  const sdf::Model model = build_shape_model(params);
  TriangleMesh mesh = marching_cubes(model.sample(options.resolution));
  if (mesh.empty()) {
    throw std::runtime_error("procedural shape: " + to_string(family_of(params)) +
                             " produced no surface at resolution " +
                             std::to_string(options.resolution));
  }
  if (options.normalize) {
    const auto [lo, hi] = mesh.bounds();
    const auto centre = (lo + hi) / 2;
    const double half = ((hi - lo) / 2).max().item<double>();
    mesh.vertices = ((mesh.vertices - centre) / half).clamp(-1.0, 1.0);
  }
  return mesh;
}

TriangleMesh make_shape(ShapeFamily family, int64_t index, uint64_t seed,
                        const ProceduralOptions& options) {
  check_options(options);
  return make_shape(sample_shape_params(family, index, seed), options);
}

}  // namespace shapediff::shapes

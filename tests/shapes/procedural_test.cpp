#include "shapes/procedural.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/shapes/mesh_test_support.h"

namespace shapediff::shapes {
namespace {

using testing::count_components;
using testing::signed_volume;
using testing::topology;

ProceduralOptions at_resolution(int64_t r) { return ProceduralOptions{}.set_resolution(r); }

// Components of the faces lying entirely below `y` (the parts touching the floor).
int64_t components_below(const TriangleMesh& mesh, double y) {
  const auto below = (mesh.vertices.select(1, 1) < y).contiguous();
  const bool* b = below.data_ptr<bool>();
  const auto f = mesh.faces.contiguous();
  const int64_t* fp = f.data_ptr<int64_t>();
  return count_components(
      mesh, [&](int64_t i) { return b[fp[3 * i]] && b[fp[3 * i + 1]] && b[fp[3 * i + 2]]; });
}

double min_y(const TriangleMesh& mesh) { return mesh.vertices.select(1, 1).min().item<double>(); }

TEST(ShapeFamilies, NamesRoundTripAndBadNamesListTheAccepted) {
  const auto& families = all_shape_families();
  EXPECT_GE(families.size(), 8u);
  for (ShapeFamily f : families) EXPECT_EQ(parse_shape_family(to_string(f)), f);
  EXPECT_EQ(parse_shape_family("chair"), ShapeFamily::Chair);
  try {
    parse_shape_family("Chairs");
    ADD_FAILURE() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("Chairs"), std::string::npos) << msg;
    for (ShapeFamily f : families) EXPECT_NE(msg.find(to_string(f)), std::string::npos) << msg;
  }
}

TEST(ShapeFamilies, ParamsMatchTheirFamily) {
  for (ShapeFamily f : all_shape_families()) {
    EXPECT_EQ(family_of(sample_shape_params(f, 0, 1)), f) << to_string(f);
  }
}

TEST(ShapeFamilies, SameInputsGiveTheSameMesh) {
  const auto a = make_shape(ShapeFamily::Chair, 5, 42, at_resolution(24));
  const auto b = make_shape(ShapeFamily::Chair, 5, 42, at_resolution(24));
  EXPECT_TRUE(torch::equal(a.vertices, b.vertices));
  EXPECT_TRUE(torch::equal(a.faces, b.faces));
  const auto other_index = make_shape(ShapeFamily::Chair, 6, 42, at_resolution(24));
  const auto other_seed = make_shape(ShapeFamily::Chair, 5, 43, at_resolution(24));
  for (const auto* m : {&other_index, &other_seed}) {
    EXPECT_FALSE(m->vertices.sizes() == a.vertices.sizes() &&
                 torch::equal(m->vertices, a.vertices));
  }
}

TEST(ShapeFamilies, DrawsAreStableAcrossCalls) {
  // Interleaving other draws must not change a shape's parameters (no shared generator).
  const auto first = std::get<MugParams>(sample_shape_params(ShapeFamily::Mug, 3, 9));
  sample_shape_params(ShapeFamily::Car, 3, 9);
  sample_shape_params(ShapeFamily::Mug, 4, 9);
  const auto again = std::get<MugParams>(sample_shape_params(ShapeFamily::Mug, 3, 9));
  EXPECT_EQ(first.radius, again.radius);
  EXPECT_EQ(first.handle_reach, again.handle_reach);
}

TEST(ShapeFamilies, EveryFamilyIsWatertightInsideTheUnitCube) {
  for (ShapeFamily f : all_shape_families()) {
    for (int64_t index = 0; index < 3; ++index) {
      SCOPED_TRACE(to_string(f) + " #" + std::to_string(index));
      const auto mesh = make_shape(f, index, 11, at_resolution(32));
      mesh.validate(to_string(f));
      const auto t = topology(mesh);
      EXPECT_TRUE(t.watertight()) << "boundary " << t.boundary_edges << " nonmanifold "
                                  << t.nonmanifold_edges << " misoriented " << t.misoriented_edges;
      EXPECT_GT(signed_volume(mesh), 0.0);
      const auto [lo, hi] = mesh.bounds();
      EXPECT_GE(lo.min().item<float>(), -1.0f);
      EXPECT_LE(hi.max().item<float>(), 1.0f);
      // Normalised: the longest side spans [-1, 1], centred.
      EXPECT_NEAR((hi - lo).max().item<float>(), 2.0f, 1e-5);
      EXPECT_LT((hi + lo).abs().max().item<float>(), 1e-5f);
    }
  }
}

TEST(ShapeFamilies, IndicesVaryTheShape) {
  for (ShapeFamily f : all_shape_families()) {
    SCOPED_TRACE(to_string(f));
    const auto a = make_shape(f, 0, 3, at_resolution(24));
    const auto b = make_shape(f, 1, 3, at_resolution(24));
    const auto ext_a = a.bounds().second - a.bounds().first;
    const auto ext_b = b.bounds().second - b.bounds().first;
    const double box_change = (ext_a - ext_b).abs().max().item<double>();
    const double volume_change = std::abs(signed_volume(a) / signed_volume(b) - 1.0);
    EXPECT_TRUE(box_change > 0.02 || volume_change > 0.02) << box_change << " " << volume_change;
  }
}

TEST(ShapeFamilies, ChairLegsReachTheFloor) {
  ChairParams p;  // taller than wide: y spans [-1, 1]
  const auto four = make_shape(p, at_resolution(64));
  EXPECT_NEAR(min_y(four), -1.0, 1e-5);
  EXPECT_EQ(components_below(four, -0.9), 4);
  p.legs = ChairLegs::Tapered;
  p.leg_splay = 0.1;
  EXPECT_EQ(components_below(make_shape(p, at_resolution(64)), -0.9), 4);
  p.legs = ChairLegs::Swivel;
  EXPECT_EQ(components_below(make_shape(p, at_resolution(64)), -0.9), 5);
  p.legs = ChairLegs::Sled;
  EXPECT_EQ(components_below(make_shape(p, at_resolution(64)), -0.9), 2);

  // Sampled chairs: the floor contacts follow the drawn leg style.
  for (int64_t index = 0; index < 6; ++index) {
    const auto params = std::get<ChairParams>(sample_shape_params(ShapeFamily::Chair, index, 5));
    const int64_t expected = params.legs == ChairLegs::Swivel ? 5
                             : params.legs == ChairLegs::Sled ? 2
                                                              : 4;
    const auto mesh = make_shape(params, at_resolution(64));
    const double floor = min_y(mesh);
    EXPECT_EQ(components_below(mesh, floor + 0.1), expected) << "chair " << index;
    EXPECT_EQ(topology(mesh).components, 1) << "chair " << index << " is one piece";
  }
}

TEST(ShapeFamilies, MugHandleMakesGenusOne) {
  MugParams p;
  for (MugHandle handle : {MugHandle::Ring, MugHandle::Square}) {
    p.handle = handle;
    const auto t = topology(make_shape(p, at_resolution(64)));
    EXPECT_TRUE(t.watertight());
    EXPECT_EQ(t.components, 1);
    EXPECT_EQ(t.euler(), 0) << "a mug with one handle is a torus";
  }
  for (int64_t index = 0; index < 2; ++index) {
    const auto t = topology(make_shape(ShapeFamily::Mug, index, 2, at_resolution(64)));
    EXPECT_EQ(t.euler(), 0) << "mug " << index;
  }
}

TEST(ShapeFamilies, VaseHandlesAddGenus) {
  VaseParams p;
  EXPECT_EQ(topology(make_shape(p, at_resolution(48))).euler(), 2);
  p.handles = true;
  const auto t = topology(make_shape(p, at_resolution(64)));
  EXPECT_EQ(t.components, 1);
  EXPECT_EQ(t.euler(), -2) << "two handles: genus 2";
}

TEST(ShapeFamilies, TablesAndCarsStandOnTheirSupports) {
  TableParams table;
  table.base = TableBase::FourLegs;
  auto mesh = make_shape(table, at_resolution(64));
  EXPECT_EQ(components_below(mesh, min_y(mesh) + 0.1), 4);
  table.base = TableBase::Pedestal;
  mesh = make_shape(table, at_resolution(64));
  EXPECT_EQ(components_below(mesh, min_y(mesh) + 0.1), 1);

  CarParams car;
  mesh = make_shape(car, at_resolution(64));
  // The body clears the floor by 0.16 m over a 4.6 m car (0.07 normalised): only tyres below.
  EXPECT_EQ(components_below(mesh, min_y(mesh) + 0.04), 4);
  EXPECT_EQ(topology(mesh).components, 1);
}

TEST(ShapeFamilies, AxesFollowShapeNet) {
  // Airplane: nose to the front (+z), wings across x; the fin makes the top at the tail.
  const auto plane = make_shape(AirplaneParams{}, at_resolution(48));
  const auto [lo, hi] = plane.bounds();
  EXPECT_NEAR(hi[2].item<float>(), 1.0f, 1e-5);  // fuselage is the longest side
  EXPECT_GT(hi[0].item<float>() - lo[0].item<float>(), 1.5f);
  const auto v = plane.vertices;
  const auto top = v.index_select(0, v.select(1, 1).argmax().reshape({1}));
  EXPECT_LT(top[0][2].item<float>(), -0.5f) << "the tallest point is the tail fin";

  // Car: length along z, and the front tenth (hood) sits well below the roof.
  const auto car = make_shape(CarParams{}, at_resolution(48));
  EXPECT_GT(car.bounds().second[2].item<float>(), 0.99f);
  const auto y = car.vertices.select(1, 1), z = car.vertices.select(1, 2);
  const float roof = y.max().item<float>();
  EXPECT_LT(y.masked_select(z > 0.8f).max().item<float>(), roof - 0.15f);
  EXPECT_NEAR(y.masked_select(z < -0.8f).max().item<float>(),
              y.masked_select(z > 0.8f).max().item<float>(), 0.15f)
      << "trunk and hood are both below the cabin";
}

TEST(ShapeFamilies, UnnormalizedMeshesAreInMetresOnTheFloor) {
  ChairParams p;
  const auto mesh = make_shape(p, at_resolution(48).set_normalize(false));
  const auto [lo, hi] = mesh.bounds();
  const double voxel = 1.0 / 40;
  EXPECT_NEAR(lo[1].item<double>(), 0.0, voxel);
  EXPECT_NEAR(hi[1].item<double>(), p.seat_height + p.back_height * std::cos(p.back_tilt), 0.05);
}

TEST(ShapeFamilies, RejectsBadArguments) {
  EXPECT_THROW(make_shape(ShapeFamily::Mug, -1, 0), std::invalid_argument);
  EXPECT_THROW(sample_shape_params(ShapeFamily::Mug, -3, 0), std::invalid_argument);
  for (int64_t r : {int64_t(7), int64_t(0), int64_t(-64), int64_t(4096)}) {
    try {
      make_shape(ShapeFamily::Mug, 0, 0, at_resolution(r));
      ADD_FAILURE() << "resolution " << r << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("resolution"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(make_shape(MugParams{}, at_resolution(4)), std::invalid_argument);
  MugParams bad;
  bad.height = -0.1;
  EXPECT_THROW(make_shape(bad, at_resolution(16)), std::invalid_argument);
}

// Writes every family's first shapes as OBJ files (and prints timings) when
// SHAPEDIFF_GALLERY_DIR is set; scripts/render_shapes.py turns them into the pictures in
// docs/shape_families.md.
TEST(ShapeFamilies, GalleryWhenAsked) {
  const char* dir = std::getenv("SHAPEDIFF_GALLERY_DIR");
  if (!dir) GTEST_SKIP() << "set SHAPEDIFF_GALLERY_DIR to write the gallery meshes";
  const int64_t count = 6;
  std::filesystem::create_directories(dir);
  for (ShapeFamily f : all_shape_families()) {
    double total_ms = 0;
    int64_t faces = 0;
    for (int64_t index = 0; index < count; ++index) {
      const auto start = std::chrono::steady_clock::now();
      const auto mesh = make_shape(f, index, 0, at_resolution(64));
      total_ms +=
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      faces += mesh.num_faces();
      const auto path =
          std::filesystem::path(dir) / (to_string(f) + "_" + std::to_string(index) + ".obj");
      std::ofstream out(path);
      const auto v = mesh.vertices.contiguous();
      const auto fc = mesh.faces.contiguous();
      const float* vp = v.data_ptr<float>();
      const int64_t* fp = fc.data_ptr<int64_t>();
      for (int64_t i = 0; i < mesh.num_vertices(); ++i) {
        out << "v " << vp[3 * i] << ' ' << vp[3 * i + 1] << ' ' << vp[3 * i + 2] << '\n';
      }
      for (int64_t i = 0; i < mesh.num_faces(); ++i) {
        out << "f " << fp[3 * i] + 1 << ' ' << fp[3 * i + 1] + 1 << ' ' << fp[3 * i + 2] + 1
            << '\n';
      }
      ASSERT_TRUE(out.good()) << path;
    }
    std::printf("%-9s %7.1f ms/shape at 64 (%lld faces/shape)\n", to_string(f).c_str(),
                total_ms / count, static_cast<long long>(faces / count));
  }
}

}  // namespace
}  // namespace shapediff::shapes

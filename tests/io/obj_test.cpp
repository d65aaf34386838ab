#include "io/formats/obj.h"

#include <gtest/gtest.h>

#include "io_test_support.h"

namespace shapediff::io::formats {
namespace {

using test::throws_naming;

const std::string kName = "model.obj";

TEST(ObjTest, ReadsEveryCornerFormAndSkipsOtherStatements) {
  const std::string text =
      "# comment\nmtllib scene.mtl\no thing\nv 0 0 0\nv 1 0 0 1.0\nv 1 1 0\nv 0 1 0\n"
      "vt 0 0\nvt 1 0\nvn 0 0 1\ng group\nusemtl red\ns off\n"
      "f 1 2 3\nf 1/1 3/2 4/1\nf 1//1 2//1 3//1\nf 1/1/1 2/2/1 4/1/1\nl 1 2\n";
  const RawMesh m = parse_obj(text, kName);
  EXPECT_EQ(m.num_vertices(), 4u);
  EXPECT_EQ(m.faces, (std::vector<int64_t>{0, 1, 2, 0, 2, 3, 0, 1, 2, 0, 1, 3}));
}

TEST(ObjTest, ResolvesNegativeIndicesAndFansPolygons) {
  const std::string text =
      "v 0 0 0\nv 1 0 0\nv 2 1 0\nv 1 2 0\nv 0 1 0\nf -5 -4 -3 -2 -1\n"
      "v 9 9 9\nf -1 1 -2\n";
  const RawMesh m = parse_obj(text, kName);
  EXPECT_EQ(m.faces, (std::vector<int64_t>{0, 1, 2, 0, 2, 3, 0, 3, 4, 5, 0, 4}));
}

TEST(ObjTest, MapsCornerNormalsToVertices) {
  const std::string text = "v 0 0 0\nv 1 0 0\nv 0 1 0\nvn 0 0 -1\nvn 0 0 1\nf 1//2 2//2 3//2\n";
  const RawMesh m = parse_obj(text, kName);
  EXPECT_EQ(m.normals, (std::vector<float>{0, 0, 1, 0, 0, 1, 0, 0, 1}));
  // A vertex without a corner normal: no normals at all rather than made-up ones.
  const RawMesh partial =
      parse_obj("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 5 5 5\nvn 0 0 1\nf 1//1 2//1 3//1\n", kName);
  EXPECT_FALSE(partial.has_normals());
  // One "vn" per "v" with corners naming their own index: a vertex no face uses keeps its own.
  const RawMesh indexed = parse_obj(
      "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 5 5 5\nvn 0 0 1\nvn 0 1 0\nvn 1 0 0\nvn 0.6 0.8 0\n"
      "f 1//1 2//2 3//3\n",
      kName);
  EXPECT_EQ(indexed.normals, (std::vector<float>{0, 0, 1, 0, 1, 0, 1, 0, 0, 0.6f, 0.8f, 0}));
}

TEST(ObjTest, ReadsVertexColorsOnlyWhenEveryVertexHasThem) {
  const RawMesh colored =
      parse_obj("v 0 0 0 1 0 0\nv 1 0 0 0 1 0\nv 0 1 0 0 0 0.5\nf 1 2 3\n", kName);
  EXPECT_EQ(colored.colors, (std::vector<float>{1, 0, 0, 0, 1, 0, 0, 0, 0.5f}));
  const RawMesh mixed = parse_obj("v 0 0 0 1 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", kName);
  EXPECT_FALSE(mixed.has_colors());
}

TEST(ObjTest, RoundTrips) {
  RawMesh m;
  m.vertices = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0.1f, 0.2f, -3.5e-7f};
  m.faces = {0, 1, 2, 3, 2, 1};
  EXPECT_EQ(parse_obj(write_obj(m), kName).faces, m.faces);
  m.normals = {0, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0, 0};
  m.colors = {0.1f, 0.2f, 0.3f, 1, 1, 1, 0, 0, 0, 0.5f, 0.25f, 0.125f};
  const RawMesh back = parse_obj(write_obj(m), kName);
  EXPECT_EQ(back.vertices, m.vertices);
  EXPECT_EQ(back.faces, m.faces);
  EXPECT_EQ(back.normals, m.normals);
  EXPECT_EQ(back.colors, m.colors);
  // A point cloud with one normal per vertex and no faces keeps its normals.
  RawMesh cloud;
  cloud.vertices = {1, 2, 3, 4, 5, 6};
  cloud.normals = {0, 0, 1, 0, 1, 0};
  const RawMesh cloud_back = parse_obj(write_obj(cloud), kName);
  EXPECT_EQ(cloud_back.vertices, cloud.vertices);
  EXPECT_EQ(cloud_back.normals, cloud.normals);
}

TEST(ObjTest, LinesCutMidStatementFail) {
  const std::string text = "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n";
  // Cut inside each statement (after "v 0 0" and "f 1 2"): too few values.
  for (const size_t cut : {5u, 6u, 13u, 28u, 29u, 30u}) {
    EXPECT_TRUE(
        throws_naming<std::runtime_error>([&] { parse_obj(text.substr(0, cut), kName); }, kName))
        << "cut at " << cut << ": " << text.substr(0, cut);
  }
}

TEST(ObjTest, MalformedContentFails) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"v 0 0\n", "line 1: vertex has 2 values"},
      {"v 0 zero 0\n", "invalid vertex coordinate 'zero'"},
      {"v 0 nan 0\n", "not finite"},
      {"v 0 0 inf\n", "not finite"},
      {"v 0 0 1e39\n", "not finite"},
      {"v 0 0 0 1 nan 0\n", "vertex color is not finite"},
      {"vn 0 0\n", "normal has 2 values"},
      {"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2\n", "face has 2 corners"},
      {"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n", "vertex index 4 is out of range"},
      {"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 0\n", "invalid vertex index '0'"},
      {"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 -4\n", "vertex index -4 is out of range"},
      {"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 x\n", "invalid vertex index 'x'"},
      {"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1//1 2//1 3//1\n", "normal index 1 is out of range"},
      {"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 99999999999999999999\n", "invalid vertex index"},
  };
  for (const auto& [text, fragment] : cases) {
    EXPECT_TRUE(throws_naming<std::runtime_error>([&] { parse_obj(text, kName); }, kName, fragment))
        << text;
  }
}

TEST(ObjTest, GarbageNeverCrashes) {
  // Binary noise holds no "v"/"f" statements: either an error naming the file or no geometry.
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    const std::string junk = test::garbage(500, seed);
    try {
      const RawMesh m = parse_obj(junk, kName);
      EXPECT_EQ(m.num_faces(), 0u);
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(kName), std::string::npos);
    }
  }
  EXPECT_TRUE(throws_naming<std::runtime_error>([] { parse_obj("v \x01\x02 \xff 3\n", kName); },
                                                kName, "\\x01"));
}

}  // namespace
}  // namespace shapediff::io::formats

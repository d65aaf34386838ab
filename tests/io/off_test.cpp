#include "io/formats/off.h"

#include <gtest/gtest.h>

#include "io_test_support.h"

namespace shapediff::io::formats {
namespace {

using test::throws_naming;

const std::string kName = "chair.off";

TEST(OffTest, ReadsCommentsBlankLinesAndPolygons) {
  const std::string text =
      "# made by hand\nOFF\n\n# counts follow\n5 2 0\n0 0 0\n1 0 0 # trailing comment\n"
      "1 1 0\n0 1 0\n\n0.5 0.5 1\n4 0 1 2 3\n3 0 1 4 0.5 0.5 0.5\n";
  const RawMesh m = parse_off(text, kName);
  EXPECT_EQ(m.num_vertices(), 5u);
  EXPECT_EQ(m.vertices[12], 0.5f);
  // The quad is fanned; the face color after the triangle's indices is ignored.
  EXPECT_EQ(m.faces, (std::vector<int64_t>{0, 1, 2, 0, 2, 3, 0, 1, 4}));
}

TEST(OffTest, ReadsCountsOnTheHeaderLineAndGluedToIt) {
  for (const char* header : {"OFF 3 1 0\n", "OFF3 1 0\n", "OFF\r\n3 1\r\n"}) {
    const std::string text = std::string(header) + "0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n";
    const RawMesh m = parse_off(text, kName);
    EXPECT_EQ(m.num_vertices(), 3u) << header;
    EXPECT_EQ(m.faces, (std::vector<int64_t>{0, 1, 2})) << header;
  }
}

TEST(OffTest, ReadsIntegerAndFloatColors) {
  const std::string text = "COFF\n2 0 0\n0 0 0 255 0 51 255\n1 1 1 1.0 0.5 0 1\n";
  const RawMesh m = parse_off(text, kName);
  EXPECT_EQ(m.colors, (std::vector<float>{1, 0, 0.2f, 1, 0.5f, 0}));
}

TEST(OffTest, ReadsNormalsAndColorsTogether) {
  const std::string text = "CNOFF\n1 0 0\n1 2 3 0 0 1 10 20 30 255\n";
  const RawMesh m = parse_off(text, kName);
  EXPECT_EQ(m.vertices, (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(m.normals, (std::vector<float>{0, 0, 1}));
  EXPECT_NEAR(m.colors[1], 20 / 255.0, 1e-7);
  // ST (texture coordinates) prefix: the extra columns are ignored.
  EXPECT_EQ(parse_off("STOFF\n1 0 0\n1 2 3 0.5 0.5\n", kName).vertices,
            (std::vector<float>{1, 2, 3}));
}

TEST(OffTest, RoundTripsWithAndWithoutAttributes) {
  RawMesh m;
  m.vertices = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0.1f, 0.2f, 1e-9f};
  m.faces = {0, 1, 2, 0, 2, 3};
  EXPECT_EQ(parse_off(write_off(m), kName).vertices, m.vertices);
  EXPECT_EQ(parse_off(write_off(m), kName).faces, m.faces);
  m.normals = {0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 1, 0};
  m.colors = {0, 0, 0, 1, 1, 1, 0.2f, 0.4f, 0.6f, 1, 0, 0};
  const std::string bytes = write_off(m);
  EXPECT_EQ(bytes.substr(0, 6), "CNOFF\n");
  const RawMesh back = parse_off(bytes, kName);
  EXPECT_EQ(back.vertices, m.vertices);
  EXPECT_EQ(back.faces, m.faces);
  EXPECT_EQ(back.normals, m.normals);
  ASSERT_EQ(back.colors.size(), m.colors.size());
  for (size_t i = 0; i < m.colors.size(); ++i) EXPECT_NEAR(back.colors[i], m.colors[i], 0.5 / 255);
}

TEST(OffTest, UnsupportedVariantsFail) {
  EXPECT_TRUE(throws_naming<std::runtime_error>([] { parse_off("4OFF\n1 0 0\n0 0 0 0\n", kName); },
                                                kName, "unsupported"));
  EXPECT_TRUE(throws_naming<std::runtime_error>([] { parse_off("nOFF\n4\n1 0 0\n", kName); }, kName,
                                                "unsupported"));
  EXPECT_TRUE(throws_naming<std::runtime_error>([] { parse_off("OFF BINARY\n", kName); }, kName,
                                                "binary OFF"));
}

TEST(OffTest, TruncatedFilesFail) {
  const std::string text = "OFF\n4 2 0\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n3 0 1 2\n3 0 2 3\n";
  test::expect_truncations_fail(parse_off, text, kName, text.rfind("3 0 2 3"));
}

TEST(OffTest, MalformedContentFails) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty file"},
      {"PLY\n", "not an OFF file"},
      {"OFF\n", "before the OFF vertex/face counts"},
      {"OFF\n3\n", "expected 'vertices faces"},
      {"OFF\n-3 1 0\n", "invalid vertex count"},
      {"OFF\n1 0 0\n0.000 0.000\n", "vertex 0 has 2 values"},
      {"OFF\n1 0 0\n0 zero 0\n", "invalid coordinate 'zero'"},
      {"OFF\n1 0 0\n0 nan 0\n", "not finite"},
      {"OFF\n1 0 0\n0 1e40 0\n", "not finite"},
      {"OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 3\n", "refers to vertex 3"},
      {"OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 -1 2\n", "refers to vertex -1"},
      {"OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n4 0 1 2\n", "lists 4 vertices"},
      {"OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 x\n", "invalid vertex index 'x'"},
      {"COFF\n1 0 0\n0 0 0 1 1\n", "has 5 values, expected 6"},
      {"OFF\n99999999999999 1 0\n0 0 0\n", "more than the remaining"},
      {"OFF\n1 99999999999999999999 0\n0 0 0\n", "invalid face count"},
      {"OFF\n1 18446744073709551615 0\n0 0 0\n", "more than the remaining"},
  };
  for (const auto& [text, fragment] : cases) {
    EXPECT_TRUE(throws_naming<std::runtime_error>([&] { parse_off(text, kName); }, kName, fragment))
        << text;
  }
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const std::string junk = "OFF\n" + test::garbage(200, seed);
    EXPECT_TRUE(throws_naming<std::runtime_error>([&] { parse_off(junk, kName); }, kName));
  }
}

}  // namespace
}  // namespace shapediff::io::formats

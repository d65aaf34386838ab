#include "io/formats/xyz.h"

#include <gtest/gtest.h>

#include "io_test_support.h"

namespace shapediff::io::formats {
namespace {

using test::throws_naming;

const std::string kName = "scan.xyz";

TEST(XyzTest, ReadsPointsWithAndWithoutNormals) {
  const RawMesh plain = parse_xyz("# header\n0 0 0\n\n1.5 -2 3e2\r\n+4 5 6 # note\n", kName);
  EXPECT_EQ(plain.vertices, (std::vector<float>{0, 0, 0, 1.5f, -2, 300, 4, 5, 6}));
  EXPECT_FALSE(plain.has_normals());
  const RawMesh oriented = parse_xyz("0 0 0 0 0 1\n1 1 1 1 0 0", kName);
  EXPECT_EQ(oriented.vertices, (std::vector<float>{0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(oriented.normals, (std::vector<float>{0, 0, 1, 1, 0, 0}));
  EXPECT_EQ(parse_xyz("", kName).num_vertices(), 0u);
}

TEST(XyzTest, RoundTrips) {
  RawMesh m;
  m.vertices = {0.1f, 0.2f, 0.3f, -1e-30f, 1e30f, 7};
  EXPECT_EQ(parse_xyz(write_xyz(m), kName).vertices, m.vertices);
  m.normals = {0, 0, 1, 0.6f, 0.8f, 0};
  const RawMesh back = parse_xyz(write_xyz(m), kName);
  EXPECT_EQ(back.vertices, m.vertices);
  EXPECT_EQ(back.normals, m.normals);
}

TEST(XyzTest, MalformedContentFails) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"0 0\n", "line 1: expected 3"},
      {"0 0 0 1\n", "got 4"},
      {"0 0 0\n0 0 0 0 0 1\n", "line 2: 6 values where earlier lines have 3"},
      {"0 0 0\n1 x 1\n", "line 2: invalid number 'x'"},
      {"0 nan 0\n", "not finite"},
      {"0 0 -inf\n", "not finite"},
      {"0 0 0 0 nan 1\n", "not finite"},
      {"1e39 0 0\n", "not finite"},
  };
  for (const auto& [text, fragment] : cases) {
    EXPECT_TRUE(throws_naming<std::runtime_error>([&] { parse_xyz(text, kName); }, kName, fragment))
        << text;
  }
  // Lines cut mid-point.
  const std::string text = "1 2 3\n4 5 6\n";
  for (const size_t cut : {1u, 2u, 3u, 8u, 9u}) {
    EXPECT_TRUE(
        throws_naming<std::runtime_error>([&] { parse_xyz(text.substr(0, cut), kName); }, kName))
        << cut;
  }
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const std::string junk = test::garbage(200, seed);
    EXPECT_TRUE(throws_naming<std::runtime_error>([&] { parse_xyz(junk, kName); }, kName));
  }
}

}  // namespace
}  // namespace shapediff::io::formats

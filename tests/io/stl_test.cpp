#include "io/formats/stl.h"

#include <gtest/gtest.h>

#include <array>
#include <limits>

#include "io_test_support.h"

namespace shapediff::io::formats {
namespace {

using test::Bytes;
using test::throws_naming;

const std::string kName = "part.stl";

const char kAsciiSquare[] =
    "solid square\n"
    "  facet normal 0 0 1\n    outer loop\n      vertex 0 0 0\n      vertex 1 0 0\n"
    "      vertex 1 1 0\n    endloop\n  endfacet\n"
    "  facet normal 0 0 1\n    outer loop\n      vertex 0 0 0\n      vertex 1 1 0\n"
    "      vertex 0 1 0\n    endloop\n  endfacet\n"
    "endsolid square\n";

std::string binary_stl(const std::vector<std::array<float, 9>>& triangles,
                       const std::string& header) {
  Bytes b;
  std::string h = header;
  h.resize(80, ' ');
  b.text(h).put(static_cast<uint32_t>(triangles.size()));
  for (const auto& t : triangles) {
    b.put(0.0f).put(0.0f).put(1.0f);
    for (float v : t) b.put(v);
    b.put(uint16_t{0});
  }
  return b.str();
}

TEST(StlTest, ReadsAsciiAndWeldsSharedCorners) {
  const RawMesh m = parse_stl(kAsciiSquare, kName);
  EXPECT_EQ(m.vertices, (std::vector<float>{0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0}));
  EXPECT_EQ(m.faces, (std::vector<int64_t>{0, 1, 2, 0, 2, 3}));
}

TEST(StlTest, ReadsSeveralSolidsAndFansLongLoops) {
  const std::string text =
      "solid a\nfacet normal 0 0 0\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 1 1 0\n"
      "vertex 0 1 0\nendloop\nendfacet\nendsolid a\n"
      "solid b with a long name\nfacet normal 0 0 0\nouter loop\nvertex 5 5 5\nvertex 1 0 0\n"
      "vertex 0 0 0\nendloop\nendfacet\nendsolid b\n";
  const RawMesh m = parse_stl(text, kName);
  EXPECT_EQ(m.faces, (std::vector<int64_t>{0, 1, 2, 0, 2, 3, 4, 1, 0}));
}

TEST(StlTest, ReadsBinaryEvenWhenTheHeaderSaysSolid) {
  const std::string bytes = binary_stl({{0, 0, 0, 1, 0, 0, 0, 1, 0}, {1, 0, 0, 0, 1, 0, 1, 1, 0}},
                                       "solid exported by some CAD tool");
  const RawMesh m = parse_stl(bytes, kName);
  EXPECT_EQ(m.vertices, (std::vector<float>{0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1, 0}));
  EXPECT_EQ(m.faces, (std::vector<int64_t>{0, 1, 2, 1, 2, 3}));
  EXPECT_EQ(parse_stl(binary_stl({}, ""), kName).num_vertices(), 0u);
}

TEST(StlTest, RoundTripsBinary) {
  RawMesh m;
  m.vertices = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0.25f, -7.5f, 1e-6f};
  m.faces = {0, 1, 2, 1, 3, 2};
  m.normals = {0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1};
  const std::string bytes = write_stl(m);
  EXPECT_EQ(bytes.size(), 84u + 2 * 50);
  const RawMesh back = parse_stl(bytes, kName);
  EXPECT_EQ(back.vertices, m.vertices);
  EXPECT_EQ(back.faces, m.faces);
  EXPECT_FALSE(back.has_normals());
}

TEST(StlTest, TruncatedFilesFail) {
  RawMesh m;
  m.vertices = {0, 0, 0, 1, 0, 0, 0, 1, 0};
  m.faces = {0, 1, 2};
  const std::string binary = write_stl(m);
  test::expect_truncations_fail(parse_stl, binary, kName, binary.size());
  const std::string ascii = kAsciiSquare;
  test::expect_truncations_fail(parse_stl, ascii, kName, ascii.rfind("endsolid") + 8);
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { parse_stl(binary.substr(0, 120), kName); },
                                                kName, "claims 1 triangles"));
}

TEST(StlTest, NonFiniteCornersFail) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (const float bad : {nan, inf, -inf}) {
    const std::string bytes = binary_stl({{0, 0, 0, 1, bad, 0, 0, 1, 0}}, "");
    EXPECT_TRUE(
        throws_naming<std::runtime_error>([&] { parse_stl(bytes, kName); }, kName, "non-finite"));
  }
  std::string text = kAsciiSquare;
  text.replace(text.find("vertex 1 1 0"), 12, "vertex 1 nan 0");
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([&] { parse_stl(text, kName); }, kName, "non-finite"));
}

TEST(StlTest, MalformedContentFails) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "too short"},
      {"hello", "too short"},
      {std::string(100, 'x'), "but the file has 100 bytes"},
      {"solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 "
       "0\nendloop\nendfacet\nendsolid\n",
       "has 2 vertices"},
      {"solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 1 1 "
       "0\nendfacet\n",
       "expected 'vertex' or 'endloop'"},
      {"solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 zero\n", "invalid number 'zero'"},
      {"solid x\nfacet normal 0 0 1\nouter\n", "expected 'loop'"},
      {"solid x\nfacet\n", "expected 'normal'"},
      {"solid x\n", "without 'endsolid'"},
      {"solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 1 1 "
       "0\nendloop\n"
       "endfacet\nbogus\nendsolid x\n",
       "unexpected token 'bogus'"},
  };
  for (const auto& [text, fragment] : cases) {
    EXPECT_TRUE(throws_naming<std::runtime_error>([&] { parse_stl(text, kName); }, kName, fragment))
        << text;
  }
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const std::string junk = test::garbage(300 + seed, seed);
    EXPECT_TRUE(throws_naming<std::runtime_error>([&] { parse_stl(junk, kName); }, kName));
  }
}

}  // namespace
}  // namespace shapediff::io::formats

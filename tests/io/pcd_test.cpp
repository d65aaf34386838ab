#include "io/formats/pcd.h"

#include <gtest/gtest.h>

#include <limits>

#include "io_test_support.h"

namespace shapediff::io::formats {
namespace {

using test::Bytes;
using test::throws_naming;

const std::string kName = "cloud.pcd";

TEST(PcdTest, ReadsAsciiWithExtraFields) {
  const std::string text =
      "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS x y z intensity\n"
      "SIZE 4 4 4 4\nTYPE F F F F\nCOUNT 1 1 1 1\nWIDTH 2\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\n"
      "POINTS 2\nDATA ascii\n0 1 2 0.5\n-1.5 1e3 0 7\n";
  const RawMesh m = parse_pcd(text, kName);
  EXPECT_EQ(m.vertices, (std::vector<float>{0, 1, 2, -1.5f, 1000, 0}));
  EXPECT_FALSE(m.has_normals());
  EXPECT_FALSE(m.has_colors());
}

TEST(PcdTest, ReadsAsciiPackedColorsAsIntegersOrFloats) {
  const std::string text =
      "VERSION .7\nFIELDS rgb x y z\nSIZE 4 4 4 4\nTYPE U F F F\nWIDTH 1\nHEIGHT 1\nDATA ascii\n"
      "16744448 1 2 3\n";  // 0xFF8000: orange
  const RawMesh m = parse_pcd(text, kName);
  EXPECT_EQ(m.vertices, (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(m.colors, (std::vector<float>{1, 128 / 255.f, 0}));
  // Without POINTS the count is WIDTH x HEIGHT; a float rgb carries the bits.
  const RawMesh f = parse_pcd(
      "FIELDS x y z rgb\nSIZE 4 4 4 4\nTYPE F F F F\nWIDTH 1\nHEIGHT 1\n"
      "DATA ascii\n0 0 0 2.3418052e-38\n",
      kName);
  ASSERT_EQ(f.colors.size(), 3u);
  EXPECT_EQ(f.colors[0], 1.0f);  // 2.3418052e-38 has bits 0x00FF0000: pure red
}

// A binary cloud: x y z as F 4, normals as F 8, a COUNT 3 field to skip, an I 2 field, rgba.
std::string binary_example(uint32_t points) {
  Bytes b;
  b.text(
      "VERSION 0.7\nFIELDS x y z normal_x normal_y normal_z descriptor label rgba\n"
      "SIZE 4 4 4 8 8 8 4 2 4\nTYPE F F F F F F F I U\nCOUNT 1 1 1 1 1 1 3 1 1\n"
      "WIDTH " +
      std::to_string(points) + "\nHEIGHT 1\nPOINTS " + std::to_string(points) + "\nDATA binary\n");
  for (uint32_t i = 0; i < points; ++i) {
    b.put(float(i)).put(-float(i)).put(0.5f);
    b.put(0.0).put(1.0).put(0.0);
    b.put(9.0f).put(9.0f).put(9.0f);
    b.put(int16_t(-7));
    b.put(uint32_t{0xff0000ffu});  // alpha 255, blue 255
  }
  return b.str();
}

TEST(PcdTest, ReadsBinaryAndSkipsUnknownFields) {
  const RawMesh m = parse_pcd(binary_example(2), kName);
  EXPECT_EQ(m.vertices, (std::vector<float>{0, -0.0f, 0.5f, 1, -1, 0.5f}));
  EXPECT_EQ(m.normals, (std::vector<float>{0, 1, 0, 0, 1, 0}));
  EXPECT_EQ(m.colors, (std::vector<float>{0, 0, 1, 0, 0, 1}));
}

TEST(PcdTest, RoundTripsAscii) {
  RawMesh m;
  m.vertices = {0.1f, 0.2f, 0.3f, -4, 5e-20f, 6};
  EXPECT_EQ(parse_pcd(write_pcd(m), kName).vertices, m.vertices);
  m.normals = {0, 0, 1, 1, 0, 0};
  m.colors = {1, 0, 0, 10 / 255.f, 20 / 255.f, 30 / 255.f};
  const RawMesh back = parse_pcd(write_pcd(m), kName);
  EXPECT_EQ(back.vertices, m.vertices);
  EXPECT_EQ(back.normals, m.normals);
  EXPECT_EQ(back.colors, m.colors);
}

TEST(PcdTest, BinaryCompressedIsUnsupported) {
  const std::string text =
      "FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nWIDTH 1\nHEIGHT 1\nDATA binary_compressed\n";
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([&] { parse_pcd(text, kName); }, kName, "unsupported"));
}

TEST(PcdTest, TruncatedFilesFail) {
  const std::string binary = binary_example(3);
  test::expect_truncations_fail(parse_pcd, binary, kName, binary.size());
  RawMesh m;
  m.vertices = {1, 2, 3, 4, 5, 6};
  const std::string ascii = write_pcd(m);
  test::expect_truncations_fail(parse_pcd, ascii, kName, ascii.rfind("4 5 6") + 4);
}

TEST(PcdTest, MalformedContentFails) {
  const std::string fields = "FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "no 'DATA' line"},
      {"FIELDS x y z\nDATA ascii\n", "0 SIZE and 0 TYPE"},
      {"FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1\nWIDTH 1\nDATA ascii\n", "2 COUNT values"},
      {fields + "DATA ascii\n", "neither POINTS nor WIDTH"},
      {fields + "POINTS 1\nDATA lzf\n", "unknown PCD DATA kind 'lzf'"},
      {fields + "POINTS 1\nBOGUS 3\nDATA ascii\n", "unknown PCD header keyword 'BOGUS'"},
      {"FIELDS x y w\nSIZE 4 4 4\nTYPE F F F\nPOINTS 1\nDATA ascii\n0 0 0\n", "no 'z' field"},
      {"FIELDS x y z\nSIZE 4 4 3\nTYPE F F F\nPOINTS 1\nDATA ascii\n0 0 0\n", "unsupported SIZE 3"},
      {"FIELDS x y z\nSIZE 4 4 4\nTYPE F F Q\nPOINTS 1\nDATA ascii\n0 0 0\n", "TYPE 'Q'"},
      {"FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 2\nPOINTS 1\nDATA ascii\n0 0 0 0\n",
       "COUNT 2"},
      {"FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 0\nPOINTS 1\nDATA ascii\n0 0 0\n",
       "COUNT 0"},
      {"FIELDS x y z rgb\nSIZE 4 4 4 2\nTYPE F F F U\nPOINTS 1\nDATA ascii\n0 0 0 0\n",
       "4-byte packed color"},
      {fields + "POINTS 2\nDATA ascii\n0 0 0\n0.0 0.0\n", "data line 2: has 2 values"},
      {fields + "POINTS 1\nDATA ascii\n0 zero 0\n", "invalid value 'zero'"},
      {fields + "POINTS 1\nDATA ascii\nnan 0 0\n", "point 0 has a non-finite coordinate"},
      {fields + "POINTS 1000000000000\nDATA ascii\n0 0 0\n", "claims 1000000000000 points"},
      {fields + "POINTS 18446744073709551615\nDATA binary\n", "claims 18446744073709551615 points"},
      {fields + "WIDTH 4294967296\nHEIGHT 4294967296\nDATA binary\n", "WIDTH x HEIGHT overflows"},
      {"FIELDS x y z\nSIZE 8 8 8\nTYPE U U U\nCOUNT 1 1 2305843009213693952\nPOINTS 1\nDATA "
       "binary\n",
       "record size overflows"},
  };
  for (const auto& [text, fragment] : cases) {
    EXPECT_TRUE(throws_naming<std::runtime_error>([&] { parse_pcd(text, kName); }, kName, fragment))
        << text;
  }
  Bytes nan_point;
  nan_point.text(fields + "POINTS 1\nDATA binary\n")
      .put(0.0f)
      .put(std::numeric_limits<float>::quiet_NaN())
      .put(0.0f);
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { parse_pcd(nan_point.str(), kName); }, kName,
                                                "non-finite"));
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const std::string junk = fields + test::garbage(200, seed);
    EXPECT_TRUE(throws_naming<std::runtime_error>([&] { parse_pcd(junk, kName); }, kName));
  }
}

}  // namespace
}  // namespace shapediff::io::formats

#include "io/formats/ply.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "io_test_support.h"

namespace shapediff::io::formats {
namespace {

using test::Bytes;
using test::throws_naming;

const std::string kName = "shape.ply";

const char kHeaderXyz[] =
    "ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\n"
    "property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n";

RawMesh example_mesh() {
  RawMesh m;
  m.vertices = {0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0.5f, -2.25f, 1e-8f, 3e7f};
  m.faces = {0, 1, 2, 0, 2, 3, 4, 3, 2};
  m.normals = {0, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0.6f, 0.8f, 0};
  m.colors = {0, 1, 0.5019608f, 1, 0, 0, 0.2f, 0.4f, 0.6f, 0, 0, 0, 1, 1, 1};
  return m;
}

void expect_same(const RawMesh& a, const RawMesh& b) {
  EXPECT_EQ(a.vertices, b.vertices);
  EXPECT_EQ(a.faces, b.faces);
  EXPECT_EQ(a.normals, b.normals);
  ASSERT_EQ(a.colors.size(), b.colors.size());
  for (size_t i = 0; i < a.colors.size(); ++i) {
    // Colors are stored as uchar: equal up to 8-bit quantisation.
    EXPECT_NEAR(a.colors[i], b.colors[i], 0.5 / 255 + 1e-7) << i;
  }
}

TEST(PlyTest, ReadsAsciiQuadAsTwoTriangles) {
  const std::string text = std::string(kHeaderXyz) + "0 0 0\n1 0 0\n1 1 0\n0 1 0\n4 0 1 2 3\n";
  const RawMesh m = parse_ply(text, kName);
  EXPECT_EQ(m.vertices, (std::vector<float>{0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0}));
  EXPECT_EQ(m.faces, (std::vector<int64_t>{0, 1, 2, 0, 2, 3}));
  EXPECT_FALSE(m.has_normals());
  EXPECT_FALSE(m.has_colors());
}

TEST(PlyTest, FansPolygonsAndDropsShortLists) {
  const std::string text =
      "ply\r\nformat ascii 1.0\r\ncomment CRLF header\r\nobj_info x\r\nelement vertex 5\r\n"
      "property float x\r\nproperty float y\r\nproperty float z\r\nelement face 3\r\n"
      "property list uchar int vertex_index\r\nend_header\r\n"
      "0 0 0\r\n1 0 0\r\n2 1 0\r\n1 2 0\r\n0 1 0\r\n5 0 1 2 3 4\r\n2 0 1\r\n3 4 3 2\r\n";
  const RawMesh m = parse_ply(text, kName);
  EXPECT_EQ(m.faces, (std::vector<int64_t>{0, 1, 2, 0, 2, 3, 0, 3, 4, 4, 3, 2}));
}

TEST(PlyTest, ReadsIntegerCoordinatesAndFloatColors) {
  const std::string text =
      "ply\nformat ascii 1.0\nelement vertex 2\nproperty int x\nproperty short y\n"
      "property uchar z\nproperty float red\nproperty float green\nproperty float blue\n"
      "end_header\n-3 7 255 0.25 0.5 1\n1 -32768 0 0 0 0\n";
  const RawMesh m = parse_ply(text, kName);
  EXPECT_EQ(m.vertices, (std::vector<float>{-3, 7, 255, 1, -32768, 0}));
  EXPECT_EQ(m.colors, (std::vector<float>{0.25f, 0.5f, 1, 0, 0, 0}));
  EXPECT_TRUE(m.faces.empty());
}

// A binary file with double coordinates, float normals, uchar colors, a skipped scalar, an
// unknown element with lists between vertex and face, and a face element with an extra list.
std::string binary_example(bool big_endian) {
  Bytes b(big_endian);
  b.text("ply\nformat ");
  b.text(big_endian ? "binary_big_endian" : "binary_little_endian");
  b.text(
      " 1.0\nelement vertex 3\nproperty double x\nproperty double y\nproperty double z\n"
      "property uint confidence\nproperty float nx\nproperty float ny\nproperty float nz\n"
      "property uchar red\nproperty uchar green\nproperty uchar blue\n"
      "element edge 2\nproperty int vertex1\nproperty list ushort short path\n"
      "element face 1\nproperty list uchar float texcoord\nproperty list int uint vertex_indices\n"
      "property uchar flags\nend_header\n");
  const double xyz[3][3] = {{0.5, -1.0, 2.0}, {1e-3, 4.0, -8.0}, {3.0, 3.0, 3.0}};
  for (int v = 0; v < 3; ++v) {
    b.put(xyz[v][0]).put(xyz[v][1]).put(xyz[v][2]).put(uint32_t{77});
    b.put(0.0f).put(0.0f).put(1.0f);
    b.put(uint8_t(v * 100)).put(uint8_t(255)).put(uint8_t(0));
  }
  b.put(int32_t{1}).put(uint16_t{2}).put(int16_t{5}).put(int16_t{6});
  b.put(int32_t{2}).put(uint16_t{0});
  b.put(uint8_t{2}).put(0.5f).put(0.25f);
  b.put(int32_t{3}).put(uint32_t{2}).put(uint32_t{0}).put(uint32_t{1});
  b.put(uint8_t{9});
  return b.str();
}

TEST(PlyTest, ReadsBinaryLittleAndBigEndianAlike) {
  for (const bool big : {false, true}) {
    SCOPED_TRACE(big ? "big endian" : "little endian");
    const RawMesh m = parse_ply(binary_example(big), kName);
    EXPECT_EQ(m.vertices, (std::vector<float>{0.5f, -1, 2, 1e-3f, 4, -8, 3, 3, 3}));
    EXPECT_EQ(m.normals, (std::vector<float>{0, 0, 1, 0, 0, 1, 0, 0, 1}));
    EXPECT_EQ(m.colors, (std::vector<float>{0, 1, 0, 100 / 255.f, 1, 0, 200 / 255.f, 1, 0}));
    EXPECT_EQ(m.faces, (std::vector<int64_t>{2, 0, 1}));
  }
}

TEST(PlyTest, SkipsUnknownElementsBeforeTheVertices) {
  const std::string text =
      "ply\nformat ascii 1.0\nelement material 2\nproperty list uchar float params\n"
      "property uchar id\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
      "property float intensity\nelement face 1\nproperty list uchar int vertex_indices\n"
      "end_header\n3 0.1 0.2 0.3 7\n0 8\n0 0 0 9\n1 0 0 9\n0 1 0 9\n3 0 1 2\n";
  const RawMesh m = parse_ply(text, kName);
  EXPECT_EQ(m.vertices, (std::vector<float>{0, 0, 0, 1, 0, 0, 0, 1, 0}));
  EXPECT_EQ(m.faces, (std::vector<int64_t>{0, 1, 2}));
}

TEST(PlyTest, ElementsWithoutPropertiesCostNothing) {
  // A huge count with no properties holds no data: it must neither allocate nor loop.
  const std::string text =
      "ply\nformat binary_little_endian 1.0\nelement nothing 18446744073709551615\n"
      "element vertex 0\nproperty float x\nproperty float y\nproperty float z\nend_header\n";
  EXPECT_EQ(parse_ply(text, kName).num_vertices(), 0u);
}

TEST(PlyTest, RoundTripsEveryEncoding) {
  const RawMesh original = example_mesh();
  for (const auto encoding :
       {PlyEncoding::kAscii, PlyEncoding::kBinaryLittleEndian, PlyEncoding::kBinaryBigEndian}) {
    SCOPED_TRACE(static_cast<int>(encoding));
    expect_same(parse_ply(write_ply(original, encoding), kName), original);
  }
}

TEST(PlyTest, RoundTripsAPointCloudWithoutAFaceElement) {
  RawMesh cloud;
  cloud.vertices = {1, 2, 3, -4, 5.5f, 6};
  const std::string bytes = write_ply(cloud, PlyEncoding::kBinaryLittleEndian);
  EXPECT_EQ(bytes.find("element face"), std::string::npos);
  expect_same(parse_ply(bytes, kName), cloud);
}

TEST(PlyTest, TruncatedFilesFail) {
  const std::string binary = write_ply(example_mesh(), PlyEncoding::kBinaryLittleEndian);
  test::expect_truncations_fail(parse_ply, binary, kName, binary.size());
  const std::string big = binary_example(true);
  test::expect_truncations_fail(parse_ply, big, kName, big.size());
  // Ascii: every cut before the last value's line loses data the header promises.
  const std::string ascii = write_ply(example_mesh(), PlyEncoding::kAscii);
  test::expect_truncations_fail(parse_ply, ascii, kName, ascii.rfind("\n3 ") + 1);
}

TEST(PlyTest, GarbageFails) {
  EXPECT_TRUE(throws_naming<std::runtime_error>([] { parse_ply("hello world", kName); }, kName,
                                                "not a PLY"));
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const std::string junk = "ply\n" + test::garbage(300, seed);
    EXPECT_TRUE(throws_naming<std::runtime_error>([&] { parse_ply(junk, kName); }, kName));
  }
  const std::string binary_junk =
      std::string(kHeaderXyz).replace(11, 5, "binary_little_endian") + test::garbage(10, 3);
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { parse_ply(binary_junk, kName); }, kName));
}

TEST(PlyTest, NonFiniteCoordinatesFail) {
  for (const char* bad : {"nan", "inf", "-inf", "1e39"}) {
    const std::string text =
        std::string(kHeaderXyz) + "0 0 0\n1 0 0\n1 1 " + bad + "\n0 1 0\n3 0 1 2\n";
    EXPECT_TRUE(
        throws_naming<std::runtime_error>([&] { parse_ply(text, kName); }, kName, "vertex 2"))
        << bad;
  }
  Bytes b;
  b.text(
      "ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty float x\n"
      "property float y\nproperty float z\nend_header\n");
  b.put(0.0f).put(std::numeric_limits<float>::quiet_NaN()).put(0.0f);
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([&] { parse_ply(b.str(), kName); }, kName, "non-finite"));
}

TEST(PlyTest, OutOfRangeFaceIndicesFail) {
  for (const char* face : {"3 0 1 4", "3 0 -1 2", "4 0 1 2 99"}) {
    const std::string text = std::string(kHeaderXyz) + "0 0 0\n1 0 0\n1 1 0\n0 1 0\n" + face + "\n";
    EXPECT_TRUE(throws_naming<std::runtime_error>([&] { parse_ply(text, kName); }, kName,
                                                  "refers to vertex"))
        << face;
  }
}

TEST(PlyTest, HugeHeaderCountsFailWithoutAllocating) {
  for (const char* count : {"18446744073709551615", "1000000000000", "4000000000"}) {
    for (const char* format : {"ascii", "binary_little_endian"}) {
      const std::string text = std::string("ply\nformat ") + format + " 1.0\nelement vertex " +
                               count +
                               "\nproperty float x\nproperty float y\nproperty float z\n"
                               "end_header\n0 0 0\n";
      EXPECT_TRUE(
          throws_naming<std::runtime_error>([&] { parse_ply(text, kName); }, kName, "claims"))
          << count << " " << format;
    }
  }
  EXPECT_TRUE(throws_naming<std::runtime_error>(
      [] {
        parse_ply("ply\nformat ascii 1.0\nelement vertex 99999999999999999999999\nend_header\n",
                  kName);
      },
      kName, "invalid count"));
  // A list length far beyond the data.
  Bytes b;
  b.text(
      "ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty float x\n"
      "property float y\nproperty float z\nelement face 1\n"
      "property list uint int vertex_indices\nend_header\n");
  for (int i = 0; i < 9; ++i) b.put(0.0f);
  b.put(uint32_t{4000000000u}).put(int32_t{0});
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { parse_ply(b.str(), kName); }, kName,
                                                "data ends early"));
}

TEST(PlyTest, NegativeListLengthFails) {
  const std::string text =
      "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
      "property float z\nelement face 1\nproperty list char int vertex_indices\nend_header\n"
      "0 0 0\n1 0 0\n0 1 0\n-3 0 1 2\n";
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { parse_ply(text, kName); }, kName,
                                                "negative list length"));
}

TEST(PlyTest, BadHeadersFail) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ply\nformat ascii 1.0\nelement vertex 0\n", "no 'end_header'"},
      {"ply\nelement vertex 0\nend_header\n", "no 'format'"},
      {"ply\nformat utf16 1.0\nend_header\n", "unknown PLY format"},
      {"ply\nformat ascii 1.0\nproperty float x\nend_header\n", "before any 'element'"},
      {"ply\nformat ascii 1.0\nelement vertex 1\nproperty float128 x\nend_header\n",
       "unknown property type"},
      {"ply\nformat ascii 1.0\nelement vertex 1\nproperty list float int x\nend_header\n",
       "not an integer type"},
      {"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\nend_header\n0 "
       "0\n",
       "no 'z' property"},
      {"ply\nformat ascii 1.0\nelement face 0\nproperty list uchar int "
       "vertex_indices\nend_header\n",
       "no 'vertex' element"},
      {"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty "
       "float z\n"
       "element face 1\nproperty list uchar float vertex_indices\nend_header\n0 0 0\n0\n",
       "non-integer indices"},
      {"ply\nformat ascii 1.0\nbogus line\nend_header\n", "unknown PLY header keyword"},
      {"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty "
       "float z\n"
       "end_header\n0 zero 0\n",
       "invalid value 'zero'"},
      {"ply\nformat ascii 1.0\nelement vertex 1\nproperty uchar x\nproperty float y\nproperty "
       "float z\n"
       "end_header\n256 0 0\n",
       "invalid value '256'"},
  };
  for (const auto& [text, fragment] : cases) {
    EXPECT_TRUE(throws_naming<std::runtime_error>([&] { parse_ply(text, kName); }, kName, fragment))
        << text;
  }
}

}  // namespace
}  // namespace shapediff::io::formats

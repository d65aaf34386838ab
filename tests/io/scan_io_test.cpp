#include "io/scan_io.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <stdexcept>

#include "tests/io/io_test_support.h"

namespace shapediff::io {
namespace {

using test::TempDir;
using test::write_bytes;

TEST(ScanIo, CloudsAsTheyAreMeshesSampled) {
  TempDir tmp;
  write_bytes(tmp.path("c.xyz"), "0 0 0\n1 0 0\n0 1 0\n0 0 1\n");
  const auto cloud = read_scan(tmp.path("c.xyz"), 100, 0);
  EXPECT_EQ(cloud.mesh_faces, 0);
  ASSERT_EQ(cloud.cloud.size(), 4);
  EXPECT_EQ(cloud.cloud.points[3][2].item<float>(), 1.0f);
  write_bytes(tmp.path("t.off"), "OFF\n4 4 0\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 2 1\n3 0 1 3\n3 0 3 2\n3 1 2 3\n");
  const auto mesh = read_scan(tmp.path("t.off"), 300, 5);
  EXPECT_EQ(mesh.mesh_faces, 4);
  ASSERT_EQ(mesh.cloud.size(), 300);
  // Every sample lies on the tetrahedron: inside the unit simplex's closed surface.
  const auto p = mesh.cloud.points;
  EXPECT_GE(p.min().item<float>(), -1e-6f);
  EXPECT_LE(p.sum(1).max().item<float>(), 1.0f + 1e-5f);
  EXPECT_TRUE(torch::equal(read_scan(tmp.path("t.off"), 300, 5).cloud.points, p));  // seeded
  // A face-less OFF reads as a cloud.
  write_bytes(tmp.path("v.off"), "OFF\n3 0 0\n0 0 0\n1 0 0\n0 1 0\n");
  EXPECT_EQ(read_scan(tmp.path("v.off"), 10, 0).cloud.size(), 3);
}

TEST(ScanIo, BadFilesNameThePath) {
  TempDir tmp;
  auto expect_error = [](const std::string& path, const std::string& needle) {
    try {
      read_scan(path, 100, 0);
      FAIL() << path;
    } catch (const std::exception& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(path), std::string::npos) << what;
      EXPECT_NE(what.find(needle), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  };
  expect_error(tmp.path("missing.ply"), "missing.ply");
  write_bytes(tmp.path("scan.abc"), "1 2 3\n");
  expect_error(tmp.path("scan.abc"), "extension");
  write_bytes(tmp.path("empty.xyz"), "");
  expect_error(tmp.path("empty.xyz"), "empty.xyz");
  write_bytes(tmp.path("garbage.ply"), "ply\nthis is not a header\n");
  expect_error(tmp.path("garbage.ply"), "garbage.ply");
  write_bytes(tmp.path("flat.off"), "OFF\n3 1 0\n0 0 0\n0 0 0\n0 0 0\n3 0 1 2\n");
  expect_error(tmp.path("flat.off"), "flat.off");
}

}  // namespace
}  // namespace shapediff::io

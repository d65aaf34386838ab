#include "io/point_cloud_io.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "io_test_support.h"

namespace shapediff::io {
namespace {

using test::throws_naming;

shapes::PointCloud example_cloud() {
  torch::manual_seed(3);
  shapes::PointCloud pc;
  pc.points = torch::randn({50, 3});
  pc.normals = torch::nn::functional::normalize(
      torch::randn({50, 3}), torch::nn::functional::NormalizeFuncOptions().dim(1));
  pc.colors = torch::randint(0, 256, {50, 3}).to(torch::kFloat32) / 255;
  return pc;
}

TEST(PointCloudIoTest, RoundTripsEveryPointFormat) {
  test::TempDir dir;
  const shapes::PointCloud pc = example_cloud();
  struct Case {
    std::string name;
    bool normals;
    bool colors;
  };
  for (const Case& c :
       {Case{"a.ply", true, true}, Case{"b.off", true, true}, Case{"c.obj", true, true},
        Case{"d.xyz", true, false}, Case{"e.pcd", true, true}, Case{"f.PCD", true, true}}) {
    SCOPED_TRACE(c.name);
    const std::string path = dir.path(c.name);
    write_point_cloud(path, pc);
    const shapes::PointCloud back = read_point_cloud(path);
    EXPECT_TRUE(torch::equal(back.points, pc.points));
    ASSERT_EQ(back.has_normals(), c.normals);
    if (c.normals) EXPECT_TRUE(torch::equal(back.normals, pc.normals));
    ASSERT_EQ(back.has_colors(), c.colors);
    if (c.colors) EXPECT_TRUE(torch::allclose(back.colors, pc.colors, 0, 1e-6));
    back.validate(path);
  }
}

TEST(PointCloudIoTest, AMeshFileReadsAsItsVertices) {
  test::TempDir dir;
  const std::string path = dir.path("tri.obj");
  test::write_bytes(path, "v 0 0 0\nv 1 0 0\nv 0 1 0\nvn 0 0 1\nf 1//1 2//1 3//1\n");
  const shapes::PointCloud pc = read_point_cloud(path);
  EXPECT_EQ(pc.size(), 3);
  EXPECT_TRUE(torch::equal(pc.normals, torch::tensor({0.f, 0.f, 1.f}).repeat({3, 1})));
  const std::string stl = dir.path("tri.stl");
  test::write_bytes(stl,
                    "solid t\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\n"
                    "vertex 0 1 0\nendloop\nendfacet\nendsolid t\n");
  EXPECT_EQ(read_point_cloud(stl).size(), 3);
}

TEST(PointCloudIoTest, BadCloudsAndFormatsFail) {
  test::TempDir dir;
  const std::string stl = dir.path("cloud.stl");
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { write_point_cloud(stl, example_cloud()); },
                                                   stl, "triangles only"));
  const std::string empty_path = dir.path("empty.xyz");
  shapes::PointCloud empty;
  empty.points = torch::zeros({0, 3});
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { write_point_cloud(empty_path, empty); },
                                                   empty_path, "empty"));
  shapes::PointCloud nan_cloud = example_cloud();
  nan_cloud.points[7][1] = std::nanf("");
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { write_point_cloud(dir.path("n.ply"), nan_cloud); }, dir.path("n.ply"), "row 7"));
  shapes::PointCloud wrong_shape;
  wrong_shape.points = torch::zeros({4, 2});
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { write_point_cloud(dir.path("w.pcd"), wrong_shape); }, dir.path("w.pcd"),
      "points must be [N,3]"));
  const std::string unknown = dir.path("cloud.las");
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { write_point_cloud(unknown, example_cloud()); }, unknown, ".xyz .pcd"));
  EXPECT_TRUE(dir.entries().empty());

  const std::string no_points = dir.path("none.xyz");
  test::write_bytes(no_points, "# nothing here\n");
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_point_cloud(no_points); }, no_points,
                                                "no points"));
  const std::string missing = dir.path("missing.pcd");
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_point_cloud(missing); }, missing,
                                                "cannot open"));
  const std::string nan_file = dir.path("nan.xyz");
  test::write_bytes(nan_file, "0 0 0\nnan 0 0\n");
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([&] { read_point_cloud(nan_file); }, nan_file, "line 2"));
}

TEST(PointCloudIoTest, WritingIntoAMissingDirectoryLeavesNothing) {
  test::TempDir dir;
  const std::string path = dir.path("missing/cloud.pcd");
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([&] { write_point_cloud(path, example_cloud()); }, path));
  EXPECT_TRUE(dir.entries().empty());
}

}  // namespace
}  // namespace shapediff::io

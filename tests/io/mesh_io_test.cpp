#include "io/mesh_io.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "io_test_support.h"

namespace shapediff::io {
namespace {

using test::throws_naming;

// Faces list the vertices in order of first use, so STL (which renumbers vertices that way)
// round-trips exactly too.
shapes::TriangleMesh tetrahedron(bool attributes) {
  shapes::TriangleMesh m;
  m.vertices =
      torch::tensor({0.f, 0.f, 0.f, 1.f, 0.f, 0.f, 0.f, 1.f, 0.f, 0.f, 0.f, 1.f}).reshape({4, 3});
  m.faces = torch::tensor({0, 1, 2, 0, 1, 3, 0, 2, 3, 1, 2, 3}, torch::kInt64).reshape({4, 3});
  if (attributes) {
    m.vertex_normals = torch::nn::functional::normalize(
        m.vertices - 0.25, torch::nn::functional::NormalizeFuncOptions().dim(1));
    m.vertex_colors =
        torch::tensor({0.f, 0.f, 0.f, 1.f, 0.f, 0.f, 0.f, 1.f, 0.f, 51 / 255.f, 102 / 255.f, 1.f})
            .reshape({4, 3});
  }
  return m;
}

TEST(MeshIoTest, RoundTripsEveryMeshFormat) {
  test::TempDir dir;
  const shapes::TriangleMesh m = tetrahedron(true);
  for (const std::string name : {"a.ply", "b.off", "c.obj", "d.stl"}) {
    SCOPED_TRACE(name);
    const std::string path = dir.path(name);
    write_mesh(path, m);
    const shapes::TriangleMesh back = read_mesh(path);
    EXPECT_TRUE(torch::equal(back.vertices, m.vertices));
    EXPECT_TRUE(torch::equal(back.faces, m.faces));
    EXPECT_EQ(back.vertices.scalar_type(), torch::kFloat32);
    EXPECT_EQ(back.faces.scalar_type(), torch::kInt64);
    if (name != "d.stl") {
      EXPECT_TRUE(torch::equal(back.vertex_normals, m.vertex_normals));
      EXPECT_TRUE(torch::allclose(back.vertex_colors, m.vertex_colors, 0, 0.5 / 255));
    } else {
      EXPECT_FALSE(back.vertex_normals.defined());
    }
    back.validate(path);
  }
  const std::string ascii = dir.path("ascii.ply");
  write_mesh(ascii, m, MeshWriteOptions{/*binary=*/false});
  EXPECT_EQ(test::read_bytes(ascii).substr(0, 22), "ply\nformat ascii 1.0\nc");
  EXPECT_TRUE(torch::equal(read_mesh(ascii).vertices, m.vertices));
}

TEST(MeshIoTest, ExtensionsAreCaseInsensitive) {
  test::TempDir dir;
  const std::string path = dir.path("Shape.PlY");
  write_mesh(path, tetrahedron(false));
  EXPECT_EQ(read_mesh(path).num_faces(), 4);
  EXPECT_EQ(mesh_file_format("x/y.z/MODEL.OBJ"), formats::MeshFileFormat::kObj);
}

TEST(MeshIoTest, UnknownExtensionListsTheAcceptedOnes) {
  test::TempDir dir;
  for (const std::string name : {"mesh.abc", "mesh", "ply"}) {
    const std::string path = dir.path(name);
    EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { read_mesh(path); }, path,
                                                     ".ply .off .obj .stl .xyz .pcd"));
    EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { write_mesh(path, tetrahedron(false)); },
                                                     path, ".ply .off .obj .stl .xyz .pcd"));
  }
  EXPECT_TRUE(dir.entries().empty());
}

TEST(MeshIoTest, MissingAndUnreadableFilesFail) {
  test::TempDir dir;
  const std::string missing = dir.path("missing.obj");
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([&] { read_mesh(missing); }, missing, "no such file"));
  const std::string folder = dir.path("folder.ply");
  std::filesystem::create_directory(folder);
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([&] { read_mesh(folder); }, folder, "not a regular file"));
}

TEST(MeshIoTest, FilesWithoutFacesAreNotMeshes) {
  test::TempDir dir;
  const std::string cloud = dir.path("cloud.ply");
  test::write_bytes(cloud,
                    "ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\n"
                    "property float z\nend_header\n1 2 3\n");
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_mesh(cloud); }, cloud, "no faces"));
  const std::string xyz = dir.path("points.xyz");
  test::write_bytes(xyz, "1 2 3\n");
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { read_mesh(xyz); }, xyz, "points only"));
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { write_mesh(dir.path("m.pcd"), tetrahedron(false)); }, dir.path("m.pcd"),
      "points only"));
}

TEST(MeshIoTest, MalformedFilesNameThePath) {
  test::TempDir dir;
  const std::string path = dir.path("broken.off");
  test::write_bytes(path, "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n");
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([&] { read_mesh(path); }, path, "refers to vertex 7"));
  const std::string truncated = dir.path("truncated.stl");
  write_mesh(truncated, tetrahedron(false));
  const std::string bytes = test::read_bytes(truncated);
  test::write_bytes(truncated, bytes.substr(0, bytes.size() - 7));
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_mesh(truncated); }, truncated));
}

TEST(MeshIoTest, InvalidMeshesAreRejectedAndNothingIsWritten) {
  test::TempDir dir;
  const std::string path = dir.path("bad.ply");
  shapes::TriangleMesh nan_mesh = tetrahedron(false);
  nan_mesh.vertices[1][2] = std::nanf("");
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { write_mesh(path, nan_mesh); }, path,
                                                   "not finite"));
  shapes::TriangleMesh bad_index = tetrahedron(false);
  bad_index.faces[2][1] = 4;
  EXPECT_TRUE(
      throws_naming<std::invalid_argument>([&] { write_mesh(path, bad_index); }, path, "face 2"));
  shapes::TriangleMesh empty = tetrahedron(false);
  empty.faces = torch::zeros({0, 3}, torch::kInt64);
  EXPECT_TRUE(
      throws_naming<std::invalid_argument>([&] { write_mesh(path, empty); }, path, "no faces"));
  shapes::TriangleMesh nan_color = tetrahedron(true);
  nan_color.vertex_colors[0][0] = std::nanf("");
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { write_mesh(path, nan_color); }, path,
                                                   "vertex_colors"));
  EXPECT_TRUE(dir.entries().empty());
}

TEST(MeshIoTest, WritingIntoAMissingDirectoryLeavesNothing) {
  test::TempDir dir;
  const std::string path = dir.path("no/such/dir/mesh.obj");
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([&] { write_mesh(path, tetrahedron(false)); }, path));
  EXPECT_TRUE(dir.entries().empty());
}

TEST(MeshIoTest, AFailedWriteKeepsTheOldFile) {
  test::TempDir dir;
  const std::string path = dir.path("keep.off");
  write_mesh(path, tetrahedron(false));
  const std::string before = test::read_bytes(path);
  shapes::TriangleMesh bad = tetrahedron(false);
  bad.vertices[0][0] = INFINITY;
  EXPECT_THROW(write_mesh(path, bad), std::invalid_argument);
  EXPECT_EQ(test::read_bytes(path), before);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"keep.off"});
}

}  // namespace
}  // namespace shapediff::io

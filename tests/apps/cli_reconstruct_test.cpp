// `shapediff reconstruct` as a user runs it: point clouds (CGAL methods) and grids (marching
// cubes), the quality report, and one-line errors that leave no output file.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/apps/cli_support.h"

namespace {

namespace fs = std::filesystem;

const auto run = shapediff::test::run_cli;

fs::path scratch(const std::string& name) { return shapediff::test::scratch_path("reconstruct_" + name); }

// `n` points on the unit sphere (Fibonacci spiral) as XYZ text, with outward normals.
fs::path write_sphere_xyz(const std::string& name, int n) {
  const auto path = scratch(name + ".xyz");
  std::ofstream out(path);
  const double golden = M_PI * (3.0 - std::sqrt(5.0));
  for (int i = 0; i < n; ++i) {
    const double z = 1.0 - 2.0 * (i + 0.5) / n, r = std::sqrt(1.0 - z * z), a = golden * i;
    const double x = r * std::cos(a), y = r * std::sin(a);
    out << x << " " << y << " " << z << " " << x << " " << y << " " << z << "\n";
  }
  return path;
}

// A float32 .npy [n,n,n] holding the signed distance to a sphere of radius `radius` (voxel
// units) centred in the grid.
fs::path write_sdf_npy(const std::string& name, int n, double radius) {
  const auto path = scratch(name + ".npy");
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(n) + ", " +
                       std::to_string(n) + ", " + std::to_string(n) + "), }";
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  out.write(reinterpret_cast<const char*>(&len), 2);
  out << header;
  const double c = (n - 1) / 2.0;
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      for (int k = 0; k < n; ++k) {
        const float d = static_cast<float>(std::sqrt((i - c) * (i - c) + (j - c) * (j - c) + (k - c) * (k - c)) - radius);
        out.write(reinterpret_cast<const char*>(&d), 4);
      }
    }
  }
  return path;
}

bool built_without_cgal(const shapediff::test::CliRun& r) {
  return r.code == 2 && r.out.find("SHAPEDIFF_WITH_CGAL=OFF") != std::string::npos;
}

TEST(CliReconstruct, PoissonWritesAClosedMeshAndReports) {
  const auto in = write_sphere_xyz("sphere", 1500);
  const auto out = scratch("poisson.ply");
  const auto r = run("reconstruct --input " + in.string() + " --method poisson --out " + out.string() + " --report");
  if (built_without_cgal(r)) {
    EXPECT_FALSE(fs::exists(out));
    GTEST_SKIP() << "built without CGAL: " << r.out;
  }
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(out));
  EXPECT_NE(r.out.find("closed yes manifold yes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("self_intersections 0"), std::string::npos) << r.out;
}

TEST(CliReconstruct, AdvancingFrontAndScaleSpaceRun) {
  const auto in = write_sphere_xyz("sphere_af", 800);
  for (const std::string method : {"advancing-front", "scale-space"}) {
    const auto out = scratch(method + ".off");
    const auto r = run("reconstruct --input " + in.string() + " --method " + method + " --out " + out.string());
    if (built_without_cgal(r)) GTEST_SKIP() << r.out;
    ASSERT_EQ(r.code, 0) << method << ": " << r.out;
    EXPECT_GT(fs::file_size(out), 1000u);
  }
}

TEST(CliReconstruct, MarchingCubesOnASignedDistanceGrid) {
  const auto in = write_sdf_npy("sdf", 24, 8.0);
  const auto out = scratch("mc.obj");
  const auto r = run("reconstruct --input " + in.string() + " --method marching-cubes --out " + out.string() + " --report");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("components 1 closed yes manifold yes"), std::string::npos) << r.out;
  // No crossing at this level: a warning, no file, no failure.
  const auto none = scratch("none.obj");
  const auto empty = run("reconstruct --input " + in.string() + " --method marching-cubes --iso -50 --out " + none.string());
  EXPECT_EQ(empty.code, 0) << empty.out;
  EXPECT_NE(empty.out.find("warning"), std::string::npos) << empty.out;
  EXPECT_FALSE(fs::exists(none));
}

TEST(CliReconstruct, BadInputIsOneLineExitTwoAndNoFile) {
  const auto out = scratch("bad.ply");
  const auto few = scratch("few.xyz");
  std::ofstream(few) << "0 0 0\n1 0 0\n0 1 0\n0 0 1\n1 1 1\n";
  auto r = run("reconstruct --input " + few.string() + " --method poisson --out " + out.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(r.out.find("at least 10 points") != std::string::npos || built_without_cgal(r)) << r.out;
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << r.out;

  const auto flat = scratch("flat.xyz");
  {
    std::ofstream f(flat);
    for (int i = 0; i < 50; ++i) f << i % 7 << " " << i / 7 << " 2\n";
  }
  r = run("reconstruct --input " + flat.string() + " --method advancing-front --out " + out.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(r.out.find("coplanar") != std::string::npos || built_without_cgal(r)) << r.out;

  r = run("reconstruct --input " + few.string() + " --method delaunay --out " + out.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("poisson, advancing-front, scale-space"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out));
}

// `sample --mesh`: a mesh next to each generated cloud, or a warning for a cloud that cannot be
// meshed (an untrained model's points); a bad method name fails before any sampling.
TEST(CliReconstruct, SampleWritesMeshesNextToThePly) {
  const auto root = scratch("sample");
  fs::create_directories(root);
  auto data = run("data make --families mug --per-family 2 --resolution 24 --points 256 --scans 0 --val 0 "
                  "--test 0 --threads 2 --out " + (root / "data").string());
  ASSERT_EQ(data.code, 0) << data.out;
  std::ofstream(root / "tiny.json") << R"({"model": {"preset": "tiny"},
      "training": {"steps": 2, "batch_size": 2, "checkpoint_every": 2, "log_every": 1}, "data": {"points": 256}})";
  auto train = run("train --config " + (root / "tiny.json").string() + " --data " + (root / "data").string() +
                   " --out " + (root / "run").string() + " --threads 1");
  ASSERT_EQ(train.code, 0) << train.out;
  const std::string model = " --model " + (root / "run").string() + " --count 2 --steps 2 --threads 1";

  const auto bad = root / "bad";
  auto r = run("sample" + model + " --mesh delaunay --out " + bad.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("poisson, advancing-front, scale-space"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(bad));

  const auto out = root / "meshes";
  r = run("sample" + model + " --mesh advancing-front --out " + out.string());
  if (built_without_cgal(r)) GTEST_SKIP() << r.out;
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* shape : {"shape_0000", "shape_0001"}) {
    EXPECT_TRUE(fs::exists(out / (std::string(shape) + ".ply")));
    const bool meshed = fs::exists(out / (std::string(shape) + "_mesh.ply"));
    EXPECT_TRUE(meshed || r.out.find(std::string(shape) + ".ply: no mesh") != std::string::npos) << shape << ": " << r.out;
  }
}

}  // namespace

// `shapediff complete --coarse-model`: completing a partial scan with the two-stage voxel
// pipeline from the command line (tiny models trained for one step), and the inputs it refuses.
#include <gtest/gtest.h>

#include "tests/apps/cli_support.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace {

namespace fs = std::filesystem;

using shapediff::test::file_bytes;
using shapediff::test::run_cli;
using shapediff::test::scratch_path;

// An .xyz scan: `count` points on the upper half of a sphere of radius 2 around (5, 0, 0).
fs::path write_half_sphere_scan(const std::string& name, int count) {
  std::mt19937 rng(11);
  std::normal_distribution<double> normal;
  const auto path = scratch_path(name);
  std::ofstream out(path);
  for (int i = 0; i < count; ++i) {
    double d[3] = {normal(rng), normal(rng), normal(rng)};
    const double len = std::sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
    out << 5 + 2 * d[0] / len << " " << 2 * std::abs(d[1]) / len << " " << 2 * d[2] / len << "\n";
  }
  return path;
}

TEST(CliSparseVoxelCompletion, CompletesAScanIntoGridsAndMeshesAndRefusesBadInput) {
  const auto runs = shapediff::test::train_two_stage_voxel_models("svc", 2, 1);
  ASSERT_TRUE(runs.ok) << runs.log;
  const auto &coarse = runs.coarse, &fine = runs.fine;
  shapediff::test::CliRun r;

  const auto scan = write_half_sphere_scan("svc_scan.xyz", 300);
  const auto out = scratch_path("svc_out");
  r = run_cli("complete --model " + fine.string() + " --coarse-model " + coarse.string() + " --input " +
              scan.string() + " --samples 2 --steps 2 --class chair --threads 2 --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("2 time(s) as 32^3 grids (from 16^3;"), std::string::npos) << r.out;
  for (const char* name : {"input.ply", "grid_00.npy", "grid_01.npy", "coarse_00.npy", "coarse_01.npy",
                           "completions.npz", "completion.json", "completion_00_mesh.ply", "before_after.png"}) {
    EXPECT_TRUE(fs::exists(out / name)) << name;
  }
  const auto meta = file_bytes(out / "completion.json");
  EXPECT_NE(meta.find("\"strategy\": \"replacement\""), std::string::npos) << meta;
  EXPECT_NE(meta.find("\"known_coarse_cells\""), std::string::npos) << meta;
  EXPECT_EQ(meta.find("\"known_fine_cells\": 0,"), std::string::npos) << meta;

  // Bad input: one line, exit code 2, no output folder.
  const auto bad = scratch_path("svc_bad");
  auto one_line_error = [&](const std::string& args, const std::string& expected) {
    const auto res = run_cli(args + " --steps 2 --out " + bad.string());
    EXPECT_EQ(res.code, 2) << args << "\n" << res.out;
    EXPECT_NE(res.out.find(expected), std::string::npos) << res.out;
    EXPECT_EQ(res.out.find('\n'), res.out.size() - 1) << res.out;
    EXPECT_FALSE(fs::exists(bad));
  };
  one_line_error("complete --model " + fine.string() + " --coarse-model " + fine.string() + " --input " + scan.string(),
                 "not the stage 1 of this sparse-voxel model (a sparse_voxels model; stage 1 is a voxels model)");
  const auto tiny_scan = write_half_sphere_scan("svc_tiny.xyz", 12);
  one_line_error("complete --model " + fine.string() + " --coarse-model " + coarse.string() + " --input " +
                     tiny_scan.string(),
                 "svc_tiny.xyz: estimate_scan_normals: the scan has 12 points");
  one_line_error("complete --model " + fine.string() + " --coarse-model " + coarse.string() + " --input " +
                     scan.string() + " --strategy repaint",
                 "strategy repaint: sparse-voxel completion supports replacement only");
  one_line_error("complete --model " + fine.string() + " --input " + scan.string(), "give that model with --coarse-model");

  // The voxel model alone runs stage 1: 16^3 grids, no coarse files; the same seed gives the
  // stage-1 grids of the two-stage run above.
  const auto alone = scratch_path("svc_alone");
  r = run_cli("complete --model " + coarse.string() + " --input " + scan.string() +
              " --samples 2 --steps 2 --class chair --threads 2 --out " + alone.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("2 time(s) as 16^3 grids ("), std::string::npos) << r.out;
  for (const char* name : {"input.ply", "grid_00.npy", "grid_01.npy", "completions.npz", "completion.json",
                           "before_after.png"}) {
    EXPECT_TRUE(fs::exists(alone / name)) << name;
  }
  EXPECT_FALSE(fs::exists(alone / "coarse_00.npy"));
  EXPECT_EQ(file_bytes(alone / "grid_00.npy"), file_bytes(out / "coarse_00.npy"));
  EXPECT_EQ(file_bytes(alone / "grid_01.npy"), file_bytes(out / "coarse_01.npy"));
  const auto alone_meta = file_bytes(alone / "completion.json");
  EXPECT_NE(alone_meta.find("\"representation\": \"voxels\""), std::string::npos) << alone_meta;
  EXPECT_NE(alone_meta.find("\"known_cells\""), std::string::npos) << alone_meta;
  one_line_error("complete --model " + coarse.string() + " --coarse-model " + coarse.string() + " --input " +
                     scan.string(),
                 "--coarse-model applies to sparse_voxels models");
  one_line_error("complete --model " + coarse.string() + " --input " + scan.string() + " --mesh poisson",
                 "--mesh does not apply to a voxel model");
}

}  // namespace

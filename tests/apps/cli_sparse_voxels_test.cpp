// `shapediff train --representation sparse_voxels` and `shapediff sample --coarse-model`: the
// two-stage voxel pipeline from the command line on a tiny procedural dataset, and the coarse
// models it refuses.
#include <gtest/gtest.h>

#include "tests/apps/cli_support.h"

#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;

using shapediff::test::file_bytes;
using shapediff::test::run_cli;
using shapediff::test::scratch_path;

const std::string kConfigs = std::string(SHAPEDIFF_SOURCE_DIR) + "/configs/";

// The "shape" entry of a .npy header, e.g. "(32, 32, 32)".
std::string npy_shape(const fs::path& file) {
  const auto bytes = file_bytes(file).substr(0, 256);
  const auto at = bytes.find("'shape': ");
  if (at == std::string::npos) return "(no shape in " + file.string() + ")";
  return bytes.substr(at + 9, bytes.find(')', at) - at - 8);
}

TEST(CliSparseVoxels, TrainsBothStagesAndSamplesFineGridsAndMeshes) {
  const auto runs = shapediff::test::train_two_stage_voxel_models("sv", 3, 2);
  ASSERT_TRUE(runs.ok) << runs.log;
  const auto& data = runs.data;
  const auto &coarse = runs.coarse, &fine = runs.fine;
  shapediff::test::CliRun r;
  EXPECT_TRUE(fs::exists(fine / "model.pt"));
  EXPECT_NE(file_bytes(fine / "config.json").find("sparse_voxels"), std::string::npos);

  const auto samples = scratch_path("sv_samples");
  r = run_cli("sample --model " + fine.string() + " --coarse-model " + coarse.string() +
              " --count 2 --steps 2 --class chair --threads 2 --out " + samples.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("wrote 2 grids of 32^3 (from 16^3)"), std::string::npos) << r.out;
  for (const char* stem : {"0000", "0001"}) {
    EXPECT_EQ(npy_shape(samples / ("grid_" + std::string(stem) + ".npy")), "(32, 32, 32)");
    EXPECT_EQ(npy_shape(samples / ("coarse_" + std::string(stem) + ".npy")), "(16, 16, 16)");
  }
  const auto meta = file_bytes(samples / "samples.json");
  EXPECT_NE(meta.find("\"representation\": \"sparse_voxels\""), std::string::npos) << meta;
  EXPECT_TRUE(fs::exists(samples / "samples.npz"));
  // The grids hold a surface (untrained models sample noise on the band, which crosses zero).
  EXPECT_TRUE(fs::exists(samples / "shape_0000_mesh.ply"));
  EXPECT_TRUE(fs::exists(samples / "shape_0001_mesh.ply"));
  EXPECT_EQ(shapediff::test::png_size(samples / "samples.png"), (std::pair<int64_t, int64_t>{408, 200}));

  // Bad input: one line, exit code 2, no output folder.
  const auto bad = scratch_path("sv_bad");
  auto one_line_error = [&](const std::string& args, const std::string& expected) {
    const auto res = run_cli(args + " --count 1 --steps 2 --out " + bad.string());
    EXPECT_EQ(res.code, 2) << args << "\n" << res.out;
    EXPECT_NE(res.out.find(expected), std::string::npos) << res.out;
    EXPECT_EQ(res.out.find('\n'), res.out.size() - 1) << res.out;
    EXPECT_FALSE(fs::exists(bad));
  };
  // A coarse model of another resolution: the sparse model itself is a 32^3 model, not 16^3 voxels.
  one_line_error("sample --model " + fine.string() + " --coarse-model " + fine.string(),
                 "not the stage 1 of this sparse-voxel model (a sparse_voxels model; stage 1 is a voxels model)");
  one_line_error("sample --model " + fine.string(), "give that model with --coarse-model");
  one_line_error("sample --model " + coarse.string() + " --coarse-model " + coarse.string(),
                 "--coarse-model applies to sparse_voxels models; " + coarse.string() + " is a model of voxels");
  // A voxel model of another grid.
  auto config8 = file_bytes(kConfigs + "voxels-tiny.json");
  const auto at = config8.find("\"grid\": 16");
  ASSERT_NE(at, std::string::npos);
  config8.replace(at, 10, "\"grid\": 8");
  const auto config8_path = scratch_path("sv_voxels8.json");
  std::ofstream(config8_path) << config8;
  const auto coarse8 = scratch_path("sv_coarse8");
  r = run_cli("train --config " + config8_path.string() + " --data " + data.string() + " --out " +
              coarse8.string() + " --threads 2 --steps 1");
  ASSERT_EQ(r.code, 0) << r.out;
  one_line_error("sample --model " + fine.string() + " --coarse-model " + coarse8.string(),
                 "(voxels.grid 8, the sparse model wants coarse_grid 16)");
}

}  // namespace

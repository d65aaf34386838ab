// `shapediff eval-completion --voxel-model`: the two-stage voxel pipeline (and a voxel model
// alone) scored on a dataset's virtual scans beside the baselines, with tiny models trained for
// one step, and the inputs it refuses.
#include <gtest/gtest.h>

#include "tests/apps/cli_support.h"

#include <cmath>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;

using shapediff::test::file_bytes;
using shapediff::test::run_cli;
using shapediff::test::scratch_path;

TEST(CliEvalVoxelCompletion, ScoresTheVoxelPipelineOnTheScansAndRefusesBadInput) {
  const auto runs = shapediff::test::train_two_stage_voxel_models("evc", 2, 1);
  ASSERT_TRUE(runs.ok) << runs.log;
  const auto coarse = runs.coarse.string(), fine = runs.fine.string();
  // The same two families, with one virtual scan per shape (scans need CGAL).
  const auto scanned = scratch_path("evc_scanned").string();
  auto r = run_cli("data make --families chair,table --per-family 2 --points 256 --scans 1 --resolution 24 "
                   "--val 0 --test 0 --threads 2 --out " + scanned);
  if (r.code == 2 && r.out.find("need CGAL") != std::string::npos) GTEST_SKIP() << "built without CGAL: no scans";
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string eval = "eval-completion --data " + scanned + " --split train --per-category 1 --steps 2 "
                           "--threads 2 --category-known --samples 2";

  // Both stages: rows sparse-voxels (the fine grid) and voxels (the stage-1 grid of the same run).
  const auto two_stage_json = scratch_path("evc_two.json");
  r = run_cli(eval + " --voxel-model " + fine + " --coarse-model " + coarse + " --json " + two_stage_json.string());
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* row : {"| input", "| retrieval", "| sparse-voxels", "| voxels"}) {
    EXPECT_NE(r.out.find(row), std::string::npos) << row << "\n" << r.out;
  }
  EXPECT_NE(r.out.find("completions had no surface"), std::string::npos) << r.out;
  const auto two = nlohmann::json::parse(file_bytes(two_stage_json));
  for (const char* row : {"sparse-voxels", "voxels"}) {
    const auto& all = two["results"][row]["all"];
    EXPECT_EQ(all["shapes"].get<int>(), 2) << row;
    for (const char* metric : {"cd", "emd", "fscore"}) {
      EXPECT_TRUE(std::isfinite(all[metric].get<double>())) << row << " " << metric;
    }
    EXPECT_GT(all["cd"].get<double>(), 0) << row;
    const int no_surface = two["no_surface"][row].get<int>();
    EXPECT_GE(no_surface, 0);
    EXPECT_LE(no_surface, 2);
  }

  // A voxel model alone is the same stage 1 run: its row equals the two-stage run's voxels row.
  const auto dense_json = scratch_path("evc_dense.json");
  r = run_cli(eval + " --voxel-model " + coarse + " --json " + dense_json.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find("| sparse-voxels"), std::string::npos) << r.out;
  const auto dense = nlohmann::json::parse(file_bytes(dense_json));
  EXPECT_FALSE(dense["results"].contains("sparse-voxels"));
  EXPECT_EQ(dense["results"]["voxels"], two["results"]["voxels"]);

  // Bad input: one line naming the option and value, exit code 2.
  auto one_line_error = [&](const std::string& args, const std::string& expected) {
    const auto res = run_cli(eval + " " + args);
    EXPECT_EQ(res.code, 2) << args << "\n" << res.out;
    EXPECT_NE(res.out.find(expected), std::string::npos) << res.out;
    EXPECT_EQ(res.out.find('\n'), res.out.size() - 1) << res.out;
  };
  one_line_error("--coarse-model " + coarse, "--coarse-model " + coarse + " needs --voxel-model");
  one_line_error("--voxel-model " + fine, "give that model with --coarse-model");
  one_line_error("--voxel-model " + coarse + " --coarse-model " + coarse,
                 "--coarse-model " + coarse + " applies to sparse_voxels models");
  one_line_error("--voxel-model " + fine + " --coarse-model " + fine,
                 "--coarse-model " + fine + ": not the stage 1 of this sparse-voxel model");
  const std::string points_model = std::string(SHAPEDIFF_SOURCE_DIR) + "/models/points-procedural-small.pt";
  one_line_error("--voxel-model " + points_model,
                 "--voxel-model " + points_model + ": a model of points, not voxels or sparse_voxels");
}

}  // namespace

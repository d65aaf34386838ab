// `shapediff data ...` and `shapediff convert` as a user runs them.
#include <gtest/gtest.h>

#include "tests/apps/cli_support.h"

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/wait.h>

namespace {

namespace fs = std::filesystem;

using Run = shapediff::test::CliRun;
const auto run = shapediff::test::run_cli;

fs::path scratch(const std::string& name) { return shapediff::test::scratch_path("" + name); }

// A unit cube as OFF text.
const char* kCubeOff =
    "OFF\n8 12 0\n"
    "-1 -1 -1\n1 -1 -1\n-1 1 -1\n1 1 -1\n-1 -1 1\n1 -1 1\n-1 1 1\n1 1 1\n"
    "3 0 2 1\n3 1 2 3\n3 4 5 6\n3 5 7 6\n3 0 1 4\n3 1 5 4\n"
    "3 2 6 3\n3 3 6 7\n3 0 4 2\n3 2 4 6\n3 1 3 5\n3 3 7 5\n";

const std::string kSmall =
    " --points 128 --scans 1 --scan-points 32 --scan-size 24 --threads 2";

TEST(CliData, MakeInfoAndRefuseOverwrite) {
  const auto out = scratch("make");
  auto r = run("data make --families chair,mug --per-family 3 --resolution 24 --val 0 --test 0.34" +
               kSmall + " --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(out / "dataset.json"));
  auto info = run("data info " + out.string());
  ASSERT_EQ(info.code, 0) << info.out;
  EXPECT_NE(info.out.find("chair"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("mug"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("train"), std::string::npos) << info.out;
  // Same seed, same bytes.
  const auto again = scratch("make_again");
  ASSERT_EQ(run("data make --families chair,mug --per-family 3 --resolution 24 --val 0 --test 0.34" +
                kSmall + " --out " + again.string()).code, 0);
  std::ifstream a(out / "train-00000.npz", std::ios::binary), b(again / "train-00000.npz", std::ios::binary);
  const std::string sa((std::istreambuf_iterator<char>(a)), {}), sb((std::istreambuf_iterator<char>(b)), {});
  EXPECT_FALSE(sa.empty());
  EXPECT_EQ(sa, sb);

  auto refused = run("data make --families chair --per-family 1" + kSmall + " --out " + out.string());
  EXPECT_EQ(refused.code, 2) << refused.out;
  EXPECT_NE(refused.out.find("--overwrite"), std::string::npos) << refused.out;
}

TEST(CliData, BadInputLeavesNothing) {
  const auto out = scratch("bad");
  auto r = run("data make --families chair,sofa_bed --per-family 2" + kSmall + " --out " + out.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("sofa_bed"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out));
  auto r2 = run("data make --families chair --per-family 2 --points 0 --out " + out.string());
  EXPECT_EQ(r2.code, 2) << r2.out;
  EXPECT_FALSE(fs::exists(out));
  auto r3 = run("data info " + scratch("nothing").string());
  EXPECT_EQ(r3.code, 2) << r3.out;
  for (const auto& entry : fs::directory_iterator(::testing::TempDir())) {
    EXPECT_EQ(entry.path().filename().string().find(out.filename().string() + ".tmp"), std::string::npos);
  }
}

TEST(CliData, ImportSkipsBadMeshesWithAWarning) {
  const auto dir = scratch("meshes");
  fs::create_directories(dir / "boxes");
  std::ofstream(dir / "boxes" / "cube.off") << kCubeOff;
  std::ofstream(dir / "boxes" / "broken.off") << "OFF\n8 12 0\n1 2 3\n";
  const auto out = scratch("imported");
  auto r = run("data import --meshes " + dir.string() + kSmall + " --val 0 --test 0 --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("warning: skipping boxes/broken.off"), std::string::npos) << r.out;
  auto info = run("data info " + out.string());
  EXPECT_NE(info.out.find("boxes"), std::string::npos) << info.out;
}

TEST(CliData, ScanAndConvert) {
  const auto dir = scratch("scan");
  fs::create_directories(dir);
  std::ofstream(dir / "cube.off") << kCubeOff;
  auto r = run("data scan --mesh " + (dir / "cube.off").string() + " --views 2 --size 32 --out " +
               (dir / "partial.ply").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(dir / "partial.ply"));
  EXPECT_TRUE(fs::exists(dir / "partial.ply.cameras.json"));

  ASSERT_EQ(run("convert " + (dir / "cube.off").string() + " " + (dir / "cube.obj").string()).code, 0);
  auto c = run("convert " + (dir / "cube.obj").string() + " " + (dir / "cube.xyz").string() +
               " --points 100");
  ASSERT_EQ(c.code, 0) << c.out;
  EXPECT_NE(c.out.find("100 points"), std::string::npos) << c.out;
  ASSERT_EQ(run("convert " + (dir / "partial.ply").string() + " " + (dir / "partial.npy").string()).code, 0);
  auto back = run("convert " + (dir / "partial.npy").string() + " " + (dir / "back.pcd").string());
  EXPECT_EQ(back.code, 0) << back.out;

  auto no_faces = run("convert " + (dir / "cube.xyz").string() + " " + (dir / "cube2.stl").string());
  EXPECT_EQ(no_faces.code, 2) << no_faces.out;
  EXPECT_NE(no_faces.out.find("reconstruction"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "cube2.stl"));
  auto bad_ext = run("convert " + (dir / "cube.off").string() + " " + (dir / "cube.zzz").string());
  EXPECT_EQ(bad_ext.code, 2);
  std::ofstream(dir / "garbage.ply") << "ply\nformat ascii 1.0\nelement vertex 99\nproperty float x\nend_header\n1\n";
  auto garbage = run("convert " + (dir / "garbage.ply").string() + " " + (dir / "g.xyz").string());
  EXPECT_EQ(garbage.code, 2) << garbage.out;
  EXPECT_NE(garbage.out.find("garbage.ply"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "g.xyz"));
}

}  // namespace

namespace {

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

TEST(CliData, ShardedMakeMergesIntoTheSingleRun) {
  const std::string opts = " --families chair,table,mug --per-family 3 --points 96 --scans 1 --scan-points 32"
                           " --scan-size 32 --resolution 20 --val 0.34 --test 0 --shard-size 2 --threads 2";
  const auto whole = scratch("shard_whole");
  ASSERT_EQ(run("data make" + opts + " --out " + whole.string()).code, 0);
  std::vector<std::string> parts;
  for (int i = 0; i < 3; ++i) {
    const auto part = scratch("shard_part" + std::to_string(i));
    const auto r = run("data make" + opts + " --shard " + std::to_string(i) + "/3 --out " + part.string());
    ASSERT_EQ(r.code, 0) << r.out;
    parts.push_back(part.string());
  }
  // Parts in any order.
  const auto merged = scratch("shard_merged");
  const auto r = run("data merge " + parts[2] + " " + parts[0] + " " + parts[1] + " --out " + merged.string());
  ASSERT_EQ(r.code, 0) << r.out;
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(whole)) {
    const auto name = entry.path().filename();
    EXPECT_EQ(file_bytes(entry.path()), file_bytes(merged / name)) << name;
    ++files;
  }
  EXPECT_GE(files, 5u);  // dataset.json and shards of both splits
  size_t merged_files = 0;
  for (const auto& entry : fs::directory_iterator(merged)) merged_files += entry.is_regular_file() ? 1 : 0;
  EXPECT_EQ(merged_files, files);

  // A missing part, a part given twice, a plain dataset, a bad --shard: one line, exit 2.
  const auto bad = scratch("shard_bad");
  const auto missing = run("data merge " + parts[0] + " " + parts[1] + " --out " + bad.string());
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.out.find("parts 2 of 3 are missing"), std::string::npos) << missing.out;
  const auto twice = run("data merge " + parts[0] + " " + parts[0] + " " + parts[1] + " --out " + bad.string());
  EXPECT_EQ(twice.code, 2);
  EXPECT_NE(twice.out.find("given twice"), std::string::npos) << twice.out;
  const auto plain = run("data merge " + whole.string() + " --out " + bad.string());
  EXPECT_EQ(plain.code, 2);
  EXPECT_NE(plain.out.find("source.shard"), std::string::npos) << plain.out;
  for (const char* shard : {"3/3", "1/0", "a/2", "1/2x"}) {
    const auto r2 = run("data make" + opts + " --shard " + shard + " --out " + bad.string());
    EXPECT_EQ(r2.code, 2) << shard;
    EXPECT_NE(r2.out.find("--shard"), std::string::npos) << r2.out;
  }
  EXPECT_FALSE(fs::exists(bad));
}

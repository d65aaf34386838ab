// `shapediff eval` as a user runs it: NPZ, dataset splits, folders of clouds, JSON output,
// categories, and one-line errors with exit code 2 for bad input.
#include <gtest/gtest.h>

#include "tests/apps/cli_support.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <cstdint>
#include <random>
#include <string>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;

using Run = shapediff::test::CliRun;
const auto run = shapediff::test::run_cli;

fs::path scratch(const std::string& name) { return shapediff::test::scratch_path("eval_" + name); }

// Writes `count` XYZ clouds of `points` random points (seeded) into `dir`.
void write_xyz_folder(const fs::path& dir, int count, int points, unsigned seed, double offset = 0) {
  fs::create_directories(dir);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-0.5, 0.5);
  for (int k = 0; k < count; ++k) {
    std::ofstream f(dir / ("cloud" + std::to_string(k) + ".xyz"));
    for (int i = 0; i < points; ++i) f << u(rng) + offset << " " << u(rng) << " " << u(rng) << "\n";
  }
}

int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

void expect_error(const std::string& args, const std::string& needle) {
  auto r = run("eval " + args);
  EXPECT_EQ(r.code, 2) << args << "\n" << r.out;
  EXPECT_EQ(count_lines(r.out), 1) << args << "\n" << r.out;
  EXPECT_NE(r.out.find(needle), std::string::npos) << args << "\n" << r.out;
}

// One small dataset shared by the tests: chair and mug, 64 points per shape.
const fs::path& dataset() {
  static const fs::path dir = [] {
    auto d = scratch("dataset");
    auto r = run("data make --families chair,mug --per-family 4 --resolution 24 --points 64 --scans 0"
                 " --val 0 --test 0.5 --threads 2 --out " + d.string());
    EXPECT_EQ(r.code, 0) << r.out;
    return d;
  }();
  return dir;
}

TEST(CliEval, NpzAgainstDatasetSplitWithJson) {
  const auto json = scratch("npz") / "out.json";
  fs::create_directories(json.parent_path());
  // A shard's NPZ holds an array 'points' [S,N,3]: the training shapes as the "generated" set.
  const auto npz = dataset() / "train-00000.npz";
  ASSERT_TRUE(fs::exists(npz));
  auto r = run("eval --generated " + npz.string() + " --reference " + dataset().string() +
               ":test --normalize unit_sphere --emd approx --threads 2 --json " + json.string());
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* word : {"MMD-CD", "COV-CD", "1-NNA-CD", "MMD-EMD", "1-NNA-EMD", "JSD",
                           "unit_sphere", "approx"}) {
    EXPECT_NE(r.out.find(word), std::string::npos) << word << "\n" << r.out;
  }
  ASSERT_TRUE(fs::exists(json));
  std::ifstream in(json);
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["normalization"], "unit_sphere");
  EXPECT_EQ(j["emd"]["method"], "approx");
  EXPECT_EQ(j["reference"]["source"]["split"], "test");
  EXPECT_EQ(j["generated"]["points"], 64);
  const double nna = j["metrics"]["1-NNA-CD"].get<double>();
  EXPECT_GE(nna, 0.0);
  EXPECT_LE(nna, 1.0);
  EXPECT_GE(j["metrics"]["JSD"].get<double>(), 0.0);
  // No temporary files left beside the JSON.
  EXPECT_EQ(std::distance(fs::directory_iterator(json.parent_path()), fs::directory_iterator()), 1);
}

TEST(CliEval, CategoryFiltersTheDataset) {
  auto all = run("eval --generated " + dataset().string() + ":train --reference " + dataset().string() +
                 ":test --metrics cd --threads 2 --json " + (scratch("cat_all").string() + ".json"));
  ASSERT_EQ(all.code, 0) << all.out;
  auto chair = run("eval --generated " + dataset().string() + ":train --reference " +
                   dataset().string() + ":test --metrics cd --category chair --threads 2");
  ASSERT_EQ(chair.code, 0) << chair.out;
  EXPECT_NE(chair.out.find("category chair"), std::string::npos) << chair.out;
  EXPECT_NE(all.out.find("reference: 4 clouds"), std::string::npos) << all.out;
  EXPECT_NE(chair.out.find("reference: 2 clouds"), std::string::npos) << chair.out;
  EXPECT_EQ(chair.out.find("EMD"), std::string::npos) << chair.out;  // --metrics cd only

  auto bad = run("eval --generated " + dataset().string() + ":train --reference " + dataset().string() +
                 ":test --category sofa");
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_EQ(count_lines(bad.out), 1) << bad.out;
  EXPECT_NE(bad.out.find("chair, mug"), std::string::npos) << bad.out;
  expect_error("--generated " + dataset().string() + ":train --reference " + dataset().string() +
               ":holdout", "holdout");
}

TEST(CliEval, FolderAgainstItselfAndPaired) {
  const auto dir = scratch("folder");
  write_xyz_folder(dir, 4, 32, 1);
  auto r = run("eval --generated " + dir.string() + " --reference " + dir.string() +
               " --metrics cd,emd,jsd,paired --fscore-threshold 0.05 --threads 1 --json " +
               (dir / "r.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream in(dir / "r.json");
  const auto j = nlohmann::json::parse(in);
  // Each shape's nearest other shape is its copy in the other set.
  EXPECT_EQ(j["metrics"]["1-NNA-CD"].get<double>(), 0.0);
  EXPECT_EQ(j["metrics"]["COV-CD"].get<double>(), 1.0);
  EXPECT_EQ(j["metrics"]["MMD-CD"].get<double>(), 0.0);
  EXPECT_EQ(j["paired"]["F-score"].get<double>(), 1.0);
  EXPECT_EQ(j["paired"]["threshold"].get<double>(), 0.05);
  EXPECT_NEAR(j["paired"]["EMD"].get<double>(), 0.0, 1e-6);
  EXPECT_EQ(j["generated"]["count"], 4);

  // Shifted copies: perfectly separable.
  const auto far = scratch("folder_far");
  write_xyz_folder(far, 4, 32, 1, 10.0);
  auto s = run("eval --generated " + far.string() + " --reference " + dir.string() +
               " --metrics cd --threads 1 --json " + (far / "s.json").string());
  ASSERT_EQ(s.code, 0) << s.out;
  std::ifstream in2(far / "s.json");
  EXPECT_EQ(nlohmann::json::parse(in2)["metrics"]["1-NNA-CD"].get<double>(), 1.0);
}

// A float32 .npy of shape [k, n, 3] (np.save's layout) filled with `value`, one NaN optional.
void write_npy(const fs::path& path, int k, int n, float value, bool with_nan) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(k) + ", " +
                       std::to_string(n) + ", 3), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  f.write("\x93NUMPY\x01\x00", 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  f.put(static_cast<char>(len & 0xff));
  f.put(static_cast<char>(len >> 8));
  f << header;
  for (int i = 0; i < k * n * 3; ++i) {
    const float v = with_nan && i == 4 ? std::nanf("") : value + 0.01f * static_cast<float>(i % 7);
    f.write(reinterpret_cast<const char*>(&v), sizeof(v));
  }
}

TEST(CliEval, NpyClouds) {
  const auto dir = scratch("npy");
  fs::create_directories(dir);
  write_npy(dir / "a.npy", 3, 16, 0.0f, false);
  write_npy(dir / "b.npy", 2, 16, 0.5f, false);
  auto r = run("eval --generated " + (dir / "a.npy").string() + " --reference " +
               (dir / "b.npy").string() + " --metrics cd,jsd --threads 1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("generated: 3 clouds of 16 points"), std::string::npos) << r.out;
  write_npy(dir / "nan.npy", 2, 16, 0.0f, true);
  expect_error("--generated " + (dir / "nan.npy").string() + " --reference " + (dir / "b.npy").string(),
               "NaN");
}

TEST(CliEval, BadFiles) {
  const auto dir = scratch("bad_files");
  write_xyz_folder(dir / "ok", 2, 16, 3);
  const std::string ok = (dir / "ok").string();
  expect_error("--generated " + (dir / "missing.npz").string() + " --reference " + ok, "missing.npz");
  fs::create_directories(dir / "empty");
  expect_error("--generated " + (dir / "empty").string() + " --reference " + ok, "no point-cloud files");
  // Different point counts inside one folder.
  write_xyz_folder(dir / "mixed", 1, 16, 4);
  {
    std::ofstream f(dir / "mixed" / "z.xyz");
    f << "0 0 0\n1 1 1\n";
  }
  expect_error("--generated " + (dir / "mixed").string() + " --reference " + ok, "mismatched point counts");
}

TEST(CliEval, BadSetsAndOptions) {
  const auto dir = scratch("bad_sets");
  write_xyz_folder(dir / "ok", 2, 16, 3);
  const std::string ok = (dir / "ok").string();
  // EMD between clouds of different sizes.
  write_xyz_folder(dir / "small", 2, 8, 5);
  expect_error("--generated " + (dir / "small").string() + " --reference " + ok, "EMD");
  expect_error("--generated " + ok + " --reference " + ok + " --emd sinkhorn", "exact, approx");
  expect_error("--generated " + ok + " --reference " + ok + " --metrics cd,fid", "fid");
}

TEST(CliEval, BadPaths) {
  const auto dir = scratch("bad_paths");
  write_xyz_folder(dir / "ok", 2, 16, 3);
  const std::string ok = (dir / "ok").string();
  expect_error("--generated " + ok + " --reference " + ok + " --category chair", "--category");
  expect_error("--generated " + ok + " --reference " + ok + ":test", "dataset.json");
  expect_error("--generated " + ok + " --reference " + ok + " --json " + (dir / "no" / "r.json").string(),
               "does not exist");
  EXPECT_FALSE(fs::exists(dir / "no"));
}

}  // namespace

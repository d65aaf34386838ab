// Running the built `shapediff` command from the CLI tests (SHAPEDIFF_CLI is its path).
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>

#include <gtest/gtest.h>

namespace shapediff::test {

struct CliRun {
  int code;         // exit code, -1 when the command did not exit normally
  std::string out;  // stdout and stderr together
};

// Runs a shell command line, stdout and stderr together.
inline CliRun run_shell(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  std::string out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// Runs `shapediff <args>` through the shell.
inline CliRun run_cli(const std::string& args) { return run_shell(std::string(SHAPEDIFF_CLI) + " " + args); }

// An absent path under the test temp dir, private to this test process (ctest -j runs the
// tests of one suite in parallel processes): <tmp>/shapediff_cli_<pid>_<name>.
inline std::filesystem::path scratch_path(const std::string& name) {
  auto p = std::filesystem::path(::testing::TempDir()) /
           ("shapediff_cli_" + std::to_string(::getpid()) + "_" + name);
  std::filesystem::remove_all(p);
  return p;
}

// Width and height from a PNG's IHDR chunk ({0, 0} when the file is not a PNG).
inline std::pair<int64_t, int64_t> png_size(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  unsigned char h[24] = {};
  in.read(reinterpret_cast<char*>(h), 24);
  if (in.gcount() != 24 || h[0] != 0x89 || h[1] != 'P' || h[2] != 'N' || h[3] != 'G') return {0, 0};
  auto be = [&](int at) {
    return (int64_t{h[at]} << 24) | (int64_t{h[at + 1]} << 16) | (int64_t{h[at + 2]} << 8) | int64_t{h[at + 3]};
  };
  return {be(16), be(20)};
}

inline std::string file_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// The tiny two-stage sparse-voxel pair (configs/voxels-tiny.json as the coarse stage,
// configs/sparse-voxels-tiny.json as the fine one) trained `steps` steps on a fresh dataset of
// `per_family` chairs and tables (`data`), under scratch paths named after `prefix`; the failing
// command and its output are in `log` when one fails.
struct TwoStageRuns {
  std::filesystem::path data, coarse, fine;
  bool ok = false;
  std::string log;
};

inline TwoStageRuns train_two_stage_voxel_models(const std::string& prefix, int per_family, int steps) {
  const std::string configs = std::string(SHAPEDIFF_SOURCE_DIR) + "/configs/";
  const auto data = scratch_path(prefix + "_data");
  TwoStageRuns runs{data, scratch_path(prefix + "_coarse"), scratch_path(prefix + "_fine"), false, ""};
  const std::string common = " --data " + data.string() + " --threads 2 --steps " + std::to_string(steps);
  for (const auto& args : {"data make --families chair,table --per-family " + std::to_string(per_family) +
                               " --points 256 --scans 0 --resolution 24 --val 0 --test 0 --threads 2 --out " +
                               data.string(),
                           "train --config " + configs + "voxels-tiny.json --out " + runs.coarse.string() + common,
                           "train --config " + configs + "sparse-voxels-tiny.json --out " + runs.fine.string() +
                               common}) {
    const auto r = run_cli(args);
    if (r.code != 0) {
      runs.log = args + " -> " + std::to_string(r.code) + "\n" + r.out;
      return runs;
    }
  }
  runs.ok = true;
  return runs;
}

}  // namespace shapediff::test

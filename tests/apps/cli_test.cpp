// The `shapediff` command as a user runs it: exit codes, one-line errors, output.
#include <gtest/gtest.h>

#include "tests/apps/cli_support.h"

#include <array>
#include <cstdio>
#include <fstream>
#include <string>
#include <sys/wait.h>

namespace {

using Run = shapediff::test::CliRun;
const auto run = shapediff::test::run_cli;

std::string reference() { return std::string(SHAPEDIFF_SHARED_DIR) + "/reference/diffusers_schedulers.json"; }

int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(Cli, VersionAndHelp) {
  auto v = run("--version");
  EXPECT_EQ(v.code, 0);
  EXPECT_NE(v.out.find("shapediff 0."), std::string::npos) << v.out;
  for (const char* args : {"--help", "scheduler --help", "scheduler show --help",
                           "scheduler replay --help"}) {
    auto h = run(args);
    EXPECT_EQ(h.code, 0) << args;
    EXPECT_NE(h.out.find("Usage"), std::string::npos) << args << ": " << h.out;
  }
}

TEST(Cli, ReplayReferencePasses) {
  auto r = run("scheduler replay --reference " + reference());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("ddim_sd_leading_eta0.0_50"), std::string::npos);
  EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" 0 failed"), std::string::npos) << r.out;
}

TEST(Cli, ReplayFailsOnAWrongReference) {
  const std::string path = ::testing::TempDir() + "/wrong_reference.json";
  {
    std::ifstream in(reference());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Change the toy model's slope: every case's numbers become wrong.
    const auto at = text.find("\"a\": 0.8");
    ASSERT_NE(at, std::string::npos);
    text.replace(at, 8, "\"a\": 0.7");
    std::ofstream(path) << text;
  }
  auto r = run("scheduler replay --reference " + path + " --filter ddim");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("FAIL"), std::string::npos) << r.out;
}

TEST(Cli, MalformedReferenceIsExitTwo) {
  const std::string path = ::testing::TempDir() + "/truncated_reference.json";
  std::ofstream(path) << "{\"constants\": {\"a\": 0.8,";
  auto r = run("scheduler replay --reference " + path);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(lines(r.out), 1) << r.out;
  EXPECT_NE(r.out.find(path), std::string::npos) << r.out;

  auto missing = run("scheduler replay --reference /nonexistent.json");
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.out.find("/nonexistent.json"), std::string::npos);
}

TEST(Cli, ShowPrintsTimesteps) {
  auto r = run("scheduler show --sampler ddim --steps 10 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("\"timesteps\""), std::string::npos);
  EXPECT_NE(r.out.find("900.0"), std::string::npos) << r.out;  // leading spacing: 900, 800, ...

  auto e = run("scheduler show --sampler euler --steps 5");
  ASSERT_EQ(e.code, 0) << e.out;
  EXPECT_NE(e.out.find("sigma"), std::string::npos) << e.out;
}

TEST(Cli, BadConfigurationsAreExitTwoWithOneLine) {
  struct Case {
    const char* args;
    const char* must_mention;
  };
  const Case cases[] = {
      {"scheduler show --sampler ddim --steps 0", "num_inference_steps"},
      {"scheduler show --sampler ddim --steps 1001", "num_inference_steps"},
      {"scheduler show --sampler ddim --beta-start 0.02 --beta-end 0.001", "beta_end"},
      {"scheduler show --sampler dpmsolver_multistep --order 4", "solver_order"},
      {"scheduler show --sampler nosuch", "ddim"},  // lists the accepted names
      {"scheduler show --beta-schedule zigzag", "scaled_linear"},
      {"scheduler show --prediction x1", "v_prediction"},
      {"scheduler show --steps abc", "steps"},
      {"scheduler frobnicate", "frobnicate"},
      {"scheduler", "show, replay, list"},
  };
  for (const auto& c : cases) {
    auto r = run(c.args);
    EXPECT_EQ(r.code, 2) << c.args << ": " << r.out;
    EXPECT_EQ(lines(r.out), 1) << c.args << ": " << r.out;
    EXPECT_NE(r.out.find(c.must_mention), std::string::npos) << c.args << ": " << r.out;
  }
}

}  // namespace

// `shapediff image-data` as a user runs it.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/apps/cli_support.h"

namespace {

namespace fs = std::filesystem;
const auto run = shapediff::test::run_cli;

TEST(CliImageData, WritesOneSubfolderPerFamilyAndASheet) {
  const auto out = shapediff::test::scratch_path("image_data");
  const auto sheet = shapediff::test::scratch_path("image_data_sheet.png");
  const std::string args = "image-data --families mug,chair --per-family 2 --views 2 --size 16 "
                           "--resolution 24 --out " + out.string();
  auto r = run(args + " --sheet " + sheet.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("wrote 8 images 16x16"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(out / "mug" / "mug-0001-v01.png"));
  EXPECT_TRUE(fs::exists(out / "chair" / "chair-0000-v00.png"));
  EXPECT_TRUE(fs::exists(sheet));
  const std::string first = shapediff::test::file_bytes(out / "mug" / "mug-0000-v00.png");

  // An existing folder is refused, replaced with --overwrite, and the bytes are reproducible.
  auto refused = run(args);
  EXPECT_EQ(refused.code, 2) << refused.out;
  EXPECT_NE(refused.out.find("already exists"), std::string::npos) << refused.out;
  ASSERT_EQ(run(args + " --overwrite").code, 0);
  EXPECT_EQ(shapediff::test::file_bytes(out / "mug" / "mug-0000-v00.png"), first);
  fs::remove_all(out);
  fs::remove(sheet);
}

TEST(CliImageData, BadOptionsExitTwoAndLeaveNothing) {
  const auto out = shapediff::test::scratch_path("image_data_bad");
  for (const std::string& bad : std::vector<std::string>{"--families mug,teapot", "--size 4", "--views 0",
                                "--sheet " + (out / "sheet.png").string()}) {
    auto r = run("image-data --out " + out.string() + " " + bad);
    EXPECT_EQ(r.code, 2) << bad << ": " << r.out;
    EXPECT_EQ(r.out.rfind("shapediff: error: ", 0), 0u) << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    EXPECT_FALSE(fs::exists(out)) << bad;
  }
}

}  // namespace

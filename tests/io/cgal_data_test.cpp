// Real, external input: every mesh and point set of CGAL's example data (libcgal-demo) either
// reads into a valid object or fails with a one-line error naming the file — never a crash.
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "io/mesh_io.h"
#include "io/point_cloud_io.h"

namespace shapediff::io {
namespace {

namespace fs = std::filesystem;

TEST(CgalData, EveryFileReadsOrFailsCleanly) {
  const std::string archive = "/usr/share/doc/libcgal-dev/data.tar.gz";
  if (!fs::exists(archive)) GTEST_SKIP() << "libcgal-demo is not installed";
  const fs::path dir = fs::path(::testing::TempDir()) / "cgal_data";
  fs::remove_all(dir);
  const std::string script = std::string(SHAPEDIFF_SOURCE_DIR) + "/scripts/cgal_data.sh";
  ASSERT_EQ(std::system((script + " " + dir.string() + " > /dev/null").c_str()), 0);
  int meshes = 0, clouds = 0, failed = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string path = entry.path().string();
    const bool is_mesh_dir = path.find("/meshes/") != std::string::npos;
    try {
      if (is_mesh_dir) {
        const auto m = read_mesh(path);
        m.validate(path);
        EXPECT_GT(m.num_faces(), 0) << path;
        ++meshes;
      } else {
        const auto pc = read_point_cloud(path);
        pc.validate(path);
        EXPECT_GT(pc.size(), 0) << path;
        ++clouds;
      }
    } catch (const std::exception& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(entry.path().filename().string()), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      ++failed;
    }
  }
  // Most of CGAL's data is ordinary OFF/PLY/XYZ: nearly everything must read.
  EXPECT_GT(meshes, 100);
  EXPECT_GT(clouds, 5);
  EXPECT_LT(failed, 15) << "files that failed to read";
  std::printf("CGAL data: %d meshes, %d point sets read, %d rejected\n", meshes, clouds, failed);
}

}  // namespace
}  // namespace shapediff::io

#include "io/json_file.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "io/atomic_file.h"

namespace shapediff::io {
namespace {

std::string temp(const std::string& name) { return ::testing::TempDir() + "/" + name; }

TEST(JsonFile, RoundTrip) {
  const auto path = temp("round.json");
  write_json(path, {{"a", 1}, {"b", {1.5, 2.5}}});
  const auto doc = read_json(path);
  EXPECT_EQ(doc["a"], 1);
  EXPECT_EQ(doc["b"][1], 2.5);
  EXPECT_EQ(require_field(doc, "a", path), 1);
  EXPECT_THROW(require_field(doc, "zzz", path), std::runtime_error);
}

TEST(JsonFile, BadFilesNameThePath) {
  const auto path = temp("bad.json");
  for (const std::string text : {"{\"a\": [1, 2", "", "garbage", "{\"a\": nan}"}) {
    std::ofstream(path) << text;
    try {
      read_json(path);
      FAIL() << "accepted: " << text;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line";
    }
  }
  EXPECT_THROW(read_json(temp("missing.json")), std::runtime_error);
}

TEST(AtomicFile, FailedWriterLeavesNothing) {
  const auto path = temp("atomic.txt");
  std::filesystem::remove(path);
  EXPECT_THROW(write_atomically(path,
                                [](const std::string& tmp) {
                                  std::ofstream(tmp) << "half";
                                  throw std::runtime_error("interrupted");
                                }),
               std::runtime_error);
  EXPECT_FALSE(std::filesystem::exists(path));
  for (const auto& entry : std::filesystem::directory_iterator(::testing::TempDir())) {
    EXPECT_EQ(entry.path().filename().string().rfind("atomic.txt.tmp", 0), std::string::npos)
        << "temporary left behind: " << entry.path();
  }
  // Writing into a missing directory fails cleanly.
  EXPECT_THROW(write_file_atomically(temp("no/such/dir/x.txt"), "x"), std::runtime_error);
}

TEST(AtomicFile, ReplacesExistingContentWhole) {
  const auto path = temp("replace.txt");
  write_file_atomically(path, "first");
  write_file_atomically(path, "second");
  std::ifstream in(path);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(s, "second");
}

}  // namespace
}  // namespace shapediff::io

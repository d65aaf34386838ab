#include "io/npz.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "io/formats/zip_archive.h"
#include "io/npy.h"
#include "io_test_support.h"
#include "numpy_fixtures.h"

namespace shapediff::io {
namespace {

using test::from_hex;
using test::throws_naming;
namespace fx = test_fixtures;

std::map<std::string, torch::Tensor> example_arrays() {
  torch::manual_seed(1);
  return {{"points", torch::randn({16, 3})},
          {"labels", torch::arange(16, torch::kInt64)},
          {"mask", torch::rand({16}) > 0.5},
          {"image", torch::zeros({4, 4, 3}, torch::kUInt8)},
          {"scale", torch::tensor(0.5, torch::kFloat64)},
          {"ids", torch::tensor({3, 1, 2}, torch::kInt32)}};
}

void expect_same(const std::map<std::string, torch::Tensor>& a,
                 const std::map<std::string, torch::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [key, tensor] : a) {
    ASSERT_EQ(b.count(key), 1u) << key;
    EXPECT_EQ(b.at(key).scalar_type(), tensor.scalar_type()) << key;
    EXPECT_TRUE(torch::equal(b.at(key), tensor)) << key;
  }
}

TEST(NpzTest, RoundTripsCompressedAndStored) {
  test::TempDir dir;
  for (const bool compress : {true, false}) {
    const std::string path = dir.path(compress ? "deflate.npz" : "stored.npz");
    write_npz(path, example_arrays(), compress);
    expect_same(example_arrays(), read_npz(path));
  }
  const std::string empty = dir.path("empty.npz");
  write_npz(empty, {});
  EXPECT_TRUE(read_npz(empty).empty());
}

TEST(NpzTest, ReadsNumpyArchives) {
  test::TempDir dir;
  const std::string stored = dir.path("savez.npz");
  test::write_bytes(stored, from_hex(fx::kNpzStored));
  expect_same({{"points", torch::arange(6, torch::kFloat32).reshape({2, 3})},
               {"mask", torch::tensor({true, false})}},
              read_npz(stored));
  const std::map<std::string, torch::Tensor> compressed_arrays = {
      {"points", torch::arange(12, torch::kFloat32).reshape({4, 3})},
      {"labels", torch::tensor({1, 2, 3}, torch::kInt64)}};
  // np.savez_compressed to a file, and to a pipe (members followed by data descriptors).
  for (const char* hex : {fx::kNpzDeflate, fx::kNpzDataDescriptor}) {
    const std::string path = dir.path("compressed.npz");
    test::write_bytes(path, from_hex(hex));
    expect_same(compressed_arrays, read_npz(path));
  }
}

TEST(NpzTest, BadMembersNameTheArchiveAndMember) {
  test::TempDir dir;
  const std::string path = dir.path("members.npz");
  test::write_bytes(path, formats::write_zip({{"notes.txt", "hello"}}, false));
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_npz(path); }, path,
                                                "member 'notes.txt' is not a .npy"));
  test::write_bytes(path, formats::write_zip({{"z.npy", from_hex(fx::kNpyComplex)}}, true));
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([&] { read_npz(path); }, path + "[z.npy]", "'<c16'"));
  test::write_bytes(path, formats::write_zip({{"f.npy", from_hex(fx::kNpyFortran)}}, true));
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_npz(path); }, path + "[f.npy]",
                                                "fortran_order"));
}

TEST(NpzTest, TruncatedCorruptAndMissingFilesFail) {
  test::TempDir dir;
  const std::string path = dir.path("cut.npz");
  const std::string bytes = from_hex(fx::kNpzDeflate);
  for (const size_t cut : {size_t{0}, size_t{10}, size_t{100}, bytes.size() / 2, bytes.size() - 30,
                           bytes.size() - 1}) {
    test::write_bytes(path, bytes.substr(0, cut));
    EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_npz(path); }, path)) << cut;
  }
  std::string flipped = bytes;
  flipped[80] = static_cast<char>(flipped[80] ^ 0x55);
  test::write_bytes(path, flipped);
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_npz(path); }, path, "'points.npy'"));
  test::write_bytes(path, test::garbage(400, 9));
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([&] { read_npz(path); }, path, "not a zip archive"));
  const std::string missing = dir.path("missing.npz");
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([&] { read_npz(missing); }, missing, "cannot open"));
}

TEST(NpzTest, BadWritesLeaveNothing) {
  test::TempDir dir;
  const std::string path = dir.path("bad.npz");
  auto arrays = example_arrays();
  arrays["half"] = torch::zeros({2}, torch::kHalf);
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { write_npz(path, arrays); },
                                                   path + "[half]", "dtype Half"));
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] {
        write_npz(path, {{"", torch::zeros({1})}});
      },
      path, "must not be empty"));
  const std::string nowhere = dir.path("missing/dir/out.npz");
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([&] { write_npz(nowhere, example_arrays()); }, nowhere));
  EXPECT_TRUE(dir.entries().empty());
}

}  // namespace
}  // namespace shapediff::io

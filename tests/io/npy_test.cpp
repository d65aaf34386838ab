#include "io/npy.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "io/formats/npy_format.h"
#include "io_test_support.h"
#include "numpy_fixtures.h"

namespace shapediff::io {
namespace {

using test::from_hex;
using test::throws_naming;
namespace fx = test_fixtures;

const std::string kName = "array.npy";

TEST(NpyTest, RoundTripsEveryDtypeAndShape) {
  test::TempDir dir;
  torch::manual_seed(0);
  const std::vector<torch::Tensor> tensors = {
      torch::randn({4, 5}),
      torch::randn({2, 3, 4}, torch::kFloat64),
      torch::randint(-1000, 1000, {7}, torch::kInt32),
      torch::randint(-1000000, 1000000, {3, 1, 2}, torch::kInt64),
      torch::randint(0, 256, {6, 6}, torch::kUInt8),
      torch::rand({9}) > 0.5,
      torch::tensor(2.5),                                      // 0-d
      torch::zeros({0, 3}),                                    // empty
      torch::arange(12, torch::kFloat32).reshape({3, 4}).t(),  // non-contiguous input
  };
  for (size_t i = 0; i < tensors.size(); ++i) {
    SCOPED_TRACE(i);
    const std::string path = dir.path("t" + std::to_string(i) + ".npy");
    write_npy(path, tensors[i]);
    const torch::Tensor back = read_npy(path);
    EXPECT_EQ(back.scalar_type(), tensors[i].scalar_type());
    EXPECT_EQ(back.sizes(), tensors[i].sizes());
    EXPECT_TRUE(torch::equal(back, tensors[i]));
  }
}

TEST(NpyTest, WritesExactlyWhatNumpyWrites) {
  const torch::Tensor x = torch::arange(6, torch::kFloat32).reshape({2, 3});
  EXPECT_EQ(npy_bytes(x, kName), from_hex(fx::kNpyFloat32));
  EXPECT_EQ(npy_bytes(torch::tensor(3.5, torch::kFloat64), kName), from_hex(fx::kNpyFloat64Scalar));
  EXPECT_EQ(npy_bytes(torch::tensor({true, false, true}), kName), from_hex(fx::kNpyBool));
}

TEST(NpyTest, ReadsNumpyFiles) {
  EXPECT_TRUE(torch::equal(parse_npy_bytes(from_hex(fx::kNpyFloat32), kName),
                           torch::arange(6, torch::kFloat32).reshape({2, 3})));
  const torch::Tensor scalar = parse_npy_bytes(from_hex(fx::kNpyFloat64Scalar), kName);
  EXPECT_EQ(scalar.dim(), 0);
  EXPECT_EQ(scalar.item<double>(), 3.5);
  EXPECT_TRUE(torch::equal(parse_npy_bytes(from_hex(fx::kNpyInt32), kName),
                           torch::tensor({-1, 0, 7}, torch::kInt32)));
  EXPECT_TRUE(torch::equal(parse_npy_bytes(from_hex(fx::kNpyInt64), kName),
                           torch::tensor({1, -2, 3, 4}, torch::kInt64).reshape({2, 2})));
  EXPECT_TRUE(torch::equal(parse_npy_bytes(from_hex(fx::kNpyUInt8), kName),
                           torch::tensor({0, 128, 255}, torch::kUInt8)));
  EXPECT_TRUE(torch::equal(parse_npy_bytes(from_hex(fx::kNpyBool), kName),
                           torch::tensor({true, false, true})));
  EXPECT_EQ(parse_npy_bytes(from_hex(fx::kNpyEmpty), kName).sizes(), (std::vector<int64_t>{0, 3}));
}

TEST(NpyTest, ConvertsBigEndian) {
  const torch::Tensor x = parse_npy_bytes(from_hex(fx::kNpyBigEndianFloat32), kName);
  EXPECT_EQ(x.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(x, torch::tensor({1.5f, -2.0f, 3.25f})));
}

TEST(NpyTest, UnsupportedLayoutsAndDtypesNameTheDtype) {
  EXPECT_TRUE(throws_naming<std::runtime_error>(
      [] { parse_npy_bytes(from_hex(fx::kNpyFortran), kName); }, kName,
      "fortran_order=True arrays are unsupported (dtype '<f8')"));
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([] { parse_npy_bytes(from_hex(fx::kNpyComplex), kName); },
                                        kName, "unsupported dtype '<c16'"));
  EXPECT_TRUE(throws_naming<std::runtime_error>(
      [] { parse_npy_bytes(from_hex(fx::kNpyObject), kName); }, kName, "unsupported dtype '|O'"));
  std::string structured = from_hex(fx::kNpyFloat32);
  const std::string descr = "'<f4'";
  structured.replace(structured.find(descr), descr.size(), "['a']");
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { parse_npy_bytes(structured, kName); }, kName,
                                                "structured"));
  std::string half = from_hex(fx::kNpyFloat32);
  half.replace(half.find(descr), descr.size(), "'<f2'");
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([&] { parse_npy_bytes(half, kName); }, kName, "'<f2'"));
}

TEST(NpyTest, TruncatedAndMalformedFilesFail) {
  const std::string good = from_hex(fx::kNpyInt64);
  test::expect_truncations_fail(parse_npy_bytes, good, kName, good.size());
  const auto with = [&](size_t at, const std::string& replacement) {
    std::string bytes = good;
    bytes.replace(at, replacement.size(), replacement);
    return bytes;
  };
  const size_t shape = good.find("'shape': (") + 10;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "missing the \\x93NUMPY magic"},
      {"PK\x03\x04 not npy at all", "missing the \\x93NUMPY magic"},
      {with(6, std::string("\x09", 1)), "format version 9"},
      {with(8, "\xff\xff"), "runs past the end"},
      {with(shape, "9, 9"), "truncated .npy data"},
      {with(shape, "-2, 2"), "invalid dimension"},
      {with(shape, "99999999999, 99999999999), }"), "overflows"},
      {with(shape, "0, 9999999999, 9999999999), }"), "overflows"},
      {with(good.find("False"), "Maybe"), "unexpected value"},
      {with(good.find("'shape'"), "'shap3'"), "lacks one of"},
      {with(good.find('{'), "("), "expected '{'"},
  };
  for (const auto& [bytes, fragment] : cases) {
    EXPECT_TRUE(
        throws_naming<std::runtime_error>([&] { parse_npy_bytes(bytes, kName); }, kName, fragment))
        << fragment;
  }
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const std::string junk = good.substr(0, 10) + test::garbage(120, seed);
    EXPECT_TRUE(throws_naming<std::runtime_error>([&] { parse_npy_bytes(junk, kName); }, kName));
  }
}

TEST(NpyTest, FileErrorsNameThePathAndLeaveNothing) {
  test::TempDir dir;
  const std::string missing = dir.path("missing.npy");
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([&] { read_npy(missing); }, missing, "cannot open"));
  const std::string half = dir.path("half.npy");
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { write_npy(half, torch::zeros({2}, torch::kHalf)); }, half, "dtype Half"));
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { write_npy(half, torch::Tensor()); }, half,
                                                   "undefined"));
  const std::string nowhere = dir.path("nowhere/x.npy");
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([&] { write_npy(nowhere, torch::zeros({2})); }, nowhere));
  EXPECT_TRUE(dir.entries().empty());
}

}  // namespace
}  // namespace shapediff::io

#include "io/module_archive.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <stdexcept>

#include "io_test_support.h"

namespace shapediff::io {
namespace {

using test::throws_naming;

// A small module with nested submodules, parameters and a buffer.
struct TinyNetImpl : torch::nn::Module {
  explicit TinyNetImpl(int64_t width) {
    layers = register_module("layers", torch::nn::Sequential(torch::nn::Linear(3, width),
                                                              torch::nn::Linear(width, 2)));
    scale = register_buffer("scale", torch::arange(4, torch::kFloat32));
  }
  torch::nn::Sequential layers{nullptr};
  torch::Tensor scale;
};
TORCH_MODULE(TinyNet);

std::string save(const test::TempDir& tmp, const TinyNet& net) {
  torch::serialize::OutputArchive archive;
  write_archive_string(archive, "format", "test-model");
  write_module_state(archive, "weights", *net);
  const auto path = tmp.path("net.pt");
  write_archive_file(path, archive);
  return path;
}

TEST(ModuleArchive, RoundTripsParametersBuffersAndStrings) {
  test::TempDir tmp;
  torch::manual_seed(1);
  TinyNet a(8);
  a->scale.mul_(3);
  const auto path = save(tmp, a);
  torch::manual_seed(2);
  TinyNet b(8);
  auto in = read_archive_file(path);
  EXPECT_EQ(read_archive_string(in, "format", path), "test-model");
  read_module_state(in, "weights", *b, path);
  const auto pa = a->named_parameters(), pb = b->named_parameters();
  ASSERT_EQ(pa.size(), 4u);
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i].value(), pb[i].value())) << pa[i].key();
  EXPECT_TRUE(torch::equal(b->scale, a->scale));
  // Only the final file exists: the write went through a temporary.
  EXPECT_EQ(tmp.entries().size(), 1u);
}

TEST(ModuleArchive, NamesTheMismatchedParameter) {
  test::TempDir tmp;
  const auto path = save(tmp, TinyNet(8));
  TinyNet wider(16);
  const auto before = wider->named_parameters()[0].value().clone();
  auto in = read_archive_file(path);
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { read_module_state(in, "weights", *wider, path); }, path,
      "parameter layers.0.weight has shape [8,3], config expects [16,3]"));
  // Nothing was copied.
  EXPECT_TRUE(torch::equal(wider->named_parameters()[0].value(), before));

  struct Other : torch::nn::Module {
    Other() { register_module("head", torch::nn::Linear(3, 8)); }
  } other;
  auto in2 = read_archive_file(path);
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { read_module_state(in2, "weights", other, path); }, path, "head.weight is missing"));
  auto in3 = read_archive_file(path);
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { read_module_state(in3, "nothing", other, path); }, path, "missing 'nothing'"));
}

TEST(ModuleArchive, RejectsTruncatedGarbageAndDamagedFiles) {
  test::TempDir tmp;
  const auto path = save(tmp, TinyNet(8));
  const auto bytes = test::read_bytes(path);
  for (size_t cut : {size_t{0}, size_t{10}, bytes.size() / 2, bytes.size() - 1}) {
    test::write_bytes(tmp.path("cut.pt"), bytes.substr(0, cut));
    EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { read_archive_file(tmp.path("cut.pt")); },
                                                     tmp.path("cut.pt")))
        << cut;
  }
  test::write_bytes(tmp.path("junk.pt"), "this is not a zip archive at all");
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { read_archive_file(tmp.path("junk.pt")); },
                                                   tmp.path("junk.pt")));
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { read_archive_file(tmp.path("absent.pt")); },
                                                   tmp.path("absent.pt")));

  // A flipped byte inside a stored tensor: the archive opens, the checksum catches it.
  TinyNet marked(8);
  {
    torch::NoGradGuard g;
    marked->layers->named_parameters()[0].value().fill_(0.25f);
  }
  const auto marked_path = save(tmp, marked);
  auto damaged = test::read_bytes(marked_path);
  const float quarter = 0.25f;
  const std::string pattern(reinterpret_cast<const char*>(&quarter), sizeof(float));
  const auto at = damaged.find(pattern);
  ASSERT_NE(at, std::string::npos);
  damaged[at + 1] ^= 0x10;
  test::write_bytes(tmp.path("damaged.pt"), damaged);
  auto in = read_archive_file(tmp.path("damaged.pt"));
  TinyNet target(8);
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { read_module_state(in, "weights", *target, tmp.path("damaged.pt")); }, tmp.path("damaged.pt"),
      "checksum"));
}

}  // namespace
}  // namespace shapediff::io

// PNG folders as [N,C,H,W] tensors in [-1, 1], the image writers, the contact sheet and the
// embedded render folder.
#include "io/image_folder.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "io/png.h"
#include "io/render_folder.h"
#include "io_test_support.h"

namespace shapediff::io {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using test::throws_naming;

torch::Tensor random_bytes(std::vector<int64_t> hwc, int64_t seed) {
  auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed));
  return torch::randint(0, 256, hwc, gen, torch::kUInt8);
}

// Writes uint8 [H,W,C] to dir/name, creating subfolders.
void put_png(const TempDir& tmp, const std::string& name, const torch::Tensor& hwc) {
  const fs::path p = tmp.dir() / name;
  fs::create_directories(p.parent_path());
  write_png(p.string(), hwc);
}

torch::Tensor as_diffusion(const torch::Tensor& hwc) {
  return hwc.permute({2, 0, 1}).to(torch::kFloat32) / 127.5f - 1.0f;
}

TEST(ImageFolder, EightBitValuesRoundTripExactly) {
  TempDir tmp;
  const auto a = random_bytes({5, 7, 3}, 1), b = random_bytes({5, 7, 3}, 2);
  put_png(tmp, "a.png", a);
  put_png(tmp, "b.png", b);
  const ImageFolder first = read_image_folder(tmp.dir().string());
  ASSERT_EQ(first.images.sizes(), (std::vector<int64_t>{2, 3, 5, 7}));
  EXPECT_EQ(first.images.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(first.images[0], as_diffusion(a)));
  EXPECT_TRUE(torch::equal(first.images[1], as_diffusion(b)));
  EXPECT_EQ(first.categories, std::vector<std::string>{"default"});
  EXPECT_TRUE(torch::equal(first.labels, torch::zeros({2}, torch::kLong)));

  // Written back from floats and read again: the same bytes.
  TempDir again;
  write_image_png(again.path("a.png"), first.images[0]);
  write_image_png(again.path("b.png"), first.images[1].to(torch::kFloat64));
  EXPECT_TRUE(torch::equal(read_png(again.path("a.png")), a));
  EXPECT_TRUE(torch::equal(read_image_folder(again.dir().string()).images, first.images));
}

TEST(ImageFolder, LabelsFromSubfoldersInSortedOrder) {
  TempDir tmp;
  const auto px = [](int v) { return torch::full({2, 2, 1}, v, torch::kUInt8); };
  put_png(tmp, "table/b.png", px(10));
  put_png(tmp, "table/a.png", px(20));
  put_png(tmp, "table/legs/c.png", px(30));  // deeper folders belong to their top subfolder
  put_png(tmp, "chair/z.png", px(40));
  put_png(tmp, "loose.png", px(50));         // directly in the folder: "default"
  test::write_bytes(tmp.path(".DS_Store"), "not an image");  // hidden: skipped
  const ImageFolder f = read_image_folder(tmp.dir().string());
  EXPECT_EQ(f.categories, (std::vector<std::string>{"chair", "default", "table"}));
  EXPECT_EQ(f.files, (std::vector<std::string>{"chair/z.png", "loose.png", "table/a.png",
                                               "table/b.png", "table/legs/c.png"}));
  EXPECT_TRUE(torch::equal(f.labels, torch::tensor({0, 1, 2, 2, 2}, torch::kLong)));
  const auto firsts = ((f.images.select(1, 0).select(1, 0).select(1, 0) + 1) * 127.5).round();
  EXPECT_TRUE(torch::equal(firsts, torch::tensor({40.f, 50.f, 20.f, 10.f, 30.f})));
}

TEST(ImageFolder, ConvertsBetweenGrayAndRgb) {
  TempDir tmp;
  const auto gray = random_bytes({4, 3, 1}, 3);
  auto rgb = torch::zeros({4, 3, 3}, torch::kUInt8);
  rgb.select(2, 0).fill_(200);
  rgb.select(2, 1).fill_(100);
  rgb.select(2, 2).fill_(50);
  put_png(tmp, "a_gray.png", gray);
  put_png(tmp, "b_rgb.png", rgb);
  put_png(tmp, "c_rgba.png", torch::cat({rgb, torch::full({4, 3, 1}, 7, torch::kUInt8)}, 2));

  ImageFolderOptions to_rgb;
  to_rgb.channels = 3;
  const auto r = read_image_folder(tmp.dir().string(), to_rgb).images;
  ASSERT_EQ(r.sizes(), (std::vector<int64_t>{3, 3, 4, 3}));
  for (int c = 0; c < 3; ++c) EXPECT_TRUE(torch::equal(r[0][c], as_diffusion(gray)[0]));
  EXPECT_TRUE(torch::equal(r[1], as_diffusion(rgb)));
  EXPECT_TRUE(torch::equal(r[2], as_diffusion(rgb)));  // alpha dropped

  ImageFolderOptions to_gray;
  to_gray.channels = 1;
  const auto g = read_image_folder(tmp.dir().string(), to_gray).images;
  ASSERT_EQ(g.sizes(), (std::vector<int64_t>{3, 1, 4, 3}));
  EXPECT_TRUE(torch::equal(g[0], as_diffusion(gray)));
  // BT.601 luma of (200, 100, 50): 59.8 + 58.7 + 5.7 = 124.2 -> 124.
  EXPECT_TRUE(torch::equal(g[1], torch::full({1, 4, 3}, 124.f / 127.5f - 1.f)));
  EXPECT_TRUE(torch::equal(g[2], g[1]));
}

TEST(ImageFolder, BadFoldersAndFilesNameTheCulprit) {
  const auto rgb = random_bytes({4, 4, 3}, 4);
  {
    TempDir tmp;
    put_png(tmp, "a.png", rgb);
    put_png(tmp, "b.png", random_bytes({4, 5, 3}, 5));
    EXPECT_TRUE(throws_naming<std::invalid_argument>(
        [&] { read_image_folder(tmp.dir().string()); }, tmp.path("b.png"), "one size"));
    ImageFolderOptions sized;
    sized.width = 4;
    sized.height = 4;
    EXPECT_TRUE(throws_naming<std::invalid_argument>(
        [&] { read_image_folder(tmp.dir().string(), sized); }, tmp.path("b.png"), "expected 4x4"));
    sized.width = 3;
    EXPECT_TRUE(throws_naming<std::invalid_argument>(
        [&] { read_image_folder(tmp.dir().string(), sized); }, tmp.path("a.png"), "expected 3x4"));
  }
  {
    TempDir tmp;
    put_png(tmp, "a.png", rgb);
    put_png(tmp, "b.png", random_bytes({4, 4, 1}, 6));
    EXPECT_TRUE(throws_naming<std::invalid_argument>(
        [&] { read_image_folder(tmp.dir().string()); }, tmp.path("b.png"), "channels"));
  }
  {
    TempDir tmp;
    put_png(tmp, "a.png", rgb);
    test::write_bytes(tmp.path("notes.txt"), "hello");
    EXPECT_TRUE(throws_naming<std::invalid_argument>(
        [&] { read_image_folder(tmp.dir().string()); }, tmp.path("notes.txt"), "not a PNG"));
  }
  {
    TempDir tmp;
    put_png(tmp, "a.png", rgb);
    test::write_bytes(tmp.path("b.png"), test::garbage(300, 7));
    EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_image_folder(tmp.dir().string()); },
                                                  tmp.path("b.png")));
  }
  {
    TempDir tmp;
    put_png(tmp, "a.png", random_bytes({16, 16, 3}, 8));
    const std::string bytes = test::read_bytes(tmp.path("a.png"));
    test::write_bytes(tmp.path("a.png"), bytes.substr(0, bytes.size() / 2));
    EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_image_folder(tmp.dir().string()); },
                                                  tmp.path("a.png")));
  }
  {
    TempDir tmp;
    fs::create_directories(tmp.dir() / "chair");
    EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { read_image_folder(tmp.dir().string()); },
                                                     tmp.dir().string(), "no PNG"));
    EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { read_image_folder(tmp.path("none")); },
                                                     tmp.path("none"), "not a folder"));
    ImageFolderOptions four;
    four.channels = 4;
    EXPECT_THROW(read_image_folder(tmp.dir().string(), four), std::invalid_argument);
  }
}

TEST(ImageFolder, ContactSheetMatchesAPlainLayout) {
  auto gen = at::detail::createCPUGenerator(9);
  const auto images = torch::rand({5, 2, 3, 4}, gen) * 2 - 1;
  const int64_t columns = 3, pad = 2;
  const auto sheet = contact_sheet(images, columns, pad, 0.5);
  ASSERT_EQ(sheet.sizes(), (std::vector<int64_t>{2, 2 * (3 + pad) + pad, 3 * (4 + pad) + pad}));
  auto a = sheet.accessor<float, 3>();
  auto src = images.accessor<float, 4>();
  for (int64_t c = 0; c < 2; ++c) {
    for (int64_t y = 0; y < sheet.size(1); ++y) {
      for (int64_t x = 0; x < sheet.size(2); ++x) {
        // Which tile, if any, covers (y, x)?
        const int64_t ty = (y - pad) / (3 + pad), oy = (y - pad) % (3 + pad);
        const int64_t tx = (x - pad) / (4 + pad), ox = (x - pad) % (4 + pad);
        const int64_t i = ty * columns + tx;
        const bool inside = y >= pad && x >= pad && oy < 3 && ox < 4 && i < 5;
        const float expected = inside ? src[i][c][oy][ox] : 0.5f;
        ASSERT_EQ(a[c][y][x], expected) << "c " << c << " y " << y << " x " << x;
      }
    }
  }
  // Fewer images than columns: one row of just those.
  EXPECT_EQ(contact_sheet(images.slice(0, 0, 2), 8, 1).sizes(), (std::vector<int64_t>{2, 5, 11}));
  EXPECT_THROW(contact_sheet(images, 0), std::invalid_argument);
  EXPECT_THROW(contact_sheet(images, 2, -1), std::invalid_argument);
  EXPECT_THROW(contact_sheet(images[0], 2), std::invalid_argument);
}

TEST(ImageFolder, WriteImagePngRejectsBadImages) {
  TempDir tmp;
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { write_image_png(tmp.path("a.png"), torch::zeros({2, 4, 4})); }, tmp.path("a.png"), "[C,H,W]"));
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { write_image_png(tmp.path("a.png"), torch::zeros({1, 4, 4}, torch::kUInt8)); }, tmp.path("a.png")));
  auto nan = torch::zeros({1, 4, 4});
  nan[0][1][1] = NAN;
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { write_image_png(tmp.path("a.png"), nan); }, tmp.path("a.png"), "non-finite"));
  EXPECT_TRUE(tmp.entries().empty());
  // Out-of-range values are clamped.
  write_image_png(tmp.path("b.png"), torch::tensor({-3.f, 3.f}).view({1, 1, 2}));
  EXPECT_TRUE(torch::equal(read_png(tmp.path("b.png")), torch::tensor({0, 255}, torch::kUInt8).view({1, 2, 1})));
}

TEST(ImageFolder, WriteImageFolderIsAtomic) {
  TempDir tmp;
  auto gen = at::detail::createCPUGenerator(10);
  const auto images = torch::rand({3, 1, 4, 4}, gen) * 2 - 1;
  const std::vector<std::string> names{"b/x", "a/y", "a/z"};
  const std::string out = tmp.path("out");
  write_image_folder(out, images, names);
  const ImageFolder back = read_image_folder(out);
  EXPECT_EQ(back.files, (std::vector<std::string>{"a/y.png", "a/z.png", "b/x.png"}));
  EXPECT_LE((back.images[2] - images[0]).abs().max().item<double>(), 1.0 / 127.5 / 2 + 1e-6);

  // An occupied folder is refused (or replaced on request); a failure leaves nothing new.
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { write_image_folder(out, images, names); }, out,
                                                   "already exists"));
  write_image_folder(out, images.slice(0, 0, 1), {"only"}, /*overwrite=*/true);
  EXPECT_EQ(read_image_folder(out).files, std::vector<std::string>{"only.png"});
  auto bad = images.clone();
  bad[2][0][0][0] = NAN;
  EXPECT_THROW(write_image_folder(tmp.path("nan"), bad, names), std::invalid_argument);
  EXPECT_THROW(write_image_folder(tmp.path("dup"), images, {"a", "b/../a", "c"}), std::invalid_argument);
  EXPECT_THROW(write_image_folder(tmp.path("up"), images, {"a", "../b", "c"}), std::invalid_argument);
  EXPECT_THROW(write_image_folder(tmp.path("few"), images, {"a"}), std::invalid_argument);
  EXPECT_EQ(tmp.entries(), std::vector<std::string>{"out"});
}

TEST(ImageFolder, RenderFolderReadsBackAsTheRenders) {
  TempDir tmp;
  shapes::RenderDatasetOptions o;
  o.families = {shapes::ShapeFamily::Mug, shapes::ShapeFamily::Chair};
  o.per_family = 2;
  o.views = 1;
  o.size = 16;
  o.resolution = 24;
  const std::string out = tmp.path("renders");
  const auto rendered = write_render_folder(out, o);
  const ImageFolder back = read_image_folder(out);
  EXPECT_EQ(back.categories, (std::vector<std::string>{"chair", "mug"}));
  EXPECT_EQ(back.files[0], "chair/chair-0000-v00.png");
  EXPECT_TRUE(torch::equal(back.labels, torch::tensor({0, 0, 1, 1}, torch::kLong)));
  ASSERT_EQ(back.images.sizes(), (std::vector<int64_t>{4, 1, 16, 16}));
  // Chairs come second in the render order, first in the sorted folder; 8-bit quantisation only.
  const auto reordered = torch::cat({rendered.images.slice(0, 2, 4), rendered.images.slice(0, 0, 2)});
  EXPECT_LE((back.images - reordered).abs().max().item<double>(), 1.0 / 127.5 / 2 + 1e-6);
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { write_render_folder(out, o); }, out));
}

}  // namespace
}  // namespace shapediff::io

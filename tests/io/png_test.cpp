#include "io/png.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "io/formats/png_codec.h"
#include "io_test_support.h"

namespace shapediff::io {
namespace {

using test::Bytes;
using test::throws_naming;

// ---- PNG files built by hand (zlib stored blocks), for the decoder's conversions ----------

std::string chunk(const std::string& type, const std::string& data) {
  Bytes b(/*big_endian=*/true);
  b.put(static_cast<uint32_t>(data.size())).text(type).text(data);
  b.put(test::crc32_of(type + data));
  return b.str();
}

std::string zlib_stored(const std::string& raw) {
  Bytes b;
  b.put(uint8_t{0x78}).put(uint8_t{0x01});
  size_t pos = 0;
  do {
    const size_t n = std::min<size_t>(65535, raw.size() - pos);
    b.put(uint8_t(pos + n == raw.size() ? 1 : 0)).put(uint16_t(n)).put(uint16_t(~n));
    b.text(raw.substr(pos, n));
    pos += n;
  } while (pos < raw.size());
  Bytes adler(/*big_endian=*/true);
  adler.put(test::adler32_of(raw));
  return b.str() + adler.str();
}

std::string ihdr(uint32_t width, uint32_t height, uint8_t depth, uint8_t color,
                 uint8_t interlace = 0) {
  Bytes b(/*big_endian=*/true);
  b.put(width).put(height).put(depth).put(color).put(uint8_t{0}).put(uint8_t{0}).put(interlace);
  return b.str();
}

// `scanlines`: the filtered image data (a 0 filter byte before each row).
std::string png_file(const std::string& header, const std::string& scanlines,
                     const std::string& extra = "") {
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", header) + extra +
         chunk("IDAT", zlib_stored(scanlines)) + chunk("IEND", "");
}

std::string raw(std::initializer_list<int> values) {
  std::string s;
  for (int v : values) s.push_back(static_cast<char>(v));
  return s;
}

torch::Tensor u8(std::initializer_list<int> values, std::vector<int64_t> shape) {
  std::vector<int64_t> v(values.begin(), values.end());
  return torch::tensor(v).to(torch::kUInt8).reshape(shape);
}

torch::Tensor decode(const std::string& bytes) {
  const formats::RawImage image = formats::decode_png(bytes, "test.png");
  return torch::tensor(std::vector<int64_t>(image.pixels.begin(), image.pixels.end()))
      .to(torch::kUInt8)
      .reshape({image.height, image.width, image.channels});
}

TEST(PngTest, RoundTripsGrayRgbAndRgba) {
  test::TempDir dir;
  torch::manual_seed(2);
  for (const int64_t c : {1, 3, 4}) {
    const torch::Tensor image = torch::randint(0, 256, {5, 7, c}).to(torch::kUInt8);
    const std::string path = dir.path("img" + std::to_string(c) + ".png");
    write_png(path, image);
    const torch::Tensor back = read_png(path);
    EXPECT_EQ(back.scalar_type(), torch::kUInt8);
    EXPECT_TRUE(torch::equal(back, image)) << c;
  }
  const torch::Tensor gray = torch::randint(0, 256, {3, 9}).to(torch::kUInt8);
  write_png(dir.path("gray.png"), gray);
  EXPECT_TRUE(torch::equal(read_png(dir.path("gray.png")), gray.unsqueeze(2)));
  const torch::Tensor strided = torch::randint(0, 256, {6, 4, 3}).to(torch::kUInt8).transpose(0, 1);
  write_png(dir.path("strided.png"), strided);
  EXPECT_TRUE(torch::equal(read_png(dir.path("strided.png")), strided));
}

TEST(PngTest, ExpandsPalettesWithAndWithoutTransparency) {
  const std::string palette = chunk("PLTE", raw({255, 0, 0, 0, 255, 0, 0, 0, 255}));
  const std::string scanlines = raw({0, 0, 1, 0, 2, 0});
  EXPECT_TRUE(torch::equal(decode(png_file(ihdr(2, 2, 8, 3), scanlines, palette)),
                           u8({255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 0, 0}, {2, 2, 3})));
  const std::string trns = chunk("tRNS", raw({0, 128}));
  EXPECT_TRUE(
      torch::equal(decode(png_file(ihdr(2, 2, 8, 3), scanlines, palette + trns)),
                   u8({255, 0, 0, 0, 0, 255, 0, 128, 0, 0, 255, 255, 255, 0, 0, 0}, {2, 2, 4})));
}

TEST(PngTest, ScalesSixteenBitSamples) {
  const std::string scanlines =
      raw({0, 0xff, 0xff, 0x80, 0x80, 0, 0, 0x12, 0x34, 0xff, 0xfe, 0, 1});
  EXPECT_TRUE(torch::equal(decode(png_file(ihdr(2, 1, 16, 2), scanlines)),
                           u8({255, 128, 0, 18, 255, 0}, {1, 2, 3})));
}

TEST(PngTest, GrayAlphaAndGrayTransparencyBecomeRgba) {
  EXPECT_TRUE(torch::equal(decode(png_file(ihdr(2, 1, 8, 4), raw({0, 10, 20, 30, 40}))),
                           u8({10, 10, 10, 20, 30, 30, 30, 40}, {1, 2, 4})));
  const std::string trns = chunk("tRNS", raw({0, 7}));
  EXPECT_TRUE(torch::equal(decode(png_file(ihdr(2, 1, 8, 0), raw({0, 7, 9}), trns)),
                           u8({7, 7, 7, 0, 9, 9, 9, 255}, {1, 2, 4})));
}

TEST(PngTest, ExpandsLowBitDepthGray) {
  EXPECT_TRUE(torch::equal(decode(png_file(ihdr(8, 1, 1, 0), raw({0, 0xb0}))),
                           u8({255, 0, 255, 255, 0, 0, 0, 0}, {1, 8, 1})));
}

TEST(PngTest, UndoesInterlacing) {
  // 3x3 gray, Adam7: pass 1 (0,0); pass 4 (2,0); pass 5 (0,2),(2,2); pass 6 (1,0),(1,2);
  // pass 7 the middle row.
  const std::string scanlines = raw({0, 1, 0, 3, 0, 7, 9, 0, 2, 0, 8, 0, 4, 5, 6});
  EXPECT_TRUE(torch::equal(decode(png_file(ihdr(3, 3, 8, 0, 1), scanlines)),
                           u8({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3, 1})));
}

TEST(PngTest, MalformedFilesFail) {
  const std::string name = "test.png";
  const std::string good = png_file(ihdr(2, 1, 8, 2), raw({0, 1, 2, 3, 4, 5, 6}));
  test::expect_truncations_fail(formats::decode_png, good, name, good.size());
  formats::RawImage image{4, 3, 3, std::vector<uint8_t>(36, 7)};
  const std::string encoded = formats::encode_png(image);
  test::expect_truncations_fail(formats::decode_png, encoded, name, encoded.size());

  std::string bad_crc = good;
  bad_crc[29] = static_cast<char>(bad_crc[29] ^ 1);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "not a PNG"},
      {"GIF89a and more bytes", "not a PNG"},
      {bad_crc, "CRC"},
      {png_file(ihdr(0, 1, 8, 2), raw({0})), "invalid PNG"},
      {png_file(ihdr(1, 1, 3, 2), raw({0, 1})), "invalid PNG"},
      {png_file(ihdr(100000, 100000, 8, 6), raw({0, 1, 2, 3, 4})), "claims more image data"},
      {png_file(ihdr(4000000000u, 1, 8, 0), raw({0})), "invalid PNG"},
      {png_file(ihdr(2, 2, 8, 2), raw({0, 1, 2, 3, 4, 5, 6})), "invalid PNG"},
      {png_file(ihdr(2, 2, 8, 3), raw({0, 0, 1, 0, 2, 0})), "invalid PNG"},  // no palette
  };
  for (const auto& [bytes, fragment] : cases) {
    EXPECT_TRUE(throws_naming<std::runtime_error>([&] { formats::decode_png(bytes, name); }, name,
                                                  fragment))
        << fragment;
  }
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const std::string junk = good.substr(0, 8) + test::garbage(300, seed);
    EXPECT_TRUE(throws_naming<std::runtime_error>([&] { formats::decode_png(junk, name); }, name));
  }
}

TEST(PngTest, FileErrorsNameThePathAndLeaveNothing) {
  test::TempDir dir;
  const std::string missing = dir.path("missing.png");
  EXPECT_TRUE(
      throws_naming<std::runtime_error>([&] { read_png(missing); }, missing, "cannot open"));
  const std::string broken = dir.path("broken.png");
  test::write_bytes(broken, "\x89PNG\r\n\x1a\n");
  EXPECT_TRUE(throws_naming<std::runtime_error>([&] { read_png(broken); }, broken, "truncated"));
  const std::string out = dir.path("out.png");
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] {
        write_png(out, torch::zeros({2, 2, 3}));
      },
      out, "uint8"));
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] {
        write_png(out, torch::zeros({2, 2, 2}, torch::kUInt8));
      },
      out, "C in {1,3,4}"));
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] {
        write_png(out, torch::zeros({0, 2, 3}, torch::kUInt8));
      },
      out, "empty"));
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { write_png(out, torch::Tensor()); }, out,
                                                   "undefined"));
  const std::string nowhere = dir.path("missing/out.png");
  EXPECT_TRUE(throws_naming<std::runtime_error>(
      [&] {
        write_png(nowhere, torch::zeros({2, 2, 3}, torch::kUInt8));
      },
      nowhere));
  std::filesystem::remove(broken);
  EXPECT_TRUE(dir.entries().empty());
}

}  // namespace
}  // namespace shapediff::io

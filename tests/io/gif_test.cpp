#include "io/gif.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <iterator>

#include "io_test_support.h"

namespace shapediff::io {
namespace {

using test::throws_naming;

// A plain GIF decoder (global palette, full-canvas frames, LZW per the GIF89a spec), enough
// to read back what write_gif writes: frames as uint8 [H,W,3] plus each frame's delay.
struct DecodedGif {
  std::vector<torch::Tensor> frames;
  std::vector<int> delays;
  bool loops = false;
};

DecodedGif decode_gif(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string s{std::istreambuf_iterator<char>(in), {}};
  size_t pos = 0;
  auto u8 = [&]() { return static_cast<uint8_t>(s.at(pos++)); };
  auto u16 = [&]() { const int lo = u8(); return lo | (u8() << 8); };
  EXPECT_EQ(s.substr(0, 6), "GIF89a");
  pos = 6;
  const int width = u16(), height = u16();
  const int packed = u8();
  pos += 2;
  const int table = 1 << ((packed & 7) + 1);
  std::vector<uint8_t> palette(s.begin() + pos, s.begin() + pos + table * 3);
  pos += table * 3;
  DecodedGif gif;
  int delay = 0;
  while (true) {
    const int tag = u8();
    if (tag == 0x3B) break;
    if (tag == 0x21) {
      const int label = u8();
      std::string data;
      for (int n = u8(); n != 0; n = u8()) data += s.substr(pos, n), pos += n;
      if (label == 0xF9) delay = static_cast<uint8_t>(data[1]) | (static_cast<uint8_t>(data[2]) << 8);
      if (label == 0xFF && data.rfind("NETSCAPE2.0", 0) == 0) gif.loops = true;
      continue;
    }
    EXPECT_EQ(tag, 0x2C);
    pos += 8;
    EXPECT_EQ(u8(), 0);  // no local table, not interlaced
    const int min_size = u8();
    std::string data;
    for (int n = u8(); n != 0; n = u8()) data += s.substr(pos, n), pos += n;
    // LZW decode.
    const int clear = 1 << min_size, end = clear + 1;
    std::vector<std::vector<uint8_t>> dict;
    auto reset = [&] {
      dict.assign(end + 1, {});
      for (int i = 0; i < clear; ++i) dict[i] = {static_cast<uint8_t>(i)};
    };
    reset();
    int width_bits = min_size + 1;
    size_t bitpos = 0;
    std::vector<uint8_t> out;
    int prev = -1;
    while (true) {
      int code = 0;
      for (int b = 0; b < width_bits; ++b, ++bitpos) {
        code |= ((static_cast<uint8_t>(data.at(bitpos / 8)) >> (bitpos % 8)) & 1) << b;
      }
      if (code == clear) { reset(); width_bits = min_size + 1; prev = -1; continue; }
      if (code == end) break;
      std::vector<uint8_t> entry;
      if (code < static_cast<int>(dict.size())) {
        entry = dict[code];
        if (prev >= 0) { auto e = dict[prev]; e.push_back(entry[0]); dict.push_back(e); }
      } else {
        EXPECT_EQ(code, static_cast<int>(dict.size()));
        entry = dict.at(prev);
        entry.push_back(entry[0]);
        dict.push_back(entry);
      }
      out.insert(out.end(), entry.begin(), entry.end());
      if (static_cast<int>(dict.size()) == (1 << width_bits) && width_bits < 12) ++width_bits;
      prev = code;
    }
    EXPECT_EQ(out.size(), static_cast<size_t>(width) * height);
    auto frame = torch::empty({height, width, 3}, torch::kUInt8);
    auto* f = frame.data_ptr<uint8_t>();
    for (size_t i = 0; i < out.size() && i < static_cast<size_t>(width) * height; ++i) {
      for (int c = 0; c < 3; ++c) f[i * 3 + c] = palette[out[i] * 3 + c];
    }
    gif.frames.push_back(frame);
    gif.delays.push_back(delay);
  }
  return gif;
}

// Random images over `colours` distinct colours, each its own 5-bit bin (so the palette is exact).
std::vector<torch::Tensor> random_frames(int64_t count, int64_t h, int64_t w, int64_t colours,
                                         uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto bins = torch::randperm(32 * 32 * 32, gen).slice(0, 0, colours);
  auto table = torch::stack({bins / 1024, (bins / 32) % 32, bins % 32}, 1) * 8;
  std::vector<torch::Tensor> frames;
  for (int64_t i = 0; i < count; ++i) {
    auto idx = torch::randint(colours, {h, w}, gen);
    frames.push_back(table.index({idx}).to(torch::kUInt8));
  }
  return frames;
}

TEST(Gif, RoundTripsExactlyWithFewColours) {
  test::TempDir dir;
  // Random pixels fill the 4096-code table many times: exercises the clear codes.
  auto frames = random_frames(3, 97, 131, 200, 1);
  write_gif(dir.path("a.gif"), frames, 7);
  auto gif = decode_gif(dir.path("a.gif"));
  ASSERT_EQ(gif.frames.size(), 3u);
  EXPECT_TRUE(gif.loops);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(torch::equal(gif.frames[i], frames[i])) << "frame " << i;
    EXPECT_EQ(gif.delays[i], 7);
  }
}

TEST(Gif, RoundTripsLongRunsAndTinyImages) {
  test::TempDir dir;
  // Flat areas give long strings (codes up to 12 bits without a clear); 1x1 is the edge case.
  auto flat = torch::zeros({200, 300, 3}, torch::kUInt8);
  flat.slice(0, 50, 120).select(2, 0).fill_(240);
  write_gif(dir.path("flat.gif"), {flat, flat.flip(0)}, 0);
  auto gif = decode_gif(dir.path("flat.gif"));
  ASSERT_EQ(gif.frames.size(), 2u);
  EXPECT_TRUE(torch::equal(gif.frames[0], flat));
  EXPECT_TRUE(torch::equal(gif.frames[1], flat.flip(0)));
  auto one = torch::full({1, 1, 3}, 64, torch::kUInt8);
  write_gif(dir.path("one.gif"), {one});
  EXPECT_TRUE(torch::equal(decode_gif(dir.path("one.gif")).frames.at(0), one));
}

TEST(Gif, ManyColoursStayClose) {
  test::TempDir dir;
  // A smooth gradient has far more than 256 colours: every pixel maps to a nearby entry.
  auto ramp = torch::linspace(0, 255, 64).view({1, 64}).expand({64, 64});
  auto img = torch::stack({ramp, ramp.t(), 255 - ramp}, 2).round().to(torch::kUInt8).contiguous();
  write_gif(dir.path("g.gif"), {img});
  auto back = decode_gif(dir.path("g.gif")).frames.at(0);
  const auto err = (back.to(torch::kInt) - img.to(torch::kInt)).abs().max().item<int>();
  EXPECT_LE(err, 24);
}

TEST(Gif, RejectsBadFramesNamingTheFile) {
  test::TempDir dir;
  const auto path = dir.path("bad.gif");
  auto ok = torch::zeros({4, 4, 3}, torch::kUInt8);
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { write_gif(path, {}); }, path));
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { write_gif(path, {ok, torch::zeros({4, 4, 3})}); }, path, "frame 1"));
  EXPECT_TRUE(throws_naming<std::invalid_argument>(
      [&] { write_gif(path, {ok, torch::zeros({5, 4, 3}, torch::kUInt8)}); }, path, "frame 1"));
  EXPECT_TRUE(throws_naming<std::invalid_argument>([&] { write_gif(path, {ok}, -1); }, path));
  EXPECT_TRUE(dir.entries().empty());
}

}  // namespace
}  // namespace shapediff::io

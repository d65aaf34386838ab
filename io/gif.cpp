// GIF89a encoder: median-cut palette over 5-bit colour bins, LZW with 12-bit codes.
#include "io/gif.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>

#include <torch/torch.h>

#include "io/atomic_file.h"

namespace shapediff::io {
namespace {

constexpr int kBins = 1 << 15;  // 5 bits per channel

int bin_of(const uint8_t* rgb) { return ((rgb[0] >> 3) << 10) | ((rgb[1] >> 3) << 5) | (rgb[2] >> 3); }

struct Palette {
  std::array<uint8_t, 256 * 3> colours{};
  std::vector<uint8_t> index_of_bin;  // kBins entries
};

// Median cut over the used 5-bit bins (weighted by pixel count): the box with the widest
// channel range is split at its weighted median until there are 256 boxes; each palette entry
// is the mean colour of a box's pixels, and each used bin maps to the nearest entry. With at
// most 256 used bins every bin gets its own entry, so such images come out exact.
Palette make_palette(const std::vector<torch::Tensor>& frames) {
  std::vector<int64_t> count(kBins, 0);
  std::vector<std::array<int64_t, 3>> sum(kBins, {0, 0, 0});
  for (const auto& f : frames) {
    const uint8_t* p = f.data_ptr<uint8_t>();
    const int64_t n = f.size(0) * f.size(1);
    for (int64_t i = 0; i < n; ++i, p += 3) {
      const int b = bin_of(p);
      ++count[b];
      for (int c = 0; c < 3; ++c) sum[b][c] += p[c];
    }
  }
  auto channel = [](int bin, int c) { return (bin >> (10 - 5 * c)) & 31; };
  std::vector<std::vector<int>> boxes(1);
  for (int b = 0; b < kBins; ++b) {
    if (count[b] > 0) boxes[0].push_back(b);
  }
  while (boxes.size() < 256) {
    int best = -1, best_axis = 0, best_range = 0;
    for (size_t i = 0; i < boxes.size(); ++i) {
      if (boxes[i].size() < 2) continue;
      for (int c = 0; c < 3; ++c) {
        int lo = 31, hi = 0;
        for (int b : boxes[i]) lo = std::min(lo, channel(b, c)), hi = std::max(hi, channel(b, c));
        if (hi - lo > best_range) best = static_cast<int>(i), best_axis = c, best_range = hi - lo;
      }
    }
    if (best < 0) break;  // every box is a single bin
    auto& box = boxes[best];
    std::stable_sort(box.begin(), box.end(),
                     [&](int a, int b) { return channel(a, best_axis) < channel(b, best_axis); });
    int64_t total = 0, acc = 0;
    for (int b : box) total += count[b];
    size_t cut = 1;
    for (; cut < box.size() - 1; ++cut) {
      acc += count[box[cut - 1]];
      if (2 * acc >= total) break;
    }
    std::vector<int> upper(box.begin() + static_cast<std::ptrdiff_t>(cut), box.end());
    box.resize(cut);
    boxes.push_back(std::move(upper));
  }
  Palette pal;
  for (size_t k = 0; k < boxes.size(); ++k) {
    int64_t n = 0, s[3] = {0, 0, 0};
    for (int b : boxes[k]) {
      n += count[b];
      for (int c = 0; c < 3; ++c) s[c] += sum[b][c];
    }
    for (int c = 0; c < 3; ++c) pal.colours[k * 3 + c] = static_cast<uint8_t>((s[c] + n / 2) / n);
  }
  pal.index_of_bin.assign(kBins, 0);
  for (const auto& box : boxes) {
    for (int b : box) {
      const int64_t rgb[3] = {(sum[b][0] + count[b] / 2) / count[b], (sum[b][1] + count[b] / 2) / count[b],
                              (sum[b][2] + count[b] / 2) / count[b]};
      int64_t best_d = INT64_MAX;
      for (size_t k = 0; k < boxes.size(); ++k) {
        int64_t d = 0;
        for (int c = 0; c < 3; ++c) {
          const int64_t e = rgb[c] - pal.colours[k * 3 + c];
          d += e * e;
        }
        if (d < best_d) best_d = d, pal.index_of_bin[b] = static_cast<uint8_t>(k);
      }
    }
  }
  return pal;
}

// Variable-width LSB-first code writer producing GIF data sub-blocks (<= 255 bytes each).
class CodeWriter {
 public:
  explicit CodeWriter(std::string& out) : out_(out) {}
  void put(int code, int width) {
    bits_ |= static_cast<uint32_t>(code) << nbits_;
    nbits_ += width;
    while (nbits_ >= 8) {
      byte(static_cast<uint8_t>(bits_ & 0xff));
      bits_ >>= 8;
      nbits_ -= 8;
    }
  }
  void finish() {
    if (nbits_ > 0) byte(static_cast<uint8_t>(bits_ & 0xff));
    flush_block();
    out_.push_back('\0');  // block terminator
  }

 private:
  void byte(uint8_t b) {
    block_.push_back(static_cast<char>(b));
    if (block_.size() == 255) flush_block();
  }
  void flush_block() {
    if (block_.empty()) return;
    out_.push_back(static_cast<char>(block_.size()));
    out_ += block_;
    block_.clear();
  }
  std::string& out_;
  std::string block_;
  uint32_t bits_ = 0;
  int nbits_ = 0;
};

// LZW with 8-bit roots (clear = 256, end = 257). The string table is a (prefix, byte) ->
// code array; a generation stamp clears it in O(1) when it fills up at 4096 codes.
void lzw_encode(const std::vector<uint8_t>& pixels, std::string& out) {
  constexpr int kClear = 256, kEnd = 257, kFirst = 258, kMaxCodes = 4096;
  std::vector<uint16_t> code(kMaxCodes * 256), stamp(kMaxCodes * 256, 0);
  uint16_t generation = 1;
  int next = kFirst, width = 9;
  out.push_back(8);  // LZW minimum code size
  CodeWriter w(out);
  w.put(kClear, width);
  int prefix = pixels[0];
  for (size_t i = 1; i < pixels.size(); ++i) {
    const int k = pixels[i];
    const size_t slot = static_cast<size_t>(prefix) * 256 + k;
    if (stamp[slot] == generation) {
      prefix = code[slot];
      continue;
    }
    w.put(prefix, width);
    if (next < kMaxCodes) {
      stamp[slot] = generation;
      code[slot] = static_cast<uint16_t>(next++);
      // The decoder adds each entry one code later, so it widens when next passes 2^width.
      if (next > (1 << width) && width < 12) ++width;
    } else {
      w.put(kClear, width);
      if (++generation == 0) {  // stamps wrapped: clear them for real
        std::fill(stamp.begin(), stamp.end(), 0);
        generation = 1;
      }
      next = kFirst;
      width = 9;
    }
    prefix = k;
  }
  w.put(prefix, width);
  w.put(kEnd, width);
  w.finish();
}

void put16(std::string& out, int v) {
  out.push_back(static_cast<char>(v & 0xff));
  out.push_back(static_cast<char>((v >> 8) & 0xff));
}

}  // namespace

void write_gif(const std::string& path, const std::vector<torch::Tensor>& frames, int delay_cs) {
  if (frames.empty()) throw std::invalid_argument(path + ": no frames to write");
  if (delay_cs < 0 || delay_cs > 65535) {
    throw std::invalid_argument(path + ": delay " + std::to_string(delay_cs) + " cs (must be 0..65535)");
  }
  std::vector<torch::Tensor> rgb;
  for (size_t i = 0; i < frames.size(); ++i) {
    const auto& f = frames[i];
    const std::string where = path + ": frame " + std::to_string(i);
    if (!f.defined() || f.dim() != 3 || f.size(2) != 3 || f.scalar_type() != torch::kUInt8) {
      throw std::invalid_argument(where + " must be uint8 [H,W,3]");
    }
    if (f.size(0) < 1 || f.size(1) < 1 || f.size(0) > 65535 || f.size(1) > 65535) {
      throw std::invalid_argument(where + " has size " + std::to_string(f.size(1)) + "x" +
                                  std::to_string(f.size(0)) + " (must be 1..65535)");
    }
    if (f.sizes() != frames[0].sizes()) {
      throw std::invalid_argument(where + " differs in size from frame 0");
    }
    rgb.push_back(f.to(torch::kCPU).contiguous());
  }
  const int height = static_cast<int>(rgb[0].size(0)), width = static_cast<int>(rgb[0].size(1));
  const Palette pal = make_palette(rgb);

  std::string out = "GIF89a";
  put16(out, width);
  put16(out, height);
  out.push_back(static_cast<char>(0xF7));  // global table of 2^(7+1) entries, 8-bit colour
  out.push_back(0);                        // background index
  out.push_back(0);                        // square pixels
  out.append(reinterpret_cast<const char*>(pal.colours.data()), pal.colours.size());
  // NETSCAPE2.0 application extension: loop forever.
  out += std::string("\x21\xFF\x0BNETSCAPE2.0\x03\x01", 16);
  put16(out, 0);
  out.push_back(0);
  std::vector<uint8_t> indices(static_cast<size_t>(width) * height);
  for (const auto& f : rgb) {
    out += std::string("\x21\xF9\x04\x04", 4);  // graphic control: disposal "leave in place"
    put16(out, delay_cs);
    out.push_back(0);  // no transparent colour
    out.push_back(0);
    out.push_back(0x2C);  // image descriptor: whole canvas, no local table
    put16(out, 0);
    put16(out, 0);
    put16(out, width);
    put16(out, height);
    out.push_back(0);
    const uint8_t* p = f.data_ptr<uint8_t>();
    for (size_t i = 0; i < indices.size(); ++i, p += 3) indices[i] = pal.index_of_bin[bin_of(p)];
    lzw_encode(indices, out);
  }
  out.push_back(0x3B);
  write_file_atomically(path, out);
}

}  // namespace shapediff::io

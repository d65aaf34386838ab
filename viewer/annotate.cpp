#include "viewer/annotate.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <stdexcept>

#include <torch/torch.h>

namespace shapediff::viewer {
namespace {

constexpr int kGlyphW = 5, kGlyphH = 7, kAdvance = 6;

// 5x7 glyphs, one string of 7 rows per character ('#' = ink).
const std::map<char, const char*>& glyphs() {
  static const std::map<char, const char*> g = {
      {'0', ".###.#...##..###.#.###..##...#.###."}, {'1', "..#...##....#....#....#....#...###."},
      {'2', ".###.#...#....#...#...#...#...#####"}, {'3', "#####...#...#.....#.....##...#.###."},
      {'4', "...#...##..#.#.#..#.#####...#....#."}, {'5', "######....####.....#....##...#.###."},
      {'6', "..##..#...#....####.#...##...#.###."}, {'7', "#####....#...#...#...#....#....#..."},
      {'8', ".###.#...##...#.###.#...##...#.###."}, {'9', ".###.#...##...#.####....#...#..##.."},
      {'a', "...........###.....#.#####...#.####"}, {'b', "#....#....#.##.##..##...##...#####."},
      {'c', "...........###.#....#....#...#.###."}, {'d', "....#....#.##.##..###...##...#.####"},
      {'e', "...........###.#...#######.....###."}, {'f', "..##..#..#.#...###...#....#....#..."},
      {'g', "......#####...##...#.####....#.###."}, {'h', "#....#....#.##.##..##...##...##...#"},
      {'i', "..#........##....#....#....#...###."}, {'j', "...#........##....#....#.#..#..##.."},
      {'k', "#....#....#..#.#.#..##...#.#..#..#."}, {'l', ".##....#....#....#....#....#...###."},
      {'m', "..........##.#.#.#.##.#.##...##...#"}, {'n', "..........#.##.##..##...##...##...#"},
      {'o', "...........###.#...##...##...#.###."}, {'p', "..........####.#...#####.#....#...."},
      {'q', "...........#####...#.####....#....#"}, {'r', "..........#.##.##..##....#....#...."},
      {'s', "...........#####.....###.....#####."}, {'t', ".#....#...###...#....#....#..#..##."},
      {'u', "..........#...##...##...##..##.##.#"}, {'v', "..........#...##...##...#.#.#...#.."},
      {'w', "..........#...##...##.#.##.#.#.#.#."}, {'x', "..........#...#.#.#...#...#.#.#...#"},
      {'y', "..........#...##...#.####....#.###."}, {'z', "..........#####...#...#...#...#####"},
      {' ', "..................................."}, {'.', "..........................##...##.."},
      {',', ".....................##....#...#..."}, {':', "......##...##........##...##......."},
      {';', "......##...##........##....#...#..."}, {'=', "..........#####.....#####.........."},
      {'+', ".......#....#..#####..#....#......."}, {'-', "...............#####..............."},
      {'_', "..............................#####"}, {'/', "....#....#...#...#...#...#....#...."},
      {'(', "...#...#...#....#....#.....#.....#."}, {')', ".#.....#.....#....#....#...#...#..."},
      {'%', "##...##..#...#...#...#...#..##...##"}, {'#', ".#.#..#.#.#####.#.#.#####.#.#..#.#."},
      {'<', "...#...#...#...#.....#.....#.....#."}, {'>', ".#.....#.....#.....#...#...#...#..."},
      {'[', ".###..#....#....#....#....#....###."}, {']', ".###....#....#....#....#....#..###."},
      {'|', "..#....#....#....#....#....#....#.."}, {'?', ".###.#...#....#...#...#.........#.."},
  };
  return g;
}

}  // namespace

std::pair<int64_t, int64_t> text_size(const std::string& text, int64_t scale) {
  if (text.empty()) return {0, 0};
  return {(static_cast<int64_t>(text.size()) * kAdvance - 1) * scale, kGlyphH * scale};
}

void draw_text(torch::Tensor& image, int64_t x, int64_t y, const std::string& text, int64_t scale,
               std::array<uint8_t, 3> colour) {
  if (!image.defined() || image.dim() != 3 || image.size(2) != 3 ||
      image.scalar_type() != torch::kUInt8 || !image.device().is_cpu() || !image.is_contiguous()) {
    throw std::invalid_argument("draw_text: image must be a contiguous CPU uint8 [H,W,3] tensor");
  }
  if (scale < 1) throw std::invalid_argument("draw_text: scale = " + std::to_string(scale) + " (must be >= 1)");
  const int64_t h = image.size(0), w = image.size(1);
  uint8_t* data = image.data_ptr<uint8_t>();
  const auto& g = glyphs();
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
    auto it = g.find(c);
    const std::string rows = it != g.end() ? it->second : g.at('?');
    const int64_t gx = x + static_cast<int64_t>(i) * kAdvance * scale;
    for (int r = 0; r < kGlyphH; ++r) {
      for (int col = 0; col < kGlyphW; ++col) {
        const size_t k = static_cast<size_t>(r * kGlyphW + col);
        if (k >= rows.size() || rows[k] != '#') continue;
        for (int64_t dy = 0; dy < scale; ++dy) {
          for (int64_t dx = 0; dx < scale; ++dx) {
            const int64_t px = gx + col * scale + dx, py = y + r * scale + dy;
            if (px < 0 || py < 0 || px >= w || py >= h) continue;
            std::copy(colour.begin(), colour.end(), data + (py * w + px) * 3);
          }
        }
      }
    }
  }
}

torch::Tensor tile_images(const std::vector<torch::Tensor>& images, int64_t columns, int64_t margin,
                          uint8_t background) {
  if (images.empty()) throw std::invalid_argument("tile_images: no images");
  if (columns < 1) throw std::invalid_argument("tile_images: columns = " + std::to_string(columns) + " (must be >= 1)");
  if (margin < 0) throw std::invalid_argument("tile_images: margin = " + std::to_string(margin) + " (must be >= 0)");
  const auto size = images[0].sizes();
  for (size_t i = 0; i < images.size(); ++i) {
    if (images[i].dim() != 3 || images[i].scalar_type() != torch::kUInt8 || images[i].sizes() != size) {
      throw std::invalid_argument("tile_images: image " + std::to_string(i) +
                                  " is not uint8 of the first image's size");
    }
  }
  const int64_t n = static_cast<int64_t>(images.size());
  const int64_t cols = std::min(columns, n), rows = (n + cols - 1) / cols;
  const int64_t h = size[0], w = size[1];
  auto sheet = torch::full({rows * h + (rows + 1) * margin, cols * w + (cols + 1) * margin, size[2]},
                           background, torch::kUInt8);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = i / cols, c = i % cols;
    sheet.slice(0, margin + r * (h + margin), margin + r * (h + margin) + h)
        .slice(1, margin + c * (w + margin), margin + c * (w + margin) + w)
        .copy_(images[i].to(torch::kCPU));
  }
  return sheet;
}

}  // namespace shapediff::viewer

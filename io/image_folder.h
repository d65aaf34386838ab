// A folder of PNG images as one dataset tensor, and the image writers of the 2D diffusion side.
//
// Values: images are float32 in [-1, 1], the diffusion convention (a byte b reads as
// b / 127.5 - 1; writing rounds (x + 1) * 127.5, so 8-bit values survive a write-read round
// trip exactly). Layout [N, C, H, W] (one image [C, H, W]).
//
// Folder layout, as `shapediff data import` reads meshes: each subfolder of `dir` is a category
// named after it (files in deeper folders belong to their top subfolder), and PNG files lying
// directly in `dir` form the category "default". Categories are sorted by name; images are
// ordered by category, then by relative path. Names starting with '.' are skipped; any other
// file must be a PNG (*.png, any case).
//
//   ImageFolderOptions o;  o.channels = 3;                 // gray files are repeated to RGB
//   ImageFolder data = read_image_folder("renders", o);    // data.images [240, 3, 32, 32]
//   write_image_png("grid.png", contact_sheet(data.images.slice(0, 0, 16), /*columns=*/4));
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

namespace shapediff::io {

struct ImageFolderOptions {
  // 0: as stored (all files must agree; files with alpha, RGBA or gray+alpha, read as 4
  // channels); 1: gray (RGB by ITU-R BT.601 luma, rounded to 8 bits); 3: RGB (gray repeated).
  // Converting drops alpha.
  int64_t channels = 0;
  // When > 0, every image must have this height / width.
  int64_t height = 0;
  int64_t width = 0;
};

struct ImageFolder {
  torch::Tensor images;                 // [N,C,H,W] float32 in [-1, 1]
  torch::Tensor labels;                 // [N] int64, index into `categories`
  std::vector<std::string> categories;  // sorted
  std::vector<std::string> files;       // [N] paths relative to the folder, '/'-separated
};

// Throws std::invalid_argument with one line naming the folder or the offending file: not a
// folder, no PNG files, a file that is not *.png, images of mixed sizes or (without
// conversion) mixed channel counts, a size other than the options ask, bad options; and
// std::runtime_error for a corrupt or truncated PNG (io/png.h).
ImageFolder read_image_folder(const std::string& dir, const ImageFolderOptions& options = {});

// `image` [C,H,W] (C = 1, 3 or 4), any float dtype and device, values clamped to [-1, 1].
// Written atomically. std::invalid_argument for another shape or non-finite values.
void write_image_png(const std::string& path, const torch::Tensor& image);

// `images` [N,C,H,W] tiled row-major on a grid of min(columns, N) columns, `padding` pixels of
// `pad_value` between and around the tiles: [C, rows * (H + padding) + padding,
// columns * (W + padding) + padding]; cells past N are pad_value too. std::invalid_argument for
// another shape, N = 0, columns < 1 or padding < 0.
torch::Tensor contact_sheet(const torch::Tensor& images, int64_t columns, int64_t padding = 2,
                            double pad_value = 1.0);

// Writes images [N,C,H,W] (as write_image_png) to dir/<files[i]>.png, creating subfolders.
// Atomic as a whole: everything goes into a sibling temporary folder that is renamed to `dir`
// at the end, so a failure leaves nothing. `dir` may not exist yet, may be an empty folder, or
// is replaced when `overwrite` is set; otherwise std::invalid_argument. `files` are relative
// paths without extension; std::invalid_argument for an absolute path, "..", duplicates or a
// count other than N.
void write_image_folder(const std::string& dir, const torch::Tensor& images,
                        const std::vector<std::string>& files, bool overwrite = false);

}  // namespace shapediff::io

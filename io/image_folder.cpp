#include "io/image_folder.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "io/png.h"

namespace shapediff::io {
namespace fs = std::filesystem;
namespace {

bool hidden(const fs::path& relative) {
  for (const auto& part : relative) {
    const std::string s = part.string();
    if (!s.empty() && s[0] == '.') return true;
  }
  return false;
}

bool has_png_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png";
}

std::string size_text(const torch::Tensor& hwc) {
  return std::to_string(hwc.size(1)) + "x" + std::to_string(hwc.size(0));  // width x height
}

// uint8 [H,W,C] to float [C',H,W] in [-1, 1] with C' = `channels` (0: C).
torch::Tensor to_diffusion_range(const torch::Tensor& hwc, int64_t channels) {
  auto x = hwc.permute({2, 0, 1}).to(torch::kFloat32);
  const int64_t stored = x.size(0);
  if (channels == 1 && stored >= 3) {
    x = (0.299f * x[0] + 0.587f * x[1] + 0.114f * x[2]).round().unsqueeze(0);
  } else if (channels == 3 && stored == 1) {
    x = x.expand({3, -1, -1});
  } else if (channels != 0 && stored > channels) {
    x = x.slice(0, 0, channels);  // drops alpha
  }
  return x / 127.5f - 1.0f;
}

}  // namespace

ImageFolder read_image_folder(const std::string& dir, const ImageFolderOptions& options) {
  if (options.channels != 0 && options.channels != 1 && options.channels != 3) {
    throw std::invalid_argument("image folder: channels must be 0 (as stored), 1 or 3, got " +
                                std::to_string(options.channels));
  }
  if (options.height < 0 || options.width < 0) {
    throw std::invalid_argument("image folder: height and width must be >= 0 (0 = any)");
  }
  const fs::path root(dir);
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw std::invalid_argument(dir + ": not a folder");

  std::map<std::string, std::vector<std::string>> by_category;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    const fs::path rel = fs::relative(it->path(), root);
    if (hidden(rel)) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_directory()) continue;
    if (!has_png_extension(rel)) {
      throw std::invalid_argument((root / rel).string() + ": not a PNG file (the folder may hold only *.png)");
    }
    const std::string category = std::next(rel.begin()) == rel.end() ? "default" : rel.begin()->string();
    by_category[category].push_back(rel.generic_string());
  }
  if (by_category.empty()) throw std::invalid_argument(dir + ": no PNG images found");

  ImageFolder out;
  std::vector<int64_t> labels;
  for (auto& [category, files] : by_category) {
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      out.files.push_back(f);
      labels.push_back(static_cast<int64_t>(out.categories.size()));
    }
    out.categories.push_back(category);
  }

  // Decoding is independent per file; errors are kept per file and the first in folder order
  // is reported, so the message does not depend on thread timing.
  const auto n = static_cast<int64_t>(out.files.size());
  std::vector<torch::Tensor> decoded(static_cast<size_t>(n));
  std::vector<std::exception_ptr> errors(static_cast<size_t>(n));
  at::parallel_for(0, n, 4, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      try {
        decoded[i] = read_png((root / out.files[i]).string());
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
  });
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }

  const torch::Tensor& first = decoded[0];
  const std::string first_path = (root / out.files[0]).string();
  for (int64_t i = 0; i < n; ++i) {
    const torch::Tensor& img = decoded[i];
    const std::string path = (root / out.files[i]).string();
    if ((options.height > 0 && img.size(0) != options.height) ||
        (options.width > 0 && img.size(1) != options.width)) {
      throw std::invalid_argument(path + ": image is " + size_text(img) + ", expected " +
                                  std::to_string(options.width) + "x" + std::to_string(options.height));
    }
    if (img.size(0) != first.size(0) || img.size(1) != first.size(1)) {
      throw std::invalid_argument(path + ": image is " + size_text(img) + " but " + first_path +
                                  " is " + size_text(first) + " (all images must have one size)");
    }
    if (options.channels == 0 && img.size(2) != first.size(2)) {
      throw std::invalid_argument(path + ": image has " + std::to_string(img.size(2)) +
                                  " channels but " + first_path + " has " +
                                  std::to_string(first.size(2)) +
                                  " (convert them by asking for 1 or 3 channels)");
    }
  }
  const int64_t channels = options.channels == 0 ? first.size(2) : options.channels;
  out.images = torch::empty({n, channels, first.size(0), first.size(1)});
  at::parallel_for(0, n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out.images[i].copy_(to_diffusion_range(decoded[i], options.channels));
  });
  out.labels = torch::tensor(labels, torch::kLong);
  return out;
}

void write_image_png(const std::string& path, const torch::Tensor& image) {
  if (!image.defined() || image.dim() != 3 ||
      (image.size(0) != 1 && image.size(0) != 3 && image.size(0) != 4)) {
    throw std::invalid_argument(path + ": image must be [C,H,W] with C in {1,3,4}, got " +
                                (image.defined() ? c10::str(image.sizes()) : std::string("undefined")));
  }
  if (!image.is_floating_point()) {
    throw std::invalid_argument(path + ": image must be floating point in [-1, 1], got " +
                                std::string(c10::toString(image.scalar_type())));
  }
  const auto x = image.detach().to(torch::kCPU, torch::kFloat32);
  if (!torch::isfinite(x).all().item<bool>()) {
    throw std::invalid_argument(path + ": image has non-finite values");
  }
  const auto bytes = ((x.clamp(-1.0, 1.0) + 1.0f) * 127.5f).round().to(torch::kUInt8);
  write_png(path, bytes.permute({1, 2, 0}).contiguous());
}

torch::Tensor contact_sheet(const torch::Tensor& images, int64_t columns, int64_t padding,
                            double pad_value) {
  if (!images.defined() || images.dim() != 4 || images.size(0) == 0) {
    throw std::invalid_argument("contact sheet: images must be [N,C,H,W] with N > 0, got " +
                                (images.defined() ? c10::str(images.sizes()) : std::string("undefined")));
  }
  if (columns < 1) throw std::invalid_argument("contact sheet: columns must be >= 1, got " + std::to_string(columns));
  if (padding < 0) throw std::invalid_argument("contact sheet: padding must be >= 0, got " + std::to_string(padding));
  const int64_t n = images.size(0), h = images.size(2), w = images.size(3);
  const int64_t cols = std::min(columns, n), rows = (n + cols - 1) / cols;
  auto sheet = torch::full({images.size(1), rows * (h + padding) + padding, cols * (w + padding) + padding},
                           pad_value, images.options());
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y = padding + (i / cols) * (h + padding), x = padding + (i % cols) * (w + padding);
    sheet.slice(1, y, y + h).slice(2, x, x + w).copy_(images[i]);
  }
  return sheet;
}

void write_image_folder(const std::string& dir, const torch::Tensor& images,
                        const std::vector<std::string>& files, bool overwrite) {
  if (!images.defined() || images.dim() != 4) {
    throw std::invalid_argument(dir + ": images must be [N,C,H,W], got " +
                                (images.defined() ? c10::str(images.sizes()) : std::string("undefined")));
  }
  if (static_cast<int64_t>(files.size()) != images.size(0)) {
    throw std::invalid_argument(dir + ": " + std::to_string(files.size()) + " file names for " +
                                std::to_string(images.size(0)) + " images");
  }
  if (!images.is_floating_point() || (images.size(1) != 1 && images.size(1) != 3 && images.size(1) != 4)) {
    throw std::invalid_argument(dir + ": images must be floating point [N,C,H,W] with C in {1,3,4}, got " +
                                std::string(c10::toString(images.scalar_type())) + " " + c10::str(images.sizes()));
  }
  if (!torch::isfinite(images).all().item<bool>()) {
    throw std::invalid_argument(dir + ": images have non-finite values");
  }
  std::set<std::string> seen;
  for (const auto& f : files) {
    const fs::path p(f);
    const bool escapes = std::any_of(p.begin(), p.end(), [](const fs::path& part) { return part == ".."; });
    if (f.empty() || p.is_absolute() || escapes) {
      throw std::invalid_argument(dir + ": file name '" + f + "' must be a relative path inside the folder");
    }
    if (!seen.insert(p.lexically_normal().generic_string()).second) {
      throw std::invalid_argument(dir + ": file name '" + f + "' appears twice");
    }
  }
  const fs::path target(dir);
  std::error_code ec;
  const bool exists = fs::exists(target, ec);
  if (exists && !overwrite && !(fs::is_directory(target, ec) && fs::is_empty(target, ec))) {
    throw std::invalid_argument(dir + ": already exists and is not an empty folder (overwrite to replace it)");
  }
  const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  if (!fs::is_directory(parent, ec)) throw std::invalid_argument(dir + ": parent folder does not exist");

  const std::string suffix = ".tmp-" + std::to_string(::getpid());
  const fs::path temp = target.string() + suffix;
  fs::remove_all(temp, ec);
  try {
    fs::create_directory(temp);
    for (size_t i = 0; i < files.size(); ++i) {
      const fs::path file = temp / (files[i] + ".png");
      fs::create_directories(file.parent_path());
      write_image_png(file.string(), images[static_cast<int64_t>(i)]);
    }
    if (exists) {
      // Moved aside rather than deleted first, so a failing rename keeps the old folder.
      const fs::path old = target.string() + ".old-" + std::to_string(::getpid());
      fs::rename(target, old);
      try {
        fs::rename(temp, target);
      } catch (...) {
        fs::rename(old, target, ec);
        throw;
      }
      fs::remove_all(old, ec);
    } else {
      fs::rename(temp, target);
    }
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(temp, ec);
    throw std::runtime_error(dir + ": cannot write the image folder (" + e.code().message() + ")");
  } catch (...) {
    fs::remove_all(temp, ec);
    throw;
  }
}

}  // namespace shapediff::io

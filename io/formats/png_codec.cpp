#include "io/formats/png_codec.h"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "io/formats/parse_util.h"

namespace shapediff::io::formats {

namespace {

using detail::fail;

// Deflate cannot expand data by more than about 1032:1 (see zip_archive.cpp).
constexpr uint64_t kMaxDeflateRatio = 1040;

// libpng reports errors through this plain struct: the callback copies the message and
// longjmps back to the setjmp in read_layout/read_rows/write_image, which hold no C++ objects.
struct ErrorState {
  char message[256] = {};
};

void on_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<ErrorState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof(state->message), "%s", message ? message : "libpng error");
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}

struct ReadCursor {
  const char* data = nullptr;
  size_t size = 0;
  size_t pos = 0;
};

void read_callback(png_structp png, png_bytep out, png_size_t n) {
  auto* cursor = static_cast<ReadCursor*>(png_get_io_ptr(png));
  if (n > cursor->size - cursor->pos) png_error(png, "file is truncated");
  std::memcpy(out, cursor->data + cursor->pos, n);
  cursor->pos += n;
}

struct ReadGuard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~ReadGuard() {
    if (png != nullptr) png_destroy_read_struct(&png, info != nullptr ? &info : nullptr, nullptr);
  }
};

struct Layout {
  png_uint_32 width = 0;
  png_uint_32 height = 0;
  int source_bits_per_pixel = 0;
  int channels = 0;
  size_t rowbytes = 0;
};

// Reads the header chunks and sets up the 8-bit gray/RGB/RGBA transforms. False after a libpng
// error (message in the ErrorState).
bool read_layout(png_structp png, png_infop info, ReadCursor* cursor, Layout* layout) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_read_fn(png, cursor, read_callback);
  png_read_info(png, info);
  const png_byte color_type = png_get_color_type(png, info);
  const png_byte bit_depth = png_get_bit_depth(png, info);
  layout->source_bits_per_pixel = bit_depth * png_get_channels(png, info);
  const bool has_trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (has_trns) png_set_tRNS_to_alpha(png);
  if (bit_depth == 16) png_set_scale_16(png);
  const bool gray = (color_type & PNG_COLOR_MASK_COLOR) == 0;
  if (gray && ((color_type & PNG_COLOR_MASK_ALPHA) != 0 || has_trns)) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  layout->width = png_get_image_width(png, info);
  layout->height = png_get_image_height(png, info);
  layout->channels = png_get_channels(png, info);
  layout->rowbytes = png_get_rowbytes(png, info);
  return true;
}

bool read_rows(png_structp png, png_infop info, png_bytep* rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  png_read_end(png, info);
  return true;
}

struct WriteSink {
  std::string* out = nullptr;
  bool failed = false;
};

void write_callback(png_structp png, png_bytep data, png_size_t n) {
  auto* sink = static_cast<WriteSink*>(png_get_io_ptr(png));
  if (sink->failed) return;
  try {
    sink->out->append(reinterpret_cast<const char*>(data), n);
  } catch (...) {
    sink->failed = true;  // reported after libpng returns; no exception crosses libpng
  }
}

void flush_callback(png_structp) {}

struct WriteGuard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~WriteGuard() {
    if (png != nullptr) png_destroy_write_struct(&png, info != nullptr ? &info : nullptr);
  }
};

bool write_image(png_structp png, png_infop info, WriteSink* sink, const RawImage& image,
                 png_bytep* rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_write_fn(png, sink, write_callback, flush_callback);
  const int color_type = image.channels == 1   ? PNG_COLOR_TYPE_GRAY
                         : image.channels == 3 ? PNG_COLOR_TYPE_RGB
                                               : PNG_COLOR_TYPE_RGB_ALPHA;
  png_set_IHDR(png, info, static_cast<png_uint_32>(image.width),
               static_cast<png_uint_32>(image.height), 8, color_type, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  return true;
}

}  // namespace

RawImage decode_png(std::string_view bytes, const std::string& name) {
  if (bytes.size() < 8 || png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, 8) != 0) {
    fail(name, "not a PNG file (bad signature)");
  }
  ErrorState error;
  ReadGuard guard;
  guard.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &error, on_error, on_warning);
  if (guard.png == nullptr) fail(name, "cannot initialise libpng");
  guard.info = png_create_info_struct(guard.png);
  if (guard.info == nullptr) fail(name, "cannot initialise libpng");
  ReadCursor cursor{bytes.data(), bytes.size(), 0};
  Layout layout;
  if (!read_layout(guard.png, guard.info, &cursor, &layout)) {
    fail(name, std::string("invalid PNG: ") + error.message);
  }
  if (layout.channels != 1 && layout.channels != 3 && layout.channels != 4) {
    fail(name,
         "PNG decodes to " + std::to_string(layout.channels) + " channels, expected 1, 3 or 4");
  }
  // The filtered image data is inflated from at most the whole file.
  uint64_t row_bits = 0;
  uint64_t raw_bytes = 0;
  uint64_t pixel_bytes = 0;
  uint64_t limit = 0;
  if (!detail::checked_mul(layout.width, static_cast<uint64_t>(layout.source_bits_per_pixel),
                           &row_bits) ||
      !detail::checked_mul(row_bits / 8 + 2, layout.height, &raw_bytes) ||
      !detail::checked_mul(layout.rowbytes, layout.height, &pixel_bytes) ||
      !detail::checked_mul(bytes.size(), kMaxDeflateRatio, &limit) || raw_bytes > limit + 4096) {
    fail(name, "PNG of " + std::to_string(layout.width) + "x" + std::to_string(layout.height) +
                   " pixels claims more image data than the " + std::to_string(bytes.size()) +
                   "-byte file can hold");
  }
  if (layout.rowbytes != static_cast<size_t>(layout.width) * layout.channels) {
    fail(name, "unexpected PNG row size " + std::to_string(layout.rowbytes));
  }
  RawImage image;
  image.height = layout.height;
  image.width = layout.width;
  image.channels = layout.channels;
  image.pixels.resize(static_cast<size_t>(pixel_bytes));
  std::vector<png_bytep> rows(layout.height);
  for (size_t y = 0; y < rows.size(); ++y) rows[y] = image.pixels.data() + y * layout.rowbytes;
  if (!read_rows(guard.png, guard.info, rows.data())) {
    fail(name, std::string("invalid PNG: ") + error.message);
  }
  return image;
}

std::string encode_png(const RawImage& image) {
  if (image.channels != 1 && image.channels != 3 && image.channels != 4) {
    throw std::invalid_argument("PNG output: " + std::to_string(image.channels) +
                                " channels, expected 1, 3 or 4");
  }
  if (image.height <= 0 || image.width <= 0 || image.height > 0x7fffffff ||
      image.width > 0x7fffffff) {
    throw std::invalid_argument("PNG output: image size " + std::to_string(image.height) + "x" +
                                std::to_string(image.width) + " is outside 1..2^31-1");
  }
  uint64_t expected = 0;
  if (!detail::checked_mul(static_cast<uint64_t>(image.height) * static_cast<uint64_t>(image.width),
                           static_cast<uint64_t>(image.channels), &expected) ||
      expected != image.pixels.size()) {
    throw std::invalid_argument("PNG output: " + std::to_string(image.pixels.size()) +
                                " pixel bytes do not match " + std::to_string(image.height) + "x" +
                                std::to_string(image.width) + "x" + std::to_string(image.channels));
  }
  ErrorState error;
  WriteGuard guard;
  guard.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &error, on_error, on_warning);
  if (guard.png == nullptr) throw std::runtime_error("PNG output: cannot initialise libpng");
  guard.info = png_create_info_struct(guard.png);
  if (guard.info == nullptr) throw std::runtime_error("PNG output: cannot initialise libpng");
  std::string out;
  WriteSink sink{&out, false};
  const size_t row_bytes = static_cast<size_t>(image.width * image.channels);
  std::vector<png_bytep> rows(static_cast<size_t>(image.height));
  for (size_t y = 0; y < rows.size(); ++y) {
    rows[y] = const_cast<png_bytep>(image.pixels.data() + y * row_bytes);
  }
  if (!write_image(guard.png, guard.info, &sink, image, rows.data())) {
    throw std::runtime_error(std::string("PNG output: ") + error.message);
  }
  if (sink.failed) throw std::runtime_error("PNG output: out of memory while encoding");
  return out;
}

}  // namespace shapediff::io::formats

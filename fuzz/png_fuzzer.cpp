// libFuzzer target for the libpng-based decoder: any input either throws std::runtime_error
// or gives 8-bit pixels of the announced size that encode and decode back unchanged. Each input
// is decoded twice: as it is, and with every chunk's CRC recomputed, so that mutations of chunk
// contents (dimensions, color types, palettes) reach libpng's parsing instead of its CRC check.
#include <zlib.h>

#include <string>

#include "fuzz/fuzz_support.h"
#include "io/formats/png_codec.h"

namespace {

using namespace shapediff::io::formats;
using shapediff::fuzz::require;

std::string with_fixed_crcs(std::string_view bytes) {
  std::string out(bytes);
  size_t pos = 8;
  while (pos + 12 <= out.size()) {
    const auto* p = reinterpret_cast<const unsigned char*>(out.data() + pos);
    const uint64_t length = (uint64_t{p[0]} << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
    if (length > out.size() - pos - 12) break;
    const uLong crc = crc32(0L, p + 4, static_cast<uInt>(length + 4));
    for (int k = 0; k < 4; ++k) {
      out[pos + 8 + length + k] = static_cast<char>((crc >> (24 - 8 * k)) & 0xff);
    }
    pos += 12 + length;
  }
  return out;
}

void decode_and_check(std::string_view bytes) {
  RawImage image;
  try {
    image = decode_png(bytes, "fuzz.png");
  } catch (const std::runtime_error&) {
    return;
  }
  require(image.channels == 1 || image.channels == 3 || image.channels == 4, "bad channel count");
  require(image.pixels.size() == static_cast<size_t>(image.height) *
                                     static_cast<size_t>(image.width) *
                                     static_cast<size_t>(image.channels),
          "pixel buffer does not match the image size");
  // Re-encoding large images only costs time: the decoder's limits are what is tested there.
  if (image.pixels.size() > (1u << 20)) return;
  const RawImage again = decode_png(encode_png(image), "round-trip.png");
  require(again.height == image.height && again.width == image.width &&
              again.channels == image.channels && again.pixels == image.pixels,
          "round trip changed the image");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes = shapediff::fuzz::as_bytes(data, size);
  decode_and_check(bytes);
  decode_and_check(with_fixed_crcs(bytes));
  return 0;
}

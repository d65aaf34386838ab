#include "io/png.h"

#include <torch/torch.h>

#include <cstring>
#include <stdexcept>

#include "io/atomic_file.h"
#include "io/file_bytes.h"
#include "io/formats/png_codec.h"

namespace shapediff::io {

torch::Tensor read_png(const std::string& path) {
  const std::string bytes = read_file_bytes(path);
  formats::RawImage image = formats::decode_png(bytes, path);
  auto out = torch::empty({image.height, image.width, image.channels}, torch::kUInt8);
  std::memcpy(out.data_ptr<uint8_t>(), image.pixels.data(), image.pixels.size());
  return out;
}

void write_png(const std::string& path, const torch::Tensor& image) {
  if (!image.defined()) throw std::invalid_argument(path + ": image tensor is undefined");
  if (image.scalar_type() != torch::kUInt8) {
    throw std::invalid_argument(path + ": image must be uint8, got " +
                                std::string(c10::toString(image.scalar_type())));
  }
  const bool gray = image.dim() == 2;
  if (!gray &&
      (image.dim() != 3 || (image.size(2) != 1 && image.size(2) != 3 && image.size(2) != 4))) {
    throw std::invalid_argument(path + ": image must be [H,W,C] with C in {1,3,4} or [H,W], got " +
                                c10::str(image.sizes()));
  }
  if (image.size(0) == 0 || image.size(1) == 0) {
    throw std::invalid_argument(path + ": image is empty (" + c10::str(image.sizes()) + ")");
  }
  const auto data = image.to(torch::kCPU).contiguous();
  formats::RawImage raw;
  raw.height = data.size(0);
  raw.width = data.size(1);
  raw.channels = gray ? 1 : data.size(2);
  const uint8_t* p = data.data_ptr<uint8_t>();
  raw.pixels.assign(p, p + data.numel());
  std::string bytes;
  try {
    bytes = formats::encode_png(raw);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(path + ": " + e.what());
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
  write_file_atomically(path, bytes);
}

}  // namespace shapediff::io

#include "io/npy.h"

#include <torch/torch.h>

#include <cstring>
#include <stdexcept>

#include "io/atomic_file.h"
#include "io/file_bytes.h"
#include "io/formats/npy_format.h"

namespace shapediff::io {

namespace {

torch::ScalarType scalar_type(formats::NpyDtype dtype) {
  switch (dtype) {
    case formats::NpyDtype::kFloat32:
      return torch::kFloat32;
    case formats::NpyDtype::kFloat64:
      return torch::kFloat64;
    case formats::NpyDtype::kInt32:
      return torch::kInt32;
    case formats::NpyDtype::kInt64:
      return torch::kInt64;
    case formats::NpyDtype::kUInt8:
      return torch::kUInt8;
    case formats::NpyDtype::kBool:
      return torch::kBool;
  }
  return torch::kFloat32;
}

formats::NpyDtype npy_dtype(torch::ScalarType type, const std::string& context) {
  switch (type) {
    case torch::kFloat32:
      return formats::NpyDtype::kFloat32;
    case torch::kFloat64:
      return formats::NpyDtype::kFloat64;
    case torch::kInt32:
      return formats::NpyDtype::kInt32;
    case torch::kInt64:
      return formats::NpyDtype::kInt64;
    case torch::kUInt8:
      return formats::NpyDtype::kUInt8;
    case torch::kBool:
      return formats::NpyDtype::kBool;
    default:
      throw std::invalid_argument(context + ": dtype " + std::string(c10::toString(type)) +
                                  " cannot be saved as .npy (accepted: Float, Double, Int, Long, "
                                  "Byte, Bool)");
  }
}

}  // namespace

torch::Tensor parse_npy_bytes(std::string_view bytes, const std::string& name) {
  const formats::NpyHeader header = formats::parse_npy_header(bytes, name);
  auto tensor = torch::empty(header.shape, torch::TensorOptions().dtype(scalar_type(header.dtype)));
  if (header.data_bytes > 0) formats::copy_npy_data(header, bytes, tensor.data_ptr());
  return tensor;
}

std::string npy_bytes(const torch::Tensor& tensor, const std::string& context) {
  if (!tensor.defined()) throw std::invalid_argument(context + ": tensor is undefined");
  const formats::NpyDtype dtype = npy_dtype(tensor.scalar_type(), context);
  const auto data = tensor.to(torch::kCPU).contiguous();
  std::string out = formats::npy_header_bytes(dtype, data.sizes().vec());
  const size_t n = static_cast<size_t>(data.numel()) * formats::npy_itemsize(dtype);
  const size_t offset = out.size();
  out.resize(offset + n);
  // torch's storage is little-endian on every supported host, as .npy's '<' descr says.
  if (n > 0) std::memcpy(&out[offset], data.data_ptr(), n);
  return out;
}

torch::Tensor read_npy(const std::string& path) {
  return parse_npy_bytes(read_file_bytes(path), path);
}

void write_npy(const std::string& path, const torch::Tensor& tensor) {
  write_file_atomically(path, npy_bytes(tensor, path));
}

}  // namespace shapediff::io

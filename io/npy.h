// NumPy .npy files as torch tensors: C-ordered float32, float64, int32, int64, uint8 and bool
// arrays of any shape (0-d included), the layout np.save writes and np.load reads. Big-endian
// files ('>f4', ...) are converted; Fortran-ordered arrays and other dtypes are rejected with
// the dtype named (see io/formats/npy_format.h).
//
//   torch::Tensor x = io::read_npy("points.npy");   // e.g. float32 [2048, 3], on the CPU
//   io::write_npy("out.npy", x);
#pragma once

#include <torch/types.h>

#include <string>
#include <string_view>

namespace shapediff::io {

// Throws std::runtime_error "<path>: <problem>" for a missing, malformed or unsupported file.
torch::Tensor read_npy(const std::string& path);

// Writes any-device tensor of a supported dtype atomically (std::invalid_argument naming the
// dtype otherwise); nothing is left at `path` on failure.
void write_npy(const std::string& path, const torch::Tensor& tensor);

// The same on in-memory bytes (`name` starts error messages); used for .npz members.
torch::Tensor parse_npy_bytes(std::string_view bytes, const std::string& name);
std::string npy_bytes(const torch::Tensor& tensor, const std::string& context);

}  // namespace shapediff::io

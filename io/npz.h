// NumPy .npz archives (np.savez / np.savez_compressed) as a name -> tensor map. Each member
// "<key>.npy" becomes map[key]; members are read through io/formats/zip_archive.h (stored or
// deflate, CRC-checked, with or without data descriptors) and io/npy.h.
//
//   auto arrays = io::read_npz("batch.npz");   // arrays["points"]: float32 [16, 2048, 3]
//   io::write_npz("out.npz", {{"points", x}, {"labels", y}});            // deflate
//   io::write_npz("out.npz", {{"points", x}}, /*compress=*/false);       // stored, like np.savez
#pragma once

#include <torch/types.h>

#include <map>
#include <string>

namespace shapediff::io {

// Throws std::runtime_error "<path>: <problem>" for a missing, malformed or unsupported file
// (a member that is not a .npy array, an unsupported dtype, a bad CRC, encryption, ...).
std::map<std::string, torch::Tensor> read_npz(const std::string& path);

// Writes atomically (nothing is left at `path` on failure). Keys must be non-empty; every
// tensor must have a dtype read_npz accepts (std::invalid_argument otherwise).
void write_npz(const std::string& path, const std::map<std::string, torch::Tensor>& arrays,
               bool compress = true);

}  // namespace shapediff::io

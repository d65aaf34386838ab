// NumPy .npy header parsing and writing, without torch: the magic string, version 1.0/2.0/3.0,
// and the header dictionary {'descr': ..., 'fortran_order': ..., 'shape': (...)}.
//
// Accepted dtypes: float32 '<f4', float64 '<f8', int32 '<i4', int64 '<i8', uint8 '|u1' and
// bool '|b1' (also with '=' for native, which is little-endian here). Big-endian '>f4', '>f8',
// '>i4', '>i8' are accepted and converted when the data is copied out. Fortran-ordered arrays,
// structured (list) dtypes and every other dtype ('<c16', '|O', '<U5', '<f2', ...) are
// rejected with the dtype named.
//
//   NpyHeader h = parse_npy_header(bytes, "x.npy");
//   std::vector<char> out(h.data_bytes);
//   copy_npy_data(h, bytes, out.data());   // C order, little-endian
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shapediff::io::formats {

enum class NpyDtype { kFloat32, kFloat64, kInt32, kInt64, kUInt8, kBool };

size_t npy_itemsize(NpyDtype dtype);
// The little-endian descr numpy writes: "<f4", "<f8", "<i4", "<i8", "|u1", "|b1".
std::string npy_descr(NpyDtype dtype);

struct NpyHeader {
  NpyDtype dtype = NpyDtype::kFloat32;
  bool big_endian = false;
  std::vector<int64_t> shape;  // empty for a 0-d array
  uint64_t numel = 1;
  size_t data_offset = 0;   // where the array data starts in the file
  uint64_t data_bytes = 0;  // numel * itemsize; checked to be present in the file
};

// Throws std::runtime_error "<name>: <problem>" for a malformed or unsupported file.
NpyHeader parse_npy_header(std::string_view bytes, const std::string& name);

// Copies the array data to `out` (data_bytes bytes) as little-endian C order; bool values are
// normalised to 0/1.
void copy_npy_data(const NpyHeader& header, std::string_view bytes, void* out);

// The magic, version and padded header dictionary that precede `shape`'s data; the data
// follows as little-endian C order. Version 1.0, or 2.0 for a header above 65535 bytes.
std::string npy_header_bytes(NpyDtype dtype, const std::vector<int64_t>& shape);

}  // namespace shapediff::io::formats

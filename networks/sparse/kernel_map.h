// Kernel maps of sparse convolution: which input row meets which output row under which kernel
// offset, found through a hash of the coordinates (int32 [N,4] (batch, x, y, z), see
// sparse_tensor.h). CPU, and CUDA where the coordinates are on a CUDA device.
//
// Geometry, the same as dense conv3d with padding p = dilation * (kernel_size - 1) / 2 for odd
// kernel sizes and p = 0 for even ones: output cell o (output grid units) reads input cell
//     i = o * stride - p + k * dilation      for each k in [0, kernel_size)^3,
// in the same batch. Kernel offset index k = (kx * ks + ky) * ks + kz, which is also the order
// of a dense conv3d weight's [kx, ky, kz] dimensions. A transposed convolution with the same
// geometry runs the map of the forward one with inputs and outputs swapped (conv_transpose3d
// puts input o at output o * stride - p + k * dilation).
//
//   CoordinateHash hash(coords);                      // throws on duplicate rows
//   auto rows = hash.lookup(queries);                 // int64 [M], -1 where absent
//   KernelMap m = submanifold_map(coords, 3, 1);      // 27 offsets, pairs grouped by offset
//   auto coarse = downsample_coords(coords, 2);       // unique floor(x / 2) per batch
//   KernelMap d = conv_map(coords, coarse, {2, 2, 1});
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include <torch/types.h>

namespace shapediff::sparse {

struct ConvGeometry {
  int64_t kernel_size = 3;
  int64_t stride = 1;
  int64_t dilation = 1;
  int64_t padding() const { return kernel_size % 2 == 1 ? dilation * (kernel_size - 1) / 2 : 0; }
  int64_t volume() const { return kernel_size * kernel_size * kernel_size; }
};

// Offsets k * dilation - p as int32 [K, 3], in kernel offset order.
torch::Tensor kernel_offsets(const ConvGeometry& geometry);

// The pairs of one side of a kernel map as a dense table for the fused CUDA convolution
// (sparse_conv_kernels.h): rows int32 [K, M], entry (k, j) the row on the other side that row
// order[j] of this side meets under offset k, -1 absent; order int32 [M] a permutation of this
// side's rows, sorted by which offsets each row has, so that rows sharing a tile of the table
// mostly miss the same offsets (the kernels skip an offset for a tile only when all of its
// rows miss it).
struct KernelTable {
  torch::Tensor rows;
  torch::Tensor order;
  bool defined() const { return rows.defined(); }
};

struct KernelMap {
  torch::Tensor in_rows;        // int64 [P], on the coordinates' device
  torch::Tensor out_rows;       // int64 [P], on the coordinates' device
  torch::Tensor offset_starts;  // int64 [K + 1] on the CPU: offset k owns pairs [starts[k], starts[k+1])
  int64_t input_size = 0;
  int64_t output_size = 0;
  // Maps built on CUDA only (undefined on the CPU): the pairs seen from each output row
  // (out_table, [K, output_size]) and from each input row (in_table, [K, input_size]).
  KernelTable out_table;
  KernelTable in_table;

  int64_t kernel_volume() const { return offset_starts.size(0) - 1; }
  int64_t pairs() const { return in_rows.size(0); }
  // Inputs and outputs swapped (tables too), offsets kept: the map of the transposed
  // convolution.
  KernelMap transposed() const;
};

// Open addressing on the packed (batch, x, y, z) key, built on the coordinates' device.
// Coordinates must be >= 0 with batch < 2^15 and x, y, z < 2^16.
class CoordinateHash {
 public:
  explicit CoordinateHash(const torch::Tensor& coords);  // throws naming the first duplicate row
  torch::Tensor lookup(const torch::Tensor& queries) const;  // int32 [M,4] -> int64 [M], -1 absent
  // int64 [K, M]: the row of input cell o * stride - p + k * dilation for output cell o of
  // out_coords (int32 [M,4], output grid units) under offset k, -1 absent; what conv_map
  // compacts into pairs.
  torch::Tensor kernel_table(const torch::Tensor& out_coords, const ConvGeometry& geometry) const;
  int64_t size() const { return size_; }

 private:
  torch::Tensor keys_;    // int64 [capacity], -1 empty
  torch::Tensor values_;  // int64 [capacity]
  // The hashed coordinates: kernel_table over these same cells with a symmetric kernel probes
  // half the offsets and mirrors the rest on the CPU.
  torch::Tensor coords_;
  int64_t size_ = 0;
};

// Unique floor(x / factor) per batch (batch column kept), sorted row-major.
torch::Tensor downsample_coords(const torch::Tensor& coords, int64_t factor);
// Every cell o * stride - p + k * dilation (k over the kernel, negative ones dropped) of the
// input cells, unique and sorted: where a generative transposed convolution writes.
torch::Tensor generative_coords(const torch::Tensor& coords, const ConvGeometry& geometry);

// All (input row, output row, offset) with input = output * stride - p + k * dilation.
KernelMap conv_map(const torch::Tensor& in_coords, const torch::Tensor& out_coords,
                   const ConvGeometry& geometry);
// conv_map(coords, coords, {kernel_size, 1, dilation}).
KernelMap submanifold_map(const torch::Tensor& coords, int64_t kernel_size, int64_t dilation);

// The cache of one forward pass or sampling run (never global; tensors derived from one another
// share it). Entries are keyed by the identity of the coordinate tensors (which are immutable
// and kept alive by the entry) and the geometry, so layers and steps over the same coordinates
// build each map once. Thread-safe.
class CoordinateManager {
 public:
  const KernelMap& conv_map(const torch::Tensor& in_coords, const torch::Tensor& out_coords,
                            const ConvGeometry& geometry);
  const torch::Tensor& downsample_coords(const torch::Tensor& coords, int64_t factor);
  const torch::Tensor& generative_coords(const torch::Tensor& coords, const ConvGeometry& geometry);
  int64_t maps_built() const;  // how many kernel maps were computed (not served from the cache)

 private:
  using Key = std::tuple<const void*, const void*, int64_t, int64_t, int64_t>;
  struct MapEntry {
    torch::Tensor in_coords, out_coords;
    KernelMap map;
  };
  struct CoordsEntry {
    torch::Tensor source, result;
  };
  mutable std::mutex mutex_;
  std::map<Key, std::unique_ptr<MapEntry>> maps_;
  std::map<Key, std::unique_ptr<CoordsEntry>> coords_;
  int64_t maps_built_ = 0;
};

}  // namespace shapediff::sparse

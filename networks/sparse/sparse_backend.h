// Internal pieces of the sparse core (sparse_tensor.cpp, kernel_map.cpp, sparse_conv.cpp) shared
// between its files: coordinate validation, the hash build, and the CUDA half of the hash, the
// kernel-map query and the fused convolution (sparse_cuda.cpp, built with SHAPEDIFF_WITH_CUDA).
// The CUDA functions check nothing: their callers have validated the coordinates (int32 [N,4],
// contiguous, in range) and made every tensor contiguous on one CUDA device.
//
// The hash is two flat tensors of a power-of-two capacity: keys int64 (packed cells, see
// coordinate_key.h; -1 empty) and values int64 (the row of each key).
#pragma once

#include <cstdint>

#include <torch/types.h>

#include "networks/sparse/kernel_map.h"

namespace shapediff::sparse::detail {

// Throws std::invalid_argument "<op>: <name> ..." unless coords is a defined int32 [N,4] tensor
// on the CPU (or CUDA in CUDA builds) with batch in [0, 2^15) and x, y, z in [0, 2^16); names
// the first offending row and its values.
void check_coords(const torch::Tensor& coords, const char* op, const char* name);

// Builds the hash of checked, contiguous coords on their device into keys and values; throws
// std::invalid_argument "<op>: ..." naming the first row that repeats an earlier one (the same
// message on both devices).
void build_hash(const torch::Tensor& coords, const char* op, torch::Tensor& keys,
                torch::Tensor& values);

namespace cuda {

// Inserts every row; returns how many rows found their cell already present.
int64_t hash_insert(const torch::Tensor& coords, const torch::Tensor& keys,
                    const torch::Tensor& values);
// queries int32 [M,4] -> int64 [M], -1 absent.
torch::Tensor hash_lookup(const torch::Tensor& keys, const torch::Tensor& values,
                          const torch::Tensor& queries);
// out_coords int32 [M,4] -> int64 [K, M], as CoordinateHash::kernel_table.
torch::Tensor kernel_table(const torch::Tensor& keys, const torch::Tensor& values,
                           const torch::Tensor& out_coords, const ConvGeometry& geometry);

// The fused convolution (sparse_conv_kernels.h) on contiguous float or double tensors of one
// device. x [N, Cin], w [K, Cin, Cout], a KernelTable's rows int32 [K, M] and order int32 [M]
// -> [M, Cout]; tf32 (float only) multiplies on tensor cores.
torch::Tensor gather_conv(const torch::Tensor& x, const torch::Tensor& w,
                          const torch::Tensor& table_rows, const torch::Tensor& table_order,
                          bool tf32);
// The weight gradient [K, Cin, Cout] from x [N, Cin], dy [M, Cout] and a map's pairs (in_rows,
// out_rows int64 [P]; starts int64 [K + 1] on the CPU).
torch::Tensor conv_weight_grad(const torch::Tensor& x, const torch::Tensor& dy,
                               const torch::Tensor& in_rows, const torch::Tensor& out_rows,
                               const torch::Tensor& starts);

}  // namespace cuda
}  // namespace shapediff::sparse::detail

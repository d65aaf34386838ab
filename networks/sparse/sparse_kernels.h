// CUDA kernels of the sparse core (kernel_map.h) on raw device pointers, with no torch headers
// so nvcc compiles them in every build that has it; networks/sparse/sparse_cuda.cpp allocates
// and calls these. The hash is keys [capacity] (packed cells, -1 empty; see coordinate_key.h)
// and values [capacity] (rows), capacity a power of two >= 2N; coordinates are int32 [N,4]
// (batch, x, y, z) rows, contiguous, in range. Each function only enqueues work on `stream` and
// returns the launch status (cudaSuccess, or the first error).
//
//   kernels::hash_insert(coords, n, keys, values, capacity, duplicates, stream);
//   kernels::kernel_map_query(keys, values, capacity, out, m, 3, 1, 1, 1, table, stream);
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace shapediff::sparse::kernels {

// Inserts row i of coords [n,4] under its cell; keys must start all -1. Adds to *duplicates
// (int32, zeroed by the caller) once per row whose cell another row already claimed.
cudaError_t hash_insert(const int32_t* coords, int64_t n, int64_t* keys, int64_t* values,
                        int64_t capacity, int32_t* duplicates, cudaStream_t stream);

// queries [m,4] -> out [m]: the row of each cell, -1 where absent or out of range.
cudaError_t hash_lookup(const int64_t* keys, const int64_t* values, int64_t capacity,
                        const int32_t* queries, int64_t m, int64_t* out, cudaStream_t stream);

// For output cell o of out_coords [m,4] and kernel offset k (k = (kx * ks + ky) * ks + kz),
// table[k * m + o] = the row of input cell o * stride - padding + (kx, ky, kz) * dilation in
// the same batch, or -1.
cudaError_t kernel_map_query(const int64_t* keys, const int64_t* values, int64_t capacity,
                             const int32_t* out_coords, int64_t m, int64_t kernel_size,
                             int64_t stride, int64_t dilation, int64_t padding, int64_t* table,
                             cudaStream_t stream);

}  // namespace shapediff::sparse::kernels

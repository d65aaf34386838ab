// CUDA kernels of the fused sparse convolution (sparse_conv.h) on raw device pointers, with no
// torch headers so nvcc compiles them in every build that has it; networks/sparse/sparse_cuda.cpp
// allocates and calls these. Matrices are row-major and contiguous: features x [n, cin], weights
// w [volume, cin, cout], upstream gradients dy [m, cout]. A kernel table is int32 [volume, m]
// (see KernelTable in kernel_map.h): entry (k, j) is the input row that column j meets under
// offset k, or -1, and column j belongs to output row order[j]. Each function only enqueues work
// on `stream` and returns the launch status (cudaSuccess, or the first error).
//
//   kernels::gather_conv(x, w, table, order, m, 27, 64, 64, /*tf32=*/false, out, stream);
//   kernels::weight_grad(x, dy, in_rows, out_rows, starts, 27, 64, 64, splits, chunk, partial,
//                        stream);  // then sum partial over its first dimension
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>

namespace shapediff::sparse::kernels {

// Output-stationary implicit GEMM: out[order[j]] = sum over k of x[table[k, j]] @ w[k] for every
// j in [0, m), entries -1 adding nothing; every output row is written once (zero rows included),
// so out needs no clearing. A block owns 64 columns of the table times 64 output channels and
// skips the offsets for which all its 64 entries are -1. tf32 (float only) multiplies on tensor
// cores with TF32 inputs and float sums, on devices of compute capability 8.0 and up (plain
// float elsewhere). Float on compute capability 8.0 and up with cin and cout multiples of 4,
// 16-byte aligned pointers and volume <= 64 runs a pipelined kernel (asynchronous copies of the
// next gathered tile during the current product; TF32 through mma.sync); anything else, or
// SHAPEDIFF_SPARSE_PIPELINED=0 in the environment (to compare them), runs the first kernels.
// Without tf32 both sum the same float products in the same order.
cudaError_t gather_conv(const float* x, const float* w, const int32_t* table, const int32_t* order,
                        int64_t m, int64_t volume, int64_t cin, int64_t cout, bool tf32,
                        float* out, cudaStream_t stream);
cudaError_t gather_conv(const double* x, const double* w, const int32_t* table,
                        const int32_t* order, int64_t m, int64_t volume, int64_t cin,
                        int64_t cout, bool tf32, double* out, cudaStream_t stream);

// How weight_grad cuts the pairs of each offset: `splits` runs of `chunk` pairs each.
struct WeightGradSplit {
  int64_t splits = 1;
  int64_t chunk = 16;
};

// Runs of about 2048 pairs (enough blocks to fill the device for the longest offset, `longest`
// pairs), but no more than 2^24 partial elements in all (64 MiB of float).
inline WeightGradSplit weight_grad_split(int64_t longest, int64_t volume, int64_t cin,
                                         int64_t cout) {
  constexpr int64_t kRun = 2048, kMaxPartial = int64_t{1} << 24;
  const int64_t cap = std::max<int64_t>(1, kMaxPartial / std::max<int64_t>(1, volume * cin * cout));
  const int64_t splits =
      std::clamp<int64_t>((longest + kRun - 1) / kRun, 1, std::min<int64_t>(cap, 65535));
  const int64_t chunk = ((longest + splits - 1) / splits + 15) / 16 * 16;
  return {splits, std::max<int64_t>(chunk, 16)};
}

// The weight gradient per offset over the pairs of a kernel map (in_rows, out_rows int64 [P],
// grouped by offset; starts int64 [volume + 1] on the device): the pairs of offset k are cut
// into `splits` runs of `chunk` (a multiple of 16) and
//   partial[s, k] = sum over the pairs p of run s of offset k of x[in_rows[p]]^T dy[out_rows[p]],
// partial [splits, volume, cin, cout], every element written; the gradient is its sum over s.
cudaError_t weight_grad(const float* x, const float* dy, const int64_t* in_rows,
                        const int64_t* out_rows, const int64_t* starts, int64_t volume,
                        int64_t cin, int64_t cout, int64_t splits, int64_t chunk, float* partial,
                        cudaStream_t stream);
cudaError_t weight_grad(const double* x, const double* dy, const int64_t* in_rows,
                        const int64_t* out_rows, const int64_t* starts, int64_t volume,
                        int64_t cin, int64_t cout, int64_t splits, int64_t chunk, double* partial,
                        cudaStream_t stream);

}  // namespace shapediff::sparse::kernels

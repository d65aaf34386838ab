// CUDA kernels of the fused sparse convolution; see sparse_conv_kernels.h.
#include "networks/sparse/sparse_conv_kernels.h"

#include <mma.h>

#include <algorithm>

namespace shapediff::sparse::kernels {
namespace {

// The tile of one block: kRows output rows (table columns) times kCols output channels, the
// reduction taken kDepth at a time through shared memory; each of the 256 threads keeps a 4 x 4
// block of the tile in registers (rows 4 * ty.., channels 4 * tx..).
constexpr int kRows = 64, kCols = 64, kDepth = 16, kThreads = 256;
// The TF32 kernel: 4 warps, each a 32 x 32 quarter of the same tile as 2 x 2 wmma 16 x 16 x 8
// fragments, the reduction taken 32 at a time.
constexpr int kTf32Depth = 32, kTf32Threads = 128;
// Shared rows padded by 4 elements: the transposing stores of a warp spread over the banks, and
// rows stay 16-byte (wmma: 32-byte) aligned.
constexpr int kPad = 4;
constexpr int64_t kMaxGridY = 65535;
// Resident blocks per multiprocessor the register budget is cut for (64 registers a thread for
// float): more warps in flight hide the latency of the gathers, which are not prefetched.
template <typename T>
constexpr int kMinBlocks = sizeof(T) == 4 ? 4 : 2;

unsigned tiles(int64_t n, int tile) { return static_cast<unsigned>((n + tile - 1) / tile); }

// acc += a^T b over one depth step: a [kDepth][rows], b [kDepth][channels] in shared memory.
template <typename T>
__device__ __forceinline__ void multiply_tile(const T (&a)[kDepth][kRows + kPad],
                                              const T (&b)[kDepth][kCols], int ty, int tx,
                                              T (&acc)[4][4]) {
#pragma unroll
  for (int kk = 0; kk < kDepth; ++kk) {
    T av[4], bv[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) av[i] = a[kk][4 * ty + i];
#pragma unroll
    for (int j = 0; j < 4; ++j) bv[j] = b[kk][4 * tx + j];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
#pragma unroll
      for (int j = 0; j < 4; ++j) acc[i][j] += av[i] * bv[j];
    }
  }
}

// Loads the table entries of offset k for the block's columns into rows[] and tells whether any
// is present. A barrier for the whole block (every thread must call it).
__device__ __forceinline__ bool load_table_rows(const int32_t* __restrict__ table, int64_t m,
                                                int64_t k, int64_t column0, int32_t* rows) {
  int present = 0;
  if (threadIdx.x < kRows) {
    const int64_t j = column0 + threadIdx.x;
    const int32_t row = j < m ? table[k * m + j] : -1;
    rows[threadIdx.x] = row;
    present = row >= 0;
  }
  return __syncthreads_or(present) != 0;
}

template <typename T>
__global__ void __launch_bounds__(kThreads, kMinBlocks<T>)
    gather_conv_kernel(const T* __restrict__ x, const T* __restrict__ w,
                       const int32_t* __restrict__ table, const int32_t* __restrict__ order,
                       int64_t m, int64_t volume, int64_t cin, int64_t cout, T* __restrict__ out) {
  __shared__ __align__(16) T a[kDepth][kRows + kPad];
  __shared__ __align__(16) T b[kDepth][kCols];
  __shared__ int32_t rows[kRows];
  const int tid = static_cast<int>(threadIdx.x), ty = tid / 16, tx = tid % 16;
  const int64_t column0 = static_cast<int64_t>(blockIdx.x) * kRows;
  const int64_t channel0 = static_cast<int64_t>(blockIdx.y) * kCols;
  T acc[4][4] = {};
  for (int64_t k = 0; k < volume; ++k) {
    // Uniform across the block: every thread skips or none does.
    if (!load_table_rows(table, m, k, column0, rows)) continue;
    const T* wk = w + k * cin * cout;
    for (int64_t c0 = 0; c0 < cin; c0 += kDepth) {
      // Input rows: 16 threads read 16 consecutive channels of one row.
#pragma unroll
      for (int e = 0; e < kRows * kDepth / kThreads; ++e) {
        const int index = tid + e * kThreads, r = index / kDepth, kk = index % kDepth;
        const int64_t row = rows[r], c = c0 + kk;
        a[kk][r] = row >= 0 && c < cin ? x[row * cin + c] : T(0);
      }
#pragma unroll
      for (int e = 0; e < kCols * kDepth / kThreads; ++e) {
        const int index = tid + e * kThreads, kk = index / kCols, n = index % kCols;
        const int64_t c = c0 + kk, channel = channel0 + n;
        b[kk][n] = c < cin && channel < cout ? wk[c * cout + channel] : T(0);
      }
      __syncthreads();
      multiply_tile(a, b, ty, tx, acc);
      // rows[], a and b are rewritten next: everyone must be done reading them.
      __syncthreads();
    }
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t j = column0 + 4 * ty + i;
    if (j >= m) continue;
    T* dst = out + static_cast<int64_t>(order[j]) * cout;
#pragma unroll
    for (int jj = 0; jj < 4; ++jj) {
      const int64_t channel = channel0 + 4 * tx + jj;
      if (channel < cout) dst[channel] = acc[i][jj];
    }
  }
}

// The same product on tensor cores: inputs rounded to TF32 as they enter shared memory, sums in
// float. Compiled for compute capability 8.0 and up only (the host checks before launching).
__global__ void __launch_bounds__(kTf32Threads)
    gather_conv_tf32_kernel(const float* __restrict__ x, const float* __restrict__ w,
                            const int32_t* __restrict__ table, const int32_t* __restrict__ order,
                            int64_t m, int64_t volume, int64_t cin, int64_t cout,
                            float* __restrict__ out) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  namespace wmma = nvcuda::wmma;
  constexpr int kLdA = kTf32Depth + kPad, kLdB = kCols + kPad;
  __shared__ __align__(32) float a[kRows][kLdA];
  __shared__ __align__(32) float b[kTf32Depth][kLdB];
  __shared__ __align__(32) float c[kRows][kLdB];
  __shared__ int32_t rows[kRows];
  const int tid = static_cast<int>(threadIdx.x), warp = tid / 32;
  const int warp_row = (warp / 2) * 32, warp_col = (warp % 2) * 32;
  const int64_t column0 = static_cast<int64_t>(blockIdx.x) * kRows;
  const int64_t channel0 = static_cast<int64_t>(blockIdx.y) * kCols;
  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);
  }
  for (int64_t k = 0; k < volume; ++k) {
    if (!load_table_rows(table, m, k, column0, rows)) continue;
    const float* wk = w + k * cin * cout;
    for (int64_t c0 = 0; c0 < cin; c0 += kTf32Depth) {
#pragma unroll 4
      for (int e = 0; e < kRows * kTf32Depth / kTf32Threads; ++e) {
        const int index = tid + e * kTf32Threads, r = index / kTf32Depth,
                  kk = index % kTf32Depth;
        const int64_t row = rows[r], ch = c0 + kk;
        a[r][kk] = row >= 0 && ch < cin ? wmma::__float_to_tf32(x[row * cin + ch]) : 0.0f;
      }
#pragma unroll 4
      for (int e = 0; e < kCols * kTf32Depth / kTf32Threads; ++e) {
        const int index = tid + e * kTf32Threads, kk = index / kCols, n = index % kCols;
        const int64_t ch = c0 + kk, channel = channel0 + n;
        b[kk][n] = ch < cin && channel < cout ? wmma::__float_to_tf32(wk[ch * cout + channel])
                                              : 0.0f;
      }
      __syncthreads();
#pragma unroll
      for (int kk = 0; kk < kTf32Depth; kk += 8) {
        wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa[2];
        wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb[2];
#pragma unroll
        for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(fa[i], &a[warp_row + 16 * i][kk], kLdA);
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(fb[j], &b[kk][warp_col + 16 * j], kLdB);
#pragma unroll
        for (int i = 0; i < 2; ++i) {
#pragma unroll
          for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
      }
      __syncthreads();
    }
  }
#pragma unroll
  for (int i = 0; i < 2; ++i) {
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      wmma::store_matrix_sync(&c[warp_row + 16 * i][warp_col + 16 * j], acc[i][j], kLdB,
                              wmma::mem_row_major);
    }
  }
  __syncthreads();
  for (int index = tid; index < kRows * kCols; index += kTf32Threads) {
    const int r = index / kCols, n = index % kCols;
    const int64_t j = column0 + r, channel = channel0 + n;
    if (j < m && channel < cout) out[static_cast<int64_t>(order[j]) * cout + channel] = c[r][n];
  }
#endif
}

// One block: a 64 x 64 tile of the cin x cout gradient of offset k (grid y, strided), over run
// blockIdx.z of its pairs; the pairs are the reduction, 16 per step.
template <typename T>
__global__ void __launch_bounds__(kThreads, kMinBlocks<T>)
    weight_grad_kernel(const T* __restrict__ x, const T* __restrict__ dy,
                       const int64_t* __restrict__ in_rows, const int64_t* __restrict__ out_rows,
                       const int64_t* __restrict__ starts, int64_t volume, int64_t cin,
                       int64_t cout, int64_t chunk, T* __restrict__ partial) {
  __shared__ __align__(16) T a[kDepth][kRows + kPad];
  __shared__ __align__(16) T b[kDepth][kCols];
  const int tid = static_cast<int>(threadIdx.x), ty = tid / 16, tx = tid % 16;
  const int64_t channel_tiles = (cout + kCols - 1) / kCols;
  const int64_t in0 = static_cast<int64_t>(blockIdx.x / channel_tiles) * kRows;
  const int64_t out0 = static_cast<int64_t>(blockIdx.x % channel_tiles) * kCols;
  const int64_t split = blockIdx.z;
  for (int64_t k = blockIdx.y; k < volume; k += gridDim.y) {
    const int64_t begin = starts[k] + split * chunk;
    const int64_t end = starts[k + 1] < begin + chunk ? starts[k + 1] : begin + chunk;
    T acc[4][4] = {};
    for (int64_t p0 = begin; p0 < end; p0 += kDepth) {
      // Consecutive threads read consecutive channels of one gathered row.
#pragma unroll
      for (int e = 0; e < kRows * kDepth / kThreads; ++e) {
        const int index = tid + e * kThreads, kk = index / kRows, r = index % kRows;
        const int64_t p = p0 + kk, channel = in0 + r;
        a[kk][r] = p < end && channel < cin ? x[in_rows[p] * cin + channel] : T(0);
      }
#pragma unroll
      for (int e = 0; e < kCols * kDepth / kThreads; ++e) {
        const int index = tid + e * kThreads, kk = index / kCols, n = index % kCols;
        const int64_t p = p0 + kk, channel = out0 + n;
        b[kk][n] = p < end && channel < cout ? dy[out_rows[p] * cout + channel] : T(0);
      }
      __syncthreads();
      multiply_tile(a, b, ty, tx, acc);
      __syncthreads();
    }
    T* dst = partial + (split * volume + k) * cin * cout;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int64_t ci = in0 + 4 * ty + i;
      if (ci >= cin) continue;
#pragma unroll
      for (int jj = 0; jj < 4; ++jj) {
        const int64_t co = out0 + 4 * tx + jj;
        if (co < cout) dst[ci * cout + co] = acc[i][jj];
      }
    }
  }
}

bool tensor_cores_for_tf32() {
  int device = 0, major = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
    return false;
  }
  return major >= 8;
}

template <typename T>
cudaError_t launch_gather_conv(const T* x, const T* w, const int32_t* table, const int32_t* order,
                               int64_t m, int64_t volume, int64_t cin, int64_t cout, T* out,
                               cudaStream_t stream) {
  if (m == 0 || cout == 0) return cudaSuccess;
  if (cout > kMaxGridY * kCols) return cudaErrorInvalidValue;
  const dim3 grid(tiles(m, kRows), tiles(cout, kCols));
  gather_conv_kernel<T><<<grid, kThreads, 0, stream>>>(x, w, table, order, m, volume, cin, cout,
                                                       out);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_weight_grad(const T* x, const T* dy, const int64_t* in_rows,
                               const int64_t* out_rows, const int64_t* starts, int64_t volume,
                               int64_t cin, int64_t cout, int64_t splits, int64_t chunk,
                               T* partial, cudaStream_t stream) {
  if (volume == 0 || cin == 0 || cout == 0) return cudaSuccess;
  if (splits < 1 || splits > kMaxGridY || chunk < 1) return cudaErrorInvalidValue;
  const int64_t blocks = static_cast<int64_t>(tiles(cin, kRows)) * tiles(cout, kCols);
  if (blocks > 0x7fffffff) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(blocks),
                  static_cast<unsigned>(std::min<int64_t>(volume, kMaxGridY)),
                  static_cast<unsigned>(splits));
  weight_grad_kernel<T><<<grid, kThreads, 0, stream>>>(x, dy, in_rows, out_rows, starts, volume,
                                                       cin, cout, chunk, partial);
  return cudaGetLastError();
}

}  // namespace

cudaError_t gather_conv(const float* x, const float* w, const int32_t* table, const int32_t* order,
                        int64_t m, int64_t volume, int64_t cin, int64_t cout, bool tf32,
                        float* out, cudaStream_t stream) {
  if (!tf32 || !tensor_cores_for_tf32()) {
    return launch_gather_conv(x, w, table, order, m, volume, cin, cout, out, stream);
  }
  if (m == 0 || cout == 0) return cudaSuccess;
  if (cout > kMaxGridY * kCols) return cudaErrorInvalidValue;
  const dim3 grid(tiles(m, kRows), tiles(cout, kCols));
  gather_conv_tf32_kernel<<<grid, kTf32Threads, 0, stream>>>(x, w, table, order, m, volume, cin,
                                                             cout, out);
  return cudaGetLastError();
}

cudaError_t gather_conv(const double* x, const double* w, const int32_t* table,
                        const int32_t* order, int64_t m, int64_t volume, int64_t cin,
                        int64_t cout, bool /*tf32*/, double* out, cudaStream_t stream) {
  return launch_gather_conv(x, w, table, order, m, volume, cin, cout, out, stream);
}

cudaError_t weight_grad(const float* x, const float* dy, const int64_t* in_rows,
                        const int64_t* out_rows, const int64_t* starts, int64_t volume,
                        int64_t cin, int64_t cout, int64_t splits, int64_t chunk, float* partial,
                        cudaStream_t stream) {
  return launch_weight_grad(x, dy, in_rows, out_rows, starts, volume, cin, cout, splits, chunk,
                            partial, stream);
}

cudaError_t weight_grad(const double* x, const double* dy, const int64_t* in_rows,
                        const int64_t* out_rows, const int64_t* starts, int64_t volume,
                        int64_t cin, int64_t cout, int64_t splits, int64_t chunk,
                        double* partial, cudaStream_t stream) {
  return launch_weight_grad(x, dy, in_rows, out_rows, starts, volume, cin, cout, splits, chunk,
                            partial, stream);
}

}  // namespace shapediff::sparse::kernels

// CUDA kernels of the fused sparse convolution; see sparse_conv_kernels.h.
#include "networks/sparse/sparse_conv_kernels.h"

#include <mma.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

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

// The pipelined kernel for float on compute capability 8.0 and up: the same 64 x 64 tile as
// gather_conv_kernel, but its gathers overlap the arithmetic. cp.async copies the next step's
// gathered input rows and W[k] slice straight into the other of two shared buffers while the
// current step multiplies, one barrier a step; 64 threads each hold an 8 x 8 block of the tile
// (rows ty + 8 i, channels 4 tx.. and 32 + 4 tx..), so each shared read feeds 8 FMAs instead of
// 4. The block first reads its whole column of the table once into shared memory (dynamic,
// volume x 64 int32) and lists the offsets any of its rows has, so the prefetch never waits on
// the table. Rows move as 16-byte chunks: cin and cout multiples of 4, pointers 16-byte aligned,
// at most kFastMaxVolume offsets (pipelined_fits). kTensorCores: the multiply is mma.sync
// m16n8k8 on TF32-rounded inputs with float sums (each warp a 32 x 64 half of the tile), for
// when torch's matmul would use TF32; otherwise plain float FMA, as exact as gather_conv_kernel.
constexpr int kFastRows = 64, kFastCols = 64, kFastDepth = 16, kFastThreads = 64;
constexpr int kFastMaxVolume = 64;
// Shared row strides: input rows kFastDepth + 4 and weight rows kFastCols + 8 floats keep 16-byte
// chunks aligned and put the 32 lanes of an mma fragment read on 32 different banks.
constexpr int kFastLdA = kFastDepth + 4, kFastLdB = kFastCols + 8;
static_assert(kFastMaxVolume == kFastThreads, "one thread lists each possible offset");
static_assert(kFastRows == kFastThreads, "one thread gathers each row of the tile");

// 16 bytes global -> shared without passing through registers; zeros when !valid (src unread).
__device__ __forceinline__ void copy_16_async(float* dst, const float* src, bool valid) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(address), "l"(src),
               "r"(valid ? 16 : 0)
               : "memory");
#endif
}

__device__ __forceinline__ void commit_copies() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

__device__ __forceinline__ void wait_copies() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group 0;\n" ::: "memory");
#endif
}

// The bits of v rounded to TF32 (nearest, ties away), as mma.sync takes them.
__device__ __forceinline__ unsigned to_tf32(float v) {
  unsigned bits = 0;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(bits) : "f"(v));
#endif
  return bits;
}

// c += a b for one warp: a 16 x 8 (row-major fragment), b 8 x 8 (column-major), c 16 x 8.
// Lane l (g = l / 4, t = l % 4) holds a = (g, t), (g + 8, t), (g, t + 4), (g + 8, t + 4);
// b = (t, g), (t + 4, g); c = (g, 2t), (g, 2t + 1), (g + 8, 2t), (g + 8, 2t + 1).
__device__ __forceinline__ void mma_tf32(float* c, const unsigned (&a)[4],
                                         const unsigned (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

__device__ __forceinline__ float component(const float4& v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

// Resident blocks per multiprocessor: 8 (128 registers) fit the mma variant; the FMA one
// spills at 128 and gets 6 (167 registers), which the prefetch leaves enough warps for.
template <bool kTensorCores>
__global__ void __launch_bounds__(kFastThreads, kTensorCores ? 8 : 6)
    gather_conv_pipelined_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                 const int32_t* __restrict__ table,
                                 const int32_t* __restrict__ order, int64_t m, int64_t volume,
                                 int64_t cin, int64_t cout, float* __restrict__ out) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  __shared__ __align__(16) float a[2][kFastRows][kFastLdA];
  __shared__ __align__(16) float b[2][kFastDepth][kFastLdB];
  __shared__ unsigned present[kFastMaxVolume / 32];
  __shared__ int32_t offsets[kFastMaxVolume];
  extern __shared__ int32_t rows[];  // [volume][kFastRows]: the block's columns of the table
  const int tid = static_cast<int>(threadIdx.x);
  const int64_t column0 = static_cast<int64_t>(blockIdx.x) * kFastRows;
  const int64_t channel0 = static_cast<int64_t>(blockIdx.y) * kFastCols;
  if (tid < kFastMaxVolume / 32) present[tid] = 0;
  __syncthreads();
  {
    // Eight loads in flight before their votes.
    constexpr int kBatch = 8;
    const int64_t column = column0 + tid;
    for (int64_t k0 = 0; k0 < volume; k0 += kBatch) {
      int32_t batch[kBatch];
#pragma unroll
      for (int u = 0; u < kBatch; ++u) {
        batch[u] = column < m && k0 + u < volume ? table[(k0 + u) * m + column] : -1;
      }
#pragma unroll
      for (int u = 0; u < kBatch; ++u) {
        const int64_t k = k0 + u;
        if (k >= volume) break;  // uniform: the votes below are whole-warp
        rows[k * kFastRows + tid] = batch[u];
        const unsigned vote = __ballot_sync(0xffffffffu, batch[u] >= 0);
        if (tid % 32 == 0 && vote != 0) atomicOr(&present[k / 32], 1u << (k % 32));
      }
    }
  }
  __syncthreads();
  // offsets[0, count): the offsets present in the block, ascending.
  if (tid < volume && (present[tid / 32] >> (tid % 32) & 1u) != 0) {
    int before = __popc(present[tid / 32] & ((1u << (tid % 32)) - 1u));
    if (tid >= 32) before += __popc(present[0]);
    offsets[before] = tid;
  }
  const int count = __popc(present[0]) + __popc(present[1]);
  __syncthreads();

  const int64_t depth_steps = (cin + kFastDepth - 1) / kFastDepth;
  const int64_t steps = count * depth_steps;
  // Step s is depth slice s % depth_steps of the s / depth_steps-th present offset. Thread tid
  // gathers row tid of the tile; the W[k] slice is kFastDepth rows of 16 chunks.
  const auto issue = [&](int64_t step, int buffer) {
    const int64_t ordinal = step / depth_steps;
    const int64_t c0 = (step - ordinal * depth_steps) * kFastDepth;
    const int64_t k = offsets[ordinal];
    const int32_t row = rows[k * kFastRows + tid];
#pragma unroll
    for (int q = 0; q < kFastDepth / 4; ++q) {
      const bool valid = row >= 0 && c0 + 4 * q < cin;
      copy_16_async(&a[buffer][tid][4 * q], valid ? x + row * cin + c0 + 4 * q : x, valid);
    }
#pragma unroll
    for (int q = 0; q < kFastDepth * kFastCols / 4 / kFastThreads; ++q) {
      const int index = tid + q * kFastThreads;
      const int kk = index / (kFastCols / 4), n = 4 * (index % (kFastCols / 4));
      const bool valid = c0 + kk < cin && channel0 + n < cout;
      copy_16_async(&b[buffer][kk][n],
                    valid ? w + (k * cin + c0 + kk) * cout + channel0 + n : w, valid);
    }
    commit_copies();
  };

  // SIMT: acc[8 i + jj] is row ty + 8 i, channel 4 tx + jj (jj < 4) or 32 + 4 tx + jj - 4.
  // Tensor cores: acc[4 (8 mt + nt) + e] is element e of the mma tile at rows 32 warp + 16 mt,
  // channels 8 nt.
  float acc[64] = {};
  const int ty = tid / 8, tx = tid % 8;
  const int lane = tid % 32, warp = tid / 32, g = lane / 4, t = lane % 4;
  if (steps > 0) issue(0, 0);
  for (int64_t step = 0; step < steps; ++step) {
    const int buffer = static_cast<int>(step & 1);
    // This step's copies are in for every thread, and everyone is done with the previous step,
    // whose buffer the next copies overwrite.
    wait_copies();
    __syncthreads();
    if (step + 1 < steps) issue(step + 1, buffer ^ 1);
    if constexpr (kTensorCores) {
#pragma unroll
      for (int kk = 0; kk < kFastDepth; kk += 8) {
        unsigned fa[2][4], fb[8][2];
#pragma unroll
        for (int mt = 0; mt < 2; ++mt) {
          const int r = 32 * warp + 16 * mt + g;
          fa[mt][0] = to_tf32(a[buffer][r][kk + t]);
          fa[mt][1] = to_tf32(a[buffer][r + 8][kk + t]);
          fa[mt][2] = to_tf32(a[buffer][r][kk + t + 4]);
          fa[mt][3] = to_tf32(a[buffer][r + 8][kk + t + 4]);
        }
#pragma unroll
        for (int nt = 0; nt < 8; ++nt) {
          fb[nt][0] = to_tf32(b[buffer][kk + t][8 * nt + g]);
          fb[nt][1] = to_tf32(b[buffer][kk + t + 4][8 * nt + g]);
        }
#pragma unroll
        for (int mt = 0; mt < 2; ++mt) {
#pragma unroll
          for (int nt = 0; nt < 8; ++nt) mma_tf32(&acc[4 * (8 * mt + nt)], fa[mt], fb[nt]);
        }
      }
    } else {
#pragma unroll
      for (int kk = 0; kk < kFastDepth; kk += 4) {
        float4 av[8];
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          av[i] = *reinterpret_cast<const float4*>(&a[buffer][ty + 8 * i][kk]);
        }
#pragma unroll
        for (int d = 0; d < 4; ++d) {
          const float4 b0 = *reinterpret_cast<const float4*>(&b[buffer][kk + d][4 * tx]);
          const float4 b1 = *reinterpret_cast<const float4*>(&b[buffer][kk + d][32 + 4 * tx]);
#pragma unroll
          for (int i = 0; i < 8; ++i) {
            const float ai = component(av[i], d);
            acc[8 * i + 0] += ai * b0.x;
            acc[8 * i + 1] += ai * b0.y;
            acc[8 * i + 2] += ai * b0.z;
            acc[8 * i + 3] += ai * b0.w;
            acc[8 * i + 4] += ai * b1.x;
            acc[8 * i + 5] += ai * b1.y;
            acc[8 * i + 6] += ai * b1.z;
            acc[8 * i + 7] += ai * b1.w;
          }
        }
      }
    }
  }
  // cout is a multiple of 4, so a chunk of 4 (or pair of 2) channels is all in or all out.
  if constexpr (kTensorCores) {
#pragma unroll
    for (int mt = 0; mt < 2; ++mt) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int64_t j = column0 + 32 * warp + 16 * mt + 8 * half + g;
        if (j >= m) continue;
        float* dst = out + static_cast<int64_t>(order[j]) * cout + channel0;
#pragma unroll
        for (int nt = 0; nt < 8; ++nt) {
          const int n = 8 * nt + 2 * t;
          if (channel0 + n >= cout) continue;
          const float* c = &acc[4 * (8 * mt + nt)];
          *reinterpret_cast<float2*>(dst + n) = make_float2(c[2 * half], c[2 * half + 1]);
        }
      }
    }
  } else {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int64_t j = column0 + ty + 8 * i;
      if (j >= m) continue;
      float* dst = out + static_cast<int64_t>(order[j]) * cout + channel0;
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int n = 32 * half + 4 * tx;
        if (channel0 + n >= cout) continue;
        *reinterpret_cast<float4*>(dst + n) =
            make_float4(acc[8 * i + 4 * half], acc[8 * i + 4 * half + 1],
                        acc[8 * i + 4 * half + 2], acc[8 * i + 4 * half + 3]);
      }
    }
  }
#endif
}

// The compute capability's major number of the current device (0 when it cannot be read).
int device_major() {
  int device = 0, major = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
    return 0;
  }
  return major;
}

bool aligned_16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Whether gather_conv_pipelined_kernel takes this product (see there), unless
// SHAPEDIFF_SPARSE_PIPELINED=0 asks for the first kernels (for comparing the two).
bool pipelined_fits(const float* x, const float* w, const float* out, int64_t volume, int64_t cin,
                    int64_t cout) {
  const char* pipelined = std::getenv("SHAPEDIFF_SPARSE_PIPELINED");
  if (pipelined != nullptr && std::strcmp(pipelined, "0") == 0) return false;
  return volume <= kFastMaxVolume && cin % 4 == 0 && cout % 4 == 0 && aligned_16(x) &&
         aligned_16(w) && aligned_16(out);
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
  if (m == 0 || cout == 0) return cudaSuccess;
  if (cout > kMaxGridY * kCols) return cudaErrorInvalidValue;
  const int major = device_major();
  const dim3 grid(tiles(m, kRows), tiles(cout, kCols));
  if (major >= 8 && pipelined_fits(x, w, out, volume, cin, cout)) {
    static_assert(kFastRows == kRows && kFastCols == kCols, "the grids of both kernels agree");
    const size_t table_bytes = static_cast<size_t>(volume) * kFastRows * sizeof(int32_t);
    if (tf32) {
      gather_conv_pipelined_kernel<true><<<grid, kFastThreads, table_bytes, stream>>>(
          x, w, table, order, m, volume, cin, cout, out);
    } else {
      gather_conv_pipelined_kernel<false><<<grid, kFastThreads, table_bytes, stream>>>(
          x, w, table, order, m, volume, cin, cout, out);
    }
    return cudaGetLastError();
  }
  if (!tf32 || major < 8) {
    return launch_gather_conv(x, w, table, order, m, volume, cin, cout, out, stream);
  }
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

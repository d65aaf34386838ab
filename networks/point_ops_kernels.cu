#include "networks/point_ops_kernels.h"

#include <cub/device/device_radix_sort.cuh>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace shapediff::networks::kernels {
namespace {

// Threads per block of the element-wise kernels.
constexpr int kThreads = 256;
// Ball query and three_nn: one thread per query point; smaller blocks spread PVD's sizes
// (16 clouds x 1024 centres) over more multiprocessors.
constexpr int kQueryThreads = 128;
// Caps on the grid; grid-stride loops cover whatever lies beyond.
constexpr int64_t kMaxBlocksX = 65535;
constexpr int64_t kMaxBlocksY = 65535;
constexpr int kMaxWarps = 32;
constexpr unsigned kFullMask = 0xffffffffu;

// ---- arithmetic that matches the CPU code ---------------------------------------------------
// Squared distances are rounded step by step like the CPU loops (no fused multiply-add), so
// farthest point sampling, ball query and three_nn pick the same points as on the CPU, ties
// included.
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ float floor_of(float v) { return floorf(v); }
__device__ __forceinline__ double floor_of(double v) { return floor(v); }
__device__ __forceinline__ float round_half_even(float v) { return rintf(v); }
__device__ __forceinline__ double round_half_even(double v) { return rint(v); }
__device__ __forceinline__ float square_root(float v) { return sqrtf(v); }
__device__ __forceinline__ double square_root(double v) { return sqrt(v); }

template <typename T>
__device__ __forceinline__ T squared_distance(T ax, T ay, T az, T bx, T by, T bz) {
  const T dx = ax - bx, dy = ay - by, dz = az - bz;
  return add_rn(add_rn(mul_rn(dx, dx), mul_rn(dy, dy)), mul_rn(dz, dz));
}

// Clamps into [0, hi]; NaN becomes 0, so no coordinate can index outside the grid.
template <typename T>
__device__ __forceinline__ T clamp_to(T v, T hi) {
  v = v > T(0) ? v : T(0);
  return v < hi ? v : hi;
}

template <typename T>
__device__ __forceinline__ T infinity() {
  return static_cast<T>(INFINITY);
}

// (distance, index) pairs: the larger distance wins, ties go to the lower index.
template <typename T>
__device__ __forceinline__ void keep_farther(T& best, int& best_i, T d, int i) {
  if (d > best || (d == best && i < best_i)) {
    best = d;
    best_i = i;
  }
}

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(kFullMask, v, offset);
  return v;
}

template <typename T>
__device__ __forceinline__ T warp_max(T v) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    const T other = __shfl_down_sync(kFullMask, v, offset);
    v = other > v ? other : v;
  }
  return v;
}

unsigned blocks_for(int64_t items, int threads) {
  return static_cast<unsigned>(std::min<int64_t>((items + threads - 1) / threads, kMaxBlocksX));
}

// Kernels over rows of length `len` (one row per batch item and channel): x walks the row,
// y the rows.
dim3 row_grid(int64_t rows, int64_t len) {
  return dim3(blocks_for(len, kThreads), static_cast<unsigned>(std::min(rows, kMaxBlocksY)));
}

// ---- farthest point sampling ----------------------------------------------------------------
// One block per cloud. Each thread owns the points i = tid (mod blockDim) and their distance to
// the picked set; a step updates those with the newest pick, reduces the farthest point per
// warp with shuffles and across warps in shared memory. With kShared the cloud (as x, y, z
// arrays) and the distances live in dynamic shared memory, else the distances go to
// `workspace` and the points are read from global memory.
template <typename T, bool kShared>
__global__ void fps_kernel(const T* __restrict__ points, int n, int m, T* __restrict__ workspace,
                           int64_t* __restrict__ out) {
  extern __shared__ __align__(16) unsigned char fps_shared[];
  // Double-buffered per-warp winners: the next step writes the other buffer, so one barrier per
  // step suffices (a thread can only overwrite a buffer after everyone passed the barrier that
  // follows its last read).
  __shared__ T warp_best[2][kMaxWarps];
  __shared__ int warp_index[2][kMaxWarps];

  const int b = blockIdx.x;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int num_warps = blockDim.x >> 5;
  const T* p = points + static_cast<int64_t>(b) * n * 3;
  T* xs = reinterpret_cast<T*>(fps_shared);
  T* ys = xs + n;
  T* zs = ys + n;
  T* dist = kShared ? zs + n : workspace + static_cast<int64_t>(b) * n;
  for (int i = tid; i < n; i += blockDim.x) {
    if (kShared) {
      const T* pi = p + static_cast<int64_t>(i) * 3;
      xs[i] = pi[0];
      ys[i] = pi[1];
      zs[i] = pi[2];
    }
    dist[i] = infinity<T>();
  }
  int64_t* o = out + static_cast<int64_t>(b) * m;
  if (tid == 0) o[0] = 0;
  __syncthreads();

  int current = 0;
  for (int s = 1; s < m; ++s) {
    const T* pc = p + static_cast<int64_t>(current) * 3;
    const T cx = kShared ? xs[current] : pc[0];
    const T cy = kShared ? ys[current] : pc[1];
    const T cz = kShared ? zs[current] : pc[2];
    T best = -1;
    int best_i = n;
    for (int i = tid; i < n; i += blockDim.x) {
      const T* pi = p + static_cast<int64_t>(i) * 3;
      const T px = kShared ? xs[i] : pi[0];
      const T py = kShared ? ys[i] : pi[1];
      const T pz = kShared ? zs[i] : pi[2];
      const T d = squared_distance(px, py, pz, cx, cy, cz);
      T di = dist[i];
      if (d < di) {
        di = d;
        dist[i] = d;
      }
      // A thread visits its points in increasing order: strict > keeps the lowest index.
      if (di > best) {
        best = di;
        best_i = i;
      }
    }
    for (int offset = 16; offset > 0; offset >>= 1) {
      const T other = __shfl_down_sync(kFullMask, best, offset);
      const int other_i = __shfl_down_sync(kFullMask, best_i, offset);
      keep_farther(best, best_i, other, other_i);
    }
    const int buffer = s & 1;
    if (lane == 0) {
      warp_best[buffer][warp] = best;
      warp_index[buffer][warp] = best_i;
    }
    __syncthreads();
    best = warp_best[buffer][0];
    best_i = warp_index[buffer][0];
    for (int w = 1; w < num_warps; ++w) {
      keep_farther(best, best_i, warp_best[buffer][w], warp_index[buffer][w]);
    }
    current = best_i;
    if (tid == 0) o[s] = current;
  }
}

// ---- ball query / three_nn ------------------------------------------------------------------
// One thread per query point; the block walks the cloud in tiles staged in shared memory.

template <typename T>
__global__ void ball_query_kernel(const T* __restrict__ centers, const T* __restrict__ points,
                                  int m, int n, int blocks_per_cloud, T radius2, int k,
                                  int64_t* __restrict__ out) {
  __shared__ T tile[3 * kQueryThreads];
  const int b = blockIdx.x / blocks_per_cloud;
  const int c = (blockIdx.x % blocks_per_cloud) * blockDim.x + threadIdx.x;
  const bool active = c < m;
  T cx = 0, cy = 0, cz = 0;
  if (active) {
    const T* cp = centers + (static_cast<int64_t>(b) * m + c) * 3;
    cx = cp[0];
    cy = cp[1];
    cz = cp[2];
  }
  const T* p = points + static_cast<int64_t>(b) * n * 3;
  int64_t* o = out + (static_cast<int64_t>(b) * m + (active ? c : 0)) * k;
  int found = 0;
  int first = 0;
  for (int start = 0; start < n; start += kQueryThreads) {
    // Also the barrier that protects the previous tile; the block stops once every centre has
    // its k points.
    if (!__syncthreads_or(active && found < k)) break;
    const int count = min(kQueryThreads, n - start);
    for (int t = threadIdx.x; t < 3 * count; t += blockDim.x) {
      tile[t] = p[static_cast<int64_t>(start) * 3 + t];
    }
    __syncthreads();
    if (active) {
      for (int j = 0; j < count && found < k; ++j) {
        const T d = squared_distance(tile[3 * j], tile[3 * j + 1], tile[3 * j + 2], cx, cy, cz);
        if (d < radius2) {
          if (found == 0) first = start + j;
          o[found++] = start + j;
        }
      }
    }
  }
  if (active) {
    for (int s = found; s < k; ++s) o[s] = first;
  }
}

template <typename T>
__global__ void three_nn_kernel(const T* __restrict__ unknown, const T* __restrict__ known, int n,
                                int m, int blocks_per_cloud, T* __restrict__ dist,
                                int64_t* __restrict__ idx) {
  __shared__ T tile[3 * kQueryThreads];
  const int b = blockIdx.x / blocks_per_cloud;
  const int u = (blockIdx.x % blocks_per_cloud) * blockDim.x + threadIdx.x;
  const bool active = u < n;
  T ux = 0, uy = 0, uz = 0;
  if (active) {
    const T* up = unknown + (static_cast<int64_t>(b) * n + u) * 3;
    ux = up[0];
    uy = up[1];
    uz = up[2];
  }
  const T* kp = known + static_cast<int64_t>(b) * m * 3;
  T best0 = infinity<T>(), best1 = infinity<T>(), best2 = infinity<T>();
  int arg0 = 0, arg1 = 0, arg2 = 0;
  for (int start = 0; start < m; start += kQueryThreads) {
    __syncthreads();
    const int count = min(kQueryThreads, m - start);
    for (int t = threadIdx.x; t < 3 * count; t += blockDim.x) {
      tile[t] = kp[static_cast<int64_t>(start) * 3 + t];
    }
    __syncthreads();
    if (active) {
      for (int j = 0; j < count; ++j) {
        const T d = squared_distance(tile[3 * j], tile[3 * j + 1], tile[3 * j + 2], ux, uy, uz);
        const int i = start + j;
        if (d < best0) {
          best2 = best1;
          arg2 = arg1;
          best1 = best0;
          arg1 = arg0;
          best0 = d;
          arg0 = i;
        } else if (d < best1) {
          best2 = best1;
          arg2 = arg1;
          best1 = d;
          arg1 = i;
        } else if (d < best2) {
          best2 = d;
          arg2 = i;
        }
      }
    }
  }
  if (active) {
    const int64_t at = (static_cast<int64_t>(b) * n + u) * 3;
    dist[at] = best0;
    dist[at + 1] = best1;
    dist[at + 2] = best2;
    idx[at] = arg0;
    idx[at + 1] = arg1;
    idx[at + 2] = arg2;
  }
}

// ---- group ----------------------------------------------------------------------------------
// Rows are (b, c); within a row the output [M, k] and the indices [M, k] of batch item b share
// their flat position, so no division is needed. Indices outside [0, n) read as 0 and scatter
// nothing (they are only checked on the CPU).

template <typename T>
__global__ void group_forward_kernel(const T* __restrict__ features,
                                     const int64_t* __restrict__ idx, int64_t rows, int channels,
                                     int n, int mk, T* __restrict__ out) {
  for (int64_t row = blockIdx.y; row < rows; row += gridDim.y) {
    const T* f = features + row * n;
    const int64_t* ix = idx + (row / channels) * mk;
    T* o = out + row * mk;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < mk;
         i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
      const int64_t j = ix[i];
      o[i] = j >= 0 && j < n ? f[j] : T(0);
    }
  }
}

template <typename T>
__global__ void group_backward_kernel(const T* __restrict__ grad, const int64_t* __restrict__ idx,
                                      int64_t rows, int channels, int n, int mk,
                                      T* __restrict__ grad_features) {
  for (int64_t row = blockIdx.y; row < rows; row += gridDim.y) {
    const T* g = grad + row * mk;
    const int64_t* ix = idx + (row / channels) * mk;
    T* gf = grad_features + row * n;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < mk;
         i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
      const int64_t j = ix[i];
      if (j >= 0 && j < n) atomicAdd(gf + j, g[i]);
    }
  }
}

// ---- three_interpolate ----------------------------------------------------------------------

template <typename T>
__global__ void three_interpolate_forward_kernel(const T* __restrict__ features,
                                                 const int64_t* __restrict__ idx,
                                                 const T* __restrict__ weight, int64_t rows,
                                                 int channels, int m, int n,
                                                 T* __restrict__ out) {
  for (int64_t row = blockIdx.y; row < rows; row += gridDim.y) {
    const T* f = features + row * m;
    const int64_t batch_at = (row / channels) * n * 3;
    T* o = out + row * n;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
      const int64_t at = batch_at + i * 3;
      T acc = 0;
      for (int j = 0; j < 3; ++j) {
        const int64_t src = idx[at + j];
        if (src >= 0 && src < m) acc += weight[at + j] * f[src];
      }
      o[i] = acc;
    }
  }
}

template <typename T>
__global__ void three_interpolate_grad_features_kernel(const T* __restrict__ grad,
                                                       const int64_t* __restrict__ idx,
                                                       const T* __restrict__ weight, int64_t rows,
                                                       int channels, int m, int n,
                                                       T* __restrict__ grad_features) {
  for (int64_t row = blockIdx.y; row < rows; row += gridDim.y) {
    const T* g = grad + row * n;
    const int64_t batch_at = (row / channels) * n * 3;
    T* gf = grad_features + row * m;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
      const int64_t at = batch_at + i * 3;
      const T gi = g[i];
      for (int j = 0; j < 3; ++j) {
        const int64_t dst = idx[at + j];
        if (dst >= 0 && dst < m) atomicAdd(gf + dst, weight[at + j] * gi);
      }
    }
  }
}

// One thread per (b, i): grad_weight[b, i, j] = sum_c grad[b, c, i] * features[b, c, idx].
template <typename T>
__global__ void three_interpolate_grad_weight_kernel(const T* __restrict__ grad,
                                                     const T* __restrict__ features,
                                                     const int64_t* __restrict__ idx,
                                                     int64_t items, int channels, int m, int n,
                                                     T* __restrict__ grad_weight) {
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < items;
       t += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t b = t / n, i = t % n;
    const T* g = grad + b * channels * n + i;
    const T* f = features + b * channels * m;
    for (int j = 0; j < 3; ++j) {
      const int64_t src = idx[t * 3 + j];
      T acc = 0;
      if (src >= 0 && src < m) {
        for (int c = 0; c < channels; ++c) {
          acc += g[static_cast<int64_t>(c) * n] * f[static_cast<int64_t>(c) * m + src];
        }
      }
      grad_weight[t * 3 + j] = acc;
    }
  }
}

// ---- avg_voxelize ---------------------------------------------------------------------------

// One block per cloud: the mean (accumulated in double), the largest distance to it, then each
// point's voxel coordinates, flat voxel and sort key (batch, voxel).
template <typename T>
__global__ void voxel_coords_kernel(const T* __restrict__ coords, int n, int r, bool normalize,
                                    T eps, T* __restrict__ norm, int32_t* __restrict__ voxel,
                                    uint32_t* __restrict__ keys, int32_t* __restrict__ ids) {
  __shared__ double warp_sums[3][kMaxWarps];
  __shared__ T warp_maxima[kMaxWarps];
  __shared__ T center[3];
  __shared__ T scale;
  const int b = blockIdx.x;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int num_warps = blockDim.x >> 5;
  const T* c = coords + static_cast<int64_t>(b) * n * 3;

  double sum[3] = {0, 0, 0};
  for (int i = tid; i < n; i += blockDim.x) {
    for (int a = 0; a < 3; ++a) sum[a] += c[static_cast<int64_t>(i) * 3 + a];
  }
  for (int a = 0; a < 3; ++a) {
    sum[a] = warp_sum(sum[a]);
    if (lane == 0) warp_sums[a][warp] = sum[a];
  }
  __syncthreads();
  if (tid == 0) {
    for (int a = 0; a < 3; ++a) {
      double total = 0;
      for (int w = 0; w < num_warps; ++w) total += warp_sums[a][w];
      center[a] = static_cast<T>(total / n);
    }
  }
  __syncthreads();
  const T mx = center[0], my = center[1], mz = center[2];

  if (normalize) {
    T largest = 0;
    for (int i = tid; i < n; i += blockDim.x) {
      const T* ci = c + static_cast<int64_t>(i) * 3;
      const T d = squared_distance(ci[0], ci[1], ci[2], mx, my, mz);
      largest = d > largest ? d : largest;
    }
    largest = warp_max(largest);
    if (lane == 0) warp_maxima[warp] = largest;
    __syncthreads();
    if (tid == 0) {
      T all = 0;
      for (int w = 0; w < num_warps; ++w) all = warp_maxima[w] > all ? warp_maxima[w] : all;
      scale = square_root(all) * T(2) + eps;
    }
    __syncthreads();
  }

  const T top = static_cast<T>(r - 1);
  const int64_t voxels = static_cast<int64_t>(r) * r * r;
  for (int i = tid; i < n; i += blockDim.x) {
    int cell[3];
    for (int a = 0; a < 3; ++a) {
      const T centred = c[static_cast<int64_t>(i) * 3 + a] - center[a];
      T v = normalize ? centred / scale + T(0.5) : (centred + T(1)) / T(2);
      v = clamp_to(v * static_cast<T>(r), top);
      norm[(static_cast<int64_t>(b) * 3 + a) * n + i] = v;
      cell[a] = static_cast<int>(round_half_even(v));
    }
    const int flat = (cell[0] * r + cell[1]) * r + cell[2];
    const int64_t g = static_cast<int64_t>(b) * n + i;
    voxel[g] = flat;
    keys[g] = static_cast<uint32_t>(b * voxels + flat);
    ids[g] = static_cast<int32_t>(g);
  }
}

// Over the sorted points: the first position of each voxel records the run length, and every
// point of the run its voxel's count.
__global__ void voxel_runs_kernel(const uint32_t* __restrict__ sorted_keys,
                                  const int32_t* __restrict__ order, int64_t total,
                                  int32_t* __restrict__ run, int32_t* __restrict__ count) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const uint32_t key = sorted_keys[i];
    if (i > 0 && sorted_keys[i - 1] == key) {
      run[i] = 0;
      continue;
    }
    int64_t end = i + 1;
    while (end < total && sorted_keys[end] == key) ++end;
    const auto length = static_cast<int32_t>(end - i);
    run[i] = length;
    for (int64_t t = i; t < end; ++t) count[order[t]] = length;
  }
}

// y: channel, x: sorted position. The thread at the start of a run sums the run's features in
// point order and writes the mean: the CPU's order, and no atomics.
template <typename T>
__global__ void voxel_mean_kernel(const T* __restrict__ features,
                                  const int32_t* __restrict__ voxel,
                                  const int32_t* __restrict__ order,
                                  const int32_t* __restrict__ run, int64_t total, int channels,
                                  int n, int64_t voxels, T* __restrict__ grid) {
  for (int64_t c = blockIdx.y; c < channels; c += gridDim.y) {
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
         i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
      const int length = run[i];
      if (length == 0) continue;
      const int32_t g0 = order[i];
      const int64_t b = g0 / n;
      const int64_t first_id = b * n;  // order holds ids b * n + point
      const T* f = features + (b * channels + c) * n;
      T acc = 0;
      for (int t = 0; t < length; ++t) acc += f[order[i + t] - first_id];
      grid[(b * channels + c) * voxels + voxel[g0]] = acc / static_cast<T>(length);
    }
  }
}

template <typename T>
__global__ void voxel_mean_backward_kernel(const T* __restrict__ grad,
                                           const int32_t* __restrict__ voxel,
                                           const int32_t* __restrict__ count, int64_t rows,
                                           int channels, int n, int64_t voxels,
                                           T* __restrict__ grad_features) {
  for (int64_t row = blockIdx.y; row < rows; row += gridDim.y) {
    const int64_t b = row / channels;
    const T* g = grad + row * voxels;
    T* o = grad_features + row * n;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
      const int64_t at = b * n + i;
      o[i] = g[voxel[at]] / static_cast<T>(count[at]);
    }
  }
}

// ---- trilinear_devoxelize -------------------------------------------------------------------

// The eight corners of a point, PVCNN's layout (see point_ops_cpu.cpp): a zero fractional
// offset collapses the upper corner onto the lower voxel.
template <typename T>
__device__ __forceinline__ void trilinear_corners(T x, T y, T z, int r, int (&index)[8],
                                                  T (&weight)[8]) {
  const T top = static_cast<T>(r - 1);
  const T v[3] = {clamp_to(x, top), clamp_to(y, top), clamp_to(z, top)};
  const int stride[3] = {r * r, r, 1};
  int base = 0, step[3];
  T d1[3], d0[3];
  for (int a = 0; a < 3; ++a) {
    const T fl = floor_of(v[a]);
    d1[a] = v[a] - fl;
    d0[a] = T(1) - d1[a];
    base += static_cast<int>(fl) * stride[a];
    step[a] = d1[a] > T(0) ? stride[a] : 0;
  }
  for (int corner = 0; corner < 8; ++corner) {
    const int hx = (corner >> 2) & 1, hy = (corner >> 1) & 1, hz = corner & 1;
    index[corner] = base + hx * step[0] + hy * step[1] + hz * step[2];
    weight[corner] = (hx ? d1[0] : d0[0]) * (hy ? d1[1] : d0[1]) * (hz ? d1[2] : d0[2]);
  }
}

template <typename T>
__global__ void devoxelize_forward_kernel(const T* __restrict__ grid, const T* __restrict__ coords,
                                          int64_t rows, int channels, int n, int r,
                                          T* __restrict__ out) {
  const int64_t voxels = static_cast<int64_t>(r) * r * r;
  for (int64_t row = blockIdx.y; row < rows; row += gridDim.y) {
    const T* x = coords + (row / channels) * 3 * n;
    const T* g = grid + row * voxels;
    T* o = out + row * n;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
      int index[8];
      T weight[8];
      trilinear_corners(x[i], x[n + i], x[2 * n + i], r, index, weight);
      T acc = 0;
      for (int corner = 0; corner < 8; ++corner) acc += weight[corner] * g[index[corner]];
      o[i] = acc;
    }
  }
}

template <typename T>
__global__ void devoxelize_backward_kernel(const T* __restrict__ grad, const T* __restrict__ coords,
                                           int64_t rows, int channels, int n, int r,
                                           T* __restrict__ grad_grid) {
  const int64_t voxels = static_cast<int64_t>(r) * r * r;
  for (int64_t row = blockIdx.y; row < rows; row += gridDim.y) {
    const T* x = coords + (row / channels) * 3 * n;
    const T* g = grad + row * n;
    T* o = grad_grid + row * voxels;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
      int index[8];
      T weight[8];
      trilinear_corners(x[i], x[n + i], x[2 * n + i], r, index, weight);
      const T gi = g[i];
      for (int corner = 0; corner < 8; ++corner) atomicAdd(o + index[corner], weight[corner] * gi);
    }
  }
}

// ---- voxel sort scratch ---------------------------------------------------------------------

constexpr size_t kAlign = 256;

size_t aligned(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// Bits that hold every key b * r^3 + voxel: the radix sort skips the rest.
int key_bits(int64_t batch, int64_t resolution) {
  const uint64_t keys = static_cast<uint64_t>(batch) * resolution * resolution * resolution;
  int bits = 1;
  while (bits < 32 && (uint64_t{1} << bits) < keys) ++bits;
  return bits;
}

cudaError_t sort_scratch_bytes(int64_t total, int bits, size_t* bytes) {
  return cub::DeviceRadixSort::SortPairs(nullptr, *bytes, static_cast<const uint32_t*>(nullptr),
                                         static_cast<uint32_t*>(nullptr),
                                         static_cast<const int32_t*>(nullptr),
                                         static_cast<int32_t*>(nullptr), static_cast<int>(total),
                                         0, bits);
}

}  // namespace

template <typename T>
cudaError_t farthest_point_sample(const T* points, int64_t batch, int64_t n, int64_t m,
                                  T* workspace, int64_t* out, cudaStream_t stream) {
  if (batch == 0 || m == 0) return cudaSuccess;
  // About four points per thread: enough threads to hide latency, few enough that the per-step
  // reduction stays short.
  int threads = 64;
  while (threads < 1024 && threads * 4 < n) threads *= 2;
  const size_t shared = 4 * static_cast<size_t>(n) * sizeof(T);
  int device = 0, shared_limit = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) return err;
  err = cudaDeviceGetAttribute(&shared_limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
  if (err != cudaSuccess) return err;
  // Leave room for the kernel's static shared memory (the per-warp winners).
  constexpr size_t kStaticShared = 2 * kMaxWarps * (sizeof(T) + sizeof(int));
  constexpr size_t kDefaultShared = 48 * 1024;
  const auto points_in = static_cast<int>(n), picks = static_cast<int>(m);
  if (shared + kStaticShared <= static_cast<size_t>(shared_limit)) {
    if (shared + kStaticShared > kDefaultShared) {
      err = cudaFuncSetAttribute(fps_kernel<T, true>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 static_cast<int>(shared));
      if (err != cudaSuccess) return err;
    }
    fps_kernel<T, true><<<static_cast<unsigned>(batch), threads, shared, stream>>>(
        points, points_in, picks, workspace, out);
  } else {
    fps_kernel<T, false><<<static_cast<unsigned>(batch), threads, 0, stream>>>(
        points, points_in, picks, workspace, out);
  }
  return cudaGetLastError();
}

template <typename T>
cudaError_t ball_query(const T* centers, const T* points, int64_t batch, int64_t m, int64_t n,
                       T radius2, int64_t k, int64_t* out, cudaStream_t stream) {
  if (batch == 0 || m == 0) return cudaSuccess;
  const int blocks_per_cloud = static_cast<int>((m + kQueryThreads - 1) / kQueryThreads);
  ball_query_kernel<T><<<static_cast<unsigned>(batch * blocks_per_cloud), kQueryThreads, 0,
                         stream>>>(centers, points, static_cast<int>(m), static_cast<int>(n),
                                   blocks_per_cloud, radius2, static_cast<int>(k), out);
  return cudaGetLastError();
}

template <typename T>
cudaError_t group_forward(const T* features, const int64_t* idx, int64_t batch, int64_t channels,
                          int64_t n, int64_t m, int64_t k, T* out, cudaStream_t stream) {
  const int64_t rows = batch * channels, mk = m * k;
  if (rows == 0 || mk == 0) return cudaSuccess;
  group_forward_kernel<T><<<row_grid(rows, mk), kThreads, 0, stream>>>(
      features, idx, rows, static_cast<int>(channels), static_cast<int>(n),
      static_cast<int>(mk), out);
  return cudaGetLastError();
}

template <typename T>
cudaError_t group_backward(const T* grad, const int64_t* idx, int64_t batch, int64_t channels,
                           int64_t n, int64_t m, int64_t k, T* grad_features,
                           cudaStream_t stream) {
  const int64_t rows = batch * channels, mk = m * k;
  if (rows == 0 || mk == 0) return cudaSuccess;
  group_backward_kernel<T><<<row_grid(rows, mk), kThreads, 0, stream>>>(
      grad, idx, rows, static_cast<int>(channels), static_cast<int>(n), static_cast<int>(mk),
      grad_features);
  return cudaGetLastError();
}

template <typename T>
cudaError_t three_nn(const T* unknown, const T* known, int64_t batch, int64_t n, int64_t m,
                     T* dist, int64_t* idx, cudaStream_t stream) {
  if (batch == 0 || n == 0) return cudaSuccess;
  const int blocks_per_cloud = static_cast<int>((n + kQueryThreads - 1) / kQueryThreads);
  three_nn_kernel<T><<<static_cast<unsigned>(batch * blocks_per_cloud), kQueryThreads, 0,
                       stream>>>(unknown, known, static_cast<int>(n), static_cast<int>(m),
                                 blocks_per_cloud, dist, idx);
  return cudaGetLastError();
}

template <typename T>
cudaError_t three_interpolate_forward(const T* features, const int64_t* idx, const T* weight,
                                      int64_t batch, int64_t channels, int64_t m, int64_t n,
                                      T* out, cudaStream_t stream) {
  const int64_t rows = batch * channels;
  if (rows == 0 || n == 0) return cudaSuccess;
  three_interpolate_forward_kernel<T><<<row_grid(rows, n), kThreads, 0, stream>>>(
      features, idx, weight, rows, static_cast<int>(channels), static_cast<int>(m),
      static_cast<int>(n), out);
  return cudaGetLastError();
}

template <typename T>
cudaError_t three_interpolate_backward(const T* grad, const T* features, const int64_t* idx,
                                       const T* weight, int64_t batch, int64_t channels,
                                       int64_t m, int64_t n, T* grad_features, T* grad_weight,
                                       cudaStream_t stream) {
  const int64_t rows = batch * channels, items = batch * n;
  if (items == 0) return cudaSuccess;
  if (rows > 0) {
    three_interpolate_grad_features_kernel<T><<<row_grid(rows, n), kThreads, 0, stream>>>(
        grad, idx, weight, rows, static_cast<int>(channels), static_cast<int>(m),
        static_cast<int>(n), grad_features);
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
  }
  three_interpolate_grad_weight_kernel<T><<<blocks_for(items, kThreads), kThreads, 0, stream>>>(
      grad, features, idx, items, static_cast<int>(channels), static_cast<int>(m),
      static_cast<int>(n), grad_weight);
  return cudaGetLastError();
}

cudaError_t assign_voxels_workspace(int64_t batch, int64_t n, int64_t resolution, size_t* bytes) {
  const int64_t total = batch * n;
  size_t sort_bytes = 0;
  if (total > 0) {
    const cudaError_t err = sort_scratch_bytes(total, key_bits(batch, resolution), &sort_bytes);
    if (err != cudaSuccess) return err;
  }
  const size_t array = aligned(static_cast<size_t>(total) * sizeof(uint32_t));
  *bytes = 3 * array + aligned(sort_bytes);
  return cudaSuccess;
}

template <typename T>
cudaError_t assign_voxels(const T* coords, int64_t batch, int64_t n, int64_t resolution,
                          bool normalize, T eps, void* workspace, size_t workspace_bytes,
                          T* norm, int32_t* voxel, int32_t* count, int32_t* order, int32_t* run,
                          cudaStream_t stream) {
  const int64_t total = batch * n;
  if (total == 0) return cudaSuccess;
  size_t needed = 0;
  cudaError_t err = assign_voxels_workspace(batch, n, resolution, &needed);
  if (err != cudaSuccess) return err;
  if (workspace_bytes < needed) return cudaErrorInvalidValue;
  const size_t array = aligned(static_cast<size_t>(total) * sizeof(uint32_t));
  auto* base = static_cast<unsigned char*>(workspace);
  auto* keys = reinterpret_cast<uint32_t*>(base);
  auto* sorted_keys = reinterpret_cast<uint32_t*>(base + array);
  auto* ids = reinterpret_cast<int32_t*>(base + 2 * array);
  void* sort_scratch = base + 3 * array;
  size_t sort_bytes = workspace_bytes - 3 * array;

  voxel_coords_kernel<T><<<static_cast<unsigned>(batch), kThreads, 0, stream>>>(
      coords, static_cast<int>(n), static_cast<int>(resolution), normalize, eps, norm, voxel,
      keys, ids);
  err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  // Radix sort is stable: within a voxel the points keep their index order.
  err = cub::DeviceRadixSort::SortPairs(sort_scratch, sort_bytes, keys, sorted_keys, ids, order,
                                        static_cast<int>(total), 0,
                                        key_bits(batch, resolution), stream);
  if (err != cudaSuccess) return err;
  voxel_runs_kernel<<<blocks_for(total, kThreads), kThreads, 0, stream>>>(sorted_keys, order,
                                                                          total, run, count);
  return cudaGetLastError();
}

template <typename T>
cudaError_t avg_voxelize_forward(const T* features, const int32_t* voxel, const int32_t* order,
                                 const int32_t* run, int64_t batch, int64_t channels, int64_t n,
                                 int64_t resolution, T* grid, cudaStream_t stream) {
  const int64_t total = batch * n;
  if (total == 0 || channels == 0) return cudaSuccess;
  voxel_mean_kernel<T><<<row_grid(channels, total), kThreads, 0, stream>>>(
      features, voxel, order, run, total, static_cast<int>(channels), static_cast<int>(n),
      resolution * resolution * resolution, grid);
  return cudaGetLastError();
}

template <typename T>
cudaError_t avg_voxelize_backward(const T* grad, const int32_t* voxel, const int32_t* count,
                                  int64_t batch, int64_t channels, int64_t n, int64_t voxels,
                                  T* grad_features, cudaStream_t stream) {
  const int64_t rows = batch * channels;
  if (rows == 0 || n == 0) return cudaSuccess;
  voxel_mean_backward_kernel<T><<<row_grid(rows, n), kThreads, 0, stream>>>(
      grad, voxel, count, rows, static_cast<int>(channels), static_cast<int>(n), voxels,
      grad_features);
  return cudaGetLastError();
}

template <typename T>
cudaError_t trilinear_devoxelize_forward(const T* grid, const T* coords, int64_t batch,
                                         int64_t channels, int64_t n, int64_t resolution, T* out,
                                         cudaStream_t stream) {
  const int64_t rows = batch * channels;
  if (rows == 0 || n == 0) return cudaSuccess;
  devoxelize_forward_kernel<T><<<row_grid(rows, n), kThreads, 0, stream>>>(
      grid, coords, rows, static_cast<int>(channels), static_cast<int>(n),
      static_cast<int>(resolution), out);
  return cudaGetLastError();
}

template <typename T>
cudaError_t trilinear_devoxelize_backward(const T* grad, const T* coords, int64_t batch,
                                          int64_t channels, int64_t n, int64_t resolution,
                                          T* grad_grid, cudaStream_t stream) {
  const int64_t rows = batch * channels;
  if (rows == 0 || n == 0) return cudaSuccess;
  devoxelize_backward_kernel<T><<<row_grid(rows, n), kThreads, 0, stream>>>(
      grad, coords, rows, static_cast<int>(channels), static_cast<int>(n),
      static_cast<int>(resolution), grad_grid);
  return cudaGetLastError();
}

// float32 and float64 instantiations, the two dtypes point_ops.h accepts.
#define SHAPEDIFF_INSTANTIATE_POINT_KERNELS(T)                                                   \
  template cudaError_t farthest_point_sample<T>(const T*, int64_t, int64_t, int64_t, T*,         \
                                                int64_t*, cudaStream_t);                        \
  template cudaError_t ball_query<T>(const T*, const T*, int64_t, int64_t, int64_t, T, int64_t, \
                                     int64_t*, cudaStream_t);                                   \
  template cudaError_t group_forward<T>(const T*, const int64_t*, int64_t, int64_t, int64_t,     \
                                        int64_t, int64_t, T*, cudaStream_t);                    \
  template cudaError_t group_backward<T>(const T*, const int64_t*, int64_t, int64_t, int64_t,    \
                                         int64_t, int64_t, T*, cudaStream_t);                   \
  template cudaError_t three_nn<T>(const T*, const T*, int64_t, int64_t, int64_t, T*, int64_t*,  \
                                   cudaStream_t);                                               \
  template cudaError_t three_interpolate_forward<T>(const T*, const int64_t*, const T*, int64_t, \
                                                    int64_t, int64_t, int64_t, T*,              \
                                                    cudaStream_t);                              \
  template cudaError_t three_interpolate_backward<T>(const T*, const T*, const int64_t*,         \
                                                     const T*, int64_t, int64_t, int64_t,       \
                                                     int64_t, T*, T*, cudaStream_t);            \
  template cudaError_t assign_voxels<T>(const T*, int64_t, int64_t, int64_t, bool, T, void*,     \
                                        size_t, T*, int32_t*, int32_t*, int32_t*, int32_t*,     \
                                        cudaStream_t);                                          \
  template cudaError_t avg_voxelize_forward<T>(const T*, const int32_t*, const int32_t*,         \
                                               const int32_t*, int64_t, int64_t, int64_t,        \
                                               int64_t, T*, cudaStream_t);                      \
  template cudaError_t avg_voxelize_backward<T>(const T*, const int32_t*, const int32_t*,        \
                                                int64_t, int64_t, int64_t, int64_t, T*,          \
                                                cudaStream_t);                                  \
  template cudaError_t trilinear_devoxelize_forward<T>(const T*, const T*, int64_t, int64_t,     \
                                                       int64_t, int64_t, T*, cudaStream_t);     \
  template cudaError_t trilinear_devoxelize_backward<T>(const T*, const T*, int64_t, int64_t,    \
                                                        int64_t, int64_t, T*, cudaStream_t);

SHAPEDIFF_INSTANTIATE_POINT_KERNELS(float)
SHAPEDIFF_INSTANTIATE_POINT_KERNELS(double)

}  // namespace shapediff::networks::kernels

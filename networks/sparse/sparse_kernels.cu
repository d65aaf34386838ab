// CUDA kernels of the sparse core; see sparse_kernels.h.
#include "networks/sparse/sparse_kernels.h"

#include <algorithm>

#include "networks/sparse/coordinate_key.h"

namespace shapediff::sparse::kernels {
namespace {

using detail::kEmptyKey;

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65535;

// Grid-stride loops cover any n with at most kMaxBlocks blocks.
unsigned blocks_for(int64_t items) {
  return static_cast<unsigned>(
      std::max<int64_t>(1, std::min<int64_t>((items + kThreads - 1) / kThreads, kMaxBlocks)));
}

__global__ void hash_insert_kernel(const int32_t* __restrict__ coords, int64_t n,
                                   int64_t* __restrict__ keys, int64_t* __restrict__ values,
                                   uint64_t mask, int32_t* __restrict__ duplicates) {
  for (int64_t row = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; row < n;
       row += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int32_t* c = coords + 4 * row;
    const int64_t key = detail::pack_key(c[0], c[1], c[2], c[3]);
    auto* slots = reinterpret_cast<unsigned long long*>(keys);
    for (uint64_t slot = detail::hash_slot(key, mask);; slot = (slot + 1) & mask) {
      const auto previous =
          static_cast<int64_t>(atomicCAS(slots + slot, static_cast<unsigned long long>(kEmptyKey),
                                         static_cast<unsigned long long>(key)));
      if (previous == kEmptyKey) {
        // The slot's value is read only by later launches, after this one completes.
        values[slot] = row;
        break;
      }
      if (previous == key) {
        atomicAdd(duplicates, 1);
        break;
      }
    }
  }
}

__global__ void hash_lookup_kernel(const int64_t* __restrict__ keys,
                                   const int64_t* __restrict__ values, uint64_t mask,
                                   const int32_t* __restrict__ queries, int64_t m,
                                   int64_t* __restrict__ out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < m;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int32_t* q = queries + 4 * i;
    out[i] = detail::probe(keys, values, mask, detail::pack_key(q[0], q[1], q[2], q[3]));
  }
}

// x walks the output cells, y the kernel offsets, so a warp's writes to the table row of one
// offset are coalesced and no thread divides to find its offset.
__global__ void kernel_map_query_kernel(const int64_t* __restrict__ keys,
                                        const int64_t* __restrict__ values, uint64_t mask,
                                        const int32_t* __restrict__ out_coords, int64_t m,
                                        int64_t kernel_size, int64_t stride, int64_t dilation,
                                        int64_t padding, int64_t* __restrict__ table) {
  const int64_t volume = kernel_size * kernel_size * kernel_size;
  for (int64_t k = blockIdx.y; k < volume; k += gridDim.y) {
    const int64_t kz = k % kernel_size, ky = (k / kernel_size) % kernel_size,
                  kx = k / (kernel_size * kernel_size);
    const int64_t dx = kx * dilation - padding, dy = ky * dilation - padding,
                  dz = kz * dilation - padding;
    for (int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; o < m;
         o += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      const int32_t* c = out_coords + 4 * o;
      const int64_t key = detail::pack_key(c[0], c[1] * stride + dx, c[2] * stride + dy,
                                           c[3] * stride + dz);
      table[k * m + o] = detail::probe(keys, values, mask, key);
    }
  }
}

}  // namespace

cudaError_t hash_insert(const int32_t* coords, int64_t n, int64_t* keys, int64_t* values,
                        int64_t capacity, int32_t* duplicates, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  hash_insert_kernel<<<blocks_for(n), kThreads, 0, stream>>>(
      coords, n, keys, values, static_cast<uint64_t>(capacity - 1), duplicates);
  return cudaGetLastError();
}

cudaError_t hash_lookup(const int64_t* keys, const int64_t* values, int64_t capacity,
                        const int32_t* queries, int64_t m, int64_t* out, cudaStream_t stream) {
  if (m == 0) return cudaSuccess;
  hash_lookup_kernel<<<blocks_for(m), kThreads, 0, stream>>>(
      keys, values, static_cast<uint64_t>(capacity - 1), queries, m, out);
  return cudaGetLastError();
}

cudaError_t kernel_map_query(const int64_t* keys, const int64_t* values, int64_t capacity,
                             const int32_t* out_coords, int64_t m, int64_t kernel_size,
                             int64_t stride, int64_t dilation, int64_t padding, int64_t* table,
                             cudaStream_t stream) {
  const int64_t volume = kernel_size * kernel_size * kernel_size;
  if (m == 0 || volume == 0) return cudaSuccess;
  const dim3 grid(blocks_for(m), static_cast<unsigned>(std::min(volume, kMaxBlocks)));
  kernel_map_query_kernel<<<grid, kThreads, 0, stream>>>(
      keys, values, static_cast<uint64_t>(capacity - 1), out_coords, m, kernel_size, stride,
      dilation, padding, table);
  return cudaGetLastError();
}

}  // namespace shapediff::sparse::kernels

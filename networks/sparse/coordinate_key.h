// The packed key and slot function of CoordinateHash (kernel_map.h), shared by the CPU code and
// the CUDA kernels (sparse_kernels.cu) so both devices agree on which cells exist: a cell
// (batch, x, y, z) packs to batch << 48 | x << 32 | y << 16 | z, which orders keys like rows
// in row-major (b, x, y, z) order. Internal to the networks library; no torch headers.
//
//   int64_t key = pack_key(0, 3, 4, 5);            // -1 when any part is out of range
//   uint64_t slot = hash_slot(key, capacity - 1);  // capacity a power of two
//   int64_t row = probe(keys, values, capacity - 1, key);
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define SHAPEDIFF_SPARSE_HD __host__ __device__ __forceinline__
#else
#define SHAPEDIFF_SPARSE_HD inline
#endif

namespace shapediff::sparse::detail {

constexpr int64_t kEmptyKey = -1;
constexpr int64_t kMaxBatch = int64_t{1} << 15;
constexpr int64_t kMaxCoordinate = int64_t{1} << 16;

// -1 for cells no hash can hold (negative or too large), so a query there is simply absent.
SHAPEDIFF_SPARSE_HD int64_t pack_key(int64_t b, int64_t x, int64_t y, int64_t z) {
  if (b < 0 || b >= kMaxBatch || x < 0 || x >= kMaxCoordinate || y < 0 || y >= kMaxCoordinate ||
      z < 0 || z >= kMaxCoordinate) {
    return kEmptyKey;
  }
  return (b << 48) | (x << 32) | (y << 16) | z;
}

// splitmix64's finalizer: neighbouring cells differ in few low bits, which linear probing on
// the raw key would turn into long clusters.
SHAPEDIFF_SPARSE_HD uint64_t hash_slot(int64_t key, uint64_t mask) {
  uint64_t h = static_cast<uint64_t>(key);
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h & mask;
}

// The value stored under key in a table of capacity mask + 1, or -1 when absent (or key is -1).
// Probing ends at an empty slot: the table is never full (capacity >= 2N).
SHAPEDIFF_SPARSE_HD int64_t probe(const int64_t* keys, const int64_t* values, uint64_t mask,
                                  int64_t key) {
  if (key == kEmptyKey) return -1;
  for (uint64_t slot = hash_slot(key, mask);; slot = (slot + 1) & mask) {
    const int64_t k = keys[slot];
    if (k == key) return values[slot];
    if (k == kEmptyKey) return -1;
  }
}

}  // namespace shapediff::sparse::detail

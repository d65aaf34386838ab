// SHAPEDIFF_SIMD_CLONES: compiles a hot loop once per x86-64 level (AVX-512, AVX2+FMA, baseline)
// and picks the best at load time, so the default build (no -march) still uses the machine's
// widest vectors. Put it on a non-inline function whose loops use GCC vector types
// (`float __attribute__((vector_size(64)))`), which every clone lowers to its own width.
// Elsewhere (other architectures, other compilers) it expands to nothing.
//
//   SHAPEDIFF_SIMD_CLONES void kernel(const float* x, int64_t n, float* out);
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define SHAPEDIFF_SIMD_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SHAPEDIFF_SIMD_CLONES
#endif

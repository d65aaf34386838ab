// Pairwise matrices between two sets of point clouds (the building block of MMD, COV and
// 1-NNA): calls a per-pair function for every (i, j) on ATen's intra-op threads.
//
//   // out [G, R, 1] float64 on the CPU
//   auto m = pairwise_values(G, R, 1, /*symmetric=*/false,
//                            [&](int64_t i, int64_t j, double* v) { v[0] = dist(i, j); },
//                            [](int64_t done, int64_t total) { ... });
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <torch/types.h>

namespace shapediff::shapes {

// Progress of a long computation: `done` of `total` units (pairs) finished. Always called on
// the thread that started the computation, never concurrently.
using PairProgress = std::function<void(int64_t done, int64_t total)>;

// Fills a float64 [rows, cols, channels] tensor with value(i, j, out + channels * (i*cols+j)),
// each pair on one thread (value must be thread-safe; it runs inside at::parallel_for, so torch
// ops there run single-threaded). With `symmetric` (rows == cols required) only pairs j > i are
// computed, mirrored to (j, i); the diagonal is 0. Work is cut into chunks; `progress` is called
// after each chunk. An exception thrown by `value` is rethrown here.
// Checks a set of clouds: a floating tensor [K,N,3] with K >= 1, N >= 1 and finite coordinates.
// Throws std::invalid_argument "<context>: ..." naming the problem (shape, dtype, NaN/Inf).
void check_cloud_set(const torch::Tensor& clouds, const std::string& context);

torch::Tensor pairwise_values(int64_t rows, int64_t cols, int64_t channels, bool symmetric,
                              const std::function<void(int64_t i, int64_t j, double* out)>& value,
                              const PairProgress& progress = {});

}  // namespace shapediff::shapes

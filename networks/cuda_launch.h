// What the torch-facing CUDA dispatch files (networks/point_ops_cuda.cpp,
// networks/sparse/sparse_cuda.cpp) share: the current stream, and a launch status turned into a
// std::runtime_error naming the op. Built only with SHAPEDIFF_WITH_CUDA.
//
//   check_launch(kernels::ball_query(..., current_stream()), "ball_query");
#pragma once

#include <ATen/cuda/CUDAContext.h>
#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace shapediff::networks::cuda_launch {

inline void check_launch(cudaError_t err, const char* op) {
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string(op) + ": CUDA kernel failed: " + cudaGetErrorString(err));
  }
}

inline cudaStream_t current_stream() { return at::cuda::getCurrentCUDAStream().stream(); }

}  // namespace shapediff::networks::cuda_launch

// Sparse 3D convolution on SparseTensor (sparse_tensor.h): submanifold (stride 1, outputs at the
// input's cells), strided (downsampling), transposed back to known cells, and generative
// transposed (creates cells), each with autograd for the features, the weight and the bias.
//
// Weights are [K, Cin, Cout] with K = kernel_size^3 in kernel offset order
// (k = (kx * ks + ky) * ks + kz, kernel_map.h), bias [Cout] or undefined. The geometry is dense
// conv3d's with padding ConvGeometry::padding(): the dense weight of the same convolution is
// w_dense[co, ci, kx, ky, kz] = W[k, ci, co] (conv_transpose3d: w_dense[ci, co, kx, ky, kz]).
// The work is gather-GEMM-scatter over a KernelMap: per kernel offset, gather the input rows,
// multiply by W[k], add into the output rows (parallel on the CPU; fused kernels or torch ops on
// CUDA, see uses_fused_cuda_conv).
//
//   SparseConv3d conv(SparseConv3dOptions(16, 32, 3));            // submanifold 3x3x3
//   auto y = conv(x);                                             // x [N,16] -> y [N,32]
//   SparseConv3d down(SparseConv3dOptions(32, 64, 2).stride(2));  // stride 1 -> stride 2
//   SparseConv3d up(SparseConv3dOptions(64, 32, 2).stride(2).transposed(true));
//   auto z = up(down(y), y);                                      // back onto y's cells
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <optional>

#include "networks/sparse/kernel_map.h"
#include "networks/sparse/sparse_tensor.h"

namespace shapediff::sparse {

// The gather-GEMM-scatter itself: out[o] = sum over the pairs (i, o, k) of the map of
// features[i] @ weight[k]. features [map.input_size, Cin], weight [K, Cin, Cout] with
// K = map.kernel_volume(); returns [map.output_size, Cout]. Differentiable (first order) in
// features and weight. Within one offset no input row and no output row may repeat (true of
// every map that kernel_map.h builds: a cell and an offset fix the other cell); the CPU path
// relies on it to add the rows of one offset in parallel.
torch::Tensor sparse_conv_features(const torch::Tensor& features, const torch::Tensor& weight,
                                   const KernelMap& map);

// Whether sparse_conv_features runs the fused CUDA kernels (sparse_conv_kernels.h: one
// implicit-GEMM launch over the map's tables per product, TF32 where torch's matrix products
// use it, at::globalContext().allowTF32CuBLAS()) rather than the gather / mm / index_add_ per
// offset of the torch-op path: in CUDA builds, for float or double features and weight on CUDA
// with a map built there, unless the environment sets SHAPEDIFF_SPARSE_FUSED=0 (read on every
// call, so benchmarks can time both paths in one run). Other dtypes (half, bfloat16) and the CPU
// take the other path.
bool uses_fused_cuda_conv(const torch::Tensor& features, const torch::Tensor& weight,
                          const KernelMap& map);

// Stride 1: submanifold convolution, the output has x's cells and stride. Stride s > 1: the
// output has the cells manager->downsample_coords(x.coords(), s) and stride x.stride() * s.
// std::invalid_argument on a weight that is not [ks^3, x.channels(), Cout], a bias that is not
// [Cout], a geometry value < 1, or a weight or bias on another device or of another dtype.
SparseTensor conv3d(const SparseTensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                    const ConvGeometry& geometry);

// The transposed convolution from the coarse x back onto the cells of `target` (the finer
// tensor x was made from, e.g. a U-Net skip): input cell o adds into output cell
// o * stride - p + k * dilation where that cell is one of target's. The output has target's
// cells, stride and manager; target.stride() * geometry.stride must equal x.stride().
SparseTensor conv_transpose3d(const SparseTensor& x, const torch::Tensor& weight,
                              const torch::Tensor& bias, const ConvGeometry& geometry,
                              const SparseTensor& target);

// The transposed convolution that writes every cell it reaches
// (manager->generative_coords(x.coords(), geometry)); stride x.stride() / geometry.stride,
// which must divide.
SparseTensor generative_conv_transpose3d(const SparseTensor& x, const torch::Tensor& weight,
                                         const torch::Tensor& bias, const ConvGeometry& geometry);

struct SparseConv3dOptions {
  SparseConv3dOptions(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(int64_t, kernel_size);
  TORCH_ARG(int64_t, stride) = 1;
  TORCH_ARG(int64_t, dilation) = 1;
  TORCH_ARG(bool, bias) = true;
  // Transposed: forward(x, target) runs conv_transpose3d onto target's cells.
  TORCH_ARG(bool, transposed) = false;
  // Generative (implies transposed): forward(x) runs generative_conv_transpose3d.
  TORCH_ARG(bool, generative) = false;
};

class SparseConv3dImpl : public torch::nn::Module {
 public:
  explicit SparseConv3dImpl(SparseConv3dOptions options);
  // target: the cells to write, given exactly when the module is transposed and not
  // generative (std::invalid_argument otherwise).
  SparseTensor forward(const SparseTensor& x, const std::optional<SparseTensor>& target = {});

  ConvGeometry geometry() const;
  const SparseConv3dOptions& options() const { return options_; }

  torch::Tensor weight;  // [K, Cin, Cout]
  torch::Tensor bias;    // [Cout] or undefined

 private:
  SparseConv3dOptions options_;
};
TORCH_MODULE(SparseConv3d);

}  // namespace shapediff::sparse

// Feature-wise operations on SparseTensor (sparse_tensor.h), all differentiable in the features:
// pruning to a kept subset of cells, group and batch normalization, activations, global pooling
// to one feature vector per batch item, channel concatenation of two tensors on the same cells,
// and the residual block the sparse U-Net is built from.
//
// Group norm statistics are per (batch item, channel group), over every active cell of that
// batch item (the batch column of the coordinates), as dense GroupNorm over the active cells.
//
//   SparseGroupNorm norm(SparseGroupNormOptions(8, 64));
//   auto h = silu(norm(x));                          // x [N,64] -> [N,64]
//   auto pooled = global_avg_pool(h, 4);             // [4, 64]
//   auto kept = prune(h, occupancy_logits > 0);      // keep [N] bool -> [M,64], M <= N
//   SparseResBlock block(SparseResBlockOptions(64, 128).embed_channels(256));
//   auto y = block(x, temb);                         // temb [B,256] -> y [N,128]
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

#include "networks/sparse/sparse_conv.h"
#include "networks/sparse/sparse_tensor.h"

namespace shapediff::sparse {

// The rows where keep (bool [N], on x's device) is set, in order, as a tensor with new
// coordinates (same stride and manager). std::invalid_argument on a keep mask of another
// length, dtype or device.
SparseTensor prune(const SparseTensor& x, const torch::Tensor& keep);

// Group norm of the features [N, C] with num_groups groups (C % num_groups == 0), statistics per
// (batch item, group); weight and bias [C] or undefined (no affine step).
SparseTensor group_norm(const SparseTensor& x, int64_t num_groups, const torch::Tensor& weight,
                        const torch::Tensor& bias, double eps = 1e-5);

SparseTensor relu(const SparseTensor& x);
SparseTensor silu(const SparseTensor& x);

// Per batch item b in [0, batch_size) the mean (max) of the features of its cells: [B, C];
// a batch item without cells gets zeros. std::invalid_argument when a cell's batch index is
// >= batch_size.
torch::Tensor global_avg_pool(const SparseTensor& x, int64_t batch_size);
torch::Tensor global_max_pool(const SparseTensor& x, int64_t batch_size);

// Features of a then b, [N, Ca + Cb], on a's cells; a and b must have the same coordinates
// (the same tensor, or equal values) and stride.
SparseTensor cat(const SparseTensor& a, const SparseTensor& b);

struct SparseGroupNormOptions {
  SparseGroupNormOptions(int64_t num_groups, int64_t num_channels)
      : num_groups_(num_groups), num_channels_(num_channels) {}
  TORCH_ARG(int64_t, num_groups);
  TORCH_ARG(int64_t, num_channels);
  TORCH_ARG(double, eps) = 1e-5;
  TORCH_ARG(bool, affine) = true;
};

class SparseGroupNormImpl : public torch::nn::Module {
 public:
  explicit SparseGroupNormImpl(SparseGroupNormOptions options);
  SparseTensor forward(const SparseTensor& x);

  torch::Tensor weight;  // [C] ones, or undefined without affine
  torch::Tensor bias;    // [C] zeros, or undefined without affine

 private:
  SparseGroupNormOptions options_;
};
TORCH_MODULE(SparseGroupNorm);

// torch::nn::BatchNorm1d over all the cells of the batch (features [N, C]).
class SparseBatchNormImpl : public torch::nn::Module {
 public:
  explicit SparseBatchNormImpl(torch::nn::BatchNormOptions options);
  SparseTensor forward(const SparseTensor& x);

 private:
  torch::nn::BatchNorm1d norm_{nullptr};
};
TORCH_MODULE(SparseBatchNorm);

struct SparseResBlockOptions {
  SparseResBlockOptions(int64_t in_channels, int64_t out_channels)
      : in_channels_(in_channels), out_channels_(out_channels) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(int64_t, num_groups) = 8;  // must divide in_channels and out_channels
  TORCH_ARG(int64_t, kernel_size) = 3;
  // Width of a per-batch-item embedding (e.g. the diffusion timestep's) added to every cell
  // between the two convolutions; 0: none.
  TORCH_ARG(int64_t, embed_channels) = 0;
};

// Residual block: h = conv1(silu(norm1(x))) [+ linear(silu(embedding)) of the cell's batch item],
// out = conv2(silu(norm2(h))) + skip(x), skip a 1x1 submanifold conv when the channel counts
// differ and the identity otherwise. Both convolutions are submanifold, so the output has x's
// cells.
class SparseResBlockImpl : public torch::nn::Module {
 public:
  explicit SparseResBlockImpl(SparseResBlockOptions options);
  // embedding [B, embed_channels] indexed by the batch column; needed iff embed_channels > 0.
  SparseTensor forward(const SparseTensor& x, const torch::Tensor& embedding = {});

 private:
  SparseResBlockOptions options_;
  SparseGroupNorm norm1_{nullptr}, norm2_{nullptr};
  SparseConv3d conv1_{nullptr}, conv2_{nullptr}, skip_{nullptr};
  torch::nn::Linear embed_{nullptr};
};
TORCH_MODULE(SparseResBlock);

}  // namespace shapediff::sparse

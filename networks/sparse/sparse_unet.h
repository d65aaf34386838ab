// A sparse U-Net denoiser for sparse-voxel diffusion: the features [N, C] of a fixed set of
// active cells (e.g. the truncated signed distance or occupancy logit of each cell of a surface
// band) are the diffusion sample, noised and denoised on those cells; the coordinates never
// change. The layout is the dense UNet's (networks/unet.h) on SparseTensor (sparse_tensor.h):
// an input submanifold convolution, per level SparseResBlocks (sparse_ops.h) conditioned on the
// timestep (+ class) embedding of each cell's batch item, a 2x2x2 stride-2 convolution down to
// the next level, two blocks at the coarsest level, and on the way up a 2x2x2 transposed
// convolution back onto the encoder's cells of that level, concatenation with the encoder's
// output there (the skip) and residual blocks; GroupNorm, SiLU and a zero-initialized 3x3x3
// output convolution (the untrained network predicts exactly 0). No attention (the sparse
// package has no sparse attention); the coarsest level's 3x3x3 blocks carry the context.
//
// Level l (0 = finest) runs at stride 2^l with base_channels * channel_mult[l] channels. Every
// kernel map comes from the input's CoordinateManager (kernel_map.h), and the up convolutions
// reuse the maps of the down ones, so a sampling loop that calls forward on
// x.replace_features(...) of one SparseTensor builds each map once, in its first call.
// Class conditioning: labels in [0, num_classes), the extra row num_classes is the "null" label
// of classifier-free guidance; num_classes 0 builds an unconditional network.
//
//   SparseUNet net(sparse_unet_preset(SparseUNetPreset::Small, 1, 1, /*num_classes=*/6));
//   SparseTensor x(coords, x_t);                     // coords int32 [N,4], x_t [N,1]
//   auto eps = net->forward(x, t, labels);           // t [B], labels [B] -> [N,1] on x's cells
//   // As a diffusion::Denoiser over the features (the sampler passes a 0-d t):
//   auto denoiser = [&](const torch::Tensor& f, const torch::Tensor& t) {
//     return net->forward(x.replace_features(f), t.reshape({1}).expand({B}), labels).features();
//   };
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "networks/sparse/sparse_conv.h"
#include "networks/sparse/sparse_ops.h"
#include "networks/sparse/sparse_tensor.h"

namespace shapediff::sparse {

//   SparseUNetOptions o;  o.in_channels(1).out_channels(1).base_channels(16).channel_mult({1, 2});
struct SparseUNetOptions {
  TORCH_ARG(int64_t, in_channels) = 1;
  TORCH_ARG(int64_t, out_channels) = 1;
  TORCH_ARG(int64_t, base_channels) = 32;
  // Width of each level as a multiple of base_channels; its length is the number of levels.
  TORCH_ARG(std::vector<int64_t>, channel_mult) = std::vector<int64_t>{1, 2, 4};
  TORCH_ARG(int64_t, num_res_blocks) = 2;  // per level, on each path
  TORCH_ARG(int64_t, groups) = 8;          // GroupNorm groups; must divide base_channels
  TORCH_ARG(int64_t, num_classes) = 0;
  // Dropout on the features each residual block outputs (training only): SparseResBlock has
  // no dropout of its own between its convolutions.
  TORCH_ARG(double, dropout) = 0.0;

 public:
  int64_t levels() const { return static_cast<int64_t>(channel_mult_.size()); }
  int64_t embed_dim() const { return 4 * base_channels_; }
  // Throws std::invalid_argument "SparseUNetOptions: <field> = <value> (...)".
  void validate() const;
};

enum class SparseUNetPreset {
  Tiny,   // tests: 16 channels x {1, 2}, one block per level
  Small,  // CPU, shells in 64^3: 32 channels x {1, 2, 4}, two blocks per level
  Base,   // GPU, shells in 128^3: 64 channels x {1, 2, 2, 4}, two blocks, dropout 0.1
};

SparseUNetOptions sparse_unet_preset(SparseUNetPreset preset, int64_t in_channels = 1,
                                     int64_t out_channels = 1, int64_t num_classes = 0);
// "tiny", "small", "base"; std::invalid_argument listing them otherwise.
SparseUNetPreset parse_sparse_unet_preset(const std::string& name);
std::string to_string(SparseUNetPreset preset);

class SparseUNetImpl : public torch::nn::Module {
 public:
  explicit SparseUNetImpl(SparseUNetOptions options);

  // x: features [N, in_channels] in the parameters' dtype and on their device; t [B] diffusion
  // timesteps (any numeric dtype), one per batch item, and every cell's batch index must be
  // < B; labels [B] integers in [0, num_classes] (num_classes = null label) or undefined (all
  // null; must be undefined when num_classes is 0). Returns x's coordinates (the same tensor),
  // stride and manager with features [N, out_channels]. Bad input throws std::invalid_argument
  // "SparseUNet: ..." naming the argument and its value.
  SparseTensor forward(const SparseTensor& x, const torch::Tensor& t,
                       const torch::Tensor& labels = {});

  const SparseUNetOptions& options() const { return options_; }
  int64_t null_label() const { return options_.num_classes(); }
  int64_t parameter_count() const;

 private:
  SparseTensor dropout(const SparseTensor& x);

  SparseUNetOptions options_;
  // The sinusoidal embedding's Linear -> SiLU -> Linear (networks::TimestepMLP's layers, kept
  // here so that the embedding follows the parameters' dtype, float64 included).
  torch::nn::Linear time_fc1_{nullptr}, time_fc2_{nullptr};
  torch::nn::Embedding label_embedding_{nullptr};
  SparseConv3d input_conv_{nullptr}, output_conv_{nullptr};
  // down_blocks_[l] / up_blocks_[l]: the residual blocks of level l; downsample_[l] goes from
  // level l to l + 1 and upsample_[l] from level l + 1 back to l.
  std::vector<torch::nn::ModuleList> down_blocks_, up_blocks_;
  std::vector<SparseConv3d> downsample_, upsample_;
  SparseResBlock mid1_{nullptr}, mid2_{nullptr};
  SparseGroupNorm output_norm_{nullptr};
};
TORCH_MODULE(SparseUNet);

}  // namespace shapediff::sparse

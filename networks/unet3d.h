// A 3D U-Net denoiser for dense voxel grids, in the layout of ADM / diffusers' UNet2DModel made
// volumetric: residual blocks (GroupNorm, SiLU, 3x3x3 convolution, the timestep (+ class)
// embedding added after the first convolution or applied as a GroupNorm scale-shift, dropout,
// a 1x1x1 skip when the width changes), strided-convolution downsampling, nearest + convolution
// upsampling, skip concatenation, multi-head self-attention over the flattened cells at chosen
// levels and in the middle, and a zero-initialized output convolution (the untrained network
// predicts 0).
//
//   UNet3d net(unet3d_preset(UNet3dPreset::Small, /*num_classes=*/6));
//   auto eps = net->forward(x_t, t, labels);  // x_t [B,C,X,Y,Z], t [B], labels [B] -> [B,C,X,Y,Z]
//
// Level l (0 = finest) runs at the input resolution / 2^l with base_channels * channel_mult[l]
// channels; X, Y and Z must be divisible by 2^(levels-1). Values are whatever the diffusion
// runs on (occupancy mapped to [-1, 1], truncated signed distance scaled by its truncation).
// Class conditioning: labels in [0, num_classes), the extra row num_classes is the "null"
// label that classifier-free guidance uses; num_classes 0 builds an unconditional network.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "networks/timestep_embedding.h"

namespace shapediff::networks {

//   UNet3dOptions o;  o.base_channels(16).channel_mult({1, 2}).attention_levels({1});
struct UNet3dOptions {
  TORCH_ARG(int64_t, in_channels) = 1;
  TORCH_ARG(int64_t, out_channels) = 1;
  TORCH_ARG(int64_t, base_channels) = 32;
  // Width of each level as a multiple of base_channels; its length is the number of levels.
  TORCH_ARG(std::vector<int64_t>, channel_mult) = std::vector<int64_t>{1, 2, 4};
  TORCH_ARG(int64_t, num_res_blocks) = 2;
  // Levels (0 = finest) whose residual blocks are each followed by self-attention. Attention
  // costs (cells)^2 per head, so it belongs where the grid is 8^3 or coarser.
  TORCH_ARG(std::vector<int64_t>, attention_levels) = std::vector<int64_t>{2};
  // ResBlock, attention, ResBlock at the coarsest level (false: two ResBlocks, no attention).
  TORCH_ARG(bool, mid_attention) = true;
  TORCH_ARG(int64_t, groups) = 8;  // GroupNorm groups; every width must be divisible by it
  TORCH_ARG(int64_t, heads) = 4;   // attention heads; attention widths must be divisible by it
  TORCH_ARG(int64_t, num_classes) = 0;
  TORCH_ARG(double, dropout) = 0.0;
  // ADM's use_scale_shift_norm: the embedding gives a per-channel scale and shift of the second
  // GroupNorm instead of a bias added before it.
  TORCH_ARG(bool, scale_shift) = true;

 public:
  int64_t levels() const { return static_cast<int64_t>(channel_mult_.size()); }
  int64_t embed_dim() const { return 4 * base_channels_; }
  // X, Y, Z must be multiples of this: 2^(levels-1).
  int64_t size_multiple() const { return int64_t{1} << (levels() - 1); }
  // Throws std::invalid_argument "UNet3dOptions: <field> = <value> (...)".
  void validate() const;
};

enum class UNet3dPreset {
  Tiny,   // tests: 16 channels, 2 levels, attention at level 1 (8^3 on a 16^3 grid)
  Small,  // CPU at 32^3: 32 channels x {1,2,4}, attention at level 2 (8^3)
  Base,   // GPU at 64^3: 64 channels x {1,2,4,4}, attention at level 3 (8^3)
};

// One input and one output channel (one occupancy or signed-distance grid).
UNet3dOptions unet3d_preset(UNet3dPreset preset, int64_t num_classes = 0);
// "tiny", "small", "base"; std::invalid_argument listing them otherwise.
UNet3dPreset parse_unet3d_preset(const std::string& name);
std::string to_string(UNet3dPreset preset);

// Pre-activation residual block conditioned on the embedding: [B,in,X,Y,Z] -> [B,out,X,Y,Z].
class UNet3dResBlockImpl : public torch::nn::Module {
 public:
  UNet3dResBlockImpl(int64_t in, int64_t out, int64_t embed_dim, int64_t groups, double dropout,
                     bool scale_shift);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& emb);  // emb [B, embed_dim]

 private:
  double dropout_;
  bool scale_shift_;
  torch::nn::GroupNorm norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Conv3d conv1_{nullptr}, conv2_{nullptr}, skip_{nullptr};
  torch::nn::Linear embed_{nullptr};
};
TORCH_MODULE(UNet3dResBlock);

// Multi-head self-attention over all cells of [B,C,X,Y,Z] (GroupNorm, 1x1 q/k/v, softmax of
// q.k / sqrt(C/heads), 1x1 projection, residual).
class UNet3dAttentionImpl : public torch::nn::Module {
 public:
  UNet3dAttentionImpl(int64_t channels, int64_t heads, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t heads_;
  torch::nn::GroupNorm norm_{nullptr};
  torch::nn::Conv1d qkv_{nullptr}, proj_{nullptr};
};
TORCH_MODULE(UNet3dAttention);

// One resolution level of either path: residual blocks (each optionally followed by attention)
// and the resampling convolution to the next level (none at the coarsest level going down or
// the finest going up).
class UNet3dLevelImpl : public torch::nn::Module {
 public:
  UNet3dLevelImpl() = default;
  void add_block(UNet3dResBlock block, bool attention, int64_t heads, int64_t groups,
                 int64_t channels);
  void set_resample(torch::nn::Conv3d conv, bool up);
  // Down path: pushes every block's output and the downsampled tensor onto `skips`.
  torch::Tensor forward_down(torch::Tensor h, const torch::Tensor& emb,
                             std::vector<torch::Tensor>& skips);
  // Up path: every block first concatenates the last entry of `skips` (and pops it).
  torch::Tensor forward_up(torch::Tensor h, const torch::Tensor& emb,
                           std::vector<torch::Tensor>& skips);

 private:
  std::vector<UNet3dResBlock> blocks_;
  std::vector<UNet3dAttention> attention_;  // one per block; empty handles where none
  torch::nn::Conv3d resample_{nullptr};
  bool up_ = false;
};
TORCH_MODULE(UNet3dLevel);

class UNet3dImpl : public torch::nn::Module {
 public:
  explicit UNet3dImpl(UNet3dOptions options);

  // x [B, in_channels, X, Y, Z] floating; t [B] diffusion timesteps (any numeric dtype) or a
  // 0-d tensor for the whole batch; labels [B] int64 in [0, num_classes] (num_classes = null
  // label) or undefined (all null; required undefined when num_classes is 0).
  // Returns [B, out_channels, X, Y, Z] in x's dtype. Bad shapes, dtypes and labels throw
  // std::invalid_argument "UNet3d: ..." naming the argument and its value.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t,
                        const torch::Tensor& labels = {});

  const UNet3dOptions& options() const { return options_; }
  int64_t null_label() const { return options_.num_classes(); }
  int64_t parameter_count() const;

 private:
  UNet3dOptions options_;
  TimestepMLP time_mlp_{nullptr};
  torch::nn::Embedding label_embedding_{nullptr};
  torch::nn::Conv3d input_conv_{nullptr}, output_conv_{nullptr};
  torch::nn::ModuleList down_{nullptr}, up_{nullptr};
  UNet3dResBlock mid1_{nullptr}, mid2_{nullptr};
  UNet3dAttention mid_attention_{nullptr};
  torch::nn::GroupNorm output_norm_{nullptr};
};
TORCH_MODULE(UNet3d);

}  // namespace shapediff::networks

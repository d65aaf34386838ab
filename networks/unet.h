// A U-Net denoiser for images (dims 2) and dense voxel grids (dims 3), in the layout of ADM /
// diffusers' UNet2DModel: residual blocks (GroupNorm, SiLU, 3x3 or 3x3x3 convolution, the
// timestep (+ class) embedding added after the first convolution or applied as a GroupNorm
// scale-shift, dropout, a 1x1 skip when the width changes), strided-convolution downsampling,
// nearest + convolution upsampling, skip concatenation, multi-head self-attention over the
// flattened pixels or cells at chosen levels and in the middle, and a zero-initialized output
// convolution (the untrained network predicts 0). One implementation serves both dimensions.
//
//   UNet net(unet_preset(UNetPreset::Small, /*dims=*/2, /*num_classes=*/6));
//   auto eps = net->forward(x_t, t, labels);  // x_t [B,C,H,W], t [B], labels [B] -> [B,C,H,W]
//   UNet grid_net(unet_preset(UNetPreset::Small, 3));  // x_t [B,C,X,Y,Z] -> [B,C,X,Y,Z]
//
// Level l (0 = finest) runs at the input resolution / 2^l with base_channels * channel_mult[l]
// channels; every spatial size must be divisible by 2^(levels-1). Values are whatever the
// diffusion runs on (pixels in [-1, 1], occupancy mapped to [-1, 1], truncated signed distance
// scaled by its truncation). Class conditioning: labels in [0, num_classes), the extra row
// num_classes is the "null" label that classifier-free guidance uses; num_classes 0 builds an
// unconditional network.
//
// Conditioning on an image (SR3-style super-resolution on the upsampled low-resolution image,
// image-to-image): the caller concatenates it to x_t along channels and sets in_channels to the
// sum, out_channels to x_t's channels; for an RGB SR3 model in_channels(6).out_channels(3):
//   auto eps = net->forward(torch::cat({x_t, upsampled_low_res}, 1), t);
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

//   UNetOptions o(/*dims=*/2);  o.base_channels(16).channel_mult({1, 2}).attention_levels({1});
struct UNetOptions {
  explicit UNetOptions(int64_t dims) : dims_(dims) {}
  // Spatial dimensions: 2 for images [B,C,H,W], 3 for grids [B,C,X,Y,Z].
  TORCH_ARG(int64_t, dims);
  TORCH_ARG(int64_t, in_channels) = 1;
  TORCH_ARG(int64_t, out_channels) = 1;
  TORCH_ARG(int64_t, base_channels) = 32;
  // Width of each level as a multiple of base_channels; its length is the number of levels.
  TORCH_ARG(std::vector<int64_t>, channel_mult) = std::vector<int64_t>{1, 2, 4};
  TORCH_ARG(int64_t, num_res_blocks) = 2;
  // Levels (0 = finest) whose residual blocks are each followed by self-attention. Attention
  // costs (pixels or cells)^2 per head, so it belongs where the input is 8^dims to 16^dims.
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
  // Every spatial size must be a multiple of this: 2^(levels-1).
  int64_t size_multiple() const { return int64_t{1} << (levels() - 1); }
  // Throws std::invalid_argument "UNetOptions: <field> = <value> (...)".
  void validate() const;
};

// Parameter counts are for one channel in and out, unconditional.
enum class UNetPreset {
  // dims 2: tests: 16 channels x {1,2}, attention at level 1 (8x8 on 16x16 images); 0.19M.
  // dims 3: tests: 16 channels x {1,2}, attention at level 1 (8^3 on a 16^3 grid); 0.46M.
  Tiny,
  // dims 2: CPU at 32x32 (or 64x64): 32 channels x {1,2,2}, attention at level 2 (8x8 or
  //         16x16); 1.74M.
  // dims 3: CPU at 32^3: 32 channels x {1,2,4}, attention at level 2 (8^3); 10.5M.
  Small,
  // dims 2: GPU at 64x64: 64 channels x {1,2,3,4}, attention at levels 2, 3 (16x16, 8x8); 23.0M.
  // dims 3: GPU at 64^3: 64 channels x {1,2,4,4}, attention at level 3 (8^3); 69.6M.
  Base,
};

// One input and one output channel (a grey image, one occupancy or signed-distance grid); set
// in_channels / out_channels on the result for RGB or a conditioning image. dims 2 or 3, else
// std::invalid_argument.
UNetOptions unet_preset(UNetPreset preset, int64_t dims, int64_t num_classes = 0);
// "tiny", "small", "base"; std::invalid_argument listing them otherwise.
UNetPreset parse_unet_preset(const std::string& name);
std::string to_string(UNetPreset preset);

// Convolution over 2 or 3 spatial dimensions with cubic kernels and "same" padding (stride 1)
// or halving (stride 2): [B,in,*S] -> [B,out,*S/stride]. Parameters `weight` [out,in,k,k(,k)]
// and `bias` [out], initialized as torch::nn::Conv2d/Conv3d do.
class UNetConvImpl : public torch::nn::Module {
 public:
  UNetConvImpl(int64_t dims, int64_t in, int64_t out, int64_t kernel, int64_t stride = 1);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight, bias;

 private:
  int64_t dims_, stride_, padding_;
};
TORCH_MODULE(UNetConv);

// Pre-activation residual block conditioned on the embedding: [B,in,*S] -> [B,out,*S].
class UNetResBlockImpl : public torch::nn::Module {
 public:
  UNetResBlockImpl(int64_t dims, int64_t in, int64_t out, int64_t embed_dim, int64_t groups,
                   double dropout, bool scale_shift);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& emb);  // emb [B, embed_dim]

 private:
  double dropout_;
  bool scale_shift_;
  torch::nn::GroupNorm norm1_{nullptr}, norm2_{nullptr};
  UNetConv conv1_{nullptr}, conv2_{nullptr}, skip_{nullptr};
  torch::nn::Linear embed_{nullptr};
};
TORCH_MODULE(UNetResBlock);

// Multi-head self-attention over all pixels or cells of [B,C,*S] (GroupNorm, 1x1 q/k/v, softmax
// of q.k / sqrt(C/heads), 1x1 projection, residual).
class UNetAttentionImpl : public torch::nn::Module {
 public:
  UNetAttentionImpl(int64_t channels, int64_t heads, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t heads_;
  torch::nn::GroupNorm norm_{nullptr};
  torch::nn::Conv1d qkv_{nullptr}, proj_{nullptr};
};
TORCH_MODULE(UNetAttention);

// One resolution level of either path: residual blocks (each optionally followed by attention)
// and the resampling convolution to the next level (none at the coarsest level going down or
// the finest going up).
class UNetLevelImpl : public torch::nn::Module {
 public:
  UNetLevelImpl() = default;
  void add_block(UNetResBlock block, bool attention, int64_t heads, int64_t groups,
                 int64_t channels);
  void set_resample(UNetConv conv, bool up);
  // Down path: pushes every block's output and the downsampled tensor onto `skips`.
  torch::Tensor forward_down(torch::Tensor h, const torch::Tensor& emb,
                             std::vector<torch::Tensor>& skips);
  // Up path: every block first concatenates the last entry of `skips` (and pops it).
  torch::Tensor forward_up(torch::Tensor h, const torch::Tensor& emb,
                           std::vector<torch::Tensor>& skips);

 private:
  std::vector<UNetResBlock> blocks_;
  std::vector<UNetAttention> attention_;  // one per block; empty handles where none
  UNetConv resample_{nullptr};
  bool up_ = false;
};
TORCH_MODULE(UNetLevel);

class UNetImpl : public torch::nn::Module {
 public:
  explicit UNetImpl(UNetOptions options);

  // x [B, in_channels, *S] floating with len(S) = dims ([B,C,H,W] or [B,C,X,Y,Z]); t [B]
  // diffusion timesteps (any numeric dtype) or a 0-d tensor for the whole batch; labels [B]
  // int64 in [0, num_classes] (num_classes = null label) or undefined (all null; required
  // undefined when num_classes is 0). Returns [B, out_channels, *S] in x's dtype. Bad shapes,
  // dtypes and labels throw std::invalid_argument "UNet: ..." naming the argument and its value.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t,
                        const torch::Tensor& labels = {});

  const UNetOptions& options() const { return options_; }
  int64_t null_label() const { return options_.num_classes(); }
  int64_t parameter_count() const;

 private:
  UNetOptions options_;
  TimestepMLP time_mlp_{nullptr};
  torch::nn::Embedding label_embedding_{nullptr};
  UNetConv input_conv_{nullptr}, output_conv_{nullptr};
  torch::nn::ModuleList down_{nullptr}, up_{nullptr};
  UNetResBlock mid1_{nullptr}, mid2_{nullptr};
  UNetAttention mid_attention_{nullptr};
  torch::nn::GroupNorm output_norm_{nullptr};
};
TORCH_MODULE(UNet);

}  // namespace shapediff::networks

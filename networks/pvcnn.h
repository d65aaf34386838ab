// The point-voxel denoiser of PVD (Zhou et al. 2021): a PointNet++ U-Net whose stages are PVConv
// blocks (a voxel branch of 3x3x3 convolutions on an averaged grid, devoxelized trilinearly,
// summed with a per-point shared MLP), conditioned on the diffusion timestep (sinusoidal
// embedding + MLP, concatenated to the features of every stage) and optionally on a class label
// (an embedding added to the timestep's; the extra "null" label num_classes is the
// unconditional one that classifier-free guidance uses).
//
//   PVCNN net(pvcnn_preset(PVCNNPreset::Small, /*num_classes=*/6));
//   auto eps = net->forward(x_t, t, labels);   // x_t [B,N,3], t [B], labels [B] -> [B,N,3]
//
// Coordinates are the network's input features as well as its positions; PVD trains on shapes
// normalized to roughly [-1, 1] (the voxelization recentres and rescales per stage anyway).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace shapediff::networks {

// One set-abstraction stage: PVConv blocks of `conv_out` channels at voxel resolution
// `voxel_resolution` (conv_blocks 0: none; as in PVD's builder, only the first stage builds
// all `conv_blocks` of them, later stages build one), then PointNet++ set abstraction:
// `centers` farthest points, ball query (radius, neighbours), shared MLP `mlp`, max-pool.
struct SABlockConfig {
  int64_t conv_out = 0;
  int64_t conv_blocks = 0;
  int64_t voxel_resolution = 0;
  int64_t centers = 0;
  double radius = 0.0;
  int64_t neighbors = 0;
  std::vector<int64_t> mlp;
};

// One feature-propagation stage: three-nearest-neighbour interpolation of the coarser stage's
// features onto the finer points, concatenated with the skip features and the timestep
// embedding, shared MLP `mlp`, then `conv_blocks` PVConv blocks (conv_blocks 0: none).
struct FPBlockConfig {
  std::vector<int64_t> mlp;
  int64_t conv_out = 0;
  int64_t conv_blocks = 0;
  int64_t voxel_resolution = 0;
};

enum class PVCNNPreset {
  PVD,    // PVD's published generation network (~27.6M parameters), for one-to-one comparison
  Small,  // trains on a CPU in hours; the shipped model
  Tiny,   // for tests: milliseconds per step
};

struct PVCNNConfig {
  std::vector<SABlockConfig> sa;
  std::vector<FPBlockConfig> fp;  // as many as sa, finest last
  int64_t embed_dim = 64;         // timestep (and label) embedding width
  bool attention = true;          // voxel self-attention in every second PVConv stage
  bool squeeze_excitation = true;
  double dropout = 0.1;
  int64_t num_classes = 0;  // 0: unconditional; else labels in [0, num_classes), null = num_classes
  int64_t head_channels = 128;
  // Throws std::invalid_argument "PVCNNConfig: <field> ..." (channels must be multiples of 8
  // for GroupNorm(8), resolutions >= 1, fp.size() == sa.size(), ...).
  void validate() const;
};

PVCNNConfig pvcnn_preset(PVCNNPreset preset, int64_t num_classes = 0);
// "pvd", "small", "tiny"; std::invalid_argument listing them otherwise.
PVCNNPreset parse_pvcnn_preset(const std::string& name);
std::string to_string(PVCNNPreset preset);

class PVCNNImpl : public torch::nn::Module {
 public:
  explicit PVCNNImpl(PVCNNConfig config);

  // x [B,N,3] float (the noisy points), t [B] timesteps (any numeric dtype, or a 0-d tensor
  // for the whole batch), labels [B] int64 with values in [0, num_classes] (num_classes = null
  // label) or undefined (all null). Returns [B,N,3] in x's dtype.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t,
                        const torch::Tensor& labels = {});

  const PVCNNConfig& config() const { return config_; }
  int64_t null_label() const { return config_.num_classes; }
  int64_t parameter_count() const;

 private:
  PVCNNConfig config_;
  torch::nn::Linear embed_fc1_{nullptr}, embed_fc2_{nullptr};
  torch::nn::Embedding label_embedding_{nullptr};
  torch::nn::ModuleList sa_{nullptr}, fp_{nullptr};
  torch::nn::AnyModule global_attention_;
  torch::nn::ModuleList head_{nullptr};
};
TORCH_MODULE(PVCNN);

}  // namespace shapediff::networks

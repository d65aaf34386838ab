#include "networks/sparse/sparse_unet.h"

#include <stdexcept>
#include <utility>

#include <torch/torch.h>

#include "networks/timestep_embedding.h"

namespace shapediff::sparse {
namespace {

using torch::Tensor;

std::string list(const std::vector<int64_t>& v) {
  std::string s = "{";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "}";
}

[[noreturn]] void fail(const std::string& what) {
  throw std::invalid_argument("SparseUNet: " + what);
}

// 2x2x2 stride 2: every fine cell has exactly one coarse parent, and the transposed
// convolution of the same geometry runs the very map of the downsampling (cached once).
SparseConv3dOptions resample(int64_t in, int64_t out, bool up) {
  return SparseConv3dOptions(in, out, 2).stride(2).transposed(up);
}

}  // namespace

void SparseUNetOptions::validate() const {
  auto bad = [](const std::string& what) {
    throw std::invalid_argument("SparseUNetOptions: " + what);
  };
  auto positive = [&](const char* field, int64_t v) {
    if (v < 1) bad(std::string(field) + " = " + std::to_string(v) + " (must be >= 1)");
  };
  positive("in_channels", in_channels_);
  positive("out_channels", out_channels_);
  positive("base_channels", base_channels_);
  positive("num_res_blocks", num_res_blocks_);
  positive("groups", groups_);
  // Coordinates are < 2^16 (kernel_map.h), so beyond 8 levels nothing but one cell is left.
  if (channel_mult_.empty() || channel_mult_.size() > 8) {
    bad("channel_mult = " + list(channel_mult_) + " (needs 1 to 8 levels)");
  }
  for (auto m : channel_mult_) {
    if (m < 1) bad("channel_mult = " + list(channel_mult_) + " (multiples must be >= 1)");
  }
  // Every width in the network is a multiple of base_channels, so this covers all GroupNorms.
  if (base_channels_ % groups_ != 0) {
    bad("base_channels = " + std::to_string(base_channels_) +
        " is not divisible by groups = " + std::to_string(groups_));
  }
  if (num_classes_ < 0) bad("num_classes = " + std::to_string(num_classes_) + " (must be >= 0)");
  if (!(dropout_ >= 0.0 && dropout_ < 1.0)) {
    bad("dropout = " + std::to_string(dropout_) + " (must be in [0, 1))");
  }
}

SparseUNetOptions sparse_unet_preset(SparseUNetPreset preset, int64_t in_channels,
                                     int64_t out_channels, int64_t num_classes) {
  SparseUNetOptions o;
  o.in_channels(in_channels).out_channels(out_channels).num_classes(num_classes);
  switch (preset) {
    case SparseUNetPreset::Tiny:
      o.base_channels(16).channel_mult({1, 2}).num_res_blocks(1);
      break;
    case SparseUNetPreset::Small:
      o.base_channels(32).channel_mult({1, 2, 4}).num_res_blocks(2);
      break;
    case SparseUNetPreset::Base:
      o.base_channels(64).channel_mult({1, 2, 2, 4}).num_res_blocks(2).groups(16).dropout(0.1);
      break;
  }
  return o;
}

SparseUNetPreset parse_sparse_unet_preset(const std::string& name) {
  if (name == "tiny") return SparseUNetPreset::Tiny;
  if (name == "small") return SparseUNetPreset::Small;
  if (name == "base") return SparseUNetPreset::Base;
  throw std::invalid_argument("unknown SparseUNet preset '" + name +
                              "' (choose from: tiny, small, base)");
}

std::string to_string(SparseUNetPreset preset) {
  switch (preset) {
    case SparseUNetPreset::Tiny:
      return "tiny";
    case SparseUNetPreset::Small:
      return "small";
    case SparseUNetPreset::Base:
      return "base";
  }
  return "?";
}

SparseUNetImpl::SparseUNetImpl(SparseUNetOptions options) : options_(std::move(options)) {
  options_.validate();
  const auto& o = options_;
  const int64_t e = o.embed_dim(), levels = o.levels();
  auto res_block = [&](int64_t in, int64_t out) {
    return SparseResBlock(SparseResBlockOptions(in, out).num_groups(o.groups()).embed_channels(e));
  };
  auto width = [&](int64_t level) { return o.base_channels() * o.channel_mult()[level]; };

  time_fc1_ = register_module("time_fc1", torch::nn::Linear(o.base_channels(), e));
  time_fc2_ = register_module("time_fc2", torch::nn::Linear(e, e));
  if (o.num_classes() > 0) {
    label_embedding_ =
        register_module("label_embedding", torch::nn::Embedding(o.num_classes() + 1, e));
  }
  input_conv_ = register_module(
      "input_conv", SparseConv3d(SparseConv3dOptions(o.in_channels(), o.base_channels(), 3)));

  int64_t ch = o.base_channels();
  for (int64_t l = 0; l < levels; ++l) {
    auto blocks = register_module("down" + std::to_string(l), torch::nn::ModuleList());
    for (int64_t i = 0; i < o.num_res_blocks(); ++i) {
      blocks->push_back(res_block(ch, width(l)));
      ch = width(l);
    }
    down_blocks_.push_back(blocks);
    if (l + 1 < levels) {
      downsample_.push_back(
          register_module("downsample" + std::to_string(l), SparseConv3d(resample(ch, ch, false))));
    }
  }

  mid1_ = register_module("mid1", res_block(ch, ch));
  mid2_ = register_module("mid2", res_block(ch, ch));

  // The up path visits levels - 2 .. 0; entries are kept by level so forward indexes them
  // like the down path.
  up_blocks_.resize(levels - 1, torch::nn::ModuleList(nullptr));
  upsample_.resize(levels - 1, SparseConv3d(nullptr));
  for (int64_t l = levels - 2; l >= 0; --l) {
    upsample_[l] =
        register_module("upsample" + std::to_string(l), SparseConv3d(resample(ch, width(l), true)));
    auto blocks = register_module("up" + std::to_string(l), torch::nn::ModuleList());
    // The first block takes the upsampled tensor concatenated with the skip, both width(l).
    ch = 2 * width(l);
    for (int64_t i = 0; i < o.num_res_blocks(); ++i) {
      blocks->push_back(res_block(ch, width(l)));
      ch = width(l);
    }
    up_blocks_[l] = blocks;
  }

  output_norm_ =
      register_module("output_norm", SparseGroupNorm(SparseGroupNormOptions(o.groups(), ch)));
  output_conv_ =
      register_module("output_conv", SparseConv3d(SparseConv3dOptions(ch, o.out_channels(), 3)));
  // The untrained network predicts exactly 0, so every residual path starts as the identity
  // of what it adds to (ADM's zero_module on the output layer).
  torch::NoGradGuard no_grad;
  output_conv_->weight.zero_();
  output_conv_->bias.zero_();
}

int64_t SparseUNetImpl::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

SparseTensor SparseUNetImpl::dropout(const SparseTensor& x) {
  if (options_.dropout() == 0.0 || !is_training()) return x;
  return x.replace_features(torch::dropout(x.features(), options_.dropout(), true));
}

SparseTensor SparseUNetImpl::forward(const SparseTensor& x, const Tensor& t, const Tensor& labels) {
  const auto& o = options_;
  const auto& weight = input_conv_->weight;
  if (x.channels() != o.in_channels()) {
    fail("x has " + std::to_string(x.channels()) +
         " feature channels, the network takes "
         "in_channels = " +
         std::to_string(o.in_channels()));
  }
  if (x.features().scalar_type() != weight.scalar_type() || x.device() != weight.device()) {
    fail("x features are " + std::string(c10::toString(x.features().scalar_type())) + " on " +
         x.device().str() + ", the parameters " + c10::toString(weight.scalar_type()) + " on " +
         weight.device().str() + " (move one with .to())");
  }
  if (x.size() == 0) fail("x has no cells");
  if (!t.defined() || t.dim() != 1 || t.size(0) < 1) {
    fail("t must be [B] with one timestep per batch item, got " +
         (t.defined() ? c10::str(t.sizes()) : std::string("nothing")));
  }
  if (t.scalar_type() == torch::kBool || t.is_complex()) {
    fail("t must be numeric, got " + std::string(c10::toString(t.scalar_type())));
  }
  const int64_t b = t.size(0);
  const int64_t largest = x.coords().select(1, 0).max().item<int64_t>();
  if (largest >= b) {
    fail("a cell has batch index " + std::to_string(largest) +
         " but t has B = " + std::to_string(b) + " timesteps (one per batch item)");
  }

  const auto dtype = x.features().scalar_type();
  auto emb = networks::timestep_embedding(t.to(x.device()), o.base_channels()).to(dtype);
  emb = time_fc2_(torch::silu(time_fc1_(emb)));
  if (o.num_classes() > 0) {
    const Tensor l = labels.defined() ? labels : torch::full({b}, o.num_classes(), torch::kLong);
    if (l.dim() != 1 || l.size(0) != b) {
      fail("labels must be [B] with B = " + std::to_string(b) + " (the length of t), got " +
           c10::str(l.sizes()));
    }
    if (!at::isIntegralType(l.scalar_type(), /*includeBool=*/false)) {
      fail("labels must be integers, got " + std::string(c10::toString(l.scalar_type())));
    }
    // Checked on the CPU only: on a GPU the check would synchronize every step.
    if (l.device().is_cpu() &&
        (l.min().item<int64_t>() < 0 || l.max().item<int64_t>() > o.num_classes())) {
      fail("labels must lie in [0, " + std::to_string(o.num_classes()) + "] (" +
           std::to_string(o.num_classes()) + " = null label), got values in [" +
           std::to_string(l.min().item<int64_t>()) + ", " +
           std::to_string(l.max().item<int64_t>()) + "]");
    }
    emb = emb + label_embedding_(l.to(x.device(), torch::kLong));
  } else if (labels.defined()) {
    fail("labels given to an unconditional network (num_classes = 0)");
  }

  const int64_t levels = o.levels();
  auto h = input_conv_(x);
  std::vector<SparseTensor> skips;
  for (int64_t l = 0; l < levels; ++l) {
    for (const auto& block : *down_blocks_[l]) {
      h = dropout(block->as<SparseResBlockImpl>()->forward(h, emb));
    }
    if (l + 1 < levels) {
      skips.push_back(h);
      h = downsample_[l](h);
    }
  }
  h = dropout(mid1_(h, emb));
  h = dropout(mid2_(h, emb));
  for (int64_t l = levels - 2; l >= 0; --l) {
    const auto& skip = skips[l];
    h = cat(upsample_[l](h, skip), skip);
    for (const auto& block : *up_blocks_[l]) {
      h = dropout(block->as<SparseResBlockImpl>()->forward(h, emb));
    }
  }
  const auto out = output_conv_(silu(output_norm_(h)));
  return x.replace_features(out.features());
}

}  // namespace shapediff::sparse

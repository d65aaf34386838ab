#include "networks/unet3d.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include <torch/torch.h>

namespace shapediff::networks {
namespace {

namespace F = torch::nn::functional;

torch::nn::Conv3d conv3(int64_t in, int64_t out, int64_t stride = 1) {
  return torch::nn::Conv3d(torch::nn::Conv3dOptions(in, out, 3).stride(stride).padding(1));
}

std::string list(const std::vector<int64_t>& v) {
  std::string s = "{";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "}";
}

}  // namespace

void UNet3dOptions::validate() const {
  auto fail = [](const std::string& what) { throw std::invalid_argument("UNet3dOptions: " + what); };
  auto positive = [&](const char* field, int64_t v) {
    if (v < 1) fail(std::string(field) + " = " + std::to_string(v) + " (must be >= 1)");
  };
  positive("in_channels", in_channels_);
  positive("out_channels", out_channels_);
  positive("base_channels", base_channels_);
  positive("num_res_blocks", num_res_blocks_);
  positive("groups", groups_);
  positive("heads", heads_);
  // 2^(levels-1) must divide the grid; beyond 8 levels no grid of sensible size is left.
  if (channel_mult_.empty() || channel_mult_.size() > 8) {
    fail("channel_mult = " + list(channel_mult_) + " (needs 1 to 8 levels)");
  }
  for (auto m : channel_mult_) {
    if (m < 1) fail("channel_mult = " + list(channel_mult_) + " (multiples must be >= 1)");
  }
  // Every width in the network is a multiple of base_channels, so this covers all GroupNorms.
  if (base_channels_ % groups_ != 0) {
    fail("base_channels = " + std::to_string(base_channels_) + " is not divisible by groups = " +
         std::to_string(groups_));
  }
  auto check_heads = [&](int64_t level) {
    const int64_t c = base_channels_ * channel_mult_[level];
    if (c % heads_ != 0) {
      fail("attention width " + std::to_string(c) + " at level " + std::to_string(level) +
           " is not divisible by heads = " + std::to_string(heads_));
    }
  };
  std::vector<int64_t> seen;
  for (auto l : attention_levels_) {
    if (l < 0 || l >= levels()) {
      fail("attention_levels = " + list(attention_levels_) + " (levels are 0.." +
           std::to_string(levels() - 1) + ")");
    }
    if (std::find(seen.begin(), seen.end(), l) != seen.end()) {
      fail("attention_levels = " + list(attention_levels_) + " lists level " + std::to_string(l) +
           " twice");
    }
    seen.push_back(l);
    check_heads(l);
  }
  if (mid_attention_) check_heads(levels() - 1);
  if (num_classes_ < 0) fail("num_classes = " + std::to_string(num_classes_) + " (must be >= 0)");
  if (!(dropout_ >= 0.0 && dropout_ < 1.0)) {
    fail("dropout = " + std::to_string(dropout_) + " (must be in [0, 1))");
  }
}

UNet3dOptions unet3d_preset(UNet3dPreset preset, int64_t num_classes) {
  UNet3dOptions o;
  o.num_classes(num_classes);
  switch (preset) {
    case UNet3dPreset::Tiny:
      o.base_channels(16).channel_mult({1, 2}).num_res_blocks(1).attention_levels({1}).heads(2);
      break;
    case UNet3dPreset::Small:
      o.base_channels(32).channel_mult({1, 2, 4}).num_res_blocks(2).attention_levels({2}).heads(4);
      break;
    case UNet3dPreset::Base:
      o.base_channels(64).channel_mult({1, 2, 4, 4}).num_res_blocks(2).attention_levels({3})
          .heads(4).groups(16).dropout(0.1);
      break;
  }
  return o;
}

UNet3dPreset parse_unet3d_preset(const std::string& name) {
  if (name == "tiny") return UNet3dPreset::Tiny;
  if (name == "small") return UNet3dPreset::Small;
  if (name == "base") return UNet3dPreset::Base;
  throw std::invalid_argument("unknown UNet3d preset '" + name + "' (choose from: tiny, small, base)");
}

std::string to_string(UNet3dPreset preset) {
  switch (preset) {
    case UNet3dPreset::Tiny: return "tiny";
    case UNet3dPreset::Small: return "small";
    case UNet3dPreset::Base: return "base";
  }
  return "?";
}

UNet3dResBlockImpl::UNet3dResBlockImpl(int64_t in, int64_t out, int64_t embed_dim, int64_t groups,
                                       double dropout, bool scale_shift)
    : dropout_(dropout), scale_shift_(scale_shift) {
  norm1_ = register_module("norm1", torch::nn::GroupNorm(groups, in));
  conv1_ = register_module("conv1", conv3(in, out));
  embed_ = register_module("embed", torch::nn::Linear(embed_dim, scale_shift ? 2 * out : out));
  norm2_ = register_module("norm2", torch::nn::GroupNorm(groups, out));
  conv2_ = register_module("conv2", conv3(out, out));
  if (in != out) {
    skip_ = register_module("skip", torch::nn::Conv3d(torch::nn::Conv3dOptions(in, out, 1)));
  }
}

torch::Tensor UNet3dResBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& emb) {
  auto h = conv1_->forward(torch::silu(norm1_->forward(x)));
  auto e = embed_->forward(torch::silu(emb)).to(h.scalar_type());
  e = e.view({e.size(0), e.size(1), 1, 1, 1});
  if (scale_shift_) {
    const auto scale_shift = e.chunk(2, 1);
    h = norm2_->forward(h) * (1 + scale_shift[0]) + scale_shift[1];
  } else {
    h = norm2_->forward(h + e);
  }
  h = torch::silu(h);
  if (dropout_ > 0) h = F::dropout(h, F::DropoutFuncOptions().p(dropout_).training(is_training()));
  h = conv2_->forward(h);
  return (skip_ ? skip_->forward(x) : x) + h;
}

UNet3dAttentionImpl::UNet3dAttentionImpl(int64_t channels, int64_t heads, int64_t groups)
    : heads_(heads) {
  norm_ = register_module("norm", torch::nn::GroupNorm(groups, channels));
  qkv_ = register_module("qkv", torch::nn::Conv1d(torch::nn::Conv1dOptions(channels, 3 * channels, 1)));
  proj_ = register_module("proj", torch::nn::Conv1d(torch::nn::Conv1dOptions(channels, channels, 1)));
}

torch::Tensor UNet3dAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), c = x.size(1), n = x.numel() / (b * c), d = c / heads_;
  const auto flat = x.reshape({b, c, n});
  const auto qkv = qkv_->forward(norm_->forward(flat)).reshape({b, 3, heads_, d, n});
  const auto q = qkv.select(1, 0).reshape({b * heads_, d, n});
  const auto k = qkv.select(1, 1).reshape({b * heads_, d, n});
  const auto v = qkv.select(1, 2).reshape({b * heads_, d, n});
  const auto w = torch::softmax(torch::bmm(q.transpose(1, 2), k) / std::sqrt(double(d)), -1);
  const auto h = torch::bmm(v, w.transpose(1, 2)).reshape({b, c, n});
  return (flat + proj_->forward(h)).reshape(x.sizes());
}

void UNet3dLevelImpl::add_block(UNet3dResBlock block, bool attention, int64_t heads,
                                int64_t groups, int64_t channels) {
  const auto i = std::to_string(blocks_.size());
  blocks_.push_back(register_module("block" + i, std::move(block)));
  attention_.push_back(attention ? register_module("attention" + i, UNet3dAttention(channels, heads, groups))
                                 : UNet3dAttention(nullptr));
}

void UNet3dLevelImpl::set_resample(torch::nn::Conv3d conv, bool up) {
  resample_ = register_module(up ? "upsample" : "downsample", std::move(conv));
  up_ = up;
}

torch::Tensor UNet3dLevelImpl::forward_down(torch::Tensor h, const torch::Tensor& emb,
                                            std::vector<torch::Tensor>& skips) {
  for (size_t i = 0; i < blocks_.size(); ++i) {
    h = blocks_[i]->forward(h, emb);
    if (attention_[i]) h = attention_[i]->forward(h);
    skips.push_back(h);
  }
  if (resample_) {
    h = resample_->forward(h);
    skips.push_back(h);
  }
  return h;
}

torch::Tensor UNet3dLevelImpl::forward_up(torch::Tensor h, const torch::Tensor& emb,
                                          std::vector<torch::Tensor>& skips) {
  for (size_t i = 0; i < blocks_.size(); ++i) {
    h = blocks_[i]->forward(torch::cat({h, skips.back()}, 1), emb);
    skips.pop_back();
    if (attention_[i]) h = attention_[i]->forward(h);
  }
  if (resample_) {
    h = F::interpolate(h, F::InterpolateFuncOptions()
                              .scale_factor(std::vector<double>{2.0, 2.0, 2.0})
                              .mode(torch::kNearest));
    h = resample_->forward(h);
  }
  return h;
}

UNet3dImpl::UNet3dImpl(UNet3dOptions options) : options_(std::move(options)) {
  options_.validate();
  const auto& o = options_;
  const int64_t e = o.embed_dim(), groups = o.groups(), levels = o.levels();
  auto attention_at = [&](int64_t level) {
    return std::find(o.attention_levels().begin(), o.attention_levels().end(), level) !=
           o.attention_levels().end();
  };
  auto res_block = [&](int64_t in, int64_t out) {
    return UNet3dResBlock(in, out, e, groups, o.dropout(), o.scale_shift());
  };

  time_mlp_ = register_module("time_mlp", TimestepMLP(TimestepMLPOptions(o.base_channels(), e)));
  if (o.num_classes() > 0) {
    label_embedding_ = register_module("label_embedding", torch::nn::Embedding(o.num_classes() + 1, e));
  }
  input_conv_ = register_module("input_conv", conv3(o.in_channels(), o.base_channels()));

  // Widths of the tensors the down path leaves on the skip stack, in push order.
  std::vector<int64_t> skip_channels{o.base_channels()};
  int64_t ch = o.base_channels();
  down_ = register_module("down", torch::nn::ModuleList());
  for (int64_t l = 0; l < levels; ++l) {
    const int64_t out = o.base_channels() * o.channel_mult()[l];
    UNet3dLevel level;
    for (int64_t i = 0; i < o.num_res_blocks(); ++i) {
      level->add_block(res_block(ch, out), attention_at(l), o.heads(), groups, out);
      ch = out;
      skip_channels.push_back(ch);
    }
    if (l + 1 < levels) {
      level->set_resample(conv3(ch, ch, 2), false);
      skip_channels.push_back(ch);
    }
    down_->push_back(level);
  }

  mid1_ = register_module("mid1", res_block(ch, ch));
  if (o.mid_attention()) {
    mid_attention_ = register_module("mid_attention", UNet3dAttention(ch, o.heads(), groups));
  }
  mid2_ = register_module("mid2", res_block(ch, ch));

  // Each up level has one block more than its down level: the extra one consumes the skip
  // pushed by the downsampling (or by the input convolution at level 0).
  up_ = register_module("up", torch::nn::ModuleList());
  for (int64_t l = levels - 1; l >= 0; --l) {
    const int64_t out = o.base_channels() * o.channel_mult()[l];
    UNet3dLevel level;
    for (int64_t i = 0; i <= o.num_res_blocks(); ++i) {
      level->add_block(res_block(ch + skip_channels.back(), out), attention_at(l), o.heads(), groups,
                       out);
      skip_channels.pop_back();
      ch = out;
    }
    if (l > 0) level->set_resample(conv3(ch, ch), true);
    up_->push_back(level);
  }

  output_norm_ = register_module("output_norm", torch::nn::GroupNorm(groups, ch));
  output_conv_ = register_module("output_conv", conv3(ch, o.out_channels()));
  // The untrained network predicts exactly 0, so every residual path starts as the identity
  // of what it adds to (ADM's zero_module on the output layer).
  torch::NoGradGuard no_grad;
  output_conv_->weight.zero_();
  output_conv_->bias.zero_();
}

int64_t UNet3dImpl::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

torch::Tensor UNet3dImpl::forward(const torch::Tensor& x, const torch::Tensor& t,
                                  const torch::Tensor& labels) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("UNet3d: " + what); };
  const auto& o = options_;
  if (!x.defined() || x.dim() != 5) {
    fail("x must be [B,C,X,Y,Z], got " + (x.defined() ? c10::str(x.sizes()) : "nothing"));
  }
  if (!at::isFloatingType(x.scalar_type())) fail("x must be floating point, got " + c10::str(x.scalar_type()));
  if (x.size(1) != o.in_channels()) {
    fail("x " + c10::str(x.sizes()) + " has " + std::to_string(x.size(1)) +
         " channels, the network takes in_channels = " + std::to_string(o.in_channels()));
  }
  const int64_t b = x.size(0), m = o.size_multiple();
  if (b < 1) fail("x " + c10::str(x.sizes()) + " has an empty batch");
  for (int d = 2; d < 5; ++d) {
    if (x.size(d) < 1 || x.size(d) % m != 0) {
      fail("grid " + c10::str(x.sizes().slice(2)) + " must have sizes divisible by " +
           std::to_string(m) + " (2^(levels-1) for " + std::to_string(o.levels()) + " levels)");
    }
  }
  if (!t.defined() || t.dim() > 1 || (t.dim() == 1 && t.size(0) != b)) {
    fail("t must be [B] with B = " + std::to_string(b) + " or 0-d, got " +
         (t.defined() ? c10::str(t.sizes()) : "nothing"));
  }
  if (t.scalar_type() == torch::kBool || t.is_complex()) {
    fail("t must be numeric, got " + c10::str(t.scalar_type()));
  }
  const auto steps = t.dim() == 0 ? t.reshape({1}).expand({b}) : t;
  auto emb = time_mlp_->forward(steps.to(x.device()));
  if (o.num_classes() > 0) {
    torch::Tensor l = labels.defined() ? labels : torch::full({b}, o.num_classes(), torch::kLong);
    if (l.dim() != 1 || l.size(0) != b) {
      fail("labels must be [B] with B = " + std::to_string(b) + ", got " + c10::str(l.sizes()));
    }
    if (!at::isIntegralType(l.scalar_type(), /*includeBool=*/false)) {
      fail("labels must be integers, got " + c10::str(l.scalar_type()));
    }
    // Checked on the CPU only: on a GPU the check would synchronize every step.
    if (l.device().is_cpu() && b > 0 &&
        (l.min().item<int64_t>() < 0 || l.max().item<int64_t>() > o.num_classes())) {
      fail("labels must lie in [0, " + std::to_string(o.num_classes()) + "] (" +
           std::to_string(o.num_classes()) + " = null label), got values in [" +
           std::to_string(l.min().item<int64_t>()) + ", " + std::to_string(l.max().item<int64_t>()) + "]");
    }
    emb = emb + label_embedding_->forward(l.to(x.device(), torch::kLong));
  } else if (labels.defined()) {
    fail("labels given to an unconditional network (num_classes = 0)");
  }
  emb = emb.to(x.scalar_type());

  auto h = input_conv_->forward(x);
  std::vector<torch::Tensor> skips{h};
  for (const auto& level : *down_) h = level->as<UNet3dLevelImpl>()->forward_down(h, emb, skips);
  h = mid1_->forward(h, emb);
  if (mid_attention_) h = mid_attention_->forward(h);
  h = mid2_->forward(h, emb);
  for (const auto& level : *up_) h = level->as<UNet3dLevelImpl>()->forward_up(h, emb, skips);
  return output_conv_->forward(torch::silu(output_norm_->forward(h)));
}

}  // namespace shapediff::networks

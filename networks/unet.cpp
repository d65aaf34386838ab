#include "networks/unet.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include <torch/torch.h>

namespace shapediff::networks {
namespace {

namespace F = torch::nn::functional;

UNetConv conv3(int64_t dims, int64_t in, int64_t out, int64_t stride = 1) {
  return UNetConv(dims, in, out, 3, stride);
}

std::string list(const std::vector<int64_t>& v) {
  std::string s = "{";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "}";
}

}  // namespace

void UNetOptions::validate() const {
  auto fail = [](const std::string& what) { throw std::invalid_argument("UNetOptions: " + what); };
  auto positive = [&](const char* field, int64_t v) {
    if (v < 1) fail(std::string(field) + " = " + std::to_string(v) + " (must be >= 1)");
  };
  if (dims_ != 2 && dims_ != 3) fail("dims = " + std::to_string(dims_) + " (must be 2 or 3)");
  positive("in_channels", in_channels_);
  positive("out_channels", out_channels_);
  positive("base_channels", base_channels_);
  positive("num_res_blocks", num_res_blocks_);
  positive("groups", groups_);
  positive("heads", heads_);
  // 2^(levels-1) must divide the input; beyond 8 levels no input of sensible size is left.
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

UNetOptions unet_preset(UNetPreset preset, int64_t dims, int64_t num_classes) {
  UNetOptions o(dims);
  o.num_classes(num_classes);
  switch (preset) {
    case UNetPreset::Tiny:
      o.base_channels(16).channel_mult({1, 2}).num_res_blocks(1).attention_levels({1}).heads(2);
      break;
    case UNetPreset::Small:
      o.base_channels(32).num_res_blocks(2).attention_levels({2}).heads(4);
      // {1, 2, 2} keeps the image model at 1.7M parameters (7 MB in float32), small enough to
      // ship under models/ (at most 10 MB); grids need the width at their coarsest level.
      o.channel_mult(dims == 2 ? std::vector<int64_t>{1, 2, 2} : std::vector<int64_t>{1, 2, 4});
      break;
    case UNetPreset::Base:
      o.base_channels(64).num_res_blocks(2).heads(4).dropout(0.1);
      if (dims == 2) {
        // ADM's ImageNet-64 multipliers at a third of its width (64, not 192). A 64x64 image
        // has only as many pixels as a 16^3 grid has cells, so attention affords two levels
        // (16x16 and 8x8).
        o.channel_mult({1, 2, 3, 4}).attention_levels({2, 3}).groups(32);
      } else {
        o.channel_mult({1, 2, 4, 4}).attention_levels({3}).groups(16);
      }
      break;
  }
  o.validate();
  return o;
}

UNetPreset parse_unet_preset(const std::string& name) {
  if (name == "tiny") return UNetPreset::Tiny;
  if (name == "small") return UNetPreset::Small;
  if (name == "base") return UNetPreset::Base;
  throw std::invalid_argument("unknown UNet preset '" + name +
                              "' (choose from: tiny, small, base)");
}

std::string to_string(UNetPreset preset) {
  switch (preset) {
    case UNetPreset::Tiny: return "tiny";
    case UNetPreset::Small: return "small";
    case UNetPreset::Base: return "base";
  }
  return "?";
}

UNetConvImpl::UNetConvImpl(int64_t dims, int64_t in, int64_t out, int64_t kernel, int64_t stride)
    : dims_(dims), stride_(stride), padding_(kernel / 2) {
  if (dims != 2 && dims != 3) {
    throw std::invalid_argument("UNetConv: dims = " + std::to_string(dims) + " (must be 2 or 3)");
  }
  std::vector<int64_t> shape{out, in};
  shape.insert(shape.end(), dims, kernel);
  weight = register_parameter("weight", torch::empty(shape));
  bias = register_parameter("bias", torch::empty({out}));
  // torch::nn::ConvNd's reset_parameters: uniform in +-1/sqrt(fan_in) for weight and bias.
  torch::NoGradGuard no_grad;
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  const double bound = 1.0 / std::sqrt(static_cast<double>(weight.numel() / out));
  torch::nn::init::uniform_(bias, -bound, bound);
}

torch::Tensor UNetConvImpl::forward(const torch::Tensor& x) {
  return dims_ == 2 ? torch::conv2d(x, weight, bias, stride_, padding_)
                    : torch::conv3d(x, weight, bias, stride_, padding_);
}

UNetResBlockImpl::UNetResBlockImpl(int64_t dims, int64_t in, int64_t out, int64_t embed_dim,
                                   int64_t groups, double dropout, bool scale_shift)
    : dropout_(dropout), scale_shift_(scale_shift) {
  norm1_ = register_module("norm1", torch::nn::GroupNorm(groups, in));
  conv1_ = register_module("conv1", conv3(dims, in, out));
  embed_ = register_module("embed", torch::nn::Linear(embed_dim, scale_shift ? 2 * out : out));
  norm2_ = register_module("norm2", torch::nn::GroupNorm(groups, out));
  conv2_ = register_module("conv2", conv3(dims, out, out));
  if (in != out) {
    skip_ = register_module("skip", UNetConv(dims, in, out, 1));
  }
}

torch::Tensor UNetResBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& emb) {
  auto h = conv1_->forward(torch::silu(norm1_->forward(x)));
  auto e = embed_->forward(torch::silu(emb)).to(h.scalar_type());
  std::vector<int64_t> per_channel(h.dim(), 1);  // [B, C, 1, ...] broadcasts over space
  per_channel[0] = e.size(0);
  per_channel[1] = e.size(1);
  e = e.view(per_channel);
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

UNetAttentionImpl::UNetAttentionImpl(int64_t channels, int64_t heads, int64_t groups)
    : heads_(heads) {
  norm_ = register_module("norm", torch::nn::GroupNorm(groups, channels));
  qkv_ = register_module("qkv",
                         torch::nn::Conv1d(torch::nn::Conv1dOptions(channels, 3 * channels, 1)));
  proj_ = register_module("proj",
                          torch::nn::Conv1d(torch::nn::Conv1dOptions(channels, channels, 1)));
}

torch::Tensor UNetAttentionImpl::forward(const torch::Tensor& x) {
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

void UNetLevelImpl::add_block(UNetResBlock block, bool attention, int64_t heads,
                              int64_t groups, int64_t channels) {
  const auto i = std::to_string(blocks_.size());
  blocks_.push_back(register_module("block" + i, std::move(block)));
  attention_.push_back(attention ? register_module("attention" + i,
                                                   UNetAttention(channels, heads, groups))
                                 : UNetAttention(nullptr));
}

void UNetLevelImpl::set_resample(UNetConv conv, bool up) {
  resample_ = register_module(up ? "upsample" : "downsample", std::move(conv));
  up_ = up;
}

torch::Tensor UNetLevelImpl::forward_down(torch::Tensor h, const torch::Tensor& emb,
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

torch::Tensor UNetLevelImpl::forward_up(torch::Tensor h, const torch::Tensor& emb,
                                        std::vector<torch::Tensor>& skips) {
  for (size_t i = 0; i < blocks_.size(); ++i) {
    h = blocks_[i]->forward(torch::cat({h, skips.back()}, 1), emb);
    skips.pop_back();
    if (attention_[i]) h = attention_[i]->forward(h);
  }
  if (resample_) {
    h = F::interpolate(h, F::InterpolateFuncOptions()
                              .scale_factor(std::vector<double>(h.dim() - 2, 2.0))
                              .mode(torch::kNearest));
    h = resample_->forward(h);
  }
  return h;
}

UNetImpl::UNetImpl(UNetOptions options) : options_(std::move(options)) {
  options_.validate();
  const auto& o = options_;
  const int64_t e = o.embed_dim(), groups = o.groups(), levels = o.levels(), dims = o.dims();
  auto attention_at = [&](int64_t level) {
    return std::find(o.attention_levels().begin(), o.attention_levels().end(), level) !=
           o.attention_levels().end();
  };
  auto res_block = [&](int64_t in, int64_t out) {
    return UNetResBlock(dims, in, out, e, groups, o.dropout(), o.scale_shift());
  };

  time_mlp_ = register_module("time_mlp", TimestepMLP(TimestepMLPOptions(o.base_channels(), e)));
  if (o.num_classes() > 0) {
    label_embedding_ =
        register_module("label_embedding", torch::nn::Embedding(o.num_classes() + 1, e));
  }
  input_conv_ = register_module("input_conv", conv3(dims, o.in_channels(), o.base_channels()));

  // Widths of the tensors the down path leaves on the skip stack, in push order.
  std::vector<int64_t> skip_channels{o.base_channels()};
  int64_t ch = o.base_channels();
  down_ = register_module("down", torch::nn::ModuleList());
  for (int64_t l = 0; l < levels; ++l) {
    const int64_t out = o.base_channels() * o.channel_mult()[l];
    UNetLevel level;
    for (int64_t i = 0; i < o.num_res_blocks(); ++i) {
      level->add_block(res_block(ch, out), attention_at(l), o.heads(), groups, out);
      ch = out;
      skip_channels.push_back(ch);
    }
    if (l + 1 < levels) {
      level->set_resample(conv3(dims, ch, ch, 2), false);
      skip_channels.push_back(ch);
    }
    down_->push_back(level);
  }

  mid1_ = register_module("mid1", res_block(ch, ch));
  if (o.mid_attention()) {
    mid_attention_ = register_module("mid_attention", UNetAttention(ch, o.heads(), groups));
  }
  mid2_ = register_module("mid2", res_block(ch, ch));

  // Each up level has one block more than its down level: the extra one consumes the skip
  // pushed by the downsampling (or by the input convolution at level 0).
  up_ = register_module("up", torch::nn::ModuleList());
  for (int64_t l = levels - 1; l >= 0; --l) {
    const int64_t out = o.base_channels() * o.channel_mult()[l];
    UNetLevel level;
    for (int64_t i = 0; i <= o.num_res_blocks(); ++i) {
      level->add_block(res_block(ch + skip_channels.back(), out), attention_at(l), o.heads(),
                       groups, out);
      skip_channels.pop_back();
      ch = out;
    }
    if (l > 0) level->set_resample(conv3(dims, ch, ch), true);
    up_->push_back(level);
  }

  output_norm_ = register_module("output_norm", torch::nn::GroupNorm(groups, ch));
  output_conv_ = register_module("output_conv", conv3(dims, ch, o.out_channels()));
  // The untrained network predicts exactly 0, so every residual path starts as the identity
  // of what it adds to (ADM's zero_module on the output layer).
  torch::NoGradGuard no_grad;
  output_conv_->weight.zero_();
  output_conv_->bias.zero_();
}

int64_t UNetImpl::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

torch::Tensor UNetImpl::forward(const torch::Tensor& x, const torch::Tensor& t,
                                const torch::Tensor& labels) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("UNet: " + what); };
  const auto& o = options_;
  if (!x.defined() || x.dim() != o.dims() + 2) {
    fail(std::string("x must be ") + (o.dims() == 2 ? "[B,C,H,W]" : "[B,C,X,Y,Z]") +
         " for dims = " + std::to_string(o.dims()) + ", got " +
         (x.defined() ? c10::str(x.sizes()) : "nothing"));
  }
  if (!at::isFloatingType(x.scalar_type())) {
    fail("x must be floating point, got " + c10::str(x.scalar_type()));
  }
  if (x.size(1) != o.in_channels()) {
    fail("x " + c10::str(x.sizes()) + " has " + std::to_string(x.size(1)) +
         " channels, the network takes in_channels = " + std::to_string(o.in_channels()));
  }
  const int64_t b = x.size(0), m = o.size_multiple();
  if (b < 1) fail("x " + c10::str(x.sizes()) + " has an empty batch");
  for (int64_t d = 2; d < x.dim(); ++d) {
    if (x.size(d) < 1 || x.size(d) % m != 0) {
      fail(std::string(o.dims() == 2 ? "image " : "grid ") + c10::str(x.sizes().slice(2)) +
           " must have sizes divisible by " + std::to_string(m) + " (2^(levels-1) for " +
           std::to_string(o.levels()) + " levels)");
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
           std::to_string(l.min().item<int64_t>()) + ", " +
           std::to_string(l.max().item<int64_t>()) + "]");
    }
    emb = emb + label_embedding_->forward(l.to(x.device(), torch::kLong));
  } else if (labels.defined()) {
    fail("labels given to an unconditional network (num_classes = 0)");
  }
  emb = emb.to(x.scalar_type());

  auto h = input_conv_->forward(x);
  std::vector<torch::Tensor> skips{h};
  for (const auto& level : *down_) h = level->as<UNetLevelImpl>()->forward_down(h, emb, skips);
  h = mid1_->forward(h, emb);
  if (mid_attention_) h = mid_attention_->forward(h);
  h = mid2_->forward(h, emb);
  for (const auto& level : *up_) h = level->as<UNetLevelImpl>()->forward_up(h, emb, skips);
  return output_conv_->forward(torch::silu(output_norm_->forward(h)));
}

}  // namespace shapediff::networks

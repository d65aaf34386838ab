#include "networks/pvcnn.h"

#include <cmath>
#include <stdexcept>
#include <utility>

#include <torch/torch.h>

#include "networks/point_ops.h"
#include "networks/timestep_embedding.h"

namespace shapediff::networks {
namespace {

namespace F = torch::nn::functional;

torch::Tensor swish(const torch::Tensor& x) { return torch::silu(x); }

// The point ops take float32/float64 only: under bf16 autocast the convolutions hand them
// reduced-precision features, which are widened here (a no-op in float32 runs).
torch::Tensor widened(const torch::Tensor& x) {
  const auto t = x.scalar_type();
  return t == torch::kBFloat16 || t == torch::kHalf ? x.to(torch::kFloat32) : x;
}

// 1x1 convolutions + GroupNorm(8) + Swish per layer, over [B,C,N] (Conv1d) or [B,C,M,k]
// (Conv2d, the set abstraction's neighbourhoods).
class SharedMLPImpl : public torch::nn::Module {
 public:
  SharedMLPImpl(int64_t in, const std::vector<int64_t>& outs, int dim) : dim_(dim) {
    for (size_t i = 0; i < outs.size(); ++i) {
      const auto n = std::to_string(i);
      if (dim == 1) {
        conv1_.push_back(register_module("conv" + n, torch::nn::Conv1d(torch::nn::Conv1dOptions(in, outs[i], 1))));
      } else {
        conv2_.push_back(register_module("conv" + n, torch::nn::Conv2d(torch::nn::Conv2dOptions(in, outs[i], 1))));
      }
      norms_.push_back(register_module("norm" + n, torch::nn::GroupNorm(8, outs[i])));
      in = outs[i];
    }
    out_channels_ = in;
  }
  torch::Tensor forward(torch::Tensor x) {
    for (size_t i = 0; i < norms_.size(); ++i) {
      x = dim_ == 1 ? conv1_[i]->forward(x) : conv2_[i]->forward(x);
      x = swish(norms_[i]->forward(x));
    }
    return x;
  }
  int64_t out_channels() const { return out_channels_; }

 private:
  int dim_;
  int64_t out_channels_ = 0;
  std::vector<torch::nn::Conv1d> conv1_;
  std::vector<torch::nn::Conv2d> conv2_;
  std::vector<torch::nn::GroupNorm> norms_;
};
TORCH_MODULE(SharedMLP);

// PVD's self-attention over all voxels (D=3) or points (D=1): unscaled softmax(q^T k), residual,
// then GroupNorm and Swish.
class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t channels, int dims) : dims_(dims) {
    auto make = [&](const std::string& name) {
      if (dims == 3) {
        c3_.push_back(register_module(name, torch::nn::Conv3d(torch::nn::Conv3dOptions(channels, channels, 1))));
      } else {
        c1_.push_back(register_module(name, torch::nn::Conv1d(torch::nn::Conv1dOptions(channels, channels, 1))));
      }
    };
    for (const char* n : {"q", "k", "v", "out"}) make(n);
    norm_ = register_module("norm", torch::nn::GroupNorm(8, channels));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    const int64_t b = x.size(0), c = x.size(1);
    auto proj = [&](size_t i, const torch::Tensor& in) {
      return dims_ == 3 ? c3_[i]->forward(in) : c1_[i]->forward(in);
    };
    auto q = proj(0, x).reshape({b, c, -1});
    auto k = proj(1, x).reshape({b, c, -1});
    auto v = proj(2, x).reshape({b, c, -1});
    auto w = torch::softmax(torch::bmm(q.transpose(1, 2), k), -1);
    auto h = torch::bmm(v, w.transpose(1, 2)).reshape(x.sizes());
    return swish(norm_->forward(proj(3, h) + x));
  }

 private:
  int dims_;
  std::vector<torch::nn::Conv3d> c3_;
  std::vector<torch::nn::Conv1d> c1_;
  torch::nn::GroupNorm norm_{nullptr};
};
TORCH_MODULE(Attention);

// Squeeze-excitation over a voxel grid [B,C,r,r,r] (reduction 8, ReLU as PVD's with_se_relu).
class SqueezeExcitationImpl : public torch::nn::Module {
 public:
  explicit SqueezeExcitationImpl(int64_t channels) {
    const int64_t mid = std::max<int64_t>(1, channels / 8);
    fc1_ = register_module("fc1", torch::nn::Linear(torch::nn::LinearOptions(channels, mid).bias(false)));
    fc2_ = register_module("fc2", torch::nn::Linear(torch::nn::LinearOptions(mid, channels).bias(false)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto s = torch::sigmoid(fc2_->forward(torch::relu(fc1_->forward(x.mean({2, 3, 4})))));
    return x * s.view({x.size(0), x.size(1), 1, 1, 1});
  }

 private:
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(SqueezeExcitation);

// Point-voxel convolution: features [B,C,N] at coords [B,N,3] -> [B,out,N].
class PVConvImpl : public torch::nn::Module {
 public:
  PVConvImpl(int64_t in, int64_t out, int64_t resolution, bool attention, bool se, double dropout)
      : resolution_(resolution), dropout_(dropout) {
    auto conv = [](int64_t i, int64_t o) {
      return torch::nn::Conv3d(torch::nn::Conv3dOptions(i, o, 3).padding(1));
    };
    conv1_ = register_module("conv1", conv(in, out));
    norm1_ = register_module("norm1", torch::nn::GroupNorm(8, out));
    conv2_ = register_module("conv2", conv(out, out));
    norm2_ = register_module("norm2", torch::nn::GroupNorm(8, out));
    if (attention) attention_ = register_module("attention", Attention(out, 3));
    if (se) se_ = register_module("se", SqueezeExcitation(out));
    point_ = register_module("point", SharedMLP(in, std::vector<int64_t>{out}, 1));
  }
  torch::Tensor forward(const torch::Tensor& features, const torch::Tensor& coords) {
    auto [grid, voxel_coords] = avg_voxelize(widened(features), coords, resolution_);
    auto v = swish(norm1_->forward(conv1_->forward(grid)));
    if (dropout_ > 0) v = F::dropout(v, F::DropoutFuncOptions().p(dropout_).training(is_training()));
    v = norm2_->forward(conv2_->forward(v));
    v = attention_ ? attention_->forward(v) : swish(v);
    if (se_) v = se_->forward(v);
    auto back = trilinear_devoxelize(widened(v), voxel_coords, resolution_, is_training());
    return back + point_->forward(features);
  }

 private:
  int64_t resolution_;
  double dropout_;
  torch::nn::Conv3d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::GroupNorm norm1_{nullptr}, norm2_{nullptr};
  Attention attention_{nullptr};
  SqueezeExcitation se_{nullptr};
  SharedMLP point_{nullptr};
};
TORCH_MODULE(PVConv);

// A run of PVConv blocks at one resolution.
class PVConvStackImpl : public torch::nn::Module {
 public:
  void add(PVConv block) {
    blocks_.push_back(register_module(std::to_string(blocks_.size()), std::move(block)));
  }
  torch::Tensor forward(torch::Tensor features, const torch::Tensor& coords) {
    for (auto& b : blocks_) features = b->forward(features, coords);
    return features;
  }
  bool empty() const { return blocks_.empty(); }

 private:
  std::vector<PVConv> blocks_;
};
TORCH_MODULE(PVConvStack);

// Set abstraction: farthest-point centres, ball-query neighbourhoods with coordinates relative
// to the centre, shared MLP over [B, 3+C, M, k], max over k.
class SetAbstractionImpl : public torch::nn::Module {
 public:
  SetAbstractionImpl(const SABlockConfig& c, PVConvStack convs, int64_t in)
      : centers_(c.centers), radius_(c.radius), neighbors_(c.neighbors) {
    convs_ = register_module("conv", std::move(convs));
    mlp_ = register_module("mlp", SharedMLP(in + 3, c.mlp, 2));
  }
  // features [B,C,N], coords [B,N,3] -> (features [B,C',M], centres [B,M,3])
  std::pair<torch::Tensor, torch::Tensor> forward(torch::Tensor features,
                                                  const torch::Tensor& coords) {
    if (!convs_->empty()) features = convs_->forward(features, coords);
    auto idx = farthest_point_sample(coords, centers_);
    auto centers = coords.gather(1, idx.unsqueeze(-1).expand({-1, -1, 3}));
    auto nb = ball_query(centers, coords, radius_, neighbors_);
    auto rel = group(coords.transpose(1, 2).contiguous(), nb) -
               centers.transpose(1, 2).unsqueeze(-1);
    auto grouped = torch::cat({rel, group(widened(features), nb)}, 1);
    return {std::get<0>(mlp_->forward(grouped).max(-1)), centers};
  }
  int64_t out_channels() const { return mlp_->out_channels(); }

 private:
  int64_t centers_;
  double radius_;
  int64_t neighbors_;
  PVConvStack convs_{nullptr};
  SharedMLP mlp_{nullptr};
};
TORCH_MODULE(SetAbstraction);

// Feature propagation: inverse-squared-distance interpolation from the three nearest coarse
// points, concatenated with the skip features, shared MLP, then PVConv blocks.
class FeaturePropagationImpl : public torch::nn::Module {
 public:
  FeaturePropagationImpl(const std::vector<int64_t>& mlp, int64_t in, PVConvStack convs) {
    mlp_ = register_module("mlp", SharedMLP(in, mlp, 1));
    convs_ = register_module("conv", std::move(convs));
  }
  torch::Tensor forward(const torch::Tensor& fine_coords, const torch::Tensor& coarse_coords,
                        const torch::Tensor& coarse_features, const torch::Tensor& skip) {
    auto [dist2, nn] = three_nn(fine_coords, coarse_coords);
    auto w = 1.0 / (dist2 + 1e-8);
    w = w / w.sum(2, true);
    auto x = three_interpolate(widened(coarse_features), nn, w);
    if (skip.defined() && skip.size(1) > 0) x = torch::cat({x, skip}, 1);
    x = mlp_->forward(x);
    if (!convs_->empty()) x = convs_->forward(x, fine_coords);
    return x;
  }
  int64_t out_channels() const { return mlp_->out_channels(); }

 private:
  SharedMLP mlp_{nullptr};
  PVConvStack convs_{nullptr};
};
TORCH_MODULE(FeaturePropagation);

// The head: SharedMLP(C, hidden) -> dropout -> Conv1d(hidden, 3).
class HeadImpl : public torch::nn::Module {
 public:
  HeadImpl(int64_t in, int64_t hidden, double dropout) : dropout_(dropout) {
    mlp_ = register_module("mlp", SharedMLP(in, std::vector<int64_t>{hidden}, 1));
    out_ = register_module("out", torch::nn::Conv1d(torch::nn::Conv1dOptions(hidden, 3, 1)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = mlp_->forward(x);
    if (dropout_ > 0) h = F::dropout(h, F::DropoutFuncOptions().p(dropout_).training(is_training()));
    return out_->forward(h);
  }

 private:
  double dropout_;
  SharedMLP mlp_{nullptr};
  torch::nn::Conv1d out_{nullptr};
};
TORCH_MODULE(Head);

void check_channels(const std::string& field, int64_t c) {
  if (c < 8 || c % 8 != 0) {
    throw std::invalid_argument("PVCNNConfig: " + field + " = " + std::to_string(c) +
                                " (channels must be a positive multiple of 8 for GroupNorm(8))");
  }
}

}  // namespace

void PVCNNConfig::validate() const {
  auto fail = [](const std::string& what) { throw std::invalid_argument("PVCNNConfig: " + what); };
  if (sa.empty()) fail("sa must have at least one stage");
  if (fp.size() != sa.size()) {
    fail("fp has " + std::to_string(fp.size()) + " stages, sa has " + std::to_string(sa.size()) +
         " (they must match)");
  }
  if (embed_dim < 2 || embed_dim % 2 != 0) fail("embed_dim = " + std::to_string(embed_dim) + " (must be even and >= 2)");
  if (!(dropout >= 0.0 && dropout < 1.0)) fail("dropout = " + std::to_string(dropout) + " (must be in [0, 1))");
  if (num_classes < 0) fail("num_classes = " + std::to_string(num_classes) + " (must be >= 0)");
  check_channels("head_channels", head_channels);
  for (size_t i = 0; i < sa.size(); ++i) {
    const auto& s = sa[i];
    const std::string p = "sa[" + std::to_string(i) + "].";
    if (s.conv_blocks < 0) fail(p + "conv_blocks = " + std::to_string(s.conv_blocks));
    if (s.conv_blocks > 0) {
      check_channels(p + "conv_out", s.conv_out);
      if (s.voxel_resolution < 1) fail(p + "voxel_resolution = " + std::to_string(s.voxel_resolution));
    }
    if (s.centers < 1) fail(p + "centers = " + std::to_string(s.centers) + " (must be >= 1)");
    if (!(s.radius > 0.0)) fail(p + "radius = " + std::to_string(s.radius) + " (must be > 0)");
    if (s.neighbors < 1) fail(p + "neighbors = " + std::to_string(s.neighbors));
    if (s.mlp.empty()) fail(p + "mlp is empty");
    for (auto c : s.mlp) check_channels(p + "mlp", c);
    if (i > 0 && s.centers > sa[i - 1].centers) {
      fail(p + "centers = " + std::to_string(s.centers) + " exceeds the previous stage's " +
           std::to_string(sa[i - 1].centers));
    }
  }
  for (size_t i = 0; i < fp.size(); ++i) {
    const auto& f = fp[i];
    const std::string p = "fp[" + std::to_string(i) + "].";
    if (f.mlp.empty()) fail(p + "mlp is empty");
    for (auto c : f.mlp) check_channels(p + "mlp", c);
    if (f.conv_blocks < 0) fail(p + "conv_blocks = " + std::to_string(f.conv_blocks));
    if (f.conv_blocks > 0) {
      check_channels(p + "conv_out", f.conv_out);
      if (f.voxel_resolution < 1) fail(p + "voxel_resolution = " + std::to_string(f.voxel_resolution));
    }
  }
}

PVCNNConfig pvcnn_preset(PVCNNPreset preset, int64_t num_classes) {
  PVCNNConfig c;
  c.num_classes = num_classes;
  switch (preset) {
    case PVCNNPreset::PVD:
      c.sa = {{32, 2, 32, 1024, 0.1, 32, {32, 64}},
              {64, 3, 16, 256, 0.2, 32, {64, 128}},
              {128, 3, 8, 64, 0.4, 32, {128, 256}},
              {0, 0, 0, 16, 0.8, 32, {256, 256, 512}}};
      c.fp = {{{256, 256}, 256, 3, 8},
              {{256, 256}, 256, 3, 8},
              {{256, 128}, 128, 2, 16},
              {{128, 128, 64}, 64, 2, 32}};
      c.embed_dim = 64;
      c.attention = true;
      c.dropout = 0.1;
      break;
    case PVCNNPreset::Small:
      c.sa = {{32, 1, 12, 512, 0.3, 16, {32, 64}},
              {64, 1, 6, 128, 0.6, 16, {64, 128}},
              {0, 0, 0, 32, 1.2, 16, {128, 128, 256}}};
      c.fp = {{{128, 128}, 0, 0, 0},
              {{128, 64}, 64, 1, 6},
              {{64, 64, 32}, 32, 1, 12}};
      c.embed_dim = 64;
      c.attention = true;
      c.dropout = 0.0;
      break;
    case PVCNNPreset::Tiny:
      c.sa = {{16, 1, 8, 64, 0.6, 8, {16, 32}},
              {0, 0, 0, 16, 1.2, 8, {32, 64}}};
      c.fp = {{{32, 32}, 0, 0, 0},
              {{32, 16}, 16, 1, 8}};
      c.embed_dim = 16;
      c.attention = true;
      c.dropout = 0.0;
      c.head_channels = 32;
      break;
  }
  return c;
}

PVCNNPreset parse_pvcnn_preset(const std::string& name) {
  if (name == "pvd") return PVCNNPreset::PVD;
  if (name == "small") return PVCNNPreset::Small;
  if (name == "tiny") return PVCNNPreset::Tiny;
  throw std::invalid_argument("unknown model preset '" + name + "' (choose from: pvd, small, tiny)");
}

std::string to_string(PVCNNPreset preset) {
  switch (preset) {
    case PVCNNPreset::PVD: return "pvd";
    case PVCNNPreset::Small: return "small";
    case PVCNNPreset::Tiny: return "tiny";
  }
  return "?";
}

// Channel bookkeeping follows PVD's generation network exactly, quirks included, so that the
// `pvd` preset has its parameter count: the first stage sees only the coordinates (no timestep)
// and gets all its PVConv blocks; every later stage concatenates the timestep embedding and,
// like PVD's builder, gets ONE PVConv block whatever conv_blocks says; a stage without
// convolutions feeds features + embedding straight to its set abstraction. Feature
// propagation interpolates features + embedding and builds all of its PVConv blocks; PVD's
// attention condition in that loop never holds, so propagation stages have none.
PVCNNImpl::PVCNNImpl(PVCNNConfig config) : config_(std::move(config)) {
  config_.validate();
  const int64_t e = config_.embed_dim;
  embed_fc1_ = register_module("embed_fc1", torch::nn::Linear(e, e));
  embed_fc2_ = register_module("embed_fc2", torch::nn::Linear(e, e));
  if (config_.num_classes > 0) {
    label_embedding_ = register_module("label_embedding", torch::nn::Embedding(config_.num_classes + 1, e));
  }
  sa_ = register_module("sa", torch::nn::ModuleList());
  fp_ = register_module("fp", torch::nn::ModuleList());

  std::vector<int64_t> stage_in;  // channels entering each SA stage (without the embedding)
  int64_t in = 3;
  for (size_t i = 0; i < config_.sa.size(); ++i) {
    const auto& s = config_.sa[i];
    stage_in.push_back(in);
    PVConvStack convs;
    int64_t sa_in = in + (i == 0 ? 0 : e);
    if (s.conv_blocks > 0) {
      const bool attention = config_.attention && i % 2 == 1;
      const int64_t blocks = i == 0 ? s.conv_blocks : 1;
      int64_t c = sa_in;
      for (int64_t b = 0; b < blocks; ++b) {
        convs->add(PVConv(c, s.conv_out, s.voxel_resolution, attention && b == 0,
                          config_.squeeze_excitation, config_.dropout));
        c = s.conv_out;
      }
      sa_in = s.conv_out;
    }
    SetAbstraction stage(s, convs, sa_in);
    in = stage->out_channels();
    sa_->push_back(stage);
  }
  if (config_.attention) {
    global_attention_ = torch::nn::AnyModule(Attention(in, 1));
    register_module("global_attention", global_attention_.ptr());
  }
  stage_in[0] = 0;  // the finest skip carries no features (coordinates only)
  for (size_t i = 0; i < config_.fp.size(); ++i) {
    const auto& f = config_.fp[i];
    const int64_t skip = stage_in[stage_in.size() - 1 - i];
    PVConvStack convs;
    int64_t c = f.mlp.back();
    for (int64_t b = 0; b < f.conv_blocks; ++b) {
      convs->add(PVConv(c, f.conv_out, f.voxel_resolution, false, config_.squeeze_excitation,
                        config_.dropout));
      c = f.conv_out;
    }
    fp_->push_back(FeaturePropagation(f.mlp, in + skip + e, convs));
    in = c;
  }
  auto head = Head(in, config_.head_channels, config_.dropout);
  head_ = register_module("head", torch::nn::ModuleList());
  head_->push_back(head);
}

int64_t PVCNNImpl::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

torch::Tensor PVCNNImpl::forward(const torch::Tensor& x, const torch::Tensor& t,
                                 const torch::Tensor& labels) {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == 3, "PVCNN: x must be [B,N,3], got ", x.sizes());
  const int64_t b = x.size(0), n = x.size(1);
  TORCH_CHECK(n >= config_.sa[0].centers, "PVCNN: ", n, " points, fewer than the first stage's ",
              config_.sa[0].centers, " centres");
  auto steps = t.dim() == 0 ? t.reshape({1}).expand({b}) : t;
  TORCH_CHECK(steps.dim() == 1 && steps.size(0) == b, "PVCNN: t must be [B] or 0-d, got ",
              t.sizes(), " for B=", b);
  auto temb = timestep_embedding(steps.to(x.device()), config_.embed_dim, false, 1.0)
                  .to(x.scalar_type());
  temb = embed_fc2_->forward(F::leaky_relu(embed_fc1_->forward(temb), F::LeakyReLUFuncOptions().negative_slope(0.1)));
  if (config_.num_classes > 0) {
    torch::Tensor l = labels.defined()
                          ? labels.to(x.device(), torch::kLong)
                          : torch::full({b}, config_.num_classes, x.options().dtype(torch::kLong));
    TORCH_CHECK(l.dim() == 1 && l.size(0) == b, "PVCNN: labels must be [B], got ", l.sizes());
    // Checked on the CPU only: on a GPU the check would synchronize every step.
    TORCH_CHECK(!l.device().is_cpu() || l.numel() == 0 ||
                    (l.min().item<int64_t>() >= 0 && l.max().item<int64_t>() <= config_.num_classes),
                "PVCNN: labels must lie in [0, ", config_.num_classes, "]");
    temb = temb + label_embedding_->forward(l).to(x.scalar_type());
  }
  // The embedding is one vector per shape: PVD groups and interpolates it with the points,
  // which leaves it unchanged, so it is broadcast to each stage's point count instead.
  auto with_temb = [&](const torch::Tensor& f) {
    return torch::cat({f, temb.unsqueeze(-1).expand({-1, -1, f.size(2)})}, 1);
  };

  auto coords = x.contiguous();
  torch::Tensor features = x.transpose(1, 2).contiguous();
  std::vector<torch::Tensor> coords_list, skip_list;
  for (size_t i = 0; i < sa_->size(); ++i) {
    coords_list.push_back(coords);
    skip_list.push_back(features);
    auto stage = sa_[i]->as<SetAbstractionImpl>();
    auto out = stage->forward(i == 0 ? features : with_temb(features), coords);
    features = out.first;
    coords = out.second;
  }
  skip_list[0] = torch::Tensor();
  if (!global_attention_.is_empty()) features = global_attention_.forward(features);
  for (size_t i = 0; i < fp_->size(); ++i) {
    const size_t j = sa_->size() - 1 - i;
    auto stage = fp_[i]->as<FeaturePropagationImpl>();
    features = stage->forward(coords_list[j], coords, with_temb(features), skip_list[j]);
    coords = coords_list[j];
  }
  auto out = head_[0]->as<HeadImpl>()->forward(features);
  return out.transpose(1, 2).contiguous();
}

}  // namespace shapediff::networks

#include "networks/sparse/sparse_ops.h"

#include <stdexcept>
#include <string>
#include <utility>

namespace shapediff::sparse {
namespace {

using torch::Tensor;

Tensor batch_index(const SparseTensor& x) { return x.coords().select(1, 0).to(torch::kLong); }

// Per-row sums into per-batch-item rows: [N, ...] -> [batch_size, ...].
Tensor sum_per_batch(const Tensor& rows, const Tensor& batch, int64_t batch_size) {
  auto shape = rows.sizes().vec();
  shape[0] = batch_size;
  return torch::zeros(shape, rows.options()).index_add(0, batch, rows);
}

// Cells per batch item, at least 1 (an empty item's sums are zero, so its mean is zero too).
Tensor cells_per_batch(const Tensor& batch, int64_t batch_size,
                       const torch::TensorOptions& options) {
  return sum_per_batch(torch::ones({batch.size(0)}, options), batch, batch_size).clamp_min(1);
}

void check_batch_size(const char* op, const Tensor& batch, int64_t batch_size) {
  if (batch_size < 1) {
    throw std::invalid_argument(std::string(op) + ": batch_size must be >= 1, got " +
                                std::to_string(batch_size));
  }
  if (batch.size(0) == 0) return;
  const int64_t largest = batch.max().item<int64_t>();
  if (largest >= batch_size) {
    throw std::invalid_argument(std::string(op) + ": a cell has batch index " +
                                std::to_string(largest) + " >= batch_size " +
                                std::to_string(batch_size));
  }
}

}  // namespace

SparseTensor prune(const SparseTensor& x, const Tensor& keep) {
  if (!keep.defined() || keep.scalar_type() != torch::kBool || keep.dim() != 1 ||
      keep.size(0) != x.size()) {
    throw std::invalid_argument(
        "prune: keep must be a bool [N=" + std::to_string(x.size()) + "] mask, got " +
        (keep.defined() ? std::string(c10::toString(keep.scalar_type())) + " with " +
                              std::to_string(keep.dim() == 1 ? keep.size(0) : keep.numel()) +
                              " elements in " + std::to_string(keep.dim()) + " dims"
                        : std::string("undefined")));
  }
  if (keep.device() != x.device()) {
    throw std::invalid_argument("prune: keep on " + keep.device().str() + ", the tensor on " +
                                x.device().str());
  }
  const auto rows = keep.nonzero().select(1, 0);
  return SparseTensor(x.coords().index_select(0, rows), x.features().index_select(0, rows),
                      x.stride(), x.manager());
}

SparseTensor group_norm(const SparseTensor& x, int64_t num_groups, const Tensor& weight,
                        const Tensor& bias, double eps) {
  const int64_t n = x.size(), channels = x.channels();
  if (num_groups < 1 || channels % num_groups != 0) {
    throw std::invalid_argument("group_norm: num_groups " + std::to_string(num_groups) +
                                " must be >= 1 and divide the " + std::to_string(channels) +
                                " channels");
  }
  for (const auto* p : {&weight, &bias}) {
    if (p->defined() && (p->dim() != 1 || p->size(0) != channels)) {
      throw std::invalid_argument(
          "group_norm: weight and bias must be [C=" + std::to_string(channels) + "], got " +
          std::to_string(p->numel()) + " elements");
    }
  }
  if (n == 0) return x;
  const auto batch = batch_index(x);
  const int64_t batch_size = batch.max().item<int64_t>() + 1;
  const int64_t group_width = channels / num_groups;
  const auto f = x.features().reshape({n, num_groups, group_width});
  const auto count =
      (cells_per_batch(batch, batch_size, f.options()) * group_width).unsqueeze(1);  // [B, 1]
  // Two passes (mean, then the centred squares) keep the variance accurate for large means.
  const auto mean = sum_per_batch(f.sum(2), batch, batch_size) / count;  // [B, G]
  const auto centred = f - mean.index_select(0, batch).unsqueeze(2);
  const auto var = sum_per_batch(centred.pow(2).sum(2), batch, batch_size) / count;
  auto y =
      (centred * (var + eps).rsqrt().index_select(0, batch).unsqueeze(2)).reshape({n, channels});
  if (weight.defined()) y = y * weight;
  if (bias.defined()) y = y + bias;
  return x.replace_features(y);
}

SparseTensor relu(const SparseTensor& x) { return x.replace_features(torch::relu(x.features())); }

SparseTensor silu(const SparseTensor& x) { return x.replace_features(torch::silu(x.features())); }

Tensor global_avg_pool(const SparseTensor& x, int64_t batch_size) {
  const auto batch = batch_index(x);
  check_batch_size("global_avg_pool", batch, batch_size);
  const auto& f = x.features();
  return sum_per_batch(f, batch, batch_size) /
         cells_per_batch(batch, batch_size, f.options()).unsqueeze(1);
}

Tensor global_max_pool(const SparseTensor& x, int64_t batch_size) {
  const auto batch = batch_index(x);
  check_batch_size("global_max_pool", batch, batch_size);
  const auto& f = x.features();
  // include_self = false: the zeros only remain where a batch item has no cells.
  return torch::zeros({batch_size, f.size(1)}, f.options())
      .scatter_reduce(0, batch.unsqueeze(1).expand_as(f), f, "amax", /*include_self=*/false);
}

SparseTensor cat(const SparseTensor& a, const SparseTensor& b) {
  if (a.stride() != b.stride() || a.size() != b.size() || a.device() != b.device()) {
    throw std::invalid_argument("cat: the tensors differ: stride " + std::to_string(a.stride()) +
                                " vs " + std::to_string(b.stride()) + ", rows " +
                                std::to_string(a.size()) + " vs " + std::to_string(b.size()) +
                                ", device " + a.device().str() + " vs " + b.device().str());
  }
  if (!a.coords().is_same(b.coords()) && !torch::equal(a.coords(), b.coords())) {
    throw std::invalid_argument("cat: the tensors have different coordinates");
  }
  return a.replace_features(torch::cat({a.features(), b.features()}, 1));
}

SparseGroupNormImpl::SparseGroupNormImpl(SparseGroupNormOptions options)
    : options_(std::move(options)) {
  if (options_.num_groups() < 1 || options_.num_channels() % options_.num_groups() != 0) {
    throw std::invalid_argument("SparseGroupNormOptions: num_groups " +
                                std::to_string(options_.num_groups()) + " must divide " +
                                std::to_string(options_.num_channels()) + " channels");
  }
  if (options_.affine()) {
    weight = register_parameter("weight", torch::ones({options_.num_channels()}));
    bias = register_parameter("bias", torch::zeros({options_.num_channels()}));
  }
}

SparseTensor SparseGroupNormImpl::forward(const SparseTensor& x) {
  if (x.channels() != options_.num_channels()) {
    throw std::invalid_argument("SparseGroupNorm: expected " +
                                std::to_string(options_.num_channels()) + " channels, got " +
                                std::to_string(x.channels()));
  }
  return group_norm(x, options_.num_groups(), weight, bias, options_.eps());
}

SparseBatchNormImpl::SparseBatchNormImpl(torch::nn::BatchNormOptions options)
    : norm_(register_module("norm", torch::nn::BatchNorm1d(std::move(options)))) {}

SparseTensor SparseBatchNormImpl::forward(const SparseTensor& x) {
  return x.replace_features(norm_->forward(x.features()));
}

SparseResBlockImpl::SparseResBlockImpl(SparseResBlockOptions options)
    : options_(std::move(options)) {
  const auto& o = options_;
  norm1_ = register_module(
      "norm1", SparseGroupNorm(SparseGroupNormOptions(o.num_groups(), o.in_channels())));
  conv1_ = register_module("conv1", SparseConv3d(SparseConv3dOptions(
                                        o.in_channels(), o.out_channels(), o.kernel_size())));
  norm2_ = register_module(
      "norm2", SparseGroupNorm(SparseGroupNormOptions(o.num_groups(), o.out_channels())));
  conv2_ = register_module("conv2", SparseConv3d(SparseConv3dOptions(
                                        o.out_channels(), o.out_channels(), o.kernel_size())));
  if (o.in_channels() != o.out_channels()) {
    skip_ = register_module(
        "skip", SparseConv3d(SparseConv3dOptions(o.in_channels(), o.out_channels(), 1)));
  }
  if (o.embed_channels() > 0) {
    embed_ = register_module("embed", torch::nn::Linear(o.embed_channels(), o.out_channels()));
  }
}

SparseTensor SparseResBlockImpl::forward(const SparseTensor& x, const Tensor& embedding) {
  auto h = conv1_(silu(norm1_(x)));
  if (embed_) {
    if (!embedding.defined() || embedding.dim() != 2 ||
        embedding.size(1) != options_.embed_channels()) {
      throw std::invalid_argument("SparseResBlock: embedding must be [B, " +
                                  std::to_string(options_.embed_channels()) + "]");
    }
    const auto e = embed_(torch::silu(embedding));  // [B, Cout]
    h = h.replace_features(h.features() + e.index_select(0, batch_index(h)));
  } else if (embedding.defined()) {
    throw std::invalid_argument("SparseResBlock: an embedding was given to a block without one");
  }
  h = conv2_(silu(norm2_(h)));
  const auto skip = skip_ ? skip_(x).features() : x.features();
  return h.replace_features(h.features() + skip);
}

}  // namespace shapediff::sparse

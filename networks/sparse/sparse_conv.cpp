#include "networks/sparse/sparse_conv.h"

#include <ATen/Context.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include "networks/sparse/sparse_backend.h"
#include "shapediff/config.h"

namespace shapediff::sparse {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rows per task of the CPU row loops: a few cache lines of work each.
constexpr int64_t kRowGrain = 256;

std::string shape_string(const Tensor& t) {
  std::string s = "[";
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? ", " : "") + std::to_string(t.size(d));
  return s + "]";
}

// src[index] as a new contiguous [n, C] tensor.
Tensor gather_rows(const Tensor& src, const Tensor& index) {
  if (!src.is_cpu()) return src.index_select(0, index);
  const int64_t n = index.size(0), channels = src.size(1);
  auto out = torch::empty({n, channels}, src.options());
  const auto* idx = index.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, src.scalar_type(), "gather_rows", [&] {
    const scalar_t* s = src.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, n, kRowGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        std::memcpy(o + i * channels, s + idx[i] * channels, channels * sizeof(scalar_t));
      }
    });
  });
  return out;
}

// dst[index[i]] += src[i]. Within one kernel offset no row index repeats (an output cell and an
// offset fix the input cell, and vice versa), so the CPU rows can be added in parallel without
// conflicts; on other devices index_add_ handles any index.
void scatter_add_rows(Tensor& dst, const Tensor& index, const Tensor& src) {
  if (!dst.is_cpu()) {
    dst.index_add_(0, index, src);
    return;
  }
  const int64_t n = index.size(0), channels = dst.size(1);
  const auto* idx = index.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, dst.scalar_type(), "scatter_add_rows", [&] {
        scalar_t* d = dst.data_ptr<scalar_t>();
        const scalar_t* s = src.data_ptr<scalar_t>();
        at::parallel_for(0, n, kRowGrain, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) {
            scalar_t* row = d + idx[i] * channels;
            const scalar_t* add = s + i * channels;
            for (int64_t c = 0; c < channels; ++c) row[c] += add[c];
          }
        });
      });
}

class SparseConvFunction : public torch::autograd::Function<SparseConvFunction> {
 public:
  // in_rows, out_rows int64 [P] on the features' device; starts int64 [K + 1] on the CPU: offset
  // k owns the pairs [starts[k], starts[k + 1]).
  static Tensor forward(AutogradContext* ctx, const Tensor& features, const Tensor& weight,
                        const Tensor& in_rows, const Tensor& out_rows, const Tensor& starts,
                        int64_t output_size) {
    ctx->save_for_backward({features, weight, in_rows, out_rows});
    ctx->saved_data["starts"] = starts;
    const auto x = features.contiguous(), w = weight.contiguous();
    auto out = torch::zeros({output_size, w.size(2)}, x.options());
    const auto* start = starts.data_ptr<int64_t>();
    for (int64_t k = 0; k + 1 < starts.size(0); ++k) {
      if (start[k + 1] == start[k]) continue;
      const auto rows = gather_rows(x, in_rows.slice(0, start[k], start[k + 1]));
      scatter_add_rows(out, out_rows.slice(0, start[k], start[k + 1]), rows.mm(w[k]));
    }
    return out;
  }

  // Per offset k, with dy the upstream rows of its outputs: the features get dy @ w[k]^T back at
  // its inputs (the transposed map), and w[k] gets x[inputs]^T @ dy.
  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto x = saved[0].contiguous(), w = saved[1].contiguous();
    const auto &in_rows = saved[2], &out_rows = saved[3];
    const auto starts = ctx->saved_data["starts"].toTensor();
    const auto grad = grad_outputs[0].contiguous();
    Tensor grad_features, grad_weight;
    if (ctx->needs_input_grad(0)) grad_features = torch::zeros_like(x);
    if (ctx->needs_input_grad(1)) grad_weight = torch::zeros_like(w);
    const auto* start = starts.data_ptr<int64_t>();
    for (int64_t k = 0; k + 1 < starts.size(0); ++k) {
      if (start[k + 1] == start[k]) continue;
      const auto in_k = in_rows.slice(0, start[k], start[k + 1]);
      const auto dy = gather_rows(grad, out_rows.slice(0, start[k], start[k + 1]));
      if (grad_features.defined()) scatter_add_rows(grad_features, in_k, dy.mm(w[k].t()));
      if (grad_weight.defined()) {
        auto slot = grad_weight[k];
        torch::mm_out(slot, gather_rows(x, in_k).t(), dy);
      }
    }
    return {grad_features, grad_weight, Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

// The CUDA path for float and double: one implicit-GEMM launch per product over the map's
// tables (sparse_conv_kernels.h) instead of a gather, a product and a scatter per offset. The
// features' gradient is the same product over the input side's table with each W[k]
// transposed; the weight's is a split reduction over the pairs of each offset.
class FusedSparseConvFunction : public torch::autograd::Function<FusedSparseConvFunction> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& features, const Tensor& weight,
                        const Tensor& out_table_rows, const Tensor& out_table_order,
                        const Tensor& in_table_rows, const Tensor& in_table_order,
                        const Tensor& in_rows, const Tensor& out_rows, const Tensor& starts) {
    ctx->save_for_backward({features, weight, in_table_rows, in_table_order, in_rows, out_rows});
    ctx->saved_data["starts"] = starts;
    return detail::cuda::gather_conv(features.contiguous(), weight.contiguous(), out_table_rows,
                                     out_table_order, use_tf32(features));
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto x = saved[0].contiguous(), w = saved[1].contiguous();
    const auto grad = grad_outputs[0].contiguous();
    Tensor grad_features, grad_weight;
    if (ctx->needs_input_grad(0)) {
      grad_features = detail::cuda::gather_conv(grad, w.transpose(1, 2).contiguous(), saved[2],
                                                saved[3], use_tf32(grad));
    }
    if (ctx->needs_input_grad(1)) {
      grad_weight = detail::cuda::conv_weight_grad(x, grad, saved[4], saved[5],
                                                   ctx->saved_data["starts"].toTensor());
    }
    return {grad_features, grad_weight, Tensor(), Tensor(), Tensor(),
            Tensor(),      Tensor(),    Tensor(), Tensor()};
  }

 private:
  // TF32 exactly where torch's own float matrix products would use it (the torch-op path's mm).
  static bool use_tf32(const Tensor& t) {
    return t.scalar_type() == torch::kFloat && at::globalContext().allowTF32CuBLAS();
  }
};

void check_conv_inputs(const char* op, const SparseTensor& x, const Tensor& weight,
                       const Tensor& bias, const ConvGeometry& g) {
  const std::string name = std::string(op) + ": ";
  if (g.kernel_size < 1 || g.stride < 1 || g.dilation < 1) {
    throw std::invalid_argument(name + "kernel_size, stride and dilation must be >= 1, got " +
                                std::to_string(g.kernel_size) + ", " + std::to_string(g.stride) +
                                ", " + std::to_string(g.dilation));
  }
  if (!weight.defined() || weight.dim() != 3 || weight.size(0) != g.volume() ||
      weight.size(1) != x.channels()) {
    throw std::invalid_argument(name + "weight must be [K=" + std::to_string(g.volume()) +
                                ", Cin=" + std::to_string(x.channels()) +
                                ", Cout] for kernel_size " + std::to_string(g.kernel_size) +
                                " and " + std::to_string(x.channels()) + " input channels, got " +
                                (weight.defined() ? shape_string(weight) : "undefined"));
  }
  if (weight.device() != x.device() || weight.scalar_type() != x.features().scalar_type()) {
    throw std::invalid_argument(
        name + "weight is " + std::string(c10::toString(weight.scalar_type())) + " on " +
        weight.device().str() + ", the features are " + c10::toString(x.features().scalar_type()) +
        " on " + x.device().str());
  }
  if (bias.defined()) {
    if (bias.dim() != 1 || bias.size(0) != weight.size(2)) {
      throw std::invalid_argument(name + "bias must be [Cout=" + std::to_string(weight.size(2)) +
                                  "], got " + shape_string(bias));
    }
    if (bias.device() != x.device() || bias.scalar_type() != x.features().scalar_type()) {
      throw std::invalid_argument(
          name + "bias is " + std::string(c10::toString(bias.scalar_type())) + " on " +
          bias.device().str() + ", the features are " + c10::toString(x.features().scalar_type()) +
          " on " + x.device().str());
    }
  }
}

Tensor apply_conv(const SparseTensor& x, const Tensor& weight, const Tensor& bias,
                  const KernelMap& map) {
  auto out = sparse_conv_features(x.features(), weight, map);
  return bias.defined() ? out + bias : out;
}

}  // namespace

Tensor sparse_conv_features(const Tensor& features, const Tensor& weight, const KernelMap& map) {
  if (features.dim() != 2 || features.size(0) != map.input_size) {
    throw std::invalid_argument("sparse_conv_features: features must be [" +
                                std::to_string(map.input_size) + ", Cin] for the map, got " +
                                shape_string(features));
  }
  if (weight.dim() != 3 || weight.size(0) != map.kernel_volume() ||
      weight.size(1) != features.size(1)) {
    throw std::invalid_argument(
        "sparse_conv_features: weight must be [" + std::to_string(map.kernel_volume()) + ", " +
        std::to_string(features.size(1)) + ", Cout], got " + shape_string(weight));
  }
  if (map.in_rows.device() != features.device() || weight.device() != features.device()) {
    throw std::invalid_argument("sparse_conv_features: features on " + features.device().str() +
                                ", weight on " + weight.device().str() + ", map on " +
                                map.in_rows.device().str());
  }
#if SHAPEDIFF_WITH_CUDA
  if (uses_fused_cuda_conv(features, weight, map)) {
    return FusedSparseConvFunction::apply(
        features, weight, map.out_table.rows, map.out_table.order, map.in_table.rows,
        map.in_table.order, map.in_rows.contiguous(), map.out_rows.contiguous(),
        map.offset_starts.to(torch::kCPU));
  }
#endif
  return SparseConvFunction::apply(features, weight, map.in_rows.contiguous(),
                                   map.out_rows.contiguous(), map.offset_starts.to(torch::kCPU),
                                   map.output_size);
}

bool uses_fused_cuda_conv(const Tensor& features, const Tensor& weight, const KernelMap& map) {
  const char* fused = std::getenv("SHAPEDIFF_SPARSE_FUSED");
  const auto dtype = features.scalar_type();
  return SHAPEDIFF_WITH_CUDA && features.is_cuda() && map.out_table.defined() &&
         map.in_table.defined() && (dtype == torch::kFloat || dtype == torch::kDouble) &&
         weight.scalar_type() == dtype && (fused == nullptr || std::strcmp(fused, "0") != 0);
}

SparseTensor conv3d(const SparseTensor& x, const Tensor& weight, const Tensor& bias,
                    const ConvGeometry& geometry) {
  check_conv_inputs("conv3d", x, weight, bias, geometry);
  auto& manager = *x.manager();
  if (geometry.stride == 1) {
    const auto& map = manager.conv_map(x.coords(), x.coords(), geometry);
    return x.replace_features(apply_conv(x, weight, bias, map));
  }
  const auto& coarse = manager.downsample_coords(x.coords(), geometry.stride);
  const auto& map = manager.conv_map(x.coords(), coarse, geometry);
  return SparseTensor(coarse, apply_conv(x, weight, bias, map), x.stride() * geometry.stride,
                      x.manager());
}

SparseTensor conv_transpose3d(const SparseTensor& x, const Tensor& weight, const Tensor& bias,
                              const ConvGeometry& geometry, const SparseTensor& target) {
  check_conv_inputs("conv_transpose3d", x, weight, bias, geometry);
  if (target.device() != x.device()) {
    throw std::invalid_argument("conv_transpose3d: target on " + target.device().str() +
                                ", input on " + x.device().str());
  }
  if (target.stride() * geometry.stride != x.stride()) {
    throw std::invalid_argument("conv_transpose3d: target stride " +
                                std::to_string(target.stride()) + " times conv stride " +
                                std::to_string(geometry.stride) + " must equal the input stride " +
                                std::to_string(x.stride()));
  }
  const auto map = x.manager()->conv_map(target.coords(), x.coords(), geometry).transposed();
  return target.replace_features(apply_conv(x, weight, bias, map));
}

SparseTensor generative_conv_transpose3d(const SparseTensor& x, const Tensor& weight,
                                         const Tensor& bias, const ConvGeometry& geometry) {
  check_conv_inputs("generative_conv_transpose3d", x, weight, bias, geometry);
  if (x.stride() % geometry.stride != 0) {
    throw std::invalid_argument("generative_conv_transpose3d: conv stride " +
                                std::to_string(geometry.stride) +
                                " does not divide the input stride " + std::to_string(x.stride()));
  }
  auto& manager = *x.manager();
  const auto& fine = manager.generative_coords(x.coords(), geometry);
  const auto map = manager.conv_map(fine, x.coords(), geometry).transposed();
  return SparseTensor(fine, apply_conv(x, weight, bias, map), x.stride() / geometry.stride,
                      x.manager());
}

SparseConv3dImpl::SparseConv3dImpl(SparseConv3dOptions options) : options_(std::move(options)) {
  const auto& o = options_;
  if (o.in_channels() < 1 || o.out_channels() < 1 || o.kernel_size() < 1 || o.stride() < 1 ||
      o.dilation() < 1) {
    throw std::invalid_argument(
        "SparseConv3dOptions: in_channels, out_channels, kernel_size, stride and dilation must be "
        ">= 1, got " +
        std::to_string(o.in_channels()) + ", " + std::to_string(o.out_channels()) + ", " +
        std::to_string(o.kernel_size()) + ", " + std::to_string(o.stride()) + ", " +
        std::to_string(o.dilation()));
  }
  const int64_t volume = geometry().volume();
  // torch's conv default: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
  const double bound = 1.0 / std::sqrt(static_cast<double>(o.in_channels() * volume));
  weight = register_parameter(
      "weight", torch::empty({volume, o.in_channels(), o.out_channels()}).uniform_(-bound, bound));
  if (o.bias()) {
    bias = register_parameter("bias", torch::empty({o.out_channels()}).uniform_(-bound, bound));
  }
}

ConvGeometry SparseConv3dImpl::geometry() const {
  return ConvGeometry{options_.kernel_size(), options_.stride(), options_.dilation()};
}

SparseTensor SparseConv3dImpl::forward(const SparseTensor& x,
                                       const std::optional<SparseTensor>& target) {
  const bool needs_target = options_.transposed() && !options_.generative();
  if (needs_target != target.has_value()) {
    throw std::invalid_argument(
        needs_target
            ? "SparseConv3d: a transposed, non-generative convolution needs a target"
            : "SparseConv3d: only a transposed, non-generative convolution takes a target");
  }
  if (options_.generative()) return generative_conv_transpose3d(x, weight, bias, geometry());
  if (needs_target) return conv_transpose3d(x, weight, bias, geometry(), *target);
  return conv3d(x, weight, bias, geometry());
}

}  // namespace shapediff::sparse

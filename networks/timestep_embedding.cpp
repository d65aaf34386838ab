#include "networks/timestep_embedding.h"

#include <cmath>

#include <torch/torch.h>

namespace shapediff::networks {

torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim, bool flip_sin_to_cos,
                                 double downscale_freq_shift, double scale, double max_period) {
  TORCH_CHECK(t.dim() == 1, "timestep_embedding: timesteps must be 1-D [B], got ", t.sizes());
  TORCH_CHECK(dim >= 2, "timestep_embedding: dim must be >= 2, got ", dim);
  const int64_t half = dim / 2;
  TORCH_CHECK(static_cast<double>(half) - downscale_freq_shift > 0,
              "timestep_embedding: downscale_freq_shift too large for dim ", dim);
  const auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(t.device());
  auto exponent = -std::log(max_period) * torch::arange(half, opts) /
                  (static_cast<double>(half) - downscale_freq_shift);
  auto args = t.to(torch::kFloat32).unsqueeze(1) * torch::exp(exponent).unsqueeze(0) * scale;
  auto emb = flip_sin_to_cos ? torch::cat({torch::cos(args), torch::sin(args)}, 1)
                             : torch::cat({torch::sin(args), torch::cos(args)}, 1);
  if (dim % 2 == 1) emb = torch::nn::functional::pad(emb, torch::nn::functional::PadFuncOptions({0, 1}));
  return emb;
}

TimestepMLPImpl::TimestepMLPImpl(const TimestepMLPOptions& options) : options_(options) {
  TORCH_CHECK(options.in_dim() >= 2 && options.out_dim() >= 1,
              "TimestepMLP: bad dims in=", options.in_dim(), " out=", options.out_dim());
  fc1_ = register_module("fc1", torch::nn::Linear(options.in_dim(), options.out_dim()));
  fc2_ = register_module("fc2", torch::nn::Linear(options.out_dim(), options.out_dim()));
}

torch::Tensor TimestepMLPImpl::forward(const torch::Tensor& t) {
  auto e = timestep_embedding(t, options_.in_dim());
  return fc2_->forward(torch::silu(fc1_->forward(e)));
}

}  // namespace shapediff::networks

// Sinusoidal timestep embedding (DDPM / diffusers' get_timestep_embedding) and the small MLP
// that every denoiser puts on top of it.
//
//   auto e = timestep_embedding(t, 128);            // t [B] (any numeric dtype) -> [B, 128]
//   TimestepMLP mlp(TimestepMLPOptions(128, 512));  // [B,128] -> [B,512]
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

namespace shapediff::networks {

// Embeds timesteps t [B] into [B, dim] as [sin(t f_k) | cos(t f_k)] (or cos first with
// flip_sin_to_cos), f_k = exp(-ln(max_period) * k / (dim/2 - shift)). Odd dim pads one zero.
torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim, bool flip_sin_to_cos = true,
                                 double downscale_freq_shift = 0.0, double scale = 1.0,
                                 double max_period = 10000.0);

struct TimestepMLPOptions {
  TimestepMLPOptions(int64_t in_dim, int64_t out_dim) : in_dim_(in_dim), out_dim_(out_dim) {}
  TORCH_ARG(int64_t, in_dim);
  TORCH_ARG(int64_t, out_dim);
};

// Linear -> SiLU -> Linear on top of the sinusoidal embedding.
class TimestepMLPImpl : public torch::nn::Module {
 public:
  explicit TimestepMLPImpl(const TimestepMLPOptions& options);
  torch::Tensor forward(const torch::Tensor& t);  // t [B] -> [B, out_dim]

 private:
  TimestepMLPOptions options_;
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(TimestepMLP);

}  // namespace shapediff::networks

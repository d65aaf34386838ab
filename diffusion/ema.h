// Exponential moving average (EMA) of a model's weights, the weights a diffusion model is
// sampled with. After the u-th optimizer step (u counts from 1):
//   u <= start_step:  ema = param                      (early weights move too fast to average)
//   u >  start_step:  ema = decay * ema + (1 - decay) * param
// Buffers are copied, not averaged. `ema` is a second module of the same architecture.
//
//   EmaOptions o;  o.decay = 0.9999;  o.start_step = 1000;
//   optimizer.step();  ++updates;
//   update_ema(*ema_net, *net, ema_decay_at(updates, o));
#pragma once

#include <cstdint>

#include <torch/nn/module.h>

namespace shapediff::diffusion {

struct EmaOptions {
  double decay = 0.9999;   // in [0, 1)
  int64_t start_step = 0;  // >= 0
};

// The decay to apply after the `updates`-th optimizer step: 0 (a plain copy) up to start_step,
// `decay` afterwards.
double ema_decay_at(int64_t updates, const EmaOptions& options);

// ema = decay * ema + (1 - decay) * model for every parameter, buffers copied. The modules must
// have the same parameter names and shapes (std::invalid_argument naming the first that differs).
void update_ema(torch::nn::Module& ema, const torch::nn::Module& model, double decay);

}  // namespace shapediff::diffusion

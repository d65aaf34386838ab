#include "diffusion/ema.h"

#include <stdexcept>
#include <string>

#include <torch/torch.h>

namespace shapediff::diffusion {

double ema_decay_at(int64_t updates, const EmaOptions& options) {
  return updates <= options.start_step ? 0.0 : options.decay;
}

void update_ema(torch::nn::Module& ema, const torch::nn::Module& model, double decay) {
  if (!(decay >= 0 && decay < 1)) {
    throw std::invalid_argument("update_ema: decay must be in [0, 1), got " + std::to_string(decay));
  }
  torch::NoGradGuard no_grad;
  auto pair_up = [](auto target, auto source, const char* what) {
    if (target.size() != source.size()) {
      throw std::invalid_argument(std::string("update_ema: the modules have different ") + what);
    }
    for (size_t i = 0; i < target.size(); ++i) {
      const auto& t = target[i];
      const auto& s = source[i];
      if (t.key() != s.key() || !t.value().sizes().equals(s.value().sizes())) {
        throw std::invalid_argument("update_ema: " + t.key() + " does not match " + s.key());
      }
    }
  };
  auto ema_params = ema.named_parameters(true);
  const auto params = model.named_parameters(true);
  pair_up(ema_params, params, "parameters");
  auto ema_buffers = ema.named_buffers(true);
  const auto buffers = model.named_buffers(true);
  pair_up(ema_buffers, buffers, "buffers");
  for (size_t i = 0; i < params.size(); ++i) {
    auto e = ema_params[i].value();
    if (decay == 0) {
      e.copy_(params[i].value());
    } else {
      // lerp: e + (1 - decay) * (p - e), one kernel per tensor.
      e.lerp_(params[i].value(), 1.0 - decay);
    }
  }
  for (size_t i = 0; i < buffers.size(); ++i) {
    auto e = ema_buffers[i].value();
    e.copy_(buffers[i].value());
  }
}

}  // namespace shapediff::diffusion

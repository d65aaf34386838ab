#include "diffusion/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace shapediff::diffusion {

LrDecay parse_lr_decay(const std::string& name) {
  if (name == "constant") return LrDecay::Constant;
  if (name == "cosine") return LrDecay::Cosine;
  if (name == "exponential") return LrDecay::Exponential;
  throw std::invalid_argument("unknown learning-rate decay '" + name +
                              "' (choose from: constant, cosine, exponential)");
}

std::string to_string(LrDecay decay) {
  switch (decay) {
    case LrDecay::Constant:
      return "constant";
    case LrDecay::Cosine:
      return "cosine";
    case LrDecay::Exponential:
      return "exponential";
  }
  return "unknown";
}

void LrSchedule::validate(const std::string& context) const {
  auto fail = [&](const std::string& field, const std::string& rule, double value) {
    throw std::invalid_argument(context + "." + field + " must be " + rule + ", got " +
                                std::to_string(value));
  };
  if (!(lr > 0) || !std::isfinite(lr)) fail("lr", "a finite number > 0", lr);
  if (warmup_steps < 0) fail("warmup_steps", ">= 0", static_cast<double>(warmup_steps));
  if (total_steps < 1) fail("steps", ">= 1", static_cast<double>(total_steps));
  if (!(min_lr >= 0 && min_lr <= lr)) fail("min_lr", "in [0, lr]", min_lr);
  if (!(gamma > 0 && gamma <= 1)) fail("lr_gamma", "in (0, 1]", gamma);
}

double LrSchedule::at(int64_t step) const {
  if (step < warmup_steps) {
    return lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  }
  const auto s = static_cast<double>(step - warmup_steps);
  const auto n = static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps));
  switch (decay) {
    case LrDecay::Constant:
      return lr;
    case LrDecay::Cosine:
      return min_lr + (lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * std::min(s / n, 1.0)));
    case LrDecay::Exponential:
      return std::max(min_lr, lr * std::pow(gamma, s));
  }
  return lr;
}

}  // namespace shapediff::diffusion

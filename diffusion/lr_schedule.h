// The learning rate of each optimizer step: a linear warm-up from 0 to `lr` over
// `warmup_steps`, then constant, cosine decay to `min_lr` at `total_steps`, or exponential decay
// by `gamma` per step (floored at `min_lr`). With s = step - warmup_steps and
// n = max(1, total_steps - warmup_steps):
//   warm-up (step < warmup_steps): lr * (step + 1) / warmup_steps
//   constant:    lr
//   cosine:      min_lr + (lr - min_lr) * (1 + cos(pi * min(s / n, 1))) / 2
//   exponential: max(min_lr, lr * gamma^s)
//
//   LrSchedule s;  s.decay = LrDecay::Cosine;  s.lr = 2e-4;  s.warmup_steps = 100;
//   s.total_steps = 10000;
//   double lr = s.at(step);   // step counts optimizer steps from 0
#pragma once

#include <cstdint>
#include <string>

namespace shapediff::diffusion {

enum class LrDecay { Constant, Cosine, Exponential };

// "constant", "cosine", "exponential"; parse throws std::invalid_argument listing them.
LrDecay parse_lr_decay(const std::string& name);
std::string to_string(LrDecay decay);

struct LrSchedule {
  LrDecay decay = LrDecay::Cosine;
  double lr = 2e-4;           // peak learning rate, > 0
  int64_t warmup_steps = 0;   // >= 0
  int64_t total_steps = 1;    // >= 1; the cosine reaches min_lr here
  double min_lr = 0.0;        // in [0, lr]
  double gamma = 1.0;         // exponential decay per step, in (0, 1]

  // Throws std::invalid_argument "<context>.<field> ..." naming the bad field and value.
  void validate(const std::string& context = "lr_schedule") const;
  double at(int64_t step) const;
};

}  // namespace shapediff::diffusion

#include "diffusion/completion.h"

#include <cmath>
#include <stdexcept>

#include <torch/torch.h>

#include "diffusion/repaint.h"

namespace shapediff::diffusion {

CompletionStrategy parse_completion_strategy(const std::string& name) {
  if (name == "replacement") return CompletionStrategy::Replacement;
  if (name == "repaint") return CompletionStrategy::RePaint;
  if (name == "sdedit") return CompletionStrategy::SDEdit;
  throw std::invalid_argument("unknown completion strategy '" + name +
                              "' (choose from: replacement, repaint, sdedit)");
}

std::string to_string(CompletionStrategy strategy) {
  switch (strategy) {
    case CompletionStrategy::Replacement: return "replacement";
    case CompletionStrategy::RePaint: return "repaint";
    case CompletionStrategy::SDEdit: return "sdedit";
  }
  return "?";
}

std::vector<std::string> completion_strategy_names() { return {"replacement", "repaint", "sdedit"}; }

namespace {

// Samplers whose sample lives in the variance-exploding frame x0 + sigma eps (diffusers'
// Karras-style schedulers); the others keep sqrt(a) x0 + sqrt(1 - a) eps.
bool sigma_frame(SamplerKind kind) {
  return kind == SamplerKind::Euler || kind == SamplerKind::EulerAncestral || kind == SamplerKind::Heun;
}

// The known values brought to the noise level the sample has at position j of the schedule
// (j = S: after the last step, clean).
class KnownAtLevel {
 public:
  KnownAtLevel(const Sampler& sampler, SamplerKind kind) : sampler_(sampler), kind_(kind) {}

  torch::Tensor operator()(const torch::Tensor& known, int64_t j, NoiseSource& noise) const {
    const auto& ts = sampler_.timesteps();
    const int64_t S = ts.size(0);
    if (j >= S) return known;
    const auto& sigmas = sampler_.sigmas();
    if (sigma_frame(kind_)) {
      const double sigma = sigmas[j].item<double>();
      return known + sigma * noise.next_like(known);
    }
    double a;
    if (sigmas.defined()) {
      // DPM-Solver / UniPC keep VP sigmas sqrt((1 - a) / a) per step (Karras spacing included).
      const double s = sigmas[j].item<double>();
      a = 1.0 / (1.0 + s * s);
    } else {
      a = sampler_.schedule().alpha_cumprod(static_cast<int64_t>(std::llround(ts[j].item<double>())));
    }
    return std::sqrt(a) * known + std::sqrt(1.0 - a) * noise.next_like(known);
  }

 private:
  const Sampler& sampler_;
  SamplerKind kind_;
};

}  // namespace

int64_t sdedit_start_index(const Sampler& sampler, double strength) {
  if (!(strength > 0.0 && strength <= 1.0)) {
    throw std::invalid_argument("strength = " + std::to_string(strength) + " (must be in (0, 1])");
  }
  const int64_t S = sampler.timesteps().size(0);
  auto k = static_cast<int64_t>(std::floor(static_cast<double>(S) * (1.0 - strength)));
  k = std::min(k, S - 1);
  // Heun's timesteps are [t0, t1, t1, t2, t2, ...]: a step pair begins at an even index.
  if (sampler.kind() == SamplerKind::Heun && k % 2 == 1) --k;
  return k;
}

torch::Tensor complete(const Denoiser& denoiser, const ScheduleConfig& schedule,
                       const torch::Tensor& known, const torch::Tensor& mask,
                       at::IntArrayRef shape, NoiseSource& noise, const CompletionOptions& options) {
  if (!known.defined() || !mask.defined()) throw std::invalid_argument("complete: known values and mask are required");
  const auto opts = known.options();
  torch::Tensor known_full, mask_full;
  try {
    known_full = known.expand(shape).contiguous();
    mask_full = mask.to(opts.dtype()).expand(shape).contiguous();
  } catch (const c10::Error&) {
    throw std::invalid_argument("complete: known values " + detail::shape_string(known.sizes()) +
                                " and mask " + detail::shape_string(mask.sizes()) +
                                " do not broadcast to the sample shape " + detail::shape_string(shape));
  }
  const auto free_full = 1.0 - mask_full;
  if (options.sampler == SamplerKind::ScoreSdeVe) {
    throw std::invalid_argument("completion strategy " + to_string(options.strategy) +
                                " cannot run on score_sde_ve (a VE score model's predictor-corrector "
                                "loop); use ddpm, ddim, dpmsolver_multistep, unipc, euler, "
                                "euler_ancestral or heun");
  }

  SampleLoopOptions loop;
  loop.num_inference_steps = options.steps;
  loop.record_every = options.record_every;
  loop.on_frame = options.on_frame;
  loop.on_progress = options.on_progress;

  if (options.strategy == CompletionStrategy::RePaint) {
    if (options.sampler != SamplerKind::DDIM && options.sampler != SamplerKind::DDPM &&
        options.sampler != SamplerKind::RePaint) {
      throw std::invalid_argument("completion strategy repaint runs DDPM/DDIM steps; sampler " +
                                  to_string(options.sampler) + " cannot resample (use ddpm or ddim)");
    }
    auto o = options.sampler_options;
    if (options.sampler == SamplerKind::DDPM) o.eta = 1.0;
    RePaintSampler sampler(schedule, o);
    sampler.set_known(known_full, mask_full);
    auto x = sample(sampler, denoiser, shape, opts, noise, loop);
    return mask_full * known_full + free_full * x;
  }

  auto sampler = make_sampler(options.sampler, schedule, options.sampler_options);
  sampler->set_timesteps(options.steps);
  const KnownAtLevel level(*sampler, options.sampler);
  if (options.projection) {
    if (options.strategy != CompletionStrategy::Replacement) {
      throw std::invalid_argument("a projection runs with the replacement strategy only, not " +
                                  to_string(options.strategy));
    }
    const auto& P = options.projection;
    loop.after_step = [&](const torch::Tensor& x, int64_t i) {
      return P(level(known_full, i + 1, noise)) + x - P(x);
    };
    auto x_T = noise.next(shape, opts);
    const auto x0 = P(level(known_full, 0, noise) / sampler->init_noise_sigma()) + x_T - P(x_T);
    auto x = sample_from(*sampler, denoiser, x0, noise, loop);
    return P(known_full) + x - P(x);
  }
  const bool replace = options.strategy == CompletionStrategy::Replacement || options.keep_known;
  if (replace) {
    loop.after_step = [&](const torch::Tensor& x, int64_t i) {
      return mask_full * level(known_full, i + 1, noise) + free_full * x;
    };
  }
  if (options.strategy == CompletionStrategy::Replacement) {
    auto x_T = noise.next(shape, opts);
    // The known region starts at the first step's level too, so the model never sees it unset.
    const auto x0 = mask_full * (level(known_full, 0, noise) / sampler->init_noise_sigma()) + free_full * x_T;
    auto x = sample_from(*sampler, denoiser, x0, noise, loop);
    return mask_full * known_full + free_full * x;
  }

  // SDEdit.
  const auto init = options.init.defined() ? options.init.to(opts).expand(shape).contiguous() : known_full;
  const int64_t k = sdedit_start_index(*sampler, options.strength);
  torch::Tensor x_start = level(init, k, noise);
  if (k == 0) x_start = x_start / sampler->init_noise_sigma();
  loop.start_index = k;
  auto x = sample_from(*sampler, denoiser, x_start, noise, loop);
  return options.keep_known ? mask_full * known_full + free_full * x : x;
}

}  // namespace shapediff::diffusion

#include "diffusion/sample_loop.h"

#include <stdexcept>

#include <torch/torch.h>

#include "diffusion/repaint.h"
#include "diffusion/score_sde_ve.h"

namespace shapediff::diffusion {

Denoiser guided(Denoiser conditional, Denoiser unconditional, double scale) {
  if (!conditional) throw std::invalid_argument("guided: conditional denoiser is empty");
  if (scale == 1.0) return conditional;
  if (!unconditional) throw std::invalid_argument("guided: unconditional denoiser is empty");
  return [cond = std::move(conditional), uncond = std::move(unconditional), scale](
             const torch::Tensor& x, const torch::Tensor& t) {
    auto u = uncond(x, t);
    return u + scale * (cond(x, t) - u);
  };
}

namespace {

torch::Tensor scalar_t(double v) { return torch::tensor(v, torch::kFloat64); }

void check_output(const torch::Tensor& out, const torch::Tensor& x) {
  if (!out.defined() || out.sizes() != x.sizes()) {
    throw std::invalid_argument("denoiser returned shape " +
                                (out.defined() ? c10::str(out.sizes()) : std::string("undefined")) +
                                " for a sample of shape " + c10::str(x.sizes()));
  }
}

}  // namespace

torch::Tensor sample_from(Sampler& sampler, const Denoiser& denoiser, const torch::Tensor& x_T,
                          NoiseSource& noise, const SampleLoopOptions& loop) {
  if (!denoiser) throw std::invalid_argument("sample: denoiser is empty");
  if (loop.record_every < 0) {
    throw std::invalid_argument("record_every must be >= 0, got " +
                                std::to_string(loop.record_every));
  }
  const Denoiser model = loop.unconditional && loop.guidance_scale != 1.0
                             ? guided(denoiser, loop.unconditional, loop.guidance_scale)
                             : denoiser;
  auto call = [&](const torch::Tensor& in, const torch::Tensor& t) {
    auto out = model(in, t);
    check_output(out, in);
    return out;
  };

  sampler.set_timesteps(loop.num_inference_steps);
  const torch::Tensor timesteps = sampler.timesteps();
  const int64_t S = timesteps.size(0);
  if (loop.start_index < 0 || loop.start_index >= S) {
    throw std::invalid_argument("start_index = " + std::to_string(loop.start_index) +
                                " (must be in [0, " + std::to_string(S) + "))");
  }
  torch::Tensor x = loop.start_index > 0 ? x_T : x_T * sampler.init_noise_sigma();

  auto report = [&](int64_t i, double t, const torch::Tensor& pred_x0) {
    if (loop.on_progress) loop.on_progress(i + 1, S);
    if (loop.on_frame && loop.record_every > 0 &&
        ((i + 1) % loop.record_every == 0 || i + 1 == S)) {
      loop.on_frame(TrajectoryFrame{i + 1, S, t, x, pred_x0});
    }
  };

  if (auto* sde = dynamic_cast<ScoreSdeVeSampler*>(&sampler)) {
    if (loop.start_index > 0 || loop.after_step) {
      throw std::invalid_argument(
          "the score-SDE sampler's predictor-corrector loop takes no start_index or after_step");
    }
    const int64_t correct_steps = sde->correct_steps();
    torch::Tensor mean = x;
    for (int64_t i = 0; i < S; ++i) {
      const double sigma = sde->sigmas()[i].item<double>();
      const auto sigma_t = scalar_t(sigma);
      for (int64_t j = 0; j < correct_steps; ++j) {
        x = sde->step_correct(call(x, sigma_t), x, noise);
      }
      const auto score = call(x, sigma_t);
      // Tweedie's estimate of the clean sample at this noise level.
      const auto pred_x0 = x + sigma * sigma * score;
      auto out = sde->step_pred(score, timesteps[i], x, noise);
      x = out.prev_sample;
      mean = out.prev_sample_mean;
      report(i, timesteps[i].item<double>(), pred_x0);
    }
    return mean;
  }

  auto* repaint = dynamic_cast<RePaintSampler*>(&sampler);
  double t_last = timesteps[loop.start_index].item<double>() + 1.0;
  for (int64_t i = loop.start_index; i < S; ++i) {
    const auto t = timesteps[i];
    const double tv = t.item<double>();
    torch::Tensor pred_x0;
    if (repaint != nullptr && tv >= t_last) {
      x = repaint->undo_step(x, scalar_t(t_last), noise);
    } else {
      auto out = sampler.step(call(sampler.scale_model_input(x, t), t), t, x, noise);
      x = out.prev_sample;
      pred_x0 = out.pred_original_sample;
    }
    if (loop.after_step) x = loop.after_step(x, i);
    t_last = tv;
    report(i, tv, pred_x0);
  }
  return x;
}

torch::Tensor sample(Sampler& sampler, const Denoiser& denoiser, at::IntArrayRef shape,
                     const torch::TensorOptions& options, NoiseSource& noise,
                     const SampleLoopOptions& loop) {
  return sample_from(sampler, denoiser, noise.next(shape, options), noise, loop);
}

}  // namespace shapediff::diffusion

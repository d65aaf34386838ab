#include "diffusion/training_loss.h"

#include <stdexcept>

#include <torch/torch.h>

namespace shapediff::diffusion {

torch::Tensor random_timesteps(int64_t batch, int64_t num_train_timesteps, at::Generator& gen) {
  if (batch < 1) throw std::invalid_argument("batch must be >= 1, got " + std::to_string(batch));
  if (num_train_timesteps < 1) {
    throw std::invalid_argument("num_train_timesteps must be >= 1, got " +
                                std::to_string(num_train_timesteps));
  }
  return at::randint(num_train_timesteps, {batch}, gen, torch::TensorOptions().dtype(torch::kLong));
}

torch::Tensor prediction_target(const NoiseSchedule& schedule, const torch::Tensor& x0,
                                const torch::Tensor& noise, const torch::Tensor& timesteps,
                                Prediction prediction) {
  switch (prediction) {
    case Prediction::Epsilon:
      return noise;
    case Prediction::Sample:
      return x0;
    case Prediction::Velocity:
      return schedule.velocity(x0, noise, timesteps);
  }
  throw std::invalid_argument("unhandled prediction type");
}

NoisedBatch make_noised_batch(const NoiseSchedule& schedule, const torch::Tensor& x0,
                              NoiseSource& noise, const torch::Tensor& timesteps) {
  NoisedBatch b;
  b.noise = noise.next_like(x0);
  b.timesteps = timesteps.to(x0.device(), torch::kLong);
  b.x_t = schedule.add_noise(x0, b.noise, b.timesteps);
  b.target = prediction_target(schedule, x0, b.noise, b.timesteps, schedule.prediction());
  return b;
}

torch::Tensor min_snr_weights(const NoiseSchedule& schedule, const torch::Tensor& timesteps,
                              Prediction prediction, double gamma) {
  if (gamma < 0) throw std::invalid_argument("min_snr_gamma must be >= 0, got " + std::to_string(gamma));
  auto t = timesteps.reshape({-1}).to(torch::kCPU, torch::kLong);
  if (gamma == 0) return torch::ones({t.numel()}, torch::kFloat64).to(timesteps.device());
  const auto snr = schedule.snr().index_select(0, t);
  const auto clipped = torch::clamp_max(snr, gamma);
  torch::Tensor w;
  switch (prediction) {
    case Prediction::Epsilon:
      w = clipped / snr;
      break;
    case Prediction::Velocity:
      w = clipped / (snr + 1.0);
      break;
    case Prediction::Sample:
      w = clipped;
      break;
  }
  return w.to(timesteps.device());
}

torch::Tensor diffusion_loss(const NoiseSchedule& schedule, const torch::Tensor& model_output,
                             const NoisedBatch& batch, const torch::Tensor& mask,
                             const LossOptions& options) {
  const auto& target = batch.target;
  if (model_output.sizes() != target.sizes()) {
    throw std::invalid_argument("model output shape " + c10::str(model_output.sizes()) +
                                " differs from the target shape " + c10::str(target.sizes()));
  }
  auto err = (model_output - target).pow(2);
  const int64_t rank = err.dim();
  if (options.min_snr_gamma > 0) {
    auto w = min_snr_weights(schedule, batch.timesteps, schedule.prediction(), options.min_snr_gamma)
                 .to(err.scalar_type());
    std::vector<int64_t> shape(static_cast<size_t>(rank), 1);
    shape[0] = w.numel();
    if (w.numel() != err.size(0)) {
      throw std::invalid_argument("timesteps has " + std::to_string(w.numel()) +
                                  " entries for a batch of " + std::to_string(err.size(0)));
    }
    err = err * w.reshape(shape);
  }
  if (!mask.defined()) return err.mean();

  if (mask.dim() > rank) {
    throw std::invalid_argument("mask shape " + c10::str(mask.sizes()) +
                                " has more dimensions than the sample " + c10::str(err.sizes()));
  }
  for (int64_t d = 0; d < mask.dim(); ++d) {
    if (mask.size(d) != err.size(d) && mask.size(d) != 1) {
      throw std::invalid_argument("mask shape " + c10::str(mask.sizes()) +
                                  " does not match the leading dimensions of " +
                                  c10::str(err.sizes()));
    }
  }
  auto m = mask.to(err.device(), err.scalar_type());
  while (m.dim() < rank) m = m.unsqueeze(-1);
  m = m.expand_as(err);
  const auto total = m.sum();
  if (total.item<double>() <= 0) throw std::invalid_argument("mask selects no elements");
  return (err * m).sum() / total;
}

}  // namespace shapediff::diffusion

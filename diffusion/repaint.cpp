#include "diffusion/repaint.h"

#include <cmath>
#include <map>
#include <sstream>
#include <stdexcept>

#include <torch/torch.h>

#include "diffusion/ddim.h"

namespace shapediff::diffusion {
namespace {

bool broadcasts_to(at::IntArrayRef from, at::IntArrayRef to) {
  if (from.size() > to.size()) return false;
  const size_t lead = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i) {
    if (from[i] != 1 && from[i] != to[lead + i]) return false;
  }
  return true;
}

}  // namespace

RePaintSampler::RePaintSampler(const ScheduleConfig& schedule, const SamplerOptions& options)
    : Sampler(NoiseSchedule(schedule)), options_(options) {
  options_.validate();
  if (options_.eta > 1.0) {
    std::ostringstream os;
    os << "eta must be in [0, 1] for RePaint (above 1 the step's square root is negative), got "
       << options_.eta;
    throw std::invalid_argument(os.str());
  }
  alphas_cumprod_ = detail::table_values(schedule_.alphas_cumprod());
  betas_ = detail::table_values(schedule_.betas());
}

void RePaintSampler::set_timesteps(int64_t n) {
  check_num_steps(n);
  const int64_t jump = options_.jump_length;
  const int64_t resample = options_.jump_n_sample;
  // diffusers places no jump at all when jump_length >= n and ignores jump_n_sample.
  if (resample > 1 && n > 1 && jump >= n) {
    throw std::invalid_argument(
        "jump_length must be < num_inference_steps (" + std::to_string(n) + ") for jump_n_sample " +
        std::to_string(resample) + " to resample anything, got " + std::to_string(jump) +
        " (diffusers would skip every jump; set jump_n_sample 1 for no resampling)");
  }
  std::map<int64_t, int64_t> jumps_left;
  for (int64_t j = 0; j < n - jump; j += jump) jumps_left[j] = resample - 1;

  const int64_t ratio = schedule_.num_train_timesteps() / n;
  std::vector<double> ts;
  int64_t i = n;
  while (i >= 1) {
    --i;
    ts.push_back(static_cast<double>(i * ratio));
    auto it = jumps_left.find(i);
    if (it != jumps_left.end() && it->second > 0) {
      --it->second;
      for (int64_t k = 0; k < jump; ++k) {
        ++i;
        ts.push_back(static_cast<double>(i * ratio));
      }
    }
  }
  timesteps_ = torch::tensor(ts, torch::kFloat64);
  num_inference_steps_ = n;
  reset_step_index();
}

void RePaintSampler::set_known(const torch::Tensor& known, const torch::Tensor& mask) {
  if (!known.defined() || !mask.defined()) {
    throw std::invalid_argument("RePaint set_known: known values and mask must both be given");
  }
  if (!known.is_floating_point() || !mask.is_floating_point()) {
    throw std::invalid_argument("RePaint set_known: known values and mask must be floating point");
  }
  known_input_ = known;
  mask_input_ = mask;
  known_ = mask_ = unknown_weight_ = torch::Tensor();
}

void RePaintSampler::fit_known_to(const torch::Tensor& x) {
  if (known_.defined() && known_.sizes() == x.sizes() && known_.scalar_type() == x.scalar_type() &&
      known_.device() == x.device()) {
    return;
  }
  if (!broadcasts_to(known_input_.sizes(), x.sizes()) ||
      !broadcasts_to(mask_input_.sizes(), x.sizes())) {
    throw std::invalid_argument("RePaint: known values " + detail::shape_string(known_input_.sizes()) +
                                " and mask " + detail::shape_string(mask_input_.sizes()) +
                                " must broadcast to the sample shape " + detail::shape_string(x.sizes()));
  }
  // Dense copies in x's layout: broadcasting inside every step's arithmetic is several times
  // slower than plain elementwise work.
  auto fit = [&](const torch::Tensor& v) {
    return v.to(x.device(), x.scalar_type()).expand(x.sizes()).contiguous();
  };
  known_ = fit(known_input_);
  mask_ = fit(mask_input_);
  unknown_weight_ = 1.0 - mask_;
}

int64_t RePaintSampler::train_step(const torch::Tensor& t, const char* what) const {
  if (num_inference_steps_ == 0) {
    throw std::runtime_error(std::string("RePaint: set_timesteps(n) must be called before ") +
                             what);
  }
  const int64_t T = schedule_.num_train_timesteps();
  const double tv = timestep_value(t);
  const auto ti = static_cast<int64_t>(std::llround(tv));
  if (ti < 0 || ti >= T || static_cast<double>(ti) != tv) {
    throw std::invalid_argument(std::string("RePaint ") + what + ": timestep " +
                                std::to_string(tv) + " is not a training step in [0, " +
                                std::to_string(T) + ")");
  }
  return ti;
}

StepOutput RePaintSampler::step(const torch::Tensor& model_output, const torch::Tensor& t,
                                const torch::Tensor& x, NoiseSource& noise) {
  if (!known_input_.defined()) {
    throw std::invalid_argument("RePaint needs set_known(...) before step");
  }
  const int64_t ti = train_step(t, "step");
  if (model_output.sizes() != x.sizes()) {
    throw std::invalid_argument("RePaint: model_output shape " +
                                detail::shape_string(model_output.sizes()) +
                                " differs from sample shape " + detail::shape_string(x.sizes()));
  }
  fit_known_to(x);

  const int64_t prev = ti - schedule_.num_train_timesteps() / num_inference_steps_;
  const double a_t = alphas_cumprod_[static_cast<size_t>(ti)];
  const double a_prev = prev >= 0 ? alphas_cumprod_[static_cast<size_t>(prev)] : 1.0;
  const std::optional<double> clip =
      options_.clip_sample ? std::optional<double>(options_.clip_sample_range) : std::nullopt;
  auto update = ddim_update(model_output, x, schedule_.prediction(), a_t, a_prev, options_.eta,
                            clip);

  // One draw serves both the unknown part's variance and the known part's forward noise.
  const auto eps = noise.next_like(x);
  if (ti > 0 && options_.eta > 0.0) update.mean.add_(eps, update.std_dev);
  auto known_part = torch::mul(eps, std::sqrt(1.0 - a_prev)).add_(known_, std::sqrt(a_prev));
  // mask * known + (1 - mask) * unknown, as diffusers writes it: exact at mask 0 and 1.
  update.mean.mul_(unknown_weight_).add_(known_part.mul_(mask_));
  return {update.mean, update.pred_original_sample, {}};
}

torch::Tensor RePaintSampler::undo_step(const torch::Tensor& x, const torch::Tensor& t,
                                        NoiseSource& noise) {
  const int64_t ti = train_step(t, "undo_step");
  const int64_t T = schedule_.num_train_timesteps();
  const int64_t span = T / num_inference_steps_;
  if (ti + span > T) {
    throw std::invalid_argument("RePaint undo_step: timestep " + std::to_string(ti) +
                                " has no higher inference timestep (it would re-noise past step " +
                                std::to_string(T - 1) + ")");
  }
  torch::Tensor out;
  for (int64_t k = 0; k < span; ++k) {
    const double beta = betas_[static_cast<size_t>(ti + k)];
    const auto eps = noise.next_like(x);
    // The first pass allocates the result; later passes update it in place.
    out = k == 0 ? torch::mul(x, std::sqrt(1.0 - beta)).add_(eps, std::sqrt(beta))
                 : out.mul_(std::sqrt(1.0 - beta)).add_(eps, std::sqrt(beta));
  }
  return out;
}

}  // namespace shapediff::diffusion

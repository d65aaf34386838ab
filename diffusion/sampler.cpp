#include "diffusion/sampler.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include <torch/torch.h>

#include "diffusion/ddim.h"
#include "diffusion/ddpm.h"
#include "diffusion/dpm_solver.h"
#include "diffusion/euler.h"
#include "diffusion/euler_ancestral.h"
#include "diffusion/heun.h"
#include "diffusion/repaint.h"
#include "diffusion/score_sde_ve.h"
#include "diffusion/unipc.h"

namespace shapediff::diffusion {
namespace {

struct KindName {
  const char* name;
  SamplerKind kind;
};
// The first name of each kind is its canonical (diffusers) name; the rest are aliases.
const KindName kKindNames[] = {
    {"ddpm", SamplerKind::DDPM},
    {"ddim", SamplerKind::DDIM},
    {"dpmsolver_multistep", SamplerKind::DPMSolverMultistep},
    {"dpm++", SamplerKind::DPMSolverMultistep},
    {"unipc_multistep", SamplerKind::UniPC},
    {"unipc", SamplerKind::UniPC},
    {"euler", SamplerKind::Euler},
    {"euler_ancestral", SamplerKind::EulerAncestral},
    {"heun", SamplerKind::Heun},
    {"sde_ve", SamplerKind::ScoreSdeVe},
    {"repaint", SamplerKind::RePaint},
};

}  // namespace

void SamplerOptions::validate() const {
  auto fail = [](const std::string& field, const std::string& why) {
    throw std::invalid_argument(field + " " + why);
  };
  auto num = [](double v) {
    std::ostringstream os;
    os << v;
    return os.str();
  };
  if (steps_offset < 0) fail("steps_offset", "must be >= 0, got " + std::to_string(steps_offset));
  if (!(clip_sample_range > 0)) fail("clip_sample_range", "must be > 0, got " + num(clip_sample_range));
  if (!(eta >= 0) || !std::isfinite(eta)) fail("eta", "must be >= 0, got " + num(eta));
  if (solver_order < 1 || solver_order > 3) {
    fail("solver_order", "must be 1, 2 or 3, got " + std::to_string(solver_order));
  }
  if (jump_length < 1) fail("jump_length", "must be >= 1, got " + std::to_string(jump_length));
  if (jump_n_sample < 1) {
    fail("jump_n_sample", "must be >= 1, got " + std::to_string(jump_n_sample));
  }
  if (!(sigma_min > 0)) fail("sigma_min", "must be > 0, got " + num(sigma_min));
  if (!(sigma_max > sigma_min)) {
    fail("sigma_max", "must exceed sigma_min (" + num(sigma_min) + "), got " + num(sigma_max));
  }
  if (!(snr > 0)) fail("snr", "must be > 0, got " + num(snr));
  if (!(sampling_eps > 0 && sampling_eps < 1)) {
    fail("sampling_eps", "must be in (0, 1), got " + num(sampling_eps));
  }
  if (correct_steps < 0) {
    fail("correct_steps", "must be >= 0, got " + std::to_string(correct_steps));
  }
}

void Sampler::check_num_steps(int64_t n) const {
  const int64_t T = schedule_.num_train_timesteps();
  if (n < 1 || n > T) {
    throw std::invalid_argument("num_inference_steps must be in [1, " + std::to_string(T) +
                                "] (the training steps), got " + std::to_string(n));
  }
}

int64_t Sampler::current_step_index(const torch::Tensor& t) {
  if (step_index_ >= 0) return step_index_;
  TORCH_CHECK(timesteps_.defined(), "set_timesteps must be called before step");
  const double value = timestep_value(t);
  const auto matches = (timesteps_ == value).nonzero();
  if (matches.size(0) == 0) {
    throw std::invalid_argument("timestep " + std::to_string(value) +
                                " is not in this sampler's schedule");
  }
  step_index_ = matches[matches.size(0) > 1 ? 1 : 0][0].item<int64_t>();
  return step_index_;
}

torch::Tensor spaced_timesteps(int64_t T, int64_t n, Spacing spacing, int64_t steps_offset) {
  std::vector<double> ts(static_cast<size_t>(n));
  switch (spacing) {
    case Spacing::Linspace:
      for (int64_t i = 0; i < n; ++i) {
        const double v = n == 1 ? 0.0 : static_cast<double>(i) * static_cast<double>(T - 1) /
                                             static_cast<double>(n - 1);
        ts[static_cast<size_t>(n - 1 - i)] = std::nearbyint(v);
      }
      break;
    case Spacing::Leading: {
      const int64_t ratio = T / n;
      for (int64_t i = 0; i < n; ++i) {
        ts[static_cast<size_t>(n - 1 - i)] = static_cast<double>(i * ratio + steps_offset);
      }
      break;
    }
    case Spacing::Trailing: {
      const double ratio = static_cast<double>(T) / static_cast<double>(n);
      for (int64_t i = 0; i < n; ++i) {
        ts[static_cast<size_t>(i)] =
            std::nearbyint(static_cast<double>(T) - static_cast<double>(i) * ratio) - 1.0;
      }
      break;
    }
  }
  return torch::tensor(ts, torch::kFloat64);
}

namespace detail {

std::vector<double> table_values(const torch::Tensor& table) {
  const auto t = table.to(torch::kFloat64).contiguous();
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

std::string shape_string(at::IntArrayRef sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); ++i) s += (i ? "," : "") + std::to_string(sizes[i]);
  return s + "]";
}

}  // namespace detail

double timestep_value(const torch::Tensor& t) {
  TORCH_CHECK(t.defined() && t.numel() >= 1, "timestep tensor is empty");
  return t.reshape({-1})[0].item<double>();
}

std::unique_ptr<Sampler> make_sampler(SamplerKind kind, const ScheduleConfig& schedule,
                                      const SamplerOptions& options) {
  schedule.validate();
  options.validate();
  switch (kind) {
    case SamplerKind::DDPM:
      return std::make_unique<DDPMSampler>(schedule, options);
    case SamplerKind::DDIM:
      return std::make_unique<DDIMSampler>(schedule, options);
    case SamplerKind::DPMSolverMultistep:
      return std::make_unique<DPMSolverSampler>(schedule, options);
    case SamplerKind::UniPC:
      return std::make_unique<UniPCSampler>(schedule, options);
    case SamplerKind::Euler:
      return std::make_unique<EulerSampler>(schedule, options);
    case SamplerKind::EulerAncestral:
      return std::make_unique<EulerAncestralSampler>(schedule, options);
    case SamplerKind::Heun:
      return std::make_unique<HeunSampler>(schedule, options);
    case SamplerKind::ScoreSdeVe:
      return std::make_unique<ScoreSdeVeSampler>(schedule, options);
    case SamplerKind::RePaint:
      return std::make_unique<RePaintSampler>(schedule, options);
  }
  throw std::invalid_argument("unhandled sampler kind");
}

SamplerKind parse_sampler_kind(const std::string& name) {
  for (const auto& entry : kKindNames) {
    if (name == entry.name) return entry.kind;
  }
  std::string accepted;
  for (const auto& entry : kKindNames) {
    accepted += (accepted.empty() ? "" : ", ") + std::string(entry.name);
  }
  throw std::invalid_argument("unknown sampler '" + name + "' (accepted: " + accepted + ")");
}

std::string to_string(SamplerKind kind) {
  for (const auto& entry : kKindNames) {
    if (entry.kind == kind) return entry.name;
  }
  return "?";
}

std::vector<std::string> sampler_names() {
  std::vector<std::string> names;
  for (const auto& entry : kKindNames) {
    if (names.empty() || parse_sampler_kind(names.back()) != entry.kind) {
      names.emplace_back(entry.name);
    }
  }
  return names;
}

VarianceType parse_variance_type(const std::string& name) {
  if (name == "fixed_small") return VarianceType::FixedSmall;
  if (name == "fixed_large") return VarianceType::FixedLarge;
  throw std::invalid_argument("unknown variance_type '" + name +
                              "' (accepted: fixed_small, fixed_large)");
}

DpmAlgorithm parse_dpm_algorithm(const std::string& name) {
  if (name == "dpmsolver++") return DpmAlgorithm::DpmSolverPP;
  if (name == "sde-dpmsolver++") return DpmAlgorithm::SdeDpmSolverPP;
  throw std::invalid_argument("unknown algorithm_type '" + name +
                              "' (accepted: dpmsolver++, sde-dpmsolver++)");
}

}  // namespace shapediff::diffusion

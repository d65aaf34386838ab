#include "diffusion/point_completion.h"

#include <stdexcept>

#include <torch/torch.h>

#include "diffusion/noise_source.h"
#include "diffusion/sample_loop.h"
#include "networks/point_ops.h"
#include "shapes/chamfer.h"

namespace shapediff::diffusion {

PointCompletionMethod parse_point_completion_method(const std::string& name) {
  if (name == "conditional") return PointCompletionMethod::Conditional;
  if (name == "replacement") return PointCompletionMethod::Replacement;
  if (name == "repaint") return PointCompletionMethod::RePaint;
  if (name == "sdedit") return PointCompletionMethod::SDEdit;
  throw std::invalid_argument("unknown completion strategy '" + name +
                              "' (choose from: conditional, replacement, repaint, sdedit)");
}

std::string to_string(PointCompletionMethod method) {
  switch (method) {
    case PointCompletionMethod::Conditional: return "conditional";
    case PointCompletionMethod::Replacement: return "replacement";
    case PointCompletionMethod::RePaint: return "repaint";
    case PointCompletionMethod::SDEdit: return "sdedit";
  }
  return "?";
}

std::vector<std::string> point_completion_method_names() {
  return {"conditional", "replacement", "repaint", "sdedit"};
}

PointCompletionMethod default_completion_method(const PointModel& model) {
  return model.config.task == PointTask::Completion ? PointCompletionMethod::Conditional
                                                    : PointCompletionMethod::Replacement;
}

torch::Tensor resample_partial(const torch::Tensor& partial, int64_t k, uint64_t seed) {
  if (!partial.defined() || partial.dim() != 2 || partial.size(1) != 3 || partial.size(0) < 1) {
    throw std::invalid_argument("partial cloud must be [M,3] with M >= 1, got " +
                                (partial.defined() ? detail::shape_string(partial.sizes()) : std::string("none")));
  }
  if (k < 1) throw std::invalid_argument("known points = " + std::to_string(k) + " (must be >= 1)");
  auto p = partial.to(torch::kCPU, torch::kFloat32).contiguous();
  if (!torch::isfinite(p).all().item<bool>()) {
    throw std::invalid_argument("partial cloud has NaN or infinite coordinates");
  }
  const int64_t m = p.size(0);
  if (m >= k) {
    auto idx = networks::farthest_point_sample(p.unsqueeze(0), k)[0];
    return p.index_select(0, idx);
  }
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto extra = torch::randint(m, {k - m}, gen, torch::kLong);
  return torch::cat({p, p.index_select(0, extra)});
}

namespace {

void check(const PointModel& model, const PointCompletionOptions& o, int64_t n, int64_t k) {
  auto fail = [](const std::string& what) { throw std::invalid_argument(what); };
  const bool completion_model = model.config.task == PointTask::Completion;
  if (o.method == PointCompletionMethod::Conditional && !completion_model) {
    fail("strategy conditional needs a completion model (trained with --task completion); this is "
         "a generation model: use replacement, repaint or sdedit");
  }
  if (o.method != PointCompletionMethod::Conditional && completion_model) {
    fail("strategy " + to_string(o.method) + " needs a generation model; this is a completion model "
         "(use strategy conditional)");
  }
  if (o.samples < 1) fail("samples = " + std::to_string(o.samples) + " (must be >= 1)");
  if (n < model.config.network().sa[0].centers) {
    fail("points = " + std::to_string(n) + " (the model's first stage needs at least " +
         std::to_string(model.config.network().sa[0].centers) + ")");
  }
  if (k < 1 || k >= n) {
    fail("known points = " + std::to_string(k) + " (must be in [1, " + std::to_string(n - 1) + "])");
  }
  if (o.steps < 1 || o.steps > model.config.schedule.num_train_timesteps) {
    fail("steps = " + std::to_string(o.steps) + " (must be in [1, " +
         std::to_string(model.config.schedule.num_train_timesteps) + "], the model's training steps)");
  }
  if (o.label) {
    if (model.config.num_classes == 0) fail("the model is unconditional: it takes no class label");
    if (*o.label < 0 || *o.label >= model.config.num_classes) {
      fail("label = " + std::to_string(*o.label) + " (the model has " +
           std::to_string(model.config.num_classes) + " classes)");
    }
  } else if (o.guidance != 1.0) {
    fail("guidance = " + std::to_string(o.guidance) + " needs a class label");
  }
  if (o.init.defined()) {
    if (o.method != PointCompletionMethod::Conditional && o.method != PointCompletionMethod::SDEdit) {
      fail("a start shape (init) refines with strategy conditional or sdedit, not " + to_string(o.method));
    }
    if (o.init.dim() != 2 || o.init.size(1) != 3 || o.init.size(0) < 1) {
      fail("init must be [P,3] with P >= 1, got " + detail::shape_string(o.init.sizes()));
    }
    if (!torch::isfinite(o.init).all().item<bool>()) fail("init has NaN or infinite coordinates");
    if (!(o.strength > 0.0 && o.strength <= 1.0)) {
      fail("strength = " + std::to_string(o.strength) + " (must be in (0, 1])");
    }
  }
}

}  // namespace

PointCompletions complete_points(PointModel& model, const torch::Tensor& partial,
                                 const PointCompletionOptions& options) {
  if (model.config.representation != Representation::Points) {
    throw std::invalid_argument("a " + to_string(model.config.representation) +
                                " model cannot complete point scans (use a point model)");
  }
  const bool conditional = options.method == PointCompletionMethod::Conditional;
  const int64_t n = options.points > 0 ? options.points : model.config.points;
  int64_t k = options.known_points > 0 ? options.known_points : n / 4;
  if (conditional) {
    if (options.known_points > 0 && options.known_points != model.config.known_points) {
      throw std::invalid_argument("known points = " + std::to_string(options.known_points) +
                                  " but the completion model was trained with " +
                                  std::to_string(model.config.known_points));
    }
    k = model.config.known_points;
  }
  check(model, options, n, k);
  const auto known = resample_partial(partial, k, options.seed);

  torch::NoGradGuard no_grad;
  auto& net = model.net;
  const bool was_training = net->is_training();
  net->eval();
  const int64_t s = options.samples;
  const auto dev = torch::TensorOptions().dtype(torch::kFloat32).device(options.device);
  const auto known_dev = known.to(dev);
  const int64_t null_label = model.null_label();
  const bool guided_run = options.label && options.guidance != 1.0;
  const auto labels = torch::full({s}, options.label.value_or(null_label), dev.dtype(torch::kLong));
  const auto labels2 = torch::cat({labels, torch::full({s}, null_label, labels.options())});
  auto run_net = [&](const torch::Tensor& x, const torch::Tensor& t) {
    if (!guided_run) return net->forward(x, t, labels);
    auto out = net->forward(torch::cat({x, x}), t, labels2);
    auto cond = out.slice(0, 0, s), uncond = out.slice(0, s);
    return uncond + options.guidance * (cond - uncond);
  };
  const auto known_batch = known_dev.unsqueeze(0).expand({s, k, 3});

  std::vector<torch::Tensor> frames, frames_x0;
  std::vector<int64_t> frame_steps;
  std::vector<double> frame_t;
  auto whole = [&](const torch::Tensor& x) { return conditional ? torch::cat({known_batch, x}, 1) : x; };
  auto on_frame = [&](const TrajectoryFrame& f) {
    if (options.on_step) {
      options.on_step(TrajectoryFrame{f.step, f.num_steps, f.timestep, whole(f.x),
                                      f.pred_x0.defined() ? whole(f.pred_x0) : torch::Tensor()});
    }
    // With a live view every step comes here; the trajectory keeps its own spacing.
    const bool record = options.record_every > 0 &&
                        (f.step % options.record_every == 0 || f.step == f.num_steps);
    if (!record) return;
    frames.push_back(whole(f.x).to(torch::kCPU, torch::kFloat32));
    frames_x0.push_back(f.pred_x0.defined() ? whole(f.pred_x0).to(torch::kCPU, torch::kFloat32)
                                            : frames.back());
    frame_steps.push_back(f.step);
    frame_t.push_back(f.timestep);
  };
  const int64_t frame_every = options.on_step ? 1 : options.record_every;

  GeneratorNoise noise(options.seed);
  // The options of diffusion/completion.h's loop that every method shares.
  auto completion_options = [&](CompletionStrategy strategy) {
    CompletionOptions o;
    o.strategy = strategy;
    o.sampler = options.sampler;
    o.sampler_options = options.sampler_options;
    o.steps = options.steps;
    o.strength = options.strength;
    o.on_progress = options.on_progress;
    if (frame_every > 0) {
      o.record_every = frame_every;
      o.on_frame = on_frame;
    }
    return o;
  };
  // The start shape resampled to the free rows, on the device.
  auto init_free = [&] { return resample_partial(options.init, n - k, options.seed).to(dev).unsqueeze(0); };
  torch::Tensor points;
  if (conditional) {
    // The free points alone run through the sampler; the network sees them after the clean
    // known points and its output is read on the free rows.
    Denoiser denoiser = [&](const torch::Tensor& x, const torch::Tensor& t) {
      return run_net(torch::cat({known_batch, x}, 1), t).slice(1, k).contiguous();
    };
    torch::Tensor free;
    if (options.init.defined()) {
      // SDEdit on the free rows alone: no row is known to the sampler, the known points reach
      // the network through the denoiser.
      auto o = completion_options(CompletionStrategy::SDEdit);
      o.keep_known = false;
      o.init = init_free();
      const auto none = torch::zeros({1, 1, 1}, dev);
      free = complete(denoiser, model.config.schedule, none, none, {s, n - k, 3}, noise, o);
    } else {
      auto sampler = make_sampler(options.sampler, model.config.schedule, options.sampler_options);
      SampleLoopOptions loop;
      loop.num_inference_steps = options.steps;
      loop.on_progress = options.on_progress;
      if (frame_every > 0) {
        loop.record_every = frame_every;
        loop.on_frame = on_frame;
      }
      free = sample(*sampler, denoiser, {s, n - k, 3}, dev, noise, loop);
    }
    points = torch::cat({known_batch, free}, 1);
  } else {
    auto o = completion_options(options.method == PointCompletionMethod::RePaint  ? CompletionStrategy::RePaint
                                : options.method == PointCompletionMethod::SDEdit ? CompletionStrategy::SDEdit
                                                                                  : CompletionStrategy::Replacement);
    auto known_full = torch::zeros({1, n, 3}, dev);
    known_full.slice(1, 0, k).copy_(known_dev.unsqueeze(0));
    auto mask = torch::zeros({1, n, 1}, dev);
    mask.slice(1, 0, k).fill_(1.0);
    if (o.strategy == CompletionStrategy::SDEdit) {
      // The start: the known points, then the init's points for the free rows, or without an
      // init the known points again (cyclically).
      auto idx = torch::arange(n, torch::kLong).remainder(k).to(options.device);
      o.init = known_dev.index_select(0, idx).unsqueeze(0);
      if (options.init.defined()) {
        o.init.slice(1, k).copy_(init_free());
      }
    }
    points = complete(run_net, model.config.schedule, known_full, mask, {s, n, 3}, noise, o);
  }
  if (was_training) net->train();

  PointCompletions out;
  out.points = points.to(torch::kCPU, torch::kFloat32).contiguous();
  out.known = known;
  if (!frames.empty()) {
    out.trajectory = torch::stack(frames);
    out.trajectory_x0 = torch::stack(frames_x0);
    out.trajectory_steps = torch::tensor(frame_steps, torch::kLong);
    out.trajectory_timesteps = torch::tensor(frame_t, torch::kFloat64);
  }
  return out;
}

double total_mutual_difference(const torch::Tensor& completions) {
  if (!completions.defined() || completions.dim() != 3 || completions.size(2) != 3) {
    throw std::invalid_argument("total_mutual_difference: completions must be [S,N,3]");
  }
  const int64_t s = completions.size(0);
  if (s < 2) return 0.0;
  auto c = completions.to(torch::kCPU, torch::kFloat32).contiguous();
  const auto cd = shapes::chamfer_matrix(c, c);  // [S,S], zero diagonal
  return (cd.sum(1) / static_cast<double>(s - 1)).sum().item<double>();
}

int64_t medoid_completion(const torch::Tensor& completions) {
  if (!completions.defined() || completions.dim() != 3 || completions.size(2) != 3 || completions.size(0) < 1) {
    throw std::invalid_argument("medoid_completion: completions must be [S,N,3] with S >= 1");
  }
  if (completions.size(0) == 1) return 0;
  auto c = completions.to(torch::kCPU, torch::kFloat32).contiguous();
  return shapes::chamfer_matrix(c, c).sum(1).argmin().item<int64_t>();
}

}  // namespace shapediff::diffusion

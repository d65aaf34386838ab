#include "diffusion/point_sampling.h"

#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "diffusion/noise_source.h"
#include "diffusion/sample_loop.h"

namespace shapediff::diffusion {

SamplerOptions PointSampleOptions::point_sampler_defaults() {
  SamplerOptions o;
  o.clip_sample = false;
  return o;
}

namespace {

void check_options(int64_t classes, const ScheduleConfig& schedule, const PointSampleOptions& o) {
  auto fail = [](const std::string& what) { throw std::invalid_argument(what); };
  if (o.count < 1) fail("count = " + std::to_string(o.count) + " (must be >= 1)");
  if (o.batch_size < 1) fail("batch_size = " + std::to_string(o.batch_size) + " (must be >= 1)");
  if (o.steps < 1 || o.steps > schedule.num_train_timesteps) {
    fail("steps = " + std::to_string(o.steps) + " (must be in [1, " +
         std::to_string(schedule.num_train_timesteps) + "], the model's training steps)");
  }
  if (o.trajectory_every < 0) fail("trajectory_every = " + std::to_string(o.trajectory_every));
  if (o.sampler == SamplerKind::ScoreSdeVe) {
    fail("sampler score_sde_ve needs a score model of a VE SDE; this model predicts noise of a "
         "DDPM schedule (use ddpm, ddim, dpmsolver_multistep, unipc, euler, euler_ancestral, heun)");
  }
  if (o.sampler == SamplerKind::RePaint) {
    fail("sampler repaint needs a known region: use it through completion, not sampling");
  }
  if (o.label) {
    if (classes == 0) fail("the model is unconditional: it takes no class label");
    if (*o.label < 0 || *o.label >= classes) {
      fail("label = " + std::to_string(*o.label) + " (the model has " + std::to_string(classes) +
           " classes)");
    }
  } else if (o.guidance != 1.0) {
    fail("guidance = " + std::to_string(o.guidance) + " needs a class label");
  }
}

using ConditionalNet =
    std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& labels)>;

// The loop both representations share: `item` is one sample's shape ({N, 3} or {1, G, G, G}).
PointSamples sample_with(torch::nn::Module& module, const ConditionalNet& forward, int64_t num_classes,
                         const std::vector<int64_t>& item, const ScheduleConfig& schedule,
                         const PointSampleOptions& options) {
  check_options(num_classes, schedule, options);
  torch::NoGradGuard no_grad;
  const bool was_training = module.is_training();
  module.eval();

  const int64_t null_label = num_classes;
  const int64_t label = options.label.value_or(null_label);
  const bool guided_run = options.label && options.guidance != 1.0;
  const auto dev_opts = torch::TensorOptions().dtype(torch::kFloat32).device(options.device);

  std::vector<torch::Tensor> points, traj, traj_x0;
  torch::Tensor traj_steps, traj_timesteps;
  const int64_t batches = (options.count + options.batch_size - 1) / options.batch_size;
  int64_t steps_done = 0;
  for (int64_t j = 0; j < batches; ++j) {
    const int64_t b = std::min(options.batch_size, options.count - j * options.batch_size);
    auto labels = torch::full({b}, label, dev_opts.dtype(torch::kLong));
    auto labels2 = torch::cat({labels, torch::full({b}, null_label, labels.options())});
    // Guided runs push the conditional and unconditional halves through one forward pass.
    Denoiser denoiser = [&](const torch::Tensor& x, const torch::Tensor& t) {
      // An unconditional network takes no labels at all (the U-Net refuses them).
      if (!guided_run) return forward(x, t, num_classes > 0 ? labels : torch::Tensor());
      auto out = forward(torch::cat({x, x}), t, labels2);
      auto cond = out.slice(0, 0, b), uncond = out.slice(0, b);
      return uncond + options.guidance * (cond - uncond);
    };
    auto sampler = make_sampler(options.sampler, schedule, options.sampler_options);
    GeneratorNoise noise(options.seed + static_cast<uint64_t>(j));
    SampleLoopOptions loop;
    loop.num_inference_steps = options.steps;
    std::vector<torch::Tensor> frames, frames_x0;
    std::vector<int64_t> frame_steps;
    std::vector<double> frame_t;
    if (options.trajectory_every > 0 || options.on_step) {
      // on_step needs every step; the trajectory keeps every k-th and the last, as record_every does.
      loop.record_every = options.on_step ? 1 : options.trajectory_every;
      loop.on_frame = [&, j](const TrajectoryFrame& f) {
        if (options.on_step) options.on_step(f, j);
        const int64_t k = options.trajectory_every;
        if (k == 0 || (f.step % k != 0 && f.step != f.num_steps)) return;
        frames.push_back(f.x.to(torch::kCPU, torch::kFloat32));
        frames_x0.push_back(f.pred_x0.defined() ? f.pred_x0.to(torch::kCPU, torch::kFloat32)
                                                : frames.back());
        frame_steps.push_back(f.step);
        frame_t.push_back(f.timestep);
      };
    }
    if (options.on_progress) {
      const int64_t base = steps_done;
      loop.on_progress = [&, base](int64_t done, int64_t total) {
        options.on_progress(base + done, total * batches);
      };
    }
    std::vector<int64_t> shape{b};
    shape.insert(shape.end(), item.begin(), item.end());
    auto x = sample(*sampler, denoiser, shape, dev_opts, noise, loop);
    steps_done += sampler->timesteps().size(0);
    points.push_back(x.to(torch::kCPU, torch::kFloat32));
    if (!frames.empty()) {
      traj.push_back(torch::stack(frames));
      traj_x0.push_back(torch::stack(frames_x0));
      traj_steps = torch::tensor(frame_steps, torch::kLong);
      traj_timesteps = torch::tensor(frame_t, torch::kFloat64);
    }
  }
  if (was_training) module.train();

  PointSamples out;
  out.points = torch::cat(points);
  out.labels = torch::full({options.count}, label, torch::kLong);
  if (!traj.empty()) {
    out.trajectory = torch::cat(traj, 1);
    out.trajectory_x0 = torch::cat(traj_x0, 1);
    out.trajectory_steps = traj_steps;
    out.trajectory_timesteps = traj_timesteps;
  }
  return out;
}

}  // namespace

PointSamples sample_points(networks::PVCNN& net, const ScheduleConfig& schedule,
                           const PointSampleOptions& options) {
  if (options.num_points < net->config().sa[0].centers) {
    throw std::invalid_argument("num_points = " + std::to_string(options.num_points) +
                                " (the model's first stage needs at least " +
                                std::to_string(net->config().sa[0].centers) + ")");
  }
  return sample_with(
      *net, [&](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& l) { return net->forward(x, t, l); },
      net->config().num_classes, {options.num_points, 3}, schedule, options);
}

PointSamples sample_grids(networks::UNet& net, int64_t grid, int64_t num_classes,
                          const ScheduleConfig& schedule, const PointSampleOptions& options) {
  if (grid < 1) throw std::invalid_argument("grid = " + std::to_string(grid) + " (must be >= 1)");
  return sample_with(
      *net, [&](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& l) { return net->forward(x, t, l); },
      num_classes, {1, grid, grid, grid}, schedule, options);
}

PointSamples sample_images(networks::UNet& net, int64_t size, int64_t channels, int64_t num_classes,
                           const ScheduleConfig& schedule, const PointSampleOptions& options) {
  if (size < 1 || channels < 1) {
    throw std::invalid_argument("image size " + std::to_string(size) + ", channels " + std::to_string(channels) +
                                " (both must be >= 1)");
  }
  return sample_with(
      *net, [&](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& l) { return net->forward(x, t, l); },
      num_classes, {channels, size, size}, schedule, options);
}

}  // namespace shapediff::diffusion

// Diagnostic: how well a trained point model denoises shapes of a dataset split, per timestep.
// For each t: x_t = add_noise(x0, eps, t); eps_hat = net(x_t, t); reports the epsilon MSE and
// the Chamfer distance of the one-step x0 estimate to x0 (model frame), next to the Chamfer
// distance of the rescaled noisy input, in eval and train mode.
//   point_model_probe MODEL DATASET [--split train] [--count 8] [--threads 2]
#include <cmath>
#include <cstdio>
#include <string>

#include <torch/torch.h>

#include "diffusion/noise_schedule.h"
#include "diffusion/point_model.h"
#include "io/shape_dataset.h"
#include "shapes/chamfer.h"

using namespace shapediff;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: point_model_probe MODEL DATASET [--split S] [--count N] [--threads T]\n");
    return 2;
  }
  std::string model_path = argv[1], data = argv[2], split = "train";
  int64_t count = 8;
  int threads = 2;
  for (int i = 3; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--split") split = argv[i + 1];
    else if (a == "--count") count = std::stoll(argv[i + 1]);
    else if (a == "--threads") threads = std::stoi(argv[i + 1]);
  }
  torch::set_num_threads(threads);
  auto m = diffusion::load_point_model(model_path);
  auto info = io::read_dataset_info(data);
  auto recs = io::read_shard(data + "/" + info.splits.at(split).shards.at(0), info);
  std::vector<torch::Tensor> pts;
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < count && i < static_cast<int64_t>(recs.size()); ++i) {
    pts.push_back(recs[static_cast<size_t>(i)].points.slice(0, 0, m.config.points));
    labels.push_back(recs[static_cast<size_t>(i)].label);
  }
  auto x0 = m.config.normalization.apply(torch::stack(pts)).to(torch::kFloat32);
  auto lab = torch::tensor(labels, torch::kLong);
  if (m.config.num_classes == 0) lab = torch::Tensor();
  std::printf("x0: %lld shapes, std %.3f, mean |x| %.3f\n", (long long)x0.size(0), x0.std().item<double>(),
              x0.norm(2, -1).mean().item<double>());
  diffusion::NoiseSchedule schedule(m.config.schedule);
  auto ac = schedule.alphas_cumprod();
  torch::NoGradGuard ng;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  std::printf("%6s %10s %10s %12s %12s %12s\n", "t", "mse_eval", "mse_train", "cd_xhat_eval", "cd_xhat_trn", "cd_noisy");
  for (int64_t t : {1, 10, 50, 100, 200, 400, 600, 800, 999}) {
    auto eps = torch::randn(x0.sizes(), gen);
    auto ts = torch::full({x0.size(0)}, t, torch::kLong);
    auto xt = schedule.add_noise(x0, eps, ts);
    double a = ac[t].item<double>();
    double res[2], cd[2];
    for (int mode = 0; mode < 2; ++mode) {
      if (mode == 0) m.net->eval(); else m.net->train();
      auto e = m.net->forward(xt, ts, lab);
      res[mode] = (e - eps).pow(2).mean().item<double>();
      auto xh = (xt - std::sqrt(1 - a) * e) / std::sqrt(a);
      cd[mode] = shapes::chamfer_distance(xh.contiguous(), x0).mean().item<double>();
    }
    double sn = shapes::chamfer_distance((xt / std::sqrt(a)).contiguous(), x0).mean().item<double>() * x0.size(0);
    std::printf("%6lld %10.4f %10.4f %12.4f %12.4f %12.4f\n", (long long)t, res[0], res[1], cd[0], cd[1], sn / x0.size(0));
  }
  return 0;
}

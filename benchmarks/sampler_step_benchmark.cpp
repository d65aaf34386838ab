// Cost of one Sampler::step for every sampler, at point-cloud [16,2048,3] and image
// [64,3,32,32] sizes, on CPU with an explicit thread count (default 2; --threads=N).
// The model output is fixed random data: this measures the sampler alone.
//
//   ./sampler_step_benchmark --benchmark_min_time=0.2 [--threads=2]
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "benchmarks/benchmark_support.h"
#include "diffusion/repaint.h"
#include "diffusion/sampler.h"
#include "diffusion/score_sde_ve.h"

namespace {

using namespace shapediff::diffusion;

const std::vector<std::vector<int64_t>> kShapes = {{16, 2048, 3}, {64, 3, 32, 32}};

void BM_Step(benchmark::State& state, SamplerKind kind) {
  const auto& shape = kShapes[static_cast<size_t>(state.range(0))];
  SamplerOptions opts;
  if (kind == SamplerKind::ScoreSdeVe) opts.sigma_max = 50.0;
  auto sampler = make_sampler(kind, ScheduleConfig{}, opts);
  const int64_t steps = 50;
  GeneratorNoise noise(0);
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  const auto x = noise.next(shape, f32);
  const auto out = noise.next(shape, f32) * 0.1;
  if (kind == SamplerKind::RePaint) {
    dynamic_cast<RePaintSampler&>(*sampler).set_known(x * 0.5, torch::ones(shape, f32));
  }
  sampler->set_timesteps(steps);
  int64_t i = 0;
  const int64_t n = sampler->timesteps().size(0);
  for (auto _ : state) {
    if (i == n) {
      state.PauseTiming();
      sampler->set_timesteps(steps);
      i = 0;
      state.ResumeTiming();
    }
    const auto t = sampler->timesteps()[i++];
    auto prev = sampler->step(out, t, x, noise).prev_sample;
    benchmark::DoNotOptimize(prev.data_ptr());
  }
  state.SetLabel(std::to_string(shape[0]) + "x" + std::to_string(shape[1]) + "x" +
                 std::to_string(shape[2]) + (shape.size() > 3 ? "x" + std::to_string(shape[3]) : "") +
                 " threads=" + std::to_string(at::get_num_threads()));
}

}  // namespace

int main(int argc, char** argv) {
  auto args = shapediff::bench::apply_threads_flag(argc, argv);
  for (const auto& name : sampler_names()) {
    const SamplerKind kind = parse_sampler_kind(name);
    benchmark::RegisterBenchmark(("step/" + name).c_str(), BM_Step, kind)
        ->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
  }
  return shapediff::bench::run(args);
}

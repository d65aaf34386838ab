// Uses the installed library: a DDIM run on a toy denoiser must shrink the sample.
#include <iostream>

#include <shapediff/diffusion/sampler.h>
#include <shapediff/shapediff/config.h>

int main() {
  using namespace shapediff::diffusion;
  auto sampler = make_sampler(SamplerKind::DDIM, ScheduleConfig{}, SamplerOptions{});
  sampler->set_timesteps(10);
  GeneratorNoise noise(0);
  auto x = noise.next({2, 8, 3}, torch::TensorOptions().dtype(torch::kFloat32));
  const double start = x.abs().mean().item<double>();
  for (int64_t i = 0; i < sampler->timesteps().size(0); ++i) {
    const auto t = sampler->timesteps()[i];
    // Perfect epsilon for the data distribution "all zeros": eps = x_t / sqrt(1 - a_t).
    const auto a = sampler->schedule().alpha_cumprod(t.item<int64_t>());
    x = sampler->step(x / std::sqrt(1.0 - a), t, x, noise).prev_sample;
  }
  const double end = x.abs().mean().item<double>();
  if (!(end < 1e-3 * start)) {
    std::cerr << "consumer: sample did not collapse to zero: " << start << " -> " << end << "\n";
    return 1;
  }
  std::cout << "consumer ok (shapediff " << SHAPEDIFF_VERSION << ", |x| " << start << " -> "
            << end << ")\n";
  return 0;
}

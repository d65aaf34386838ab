#include "diffusion/noise_source.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

namespace shapediff::diffusion {

torch::Tensor NoiseSource::next(at::IntArrayRef shape, const torch::TensorOptions& options) {
  auto out = draw(shape, options, calls_);
  ++calls_;
  return out;
}

GeneratorNoise::GeneratorNoise(uint64_t seed)
    : seed_(seed), generator_(at::detail::createCPUGenerator(seed)) {}

torch::Tensor GeneratorNoise::draw(at::IntArrayRef shape, const torch::TensorOptions& options,
                                   int64_t /*k*/) {
  // Drawn on the CPU so a seed means the same noise on every device.
  const auto dtype = options.dtype().toScalarType();
  auto cpu = at::normal(0.0, 1.0, shape, generator_,
                        torch::TensorOptions().dtype(dtype == torch::kFloat64 ? torch::kFloat64
                                                                              : torch::kFloat32));
  return cpu.to(options.device(), dtype);
}

torch::Tensor FormulaNoise::draw(at::IntArrayRef shape, const torch::TensorOptions& options,
                                 int64_t k) {
  int64_t numel = 1;
  for (auto d : shape) numel *= d;
  const auto index = torch::arange(numel, torch::TensorOptions().dtype(torch::kFloat64));
  return formula_(k, index).reshape(shape).to(options.device(), options.dtype().toScalarType());
}

}  // namespace shapediff::diffusion

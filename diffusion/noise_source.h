// NoiseSource: where stochastic sampler steps take their Gaussian noise.
//
// GeneratorNoise draws from a seeded CPU generator and moves the result to the requested
// device, so the same seed gives the same trajectory on CPU and CUDA. FormulaNoise replays a
// deterministic formula of (request index k, flat element index i), which is how parity with
// reference runs is tested. Both count their requests (`calls()`).
//
//   GeneratorNoise noise(/*seed=*/42);
//   auto out = sampler->step(model_output, t, x, noise);
#pragma once

#include <cstdint>
#include <functional>

#include <ATen/core/Generator.h>
#include <torch/types.h>

namespace shapediff::diffusion {

class NoiseSource {
 public:
  virtual ~NoiseSource() = default;
  // A standard-normal tensor of `shape` with the dtype and device of `options`.
  torch::Tensor next(at::IntArrayRef shape, const torch::TensorOptions& options);
  // Convenience: noise shaped and placed like `like`.
  torch::Tensor next_like(const torch::Tensor& like) {
    return next(like.sizes(), like.options());
  }
  int64_t calls() const { return calls_; }

 protected:
  virtual torch::Tensor draw(at::IntArrayRef shape, const torch::TensorOptions& options,
                             int64_t k) = 0;

 private:
  int64_t calls_ = 0;
};

class GeneratorNoise : public NoiseSource {
 public:
  explicit GeneratorNoise(uint64_t seed);
  uint64_t seed() const { return seed_; }

 protected:
  torch::Tensor draw(at::IntArrayRef shape, const torch::TensorOptions& options,
                     int64_t k) override;

 private:
  uint64_t seed_;
  at::Generator generator_;
};

// noise_k[i] = formula(k, i) for the k-th request (k from 0) and flat row-major index i.
class FormulaNoise : public NoiseSource {
 public:
  using Formula = std::function<torch::Tensor(int64_t k, const torch::Tensor& flat_index)>;
  explicit FormulaNoise(Formula formula) : formula_(std::move(formula)) {}

 protected:
  torch::Tensor draw(at::IntArrayRef shape, const torch::TensorOptions& options,
                     int64_t k) override;

 private:
  Formula formula_;
};

}  // namespace shapediff::diffusion

#include "shapes/image_metrics.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include <torch/torch.h>

#include "shapes/metrics.h"

namespace shapediff::shapes {
namespace {

constexpr int64_t kSsimWindow = 11;
constexpr double kSsimSigma = 1.5;

std::string sizes(const torch::Tensor& x) {
  std::string s = "[";
  for (int64_t i = 0; i < x.dim(); ++i) s += (i ? "," : "") + std::to_string(x.size(i));
  return s + "]";
}

// [N,C,H,W] float64 on the [0, 1] scale, CPU.
torch::Tensor unit_scale(const torch::Tensor& x, const std::string& what) {
  if (!x.defined() || (x.dim() != 3 && x.dim() != 4)) {
    throw std::invalid_argument(what + " must be [C,H,W] or [N,C,H,W], got " +
                                (x.defined() ? sizes(x) : std::string("undefined")));
  }
  auto y = x.detach().to(torch::kCPU, torch::kFloat64);
  if (y.dim() == 3) y = y.unsqueeze(0);
  if (!torch::isfinite(y).all().item<bool>()) throw std::invalid_argument(what + " has NaN or Inf values");
  return (y + 1.0) * 0.5;
}

std::pair<torch::Tensor, torch::Tensor> paired(const torch::Tensor& a, const torch::Tensor& b, const std::string& what) {
  if (a.defined() && b.defined() && a.sizes() != b.sizes()) {
    throw std::invalid_argument(what + ": images " + sizes(a) + " and " + sizes(b) + " differ in shape");
  }
  return {unit_scale(a, what + ": first images"), unit_scale(b, what + ": second images")};
}

// [N,C,H,W] -> [N,C,H-10,W-10]: the Gaussian-weighted mean over each window position.
torch::Tensor window_mean(const torch::Tensor& x) {
  const auto r = torch::arange(kSsimWindow, torch::kFloat64) - (kSsimWindow - 1) / 2.0;
  auto g = torch::exp(-(r * r) / (2 * kSsimSigma * kSsimSigma));
  g = g / g.sum();
  const auto n = x.size(0), c = x.size(1);
  auto flat = x.reshape({n * c, 1, x.size(2), x.size(3)});
  flat = torch::conv2d(flat, g.view({1, 1, kSsimWindow, 1}));
  flat = torch::conv2d(flat, g.view({1, 1, 1, kSsimWindow}));
  return flat.reshape({n, c, flat.size(2), flat.size(3)});
}

}  // namespace

torch::Tensor pixel_l2_distances(const torch::Tensor& a, const torch::Tensor& b) {
  for (const auto* x : {&a, &b}) {
    if (!x->defined() || x->dim() != 4) {
      throw std::invalid_argument("pixel_l2_distances: images must be [N,C,H,W], got " +
                                  (x->defined() ? sizes(*x) : std::string("undefined")));
    }
  }
  if (a.sizes().slice(1) != b.sizes().slice(1)) {
    throw std::invalid_argument("pixel_l2_distances: images " + sizes(a) + " and " + sizes(b) + " differ in size");
  }
  const auto x = unit_scale(a, "pixel_l2_distances: first images").flatten(1);
  const auto y = unit_scale(b, "pixel_l2_distances: second images").flatten(1);
  if (x.size(0) == 0 || y.size(0) == 0) return torch::zeros({x.size(0), y.size(0)}, torch::kFloat64);
  return torch::cdist(x, y);
}

ImageSetScores image_set_scores(const torch::Tensor& generated, const torch::Tensor& reference) {
  const auto gr = pixel_l2_distances(generated, reference);
  if (gr.size(0) == 0 || gr.size(1) == 0) {
    throw std::invalid_argument("image_set_scores: " + std::to_string(gr.size(0)) + " generated and " +
                                std::to_string(gr.size(1)) + " reference images (both sets need at least one)");
  }
  ImageSetScores s;
  s.generated = gr.size(0);
  s.reference = gr.size(1);
  const auto mc = mmd_and_coverage(gr);
  s.mmd = mc.mmd;
  s.coverage = mc.coverage;
  s.nna = one_nn_accuracy(pixel_l2_distances(generated, generated), gr, pixel_l2_distances(reference, reference));
  return s;
}

double psnr(const torch::Tensor& a, const torch::Tensor& b) {
  const auto [x, y] = paired(a, b, "psnr");
  const auto mse = (x - y).pow(2).flatten(1).mean(1);
  double total = 0;
  for (int64_t i = 0; i < mse.size(0); ++i) {
    const double m = mse[i].item<double>();
    total += m == 0 ? std::numeric_limits<double>::infinity() : -10.0 * std::log10(m);
  }
  return total / static_cast<double>(mse.size(0));
}

double ssim(const torch::Tensor& a, const torch::Tensor& b) {
  const auto [x, y] = paired(a, b, "ssim");
  if (x.size(2) < kSsimWindow || x.size(3) < kSsimWindow) {
    throw std::invalid_argument("ssim: images of " + std::to_string(x.size(3)) + "x" + std::to_string(x.size(2)) +
                                " pixels; the 11x11 window needs at least 11x11");
  }
  constexpr double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;
  const auto mx = window_mean(x), my = window_mean(y);
  const auto vx = window_mean(x * x) - mx * mx, vy = window_mean(y * y) - my * my;
  const auto cxy = window_mean(x * y) - mx * my;
  const auto map = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
  return map.mean().item<double>();
}

}  // namespace shapediff::shapes

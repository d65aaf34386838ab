// Image metrics. Generation: MMD, COV and 1-NNA (the definitions of shapes/metrics.h, PointFlow's)
// with the pixel L2 distance instead of Chamfer / EMD. Super-resolution and other paired
// outputs: PSNR and SSIM against a ground truth.
//
// Images are float tensors in [-1, 1] (io/image_folder.h), [C,H,W] or [N,C,H,W]; every metric
// measures them on the [0, 1] pixel scale ((x + 1) / 2), so a distance or PSNR does not depend
// on the [-1, 1] convention:
//   pixel L2  sqrt(sum over the C*H*W values of (a - b)^2)
//   PSNR      10 log10(1 / MSE) dB per image (data range 1), averaged over images; +inf for
//             identical images
//   SSIM      Wang et al. 2004: 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, data
//             range 1, over the window positions that fit inside the image (no padding), averaged
//             over positions, channels and images (as scikit-image's gaussian_weights=True with
//             population statistics); H and W must be >= 11.
//
//   auto s = image_set_scores(generated, reference);  // [G,C,H,W], [R,C,H,W]
//   double p = psnr(upscaled, ground_truth), q = ssim(upscaled, ground_truth);
#pragma once

#include <cstdint>

#include <torch/types.h>

namespace shapediff::shapes {

// [A,B] float64: the pixel L2 distance between a[i] and b[j] (a [A,C,H,W], b [B,C,H,W] of one
// size). std::invalid_argument for other shapes, sizes that disagree, non-finite values.
torch::Tensor pixel_l2_distances(const torch::Tensor& a, const torch::Tensor& b);

struct ImageSetScores {
  int64_t generated = 0, reference = 0;  // images
  double mmd = 0, coverage = 0, nna = 0;  // MMD, COV, 1-NNA with the pixel L2 distance
};

// std::invalid_argument as pixel_l2_distances, and for an empty set.
ImageSetScores image_set_scores(const torch::Tensor& generated, const torch::Tensor& reference);

// a and b of the same shape, [C,H,W] or [N,C,H,W]; std::invalid_argument otherwise (and for
// non-finite values, SSIM on images smaller than 11x11).
double psnr(const torch::Tensor& a, const torch::Tensor& b);
double ssim(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace shapediff::shapes

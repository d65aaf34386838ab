// Chamfer distance and F-score between point clouds, as PointFlow and PVD evaluate them.
//
// Chamfer distance (PointFlow's and PVD's `dl.mean(dim=1) + dr.mean(dim=1)`): the SUM of the
// two directed means of SQUARED nearest-neighbour distances,
//   CD(A, B) = 1/|A| sum_a min_b |a-b|^2  +  1/|B| sum_b min_a |a-b|^2,
// in squared model units (not halved, not square-rooted). F-score (Tatarchenko et al.; PVD's
// fscore()): precision = fraction of A's points whose nearest point of B is closer than the
// threshold, recall = the same from B to A, F = 2PR / (P + R) (0 when both are 0). The threshold
// here is a Euclidean distance: PVD's default fscore(threshold=0.001) compares squared
// distances, i.e. threshold = sqrt(0.001) ~ 0.0316 here.
//
// Shapes: clouds [B,N,3] against [B,M,3] (N and M may differ), floating point, finite, N,M >= 1.
// On the CPU the nearest-neighbour search is an exact blocked brute force in float32 with
// vectorized inner loops, split over ATen's intra-op threads (at::set_num_threads); directed
// means are summed in float64. On a CUDA tensor the same search runs as torch ops in chunks.
//
//   auto cd = chamfer_distance(gen, ref);               // [B] float64, on gen's device
//   auto f = fscore(gen, ref, 0.01);                    // f.fscore [B], f.precision, f.recall
//   auto m = chamfer_matrix(gen_set, ref_set);          // [G,R] float64 (CPU) for MMD/COV/1-NNA
#pragma once

#include <torch/types.h>

#include "shapes/pairwise.h"

namespace shapediff::shapes {

struct NearestSquared {
  torch::Tensor a_to_b;  // [B,N] float32: squared distance from each point of a to b
  torch::Tensor b_to_a;  // [B,M] float32: squared distance from each point of b to a
};

// Throws std::invalid_argument naming the argument for bad shapes, empty clouds, mismatched
// batch sizes or devices, and NaN/Inf coordinates.
NearestSquared nearest_squared_distances(const torch::Tensor& a, const torch::Tensor& b);

// The same search written with torch ops (chunked broadcast differences): what CUDA tensors
// use, and an independent check of the CPU kernel. Works on any device; slow on the CPU.
NearestSquared nearest_squared_distances_torch(const torch::Tensor& a, const torch::Tensor& b);

// [B] float64 on a's device.
torch::Tensor chamfer_distance(const torch::Tensor& a, const torch::Tensor& b);

struct FScore {
  torch::Tensor fscore;     // [B] float64
  torch::Tensor precision;  // [B] float64: fraction of a's points within threshold of b
  torch::Tensor recall;     // [B] float64: fraction of b's points within threshold of a
};

// `threshold` > 0, a Euclidean distance in model units; "within" is strictly closer.
FScore fscore(const torch::Tensor& a, const torch::Tensor& b, double threshold);

// Chamfer distance between every cloud of x [G,N,3] and every cloud of y [R,M,3]: float64
// [G,R] on the CPU. Pairs run in parallel, one per thread. When y is the same tensor as x
// (x.is_same(y)) only the upper triangle is computed (CD is symmetric) and the diagonal is 0.
// `progress` counts pairs.
torch::Tensor chamfer_matrix(const torch::Tensor& x, const torch::Tensor& y,
                             const PairProgress& progress = {});

}  // namespace shapediff::shapes

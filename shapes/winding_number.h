// Generalized winding number (Jacobson et al. 2013) of a triangle mesh at query points: the sum
// of the signed solid angles its triangles subtend at the point, over 4*pi, each solid angle by
// the Van Oosterom-Strackee formula. 1 inside a closed mesh whose triangles are counter-clockwise
// seen from outside, 0 outside, and a smooth value in between where the mesh has holes, so
// "winding > 0.5" is a robust inside test for imperfect meshes.
//
// Fast mode (the default) sums far triangle clusters of a TriangleBvh through their multipole
// expansion (Barill et al. 2018, "Fast Winding Numbers": dipole plus the first and second
// moment terms): a cluster is far when its area-weighted centre is more than beta times its
// radius from the query; nearer clusters are opened down to exact per-triangle terms. Exact mode
// sums every triangle (O(Q*F)); tests use it as the reference.
//
// queries [Q,3] (world units, any floating dtype); result [Q] float32 on the CPU.
//
//   auto w = winding_number(mesh, queries);                       // fast
//   WindingNumberOptions exact;  exact.exact = true;
//   auto w_exact = winding_number(mesh, queries, exact);
//   WindingNumber wn(mesh);  auto w1 = wn(q1);  auto w2 = wn(q2);  // tree built once
#pragma once

#include <array>
#include <memory>
#include <vector>

#include <torch/types.h>

#include "shapes/triangle_bvh.h"
#include "shapes/triangle_mesh.h"

namespace shapediff::shapes {

struct WindingNumberOptions {
  bool exact = false;  // sum every triangle exactly
  double beta = 2.0;   // fast mode's far-field ratio (> 1; larger is slower and more accurate)
};

// Signed solid angle (steradians, in (-2*pi, 2*pi)) of triangle (a, b, c) seen from q; positive
// when q is on the side the counter-clockwise normal points away from.
double triangle_solid_angle(const double q[3], const double a[3], const double b[3],
                            const double c[3]);

class WindingNumber {
 public:
  explicit WindingNumber(const TriangleMesh& mesh, const WindingNumberOptions& options = {});
  // Shares a tree that is also used for distance queries (mesh_to_grid.h does this).
  WindingNumber(std::shared_ptr<const TriangleBvh> bvh, const WindingNumberOptions& options = {});

  torch::Tensor operator()(const torch::Tensor& queries) const;
  double at(const double q[3]) const;

  const TriangleBvh& bvh() const { return *bvh_; }
  const WindingNumberOptions& options() const { return options_; }

 private:
  // Per tree node, with c the area-weighted centre of the triangle centroids and E_t the mean
  // over triangle t: total area, N_j = sum a n_j, M_jk = sum a n_j E_t[(x - c)_k] and
  // T_jkl = sum a n_j E_t[(x - c)_k (x - c)_l] (row-major), and the radius of a ball around c
  // that holds every corner.
  struct Moments {
    double area = 0;
    std::array<double, 3> center{}, normal{};
    std::array<double, 9> first{};
    std::array<double, 27> second{};
    double radius = 0;
  };
  void compute_moments();
  double exact_at(const double q[3]) const;
  double fast_at(const double q[3]) const;

  std::shared_ptr<const TriangleBvh> bvh_;
  WindingNumberOptions options_;
  std::vector<Moments> moments_;
};

// One-shot form of WindingNumber.
torch::Tensor winding_number(const TriangleMesh& mesh, const torch::Tensor& queries,
                             const WindingNumberOptions& options = {});

}  // namespace shapediff::shapes

#include "shapes/winding_number.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cmath>

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/shapes/geometry_fixtures.h"

namespace shapediff::shapes {
namespace {

using testing::expect_invalid;

// Solid angle by Girard's theorem (spherical excess of the projected triangle), signed by the
// orientation: an independent formula for the reference.
double girard_solid_angle(const double q[3], const double a[3], const double b[3],
                          const double c[3]) {
  double u[3][3];
  const double* corners[3] = {a, b, c};
  for (int i = 0; i < 3; ++i) {
    double len = 0;
    for (int k = 0; k < 3; ++k) {
      u[i][k] = corners[i][k] - q[k];
      len += u[i][k] * u[i][k];
    }
    for (int k = 0; k < 3; ++k) u[i][k] /= std::sqrt(len);
  }
  double excess = -M_PI;
  for (int i = 0; i < 3; ++i) {
    const double* p = u[i];
    const double* s = u[(i + 1) % 3];
    const double* t = u[(i + 2) % 3];
    const double ps = p[0] * s[0] + p[1] * s[1] + p[2] * s[2];
    const double pt = p[0] * t[0] + p[1] * t[1] + p[2] * t[2];
    double ts[3], tt[3];
    for (int k = 0; k < 3; ++k) {
      ts[k] = s[k] - ps * p[k];
      tt[k] = t[k] - pt * p[k];
    }
    const double cosang = (ts[0] * tt[0] + ts[1] * tt[1] + ts[2] * tt[2]) /
                          std::sqrt((ts[0] * ts[0] + ts[1] * ts[1] + ts[2] * ts[2]) *
                                    (tt[0] * tt[0] + tt[1] * tt[1] + tt[2] * tt[2]));
    excess += std::acos(std::clamp(cosang, -1.0, 1.0));
  }
  const double det = u[0][0] * (u[1][1] * u[2][2] - u[1][2] * u[2][1]) -
                     u[0][1] * (u[1][0] * u[2][2] - u[1][2] * u[2][0]) +
                     u[0][2] * (u[1][0] * u[2][1] - u[1][1] * u[2][0]);
  return det >= 0 ? excess : -excess;
}

torch::Tensor brute_force_winding(const TriangleMesh& mesh, const torch::Tensor& queries) {
  const auto v = mesh.vertices.to(torch::kFloat64).contiguous();
  const auto f = mesh.faces.contiguous();
  const auto q = queries.to(torch::kFloat64).contiguous();
  auto out = torch::zeros({q.size(0)}, torch::kFloat64);
  for (int64_t i = 0; i < q.size(0); ++i) {
    double sum = 0;
    for (int64_t t = 0; t < f.size(0); ++t) {
      const double* vp = v.data_ptr<double>();
      const int64_t* fp = f.data_ptr<int64_t>() + 3 * t;
      sum += girard_solid_angle(q.data_ptr<double>() + 3 * i, vp + 3 * fp[0], vp + 3 * fp[1],
                                vp + 3 * fp[2]);
    }
    out[i] = sum / (4 * M_PI);
  }
  return out;
}

WindingNumberOptions exact_mode() {
  WindingNumberOptions o;
  o.exact = true;
  return o;
}

TEST(WindingNumber, SolidAngleMatchesGirard) {
  torch::manual_seed(0);
  const auto pts = torch::randn({200, 4, 3}, torch::kFloat64).contiguous();
  for (int64_t i = 0; i < pts.size(0); ++i) {
    const double* p = pts[i].data_ptr<double>();
    EXPECT_NEAR(triangle_solid_angle(p, p + 3, p + 6, p + 9),
                girard_solid_angle(p, p + 3, p + 6, p + 9), 1e-9);
  }
}

TEST(WindingNumber, ExactModeMatchesBruteForceOnAnOpenMesh) {
  // A sphere with a cap removed: the winding number varies smoothly, not just 0/1.
  const auto sphere = testing::icosphere(1);
  const auto keep = (sphere.vertices.index_select(0, sphere.faces.select(1, 0)).select(1, 2) < 0.6)
                        .nonzero()
                        .select(1, 0);
  const TriangleMesh open{sphere.vertices, sphere.faces.index_select(0, keep)};
  torch::manual_seed(1);
  const auto q = torch::rand({100, 3}) * 3 - 1.5;
  const auto want = brute_force_winding(open, q);
  const auto got = winding_number(open, q, exact_mode()).to(torch::kFloat64);
  EXPECT_LT((got - want).abs().max().item<double>(), 1e-6);
  EXPECT_GT(want.max().item<double>() - want.min().item<double>(), 0.5);
}

TEST(WindingNumber, ClosedMeshIsOneInsideZeroOutside) {
  const auto mesh = testing::icosphere(2, 0.8, {0.1, 0.2, -0.1});
  const auto q =
      torch::tensor({0.1f, 0.2f, -0.1f, 0.5f, 0.2f, -0.1f, 2.f, 0.f, 0.f, 0.1f, 1.2f, -0.1f})
          .reshape({4, 3});
  // The fast mode's far-field expansion costs a few 1e-3 (see FastModeIsCloseToExact).
  for (const auto& [options, tol] :
       {std::pair{exact_mode(), 1e-5}, std::pair{WindingNumberOptions{}, 5e-3}}) {
    const auto w = winding_number(mesh, q, options);
    EXPECT_NEAR(w[0].item<float>(), 1.0, tol);
    EXPECT_NEAR(w[1].item<float>(), 1.0, tol);
    EXPECT_NEAR(w[2].item<float>(), 0.0, tol);
    EXPECT_NEAR(w[3].item<float>(), 0.0, tol);
  }
  // Reversed faces flip the sign.
  const TriangleMesh flipped{mesh.vertices, mesh.faces.flip(1)};
  EXPECT_NEAR(winding_number(flipped, q, exact_mode())[0].item<float>(), -1.0, 1e-5);
}

TEST(WindingNumber, FastModeIsCloseToExact) {
  const auto mesh = testing::icosphere(4);  // 5120 faces
  torch::manual_seed(2);
  auto q = torch::rand({1200, 3}, torch::kFloat64) * 3 - 1.5;
  // Also points within 1% of the surface, where the near field is exact.
  const auto dirs = torch::randn({300, 3}, torch::kFloat64);
  q = torch::cat({q, dirs / dirs.norm(2, 1, true) *
                         (1 + 0.02 * (torch::rand({300, 1}, torch::kFloat64) - 0.5))});
  const WindingNumber exact(mesh, exact_mode());
  const WindingNumber fast(mesh);
  const auto we = exact(q);
  const auto wf = fast(q);
  // Measured: max 2.7e-3, mean 5e-4 at beta 2; the error falls roughly as beta^-4.
  EXPECT_LT((we - wf).abs().max().item<float>(), 5e-3);
  EXPECT_LT((we - wf).abs().mean().item<float>(), 1e-3);
  EXPECT_TRUE(torch::equal(we > 0.5, wf > 0.5));
  WindingNumberOptions tight;
  tight.beta = 4.0;
  EXPECT_LT((we - WindingNumber(mesh, tight)(q)).abs().max().item<float>(), 5e-4);
}

TEST(WindingNumber, SmallHolesKeepTheInsideTest) {
  auto mesh = testing::icosphere(3);  // 1280 faces
  const auto keep = torch::ones({mesh.num_faces()}, torch::kBool);
  for (int64_t f : {3, 100, 517, 901, 1200}) keep[f] = false;
  const TriangleMesh holed{mesh.vertices, mesh.faces.index({keep})};
  torch::manual_seed(3);
  const auto dirs = torch::randn({400, 3});
  const auto radii = torch::rand({400, 1}) * 0.9;
  const auto inside = dirs / dirs.norm(2, 1, true) * radii;
  const auto outside = dirs / dirs.norm(2, 1, true) * (1.1 + radii);
  EXPECT_TRUE((winding_number(holed, inside) > 0.5).all().item<bool>());
  EXPECT_TRUE((winding_number(holed, outside) < 0.5).all().item<bool>());
}

TEST(WindingNumber, Grid32OnFiveThousandFacesIsFast) {
  const auto mesh = testing::icosphere(4, 0.9);  // 5120 faces
  const auto axis = torch::linspace(-1, 1, 32);
  const auto g = torch::meshgrid({axis, axis, axis}, "ij");
  const auto q = torch::stack({g[0].reshape(-1), g[1].reshape(-1), g[2].reshape(-1)}, 1);
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  const auto start = std::chrono::steady_clock::now();
  const auto w = winding_number(mesh, q);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  at::set_num_threads(threads);
  RecordProperty("seconds", std::to_string(seconds));
  std::printf("winding number, 32^3 queries, 5120 faces, 2 threads: %.3f s\n", seconds);
  EXPECT_LT(seconds, 2.0);
  const auto r = q.norm(2, 1);
  EXPECT_TRUE(torch::equal((w > 0.5).masked_select(r < 0.85),
                           torch::ones({(r < 0.85).sum().item<int64_t>()}, torch::kBool)));
  EXPECT_EQ((w > 0.5).masked_select(r > 0.95).sum().item<int64_t>(), 0);
}

TEST(WindingNumber, RejectsBadInput) {
  const auto mesh = testing::icosphere(0);
  expect_invalid(
      [] {
        winding_number(TriangleMesh{torch::zeros({3, 3}), torch::zeros({0, 3}, torch::kLong)},
                       torch::zeros({1, 3}));
      },
      "no faces");
  auto nan = torch::zeros({4, 3});
  nan[1][1] = NAN;
  expect_invalid([&] { winding_number(mesh, nan); }, "queries row 1");
  expect_invalid([&] { winding_number(mesh, torch::zeros({4})); }, "queries must be [N,3]");
  WindingNumberOptions bad;
  bad.beta = 0.5;
  expect_invalid([&] { winding_number(mesh, torch::zeros({1, 3}), bad); }, "beta");
  TriangleMesh bad_index{mesh.vertices, mesh.faces.clone()};
  bad_index.faces[2][1] = 99;
  expect_invalid([&] { winding_number(bad_index, torch::zeros({1, 3})); }, "face 2");
}

}  // namespace
}  // namespace shapediff::shapes

// Classic marching cubes (IsoSurfaceMethod::Cubes) and the marching tetrahedra on a smooth
// signed-distance grid (a torus joined to a sphere, with ripples) of RES³ samples over [-1,1]³:
// median wall time of 5 runs, vertex and face counts, closedness. Writes the grid as float32
// .npy so that benchmarks/marching_cubes_vs_skimage.sh can time scikit-image on the same values.
//
//   ./marching_cubes_benchmark 256 /tmp/grid256.npy
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <torch/torch.h>

#include "io/npy.h"
#include "shapes/marching_cubes.h"
#include "shapes/mesh_quality.h"

int main(int argc, char** argv) {
  using namespace shapediff;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s RES [GRID.npy]\n", argv[0]);
    return 2;
  }
  const int64_t n = std::atoll(argv[1]);
  at::set_num_threads(1);
  const auto axis = torch::linspace(-1, 1, n, torch::kFloat64);
  const auto grids = torch::meshgrid({axis, axis, axis}, "ij");
  const auto &x = grids[0], &y = grids[1], &z = grids[2];
  const auto torus = torch::sqrt(torch::square(torch::sqrt(x * x + z * z) - 0.55) + y * y) - 0.2;
  const auto sphere = torch::sqrt(torch::square(x - 0.3) + torch::square(y - 0.3) + z * z) - 0.35;
  const auto sdf = torch::minimum(torus, sphere) + 0.02 * torch::sin(9 * x) * torch::sin(9 * y) * torch::sin(9 * z);
  shapes::VoxelGrid grid{sdf.to(torch::kFloat32).contiguous(), {-1, -1, -1}, 2.0 / double(n - 1),
                         shapes::VoxelKind::SignedDistance};
  if (argc > 2) io::write_npy(argv[2], grid.values);
  for (auto method : {shapes::IsoSurfaceMethod::Cubes, shapes::IsoSurfaceMethod::Tetrahedra}) {
    std::vector<double> ms;
    shapes::TriangleMesh mesh;
    for (int r = 0; r < 5; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      mesh = shapes::marching_cubes(grid, {0.0, false, method});
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    const auto q = shapes::mesh_quality(mesh, false);
    std::printf("shapediff %s res %lld: %.1f ms, %lld vertices, %lld faces, closed %s\n",
                method == shapes::IsoSurfaceMethod::Cubes ? "cubes" : "tetrahedra", (long long)n, ms[2],
                (long long)mesh.num_vertices(), (long long)mesh.num_faces(), q.closed ? "yes" : "no");
  }
  return 0;
}

// Dataset generation throughput: procedural mesh (resolution 64) + 2048 surface points with
// normals + two virtual scans (128x128, resampled to 1024 points) per shape, the work of
// `shapediff data make`. Shapes are spread over worker threads, torch single-threaded inside.
// The third argument picks the scans' ray caster (shapes/virtual_scan.h).
//
//   ./dataset_benchmark [shapes=48] [threads=2] [caster=auto|cgal|bvh]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "shapes/dataset_sample.h"
#include "shapes/procedural.h"
#include "shapes/virtual_scan.h"

int main(int argc, char** argv) {
  using namespace shapediff::shapes;
  const int64_t shapes = argc > 1 ? std::atoll(argv[1]) : 48;
  const int64_t threads = argc > 2 ? std::atoll(argv[2]) : 2;
  at::set_num_threads(1);
  const auto& families = all_shape_families();
  const std::string caster = argc > 3 ? argv[3] : "auto";
  DatasetSampleOptions opts;  // 2048 points, 2 scans x 1024 points, 128x128 depth
  if (caster == "cgal") {
    opts.scan.ray_caster = RayCaster::Cgal;
  } else if (caster == "bvh") {
    opts.scan.ray_caster = RayCaster::Bvh;
  } else if (caster != "auto") {
    std::fprintf(stderr, "caster must be auto, cgal or bvh, got %s\n", caster.c_str());
    return 2;
  }
  const bool cgal = opts.scan.ray_caster == RayCaster::Cgal ||
                    (opts.scan.ray_caster == RayCaster::Auto && default_ray_caster() == RayCaster::Cgal);
  std::atomic<int64_t> next{0};
  std::vector<double> mesh_ms(static_cast<size_t>(shapes)), sample_ms(static_cast<size_t>(shapes));
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int64_t t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int64_t i = next++; i < shapes; i = next++) {
        const auto t0 = std::chrono::steady_clock::now();
        const auto mesh = make_shape(families[static_cast<size_t>(i) % families.size()], i, 0);
        const auto t1 = std::chrono::steady_clock::now();
        const auto s = make_dataset_sample(mesh, static_cast<uint64_t>(i), opts);
        const auto t2 = std::chrono::steady_clock::now();
        mesh_ms[static_cast<size_t>(i)] = std::chrono::duration<double, std::milli>(t1 - t0).count();
        sample_ms[static_cast<size_t>(i)] = std::chrono::duration<double, std::milli>(t2 - t1).count();
      }
    });
  }
  for (auto& th : pool) th.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double m = 0, s = 0;
  for (int64_t i = 0; i < shapes; ++i) {
    m += mesh_ms[static_cast<size_t>(i)];
    s += sample_ms[static_cast<size_t>(i)];
  }
  std::printf("%-34s %6s %8s %8s %10s %14s %16s\n", "benchmark", "caster", "shapes", "threads", "shapes/s",
              "mesh ms/shape", "sample ms/shape");
  std::printf("%-34s %6s %8lld %8lld %10.2f %14.1f %16.1f\n",
              "procedural+2048pts+2scans(128px)", cgal ? "cgal" : "bvh", static_cast<long long>(shapes),
              static_cast<long long>(threads), static_cast<double>(shapes) / secs,
              m / static_cast<double>(shapes), s / static_cast<double>(shapes));
  return 0;
}

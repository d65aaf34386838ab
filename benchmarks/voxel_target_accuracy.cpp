// How well the voxel models' training targets can represent a dataset's shapes: for the first
// `per_category` test shapes of each category, the truncated signed-distance grid the trainers
// build (truncation 3 voxels) at 16³, 32³ and 64³ is meshed by marching cubes, sampled to the
// shape's point count and compared with its stored points by Chamfer distance (the sum of the
// two directed mean squared distances, as eval-completion scores). Three variants: saturated
// cells signed by their nearest sample alone, signed by connectivity to the border
// (shapes::connected_far_signs, what the trainers use), and the latter meshed without the faces
// of all-saturated cubes (diffusion::grid_surface_points, what eval-completion meshes). No model
// can score below its resolution's row.
//
//   ./voxel_target_accuracy data/procedural [per_category=3]
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include <torch/torch.h>

#include "diffusion/sparse_voxel_completion.h"
#include "io/shape_dataset.h"
#include "shapes/chamfer.h"
#include "shapes/marching_cubes.h"
#include "shapes/mesh_sampling.h"
#include "shapes/oriented_points_sdf.h"

int main(int argc, char** argv) {
  using namespace shapediff;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DATASET [per_category=3]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const int64_t per_category = argc > 2 ? std::atoll(argv[2]) : 3;
  at::set_num_threads(1);
  const auto info = io::read_dataset_info(dir);
  if (!info.normals) {
    std::fprintf(stderr, "%s: the dataset has no normals, which the targets need\n", dir.c_str());
    return 2;
  }
  std::vector<io::ShapeRecord> shapes_;
  std::map<std::string, int64_t> label_of;
  for (size_t c = 0; c < info.categories.size(); ++c) label_of[info.categories[c]] = static_cast<int64_t>(c);
  std::map<int64_t, int64_t> taken;
  for (const auto& shard : info.splits.at("test").shards) {
    for (auto& r : io::read_shard(dir + "/" + shard, info)) {
      if (taken[r.label]++ < per_category) shapes_.push_back(std::move(r));
    }
  }
  std::printf("%zu test shapes; mean CD of the meshed target grids against the stored points\n\n", shapes_.size());
  std::printf("| grid | nearest-sample signs, meshed whole | connected far signs, meshed whole | connected, "
              "saturated faces dropped | far cells re-signed per shape |\n|---:|---:|---:|---:|---:|\n");
  std::map<std::string, std::map<int64_t, double>> category_cd;  // category -> grid -> summed CD (dropped)
  for (int64_t g : {16, 32, 64}) {
    double nearest_cd = 0, connected_cd = 0, dropped_cd = 0, resigned = 0;
    for (const auto& r : shapes_) {
      const auto spec = shapes::GridSpec::from_bounds({-1, -1, -1}, {1, 1, 1}, g);
      const double truncation = 3 * spec.voxel_size;
      const auto nearest = shapes::truncated_sdf_from_oriented_points(r.points, r.normals, spec, truncation);
      const auto connected = shapes::connected_far_signs(nearest, truncation);
      resigned += static_cast<double>((nearest.values != connected.values).sum().item<int64_t>());
      const auto truth = r.points.unsqueeze(0);
      const int64_t n = r.points.size(0);
      auto cd = [&](const torch::Tensor& points) {
        return shapes::chamfer_distance(points.unsqueeze(0).to(torch::kFloat32), truth).item<double>();
      };
      auto whole = [&](const shapes::VoxelGrid& grid) {
        return cd(shapes::sample_surface(shapes::marching_cubes(grid), n, uint64_t{0}).points);
      };
      nearest_cd += whole(nearest);
      connected_cd += whole(connected);
      const double dropped = cd(diffusion::grid_surface_points((connected.values / truncation).to(torch::kFloat32), n, 0));
      dropped_cd += dropped;
      category_cd[info.categories.at(static_cast<size_t>(r.label))][g] += dropped;
    }
    const double count = static_cast<double>(shapes_.size());
    std::printf("| %lld³ | %.4f | %.4f | %.4f | %.0f |\n", static_cast<long long>(g), nearest_cd / count,
                connected_cd / count, dropped_cd / count, resigned / count);
  }
  std::printf("\nper category, connected far signs, saturated faces dropped:\n\n| category | 16³ | 32³ | 64³ |\n"
              "|---|---:|---:|---:|\n");
  for (const auto& [category, by_grid] : category_cd) {
    const double count = static_cast<double>(std::min<int64_t>(per_category, taken[label_of.at(category)]));
    std::printf("| %s | %.4f | %.4f | %.4f |\n", category.c_str(), by_grid.at(16) / count, by_grid.at(32) / count,
                by_grid.at(64) / count);
  }
  return 0;
}

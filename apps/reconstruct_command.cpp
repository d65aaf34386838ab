// `shapediff reconstruct`: a mesh from a point cloud (CGAL's Poisson, Advancing Front or
// Scale-Space reconstruction) or from a grid (marching cubes), written atomically by extension
// (.ply .off .obj .stl); --report prints the mesh's quality on one line.
//
//   shapediff reconstruct --input scan.ply --method poisson --out scan_mesh.ply --report
//   shapediff reconstruct --input sdf.npz --method marching-cubes --grid sdf --out shape.obj
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>

#include <torch/torch.h>

#include "apps/command.h"
#include "io/mesh_io.h"
#include "io/npy.h"
#include "io/npz.h"
#include "io/point_cloud_io.h"
#include "shapes/marching_cubes.h"
#include "shapes/mesh_quality.h"
#include "shapes/mesh_repair.h"
#include "shapes/reconstruct.h"

namespace shapediff::apps {
namespace {

struct ReconstructArgs {
  std::string input, method = "poisson", out;
  bool report = false;
  std::string normals = "jet";
  int64_t neighbors = 18;
  bool recompute_normals = false;
  double spacing = 0, angle = 20, radius = 30, distance = 0.375;
  int64_t keep_components = 0, fill_holes = 0;
  std::string grid = "sdf";
  double iso = std::nan("");
};

std::string lower_ext(const std::string& path) {
  std::string e = std::filesystem::path(path).extension().string();
  std::transform(e.begin(), e.end(), e.begin(), ::tolower);
  return e;
}

shapes::PointCloud read_cloud(const std::string& path) {
  if (lower_ext(path) != ".npy") return io::read_point_cloud(path);
  const auto t = io::read_npy(path);
  if (t.dim() != 2 || t.size(1) != 3 || !at::isFloatingType(t.scalar_type())) {
    throw std::invalid_argument(path + ": expected a floating-point [N,3] array, got " + c10::str(t.sizes()));
  }
  return shapes::PointCloud{t.to(torch::kFloat32)};
}

// A 3-D .npy holds the values alone (unit voxels at the origin); an .npz holds `values` and
// optionally `origin` [3] and `voxel_size` [].
shapes::VoxelGrid read_grid(const std::string& path, shapes::VoxelKind kind) {
  shapes::VoxelGrid g;
  g.kind = kind;
  if (lower_ext(path) == ".npy") {
    g.values = io::read_npy(path);
  } else if (lower_ext(path) == ".npz") {
    const auto arrays = io::read_npz(path);
    const auto values = arrays.find("values");
    if (values == arrays.end()) throw std::invalid_argument(path + ": no 'values' array in the .npz");
    g.values = values->second;
    if (const auto o = arrays.find("origin"); o != arrays.end()) {
      if (o->second.numel() != 3) throw std::invalid_argument(path + ": 'origin' must hold 3 numbers");
      const auto od = o->second.to(torch::kFloat64).reshape({3});
      for (int k = 0; k < 3; ++k) g.origin[k] = od[k].item<double>();
    }
    if (const auto s = arrays.find("voxel_size"); s != arrays.end()) {
      if (s->second.numel() != 1) throw std::invalid_argument(path + ": 'voxel_size' must be one number");
      g.voxel_size = s->second.to(torch::kFloat64).item<double>();
    }
  } else {
    throw std::invalid_argument(path + ": a grid is a .npy or .npz file, got '" + lower_ext(path) + "'");
  }
  if (g.values.dim() != 3 || !(at::isFloatingType(g.values.scalar_type()) || g.values.scalar_type() == torch::kBool ||
                               g.values.scalar_type() == torch::kUInt8)) {
    throw std::invalid_argument(path + ": 'values' must be a 3-D numeric array [X,Y,Z], got " +
                                c10::str(g.values.sizes()));
  }
  g.values = g.values.to(torch::kFloat32);
  g.validate(path);
  return g;
}

void warn(const std::string& message) { std::cerr << "shapediff: warning: " << message << "\n"; }

int run_reconstruct(const ReconstructArgs& a) {
  if (a.method != "poisson" && a.method != "advancing-front" && a.method != "scale-space" &&
      a.method != "marching-cubes") {
    throw std::invalid_argument("--method '" + a.method +
                                "' (choose from: poisson, advancing-front, scale-space, marching-cubes)");
  }
  io::mesh_file_format(a.out);  // an unknown extension fails before any work
  shapes::TriangleMesh mesh;
  if (a.method == "marching-cubes") {
    if (a.grid != "sdf" && a.grid != "occupancy") {
      throw std::invalid_argument("--grid '" + a.grid + "' (choose from: sdf, occupancy)");
    }
    const bool occupancy = a.grid == "occupancy";
    const auto grid = read_grid(a.input, occupancy ? shapes::VoxelKind::Occupancy : shapes::VoxelKind::SignedDistance);
    shapes::MarchingCubesOptions mc;
    mc.iso = std::isnan(a.iso) ? (occupancy ? 0.5 : 0.0) : a.iso;
    mc.inside_above = occupancy;
    mc.method = shapes::IsoSurfaceMethod::Cubes;
    mesh = shapes::marching_cubes(grid, mc);
    if (mesh.empty()) {
      warn(a.input + ": the grid has no surface at iso " + std::to_string(mc.iso) + "; nothing written");
      return 0;
    }
    if (a.keep_components > 0) mesh = shapes::keep_largest_components(mesh, a.keep_components);
    if (a.fill_holes > 0) mesh = shapes::fill_small_holes(mesh, a.fill_holes);
  } else {
    shapes::ReconstructOptions o;
    o.method = shapes::parse_reconstruct_method(a.method);
    if (!shapes::reconstruction_available()) {
      throw std::invalid_argument("reconstruct --method " + a.method +
                                  " needs CGAL: this build has SHAPEDIFF_WITH_CGAL=OFF (marching-cubes works without it)");
    }
    o.normals.method = shapes::parse_normal_estimation(a.normals);
    o.normals.neighbors = a.neighbors;
    o.normals.keep_given = !a.recompute_normals;
    o.poisson = {a.spacing, a.angle, a.radius, a.distance};
    o.keep_components = a.keep_components;
    o.fill_holes_max_edges = a.fill_holes;
    auto result = shapes::reconstruct(read_cloud(a.input), o);
    for (const auto& w : result.warnings) warn(w);
    mesh = std::move(result.mesh);
  }
  io::write_mesh(a.out, mesh);
  std::cout << "wrote " << a.out << " (" << mesh.num_vertices() << " vertices, " << mesh.num_faces() << " faces)\n";
  if (a.report) std::cout << shapes::to_string(shapes::mesh_quality(mesh)) << "\n";
  return 0;
}

}  // namespace

void add_reconstruct_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<ReconstructArgs>();
  auto* cmd = app.add_subcommand("reconstruct", "Mesh a point cloud (CGAL) or a grid (marching cubes)");
  cmd->add_option("--input", a->input, "Point cloud (.ply .xyz .pcd .off .obj .npy) or grid (.npy [X,Y,Z], .npz)")
      ->required();
  cmd->add_option("--method", a->method, "poisson, advancing-front, scale-space, marching-cubes")->capture_default_str();
  cmd->add_option("--out", a->out, "Mesh file (.ply .off .obj .stl), written atomically")->required();
  cmd->add_flag("--report", a->report, "Print closedness, manifoldness, holes, components, self-intersections");
  cmd->add_option("--normals", a->normals, "Normal estimation when the cloud has none: jet or pca")->capture_default_str();
  cmd->add_option("--neighbors", a->neighbors, "Neighbours for normal estimation and orientation")->capture_default_str();
  cmd->add_flag("--recompute-normals", a->recompute_normals, "Estimate normals even when the cloud has them");
  cmd->add_option("--spacing", a->spacing, "Poisson: sample spacing (0: average over 6 neighbours)")->capture_default_str();
  cmd->add_option("--angle", a->angle, "Poisson: minimum triangle angle, degrees")->capture_default_str();
  cmd->add_option("--radius", a->radius, "Poisson: largest Delaunay ball radius, in spacings")->capture_default_str();
  cmd->add_option("--distance", a->distance, "Poisson: largest distance to the surface, in spacings")->capture_default_str();
  cmd->add_option("--keep-components", a->keep_components, "Keep the N largest components (0: all)")->capture_default_str();
  cmd->add_option("--fill-holes", a->fill_holes, "Fill holes of at most E edges (0: none)")->capture_default_str();
  cmd->add_option("--grid", a->grid, "marching-cubes: sdf (inside < iso) or occupancy (inside > iso)")->capture_default_str();
  cmd->add_option("--iso", a->iso, "marching-cubes: level (default 0 for sdf, 0.5 for occupancy)");
  cmd->callback([a, &action] { action = [a] { return run_reconstruct(*a); }; });
}

}  // namespace shapediff::apps

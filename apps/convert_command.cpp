// `shapediff convert IN OUT`: mesh and point-cloud files by extension (.ply .off .obj .stl
// .xyz .pcd .npy). A mesh written to a points-only format is sampled on its surface.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include <torch/torch.h>

#include "apps/command.h"
#include "io/mesh_io.h"
#include "io/npy.h"
#include "io/point_cloud_io.h"
#include "shapes/mesh_sampling.h"

namespace shapediff::apps {
namespace {

struct ConvertArgs {
  std::string in, out;
  int64_t points = 2048;
  bool vertices = false;
  uint64_t seed = 0;
};

std::string ext_of(const std::string& path) {
  std::string e = std::filesystem::path(path).extension().string();
  std::transform(e.begin(), e.end(), e.begin(), ::tolower);
  return e;
}

bool mesh_only(const std::string& e) { return e == ".off" || e == ".obj" || e == ".stl"; }
bool cloud_only(const std::string& e) { return e == ".xyz" || e == ".pcd" || e == ".npy"; }

shapes::PointCloud read_cloud(const std::string& path) {
  if (ext_of(path) != ".npy") return io::read_point_cloud(path);
  auto t = io::read_npy(path);
  if (t.dim() != 2 || t.size(1) != 3 || !at::isFloatingType(t.scalar_type())) {
    throw std::runtime_error(path + ": expected a floating-point [N,3] array, got " +
                             c10::str(t.sizes()));
  }
  shapes::PointCloud pc{t.to(torch::kFloat32), {}, {}};
  pc.validate(path);
  if (pc.empty()) throw std::runtime_error(path + ": no points");
  return pc;
}

void write_cloud(const std::string& path, const shapes::PointCloud& pc) {
  if (ext_of(path) == ".npy") {
    pc.validate(path);
    io::write_npy(path, pc.points.contiguous());
  } else {
    io::write_point_cloud(path, pc);
  }
}

int run_convert(const ConvertArgs& a) {
  const std::string ie = ext_of(a.in), oe = ext_of(a.out);
  for (const auto& [path, e] : {std::make_pair(a.in, ie), std::make_pair(a.out, oe)}) {
    if (!mesh_only(e) && !cloud_only(e) && e != ".ply") {
      throw std::invalid_argument(path + ": unknown extension '" + e +
                                  "' (accepted: .ply .off .obj .stl .xyz .pcd .npy)");
    }
  }
  if (a.points < 1) throw std::invalid_argument("--points must be >= 1");
  // A .ply input is a mesh when it has faces, a cloud otherwise.
  bool input_is_mesh = mesh_only(ie);
  shapes::TriangleMesh mesh;
  shapes::PointCloud cloud;
  if (ie == ".ply") {
    cloud = io::read_point_cloud(a.in);
    try {
      mesh = io::read_mesh(a.in);
      input_is_mesh = true;
    } catch (const std::runtime_error&) {
      input_is_mesh = false;  // no faces: a point cloud
    }
  } else if (input_is_mesh) {
    mesh = io::read_mesh(a.in);
  } else {
    cloud = read_cloud(a.in);
  }

  if (mesh_only(oe) || (oe == ".ply" && input_is_mesh)) {
    if (!input_is_mesh) {
      throw std::invalid_argument(a.in + ": a point cloud has no faces; writing " + oe +
                                  " needs surface reconstruction, which convert does not do");
    }
    io::write_mesh(a.out, mesh);
    std::cout << "wrote " << a.out << " (" << mesh.num_vertices() << " vertices, "
              << mesh.num_faces() << " faces)\n";
    return 0;
  }
  if (input_is_mesh) {
    if (a.vertices) {
      cloud = shapes::PointCloud{mesh.vertices, mesh.vertex_normals, mesh.vertex_colors};
    } else {
      cloud = shapes::sample_surface(mesh, a.points, a.seed);
    }
  }
  write_cloud(a.out, cloud);
  std::cout << "wrote " << a.out << " (" << cloud.size() << " points)\n";
  return 0;
}

}  // namespace

void add_convert_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<ConvertArgs>();
  auto* cmd = app.add_subcommand(
      "convert", "Convert mesh / point-cloud files by extension (.ply .off .obj .stl .xyz .pcd .npy)");
  cmd->add_option("in", args->in, "Input file")->required();
  cmd->add_option("out", args->out, "Output file")->required();
  cmd->add_option("--points", args->points, "Surface samples when a mesh becomes a cloud")
      ->capture_default_str();
  cmd->add_flag("--vertices", args->vertices, "Use the mesh vertices instead of sampling");
  cmd->add_option("--seed", args->seed, "Sampling seed")->capture_default_str();
  cmd->callback([args, &action] { action = [args] { return run_convert(*args); }; });
}

}  // namespace shapediff::apps

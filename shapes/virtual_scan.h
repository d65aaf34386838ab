// Virtual depth scans: a pinhole camera ray-cast against a triangle mesh gives the points the
// camera sees — the partial input of shape completion. Two ray casters give the same scans (to
// rounding, tested): CGAL's AABB tree, the default where the build has CGAL (the datasets so far
// were made with it), and shapes/triangle_bvh.h, which needs nothing (the GPU machine's build).
//
//   auto cams = cameras_around(/*views=*/2, /*distance=*/2.5, /*seed=*/7);
//   ScanOptions o;  o.depth_noise = 0.002;  o.dropout = 0.05;
//   VirtualScan s = scan_mesh(mesh, cams[0], o);   // s.cloud: visible points [M,3] (world)
//
// Conventions: right-handed world; the camera looks along its -Z axis with +Y up in the image
// (OpenGL style); pixel (u, v) has its ray through (u + 0.5, v + 0.5), v growing downwards.
// Depth is the distance along the viewing axis (not along the ray), in world units; 0 means
// no return.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "shapes/point_cloud.h"
#include "shapes/triangle_mesh.h"

namespace shapediff::shapes {

struct PinholeCamera {
  int64_t width = 128;
  int64_t height = 128;
  double fx = 110.0, fy = 110.0;  // focal lengths in pixels
  double cx = 64.0, cy = 64.0;    // principal point in pixels
  std::array<double, 3> position{0, 0, 2.5};
  // Rows of the world-to-camera rotation: camera x (right), y (up), z (backwards) in world.
  std::array<std::array<double, 3>, 3> rotation{{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}};

  // A camera at `position` looking at `target`; fov_y_degrees sets fy (= fx, square pixels).
  static PinholeCamera looking_at(const std::array<double, 3>& position,
                                  const std::array<double, 3>& target,
                                  const std::array<double, 3>& up, int64_t width, int64_t height,
                                  double fov_y_degrees);
  // 4x4 float64 camera-to-world transform.
  torch::Tensor camera_to_world() const;
  // Throws std::invalid_argument for a non-orthonormal rotation, bad sizes or focal lengths.
  void validate() const;
};

// Auto: default_ray_caster(). Cgal in a build without CGAL throws std::runtime_error.
enum class RayCaster { Auto, Cgal, Bvh };

struct ScanOptions {
  double depth_noise = 0.0;  // std of Gaussian noise added to depth, world units
  double dropout = 0.0;      // fraction of returns dropped at random, [0, 1)
  uint64_t seed = 0;         // for noise and dropout
  bool with_normals = true;  // face normals of the hit triangles, facing the camera
  RayCaster ray_caster = RayCaster::Auto;
};

struct VirtualScan {
  PointCloud cloud;     // visible points in world coordinates [M,3] (+ normals)
  torch::Tensor depth;  // [H,W] float32, 0 = no return
  PinholeCamera camera;
};

// Cgal in builds with CGAL, else Bvh.
RayCaster default_ray_caster();

// Ray-casts every pixel. Throws std::invalid_argument when the camera sees nothing of the mesh
// (after dropout), naming the camera position, and for an empty or invalid mesh.
VirtualScan scan_mesh(const TriangleMesh& mesh, const PinholeCamera& camera,
                      const ScanOptions& options = {});

// Several scans of one mesh sharing one acceleration structure.
std::vector<VirtualScan> scan_mesh_views(const TriangleMesh& mesh,
                                         const std::vector<PinholeCamera>& cameras,
                                         const ScanOptions& options = {});

// `views` cameras on a sphere of radius `distance` around the origin, looking at it, with
// azimuth uniform and elevation in [min_elevation, max_elevation] degrees (seeded), +Y up.
std::vector<PinholeCamera> cameras_around(int64_t views, double distance, uint64_t seed,
                                          int64_t width = 128, int64_t height = 128,
                                          double fov_y_degrees = 40.0,
                                          double min_elevation = -10.0,
                                          double max_elevation = 50.0);

}  // namespace shapediff::shapes

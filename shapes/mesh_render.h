// Depth and silhouette images of a triangle mesh: a plain CPU z-buffer rasterizer with an
// orthographic camera, parallel over image rows (at::parallel_for). No CGAL or GPU needed; it is
// what renders the embedded 2D training images (shapes/render_dataset.h).
//
// The camera is orthographic: every pixel looks along the same direction, so the apparent size
// of a shape does not depend on its distance and depth is an affine function of the image
// coordinates on each triangle (interpolated exactly). Conventions follow shapes/virtual_scan.h:
// right-handed world, the camera looks along its -Z axis with +Y up in the image, pixel (u, v)
// is sampled at its centre (u + 0.5, v + 0.5) with v growing downwards. Pixels are square:
// the image spans 2 * half_width world units across and 2 * half_width * height / width down.
// Depth is the distance from the camera plane (through `position`) along the viewing axis, in
// world units; only surface in front of that plane (depth > 0) is drawn. Both sides of every
// triangle are drawn (no back-face culling) and a pixel centre exactly on a shared edge belongs
// to both triangles, so closed meshes leave no cracks.
//
//   auto cam = OrthographicCamera::looking_at({0, 0, 3}, {0, 0, 0}, {0, 1, 0},
//                                             /*width=*/32, /*height=*/32, /*half_width=*/1.0);
//   MeshRender r = render_mesh(mesh, cam);   // r.depth [32,32] float32 (+inf where empty)
#pragma once

#include <array>
#include <cstdint>

#include <torch/types.h>

#include "shapes/triangle_mesh.h"

namespace shapediff::shapes {

struct OrthographicCamera {
  int64_t width = 32;
  int64_t height = 32;
  // World units from the image centre to its left (and right) edge; > 0.
  double half_width = 1.0;
  // A point on the image centre's viewing ray; depth is measured from the plane through it.
  std::array<double, 3> position{0, 0, 3};
  // Rows of the world-to-camera rotation: camera x (right), y (up), z (backwards) in world.
  std::array<std::array<double, 3>, 3> rotation{{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}};

  // A camera at `position` looking towards `target` with `up` roughly up in the image.
  // Throws std::invalid_argument when position == target or up is parallel to the view.
  static OrthographicCamera looking_at(const std::array<double, 3>& position,
                                       const std::array<double, 3>& target,
                                       const std::array<double, 3>& up, int64_t width,
                                       int64_t height, double half_width);
  // Throws std::invalid_argument for sizes outside [1, 16384], half_width <= 0, a non-finite
  // position or a non-orthonormal rotation.
  void validate() const;
};

struct MeshRender {
  torch::Tensor depth;  // [H,W] float32, nearest surface; +inf where the pixel sees nothing
  torch::Tensor mask;   // [H,W] bool, true where the pixel sees the mesh (the silhouette)
};

// Throws std::invalid_argument for an invalid mesh (TriangleMesh::validate) or camera. A mesh
// without faces renders as empty images.
MeshRender render_mesh(const TriangleMesh& mesh, const OrthographicCamera& camera);

}  // namespace shapediff::shapes

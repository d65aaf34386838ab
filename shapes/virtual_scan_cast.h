// Internal to the virtual scanner (shapes/virtual_scan.h): the pixel loop and the scan assembly
// that both ray casters share, CGAL's AABB tree (virtual_scan_cgal.cpp) and shapes/triangle_bvh.h
// (virtual_scan.cpp). A caster only answers "where does this ray first hit the mesh".
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "shapes/virtual_scan.h"

namespace shapediff::shapes::detail {

// The first hit of the ray origin + t * dir (t > 0): writes the hit point and its face (an index
// into `face_normals`) and returns true, or returns false for no return.
using PixelHit = std::function<bool(const double origin[3], const double dir[3], double point[3], int64_t* face)>;

// Casts every pixel of `camera` (rows in parallel), then applies dropout and depth noise (seeded,
// serial in pixel order) and builds the cloud, with face_normals turned towards the camera.
VirtualScan cast_scan(const PinholeCamera& camera, const ScanOptions& options, const PixelHit& hit,
                      const std::vector<std::array<double, 3>>& face_normals);

// The views with CGAL's AABB tree (each view's options as scan_mesh_views gives them). Defined
// only in builds with CGAL.
std::vector<VirtualScan> scan_views_cgal(const TriangleMesh& mesh, const std::vector<PinholeCamera>& cameras,
                                         const std::vector<ScanOptions>& options);

}  // namespace shapediff::shapes::detail

// Surface reconstruction from point clouds with CGAL: oriented normals (jet fitting or PCA,
// oriented along a minimum spanning tree), then Poisson, Advancing Front or Scale-Space
// reconstruction, then optional clean-up (largest components, small holes; see
// shapes/mesh_repair.h). Input: PointCloud points [N,3] float32 (world units), normals [N,3]
// optional; output: a TriangleMesh (vertices [V,3] float32 in the same units, faces [F,3] int64,
// counter-clockwise seen from outside wherever the orientation can be told).
//
// The CGAL types stay in reconstruct_cgal.cpp, which is built only with SHAPEDIFF_WITH_CGAL;
// without it `reconstruction_available()` is false and the functions that need CGAL throw
// std::runtime_error saying so. The input checks below run in every build.
//
//   ReconstructOptions opt;
//   opt.method = ReconstructMethod::Poisson;
//   opt.normals.neighbors = 24;
//   Reconstruction r = reconstruct(cloud, opt);   // r.mesh, r.warnings ("merged 3 duplicate points")
//   for (const auto& w : r.warnings) std::cerr << "warning: " << w << "\n";
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shapes/point_cloud.h"
#include "shapes/triangle_mesh.h"

namespace shapediff::shapes {

enum class ReconstructMethod { Poisson, AdvancingFront, ScaleSpace };
enum class NormalEstimation { Jet, Pca };

struct NormalOptions {
  NormalEstimation method = NormalEstimation::Jet;
  // Neighbours used both to fit the local surface and to build the orientation tree.
  int64_t neighbors = 18;
  // Use the cloud's own normals (normalised) when it has them instead of estimating.
  bool keep_given = true;
};

struct PoissonOptions {
  // Target sample spacing in world units; 0 takes the cloud's average distance to its 6
  // nearest neighbours. radius and distance are multiples of the spacing (CGAL's meaning).
  double spacing = 0.0;
  double angle = 20.0;      // minimum triangle angle of the surface mesher, degrees
  double radius = 30.0;     // largest surface Delaunay ball radius, in spacings
  double distance = 0.375;  // largest distance to the implicit surface, in spacings
};

struct AdvancingFrontOptions {
  double radius_ratio_bound = 5.0;  // candidate triangles with a larger ratio are rejected
  double beta = 0.52;               // angle (radians) above which a sharp fold is refused
};

struct ScaleSpaceOptions {
  int64_t iterations = 4;  // smoothing steps (scales) before meshing
  int64_t neighbors = 12;  // mean neighbour count of the weighted PCA smoother
};

struct ReconstructOptions {
  ReconstructMethod method = ReconstructMethod::Poisson;
  NormalOptions normals;
  PoissonOptions poisson;
  AdvancingFrontOptions advancing_front;
  ScaleSpaceOptions scale_space;
  // Clean-up after meshing: keep this many largest connected components (0 keeps all) and fill
  // holes bounded by at most this many edges (0 fills none).
  int64_t keep_components = 0;
  int64_t fill_holes_max_edges = 0;
};

struct Reconstruction {
  TriangleMesh mesh;
  std::vector<std::string> warnings;  // one line each, e.g. merged duplicates, dropped points
};

// "poisson", "advancing-front", "scale-space"; std::invalid_argument listing them otherwise.
ReconstructMethod parse_reconstruct_method(const std::string& name);
std::string to_string(ReconstructMethod method);
// "jet", "pca".
NormalEstimation parse_normal_estimation(const std::string& name);

// False in builds without CGAL.
bool reconstruction_available();

// The checks every reconstruction makes, usable on their own: throws std::invalid_argument
// (one line, starting with `context`) for NaN/Inf or malformed tensors, fewer than 10 distinct
// points, and collinear or coplanar points; exact duplicate points are merged (the first one's
// normal and color are kept) and a warning is appended to `warnings`.
PointCloud prepare_reconstruction_input(const PointCloud& cloud, const std::string& context,
                                        std::vector<std::string>& warnings);

// The cloud (same points, same order) with unit normals: the given ones when `keep_given` and
// present, otherwise estimated and oriented consistently (outward for a closed sampled surface).
// Points whose normal cannot be oriented (cut off from the neighbour graph) keep the
// unoriented estimate and are counted in a warning.
PointCloud estimate_normals(const PointCloud& cloud, const NormalOptions& options,
                            std::vector<std::string>& warnings);

// Runs the checks above, normals when the method needs them, the reconstruction and the
// clean-up. Throws std::runtime_error naming the method and the reason when CGAL fails or
// produces no triangles: never returns an empty mesh.
Reconstruction reconstruct(const PointCloud& cloud, const ReconstructOptions& options = {});

}  // namespace shapediff::shapes

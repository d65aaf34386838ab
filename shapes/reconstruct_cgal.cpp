// CGAL's side of reconstruction and mesh repair: normal estimation and orientation, Poisson,
// Advancing Front and Scale-Space reconstruction, hole filling and the self-intersection test.
// The only translation unit that includes CGAL's surface reconstruction and PMP headers.
#include <CGAL/Advancing_front_surface_reconstruction.h>
#include <CGAL/Exact_predicates_inexact_constructions_kernel.h>
#include <CGAL/Implicit_surface_3.h>
#include <CGAL/IO/facets_in_complex_2_to_triangle_mesh.h>
#include <CGAL/Poisson_reconstruction_function.h>
#include <CGAL/Polygon_mesh_processing/border.h>
#include <CGAL/Polygon_mesh_processing/orient_polygon_soup.h>
#include <CGAL/Polygon_mesh_processing/orientation.h>
#include <CGAL/Polygon_mesh_processing/polygon_soup_to_polygon_mesh.h>
#include <CGAL/Polygon_mesh_processing/repair.h>
#include <CGAL/Polygon_mesh_processing/self_intersections.h>
#include <CGAL/Polygon_mesh_processing/triangulate_hole.h>
#include <CGAL/Scale_space_reconstruction_3/Alpha_shape_mesher.h>
#include <CGAL/Scale_space_reconstruction_3/Weighted_PCA_smoother.h>
#include <CGAL/Scale_space_surface_reconstruction_3.h>
#include <CGAL/Surface_mesh.h>
#include <CGAL/Surface_mesh_default_triangulation_3.h>
#include <CGAL/compute_average_spacing.h>
#include <CGAL/jet_estimate_normals.h>
#include <CGAL/make_surface_mesh.h>
#include <CGAL/mst_orient_normals.h>
#include <CGAL/pca_estimate_normals.h>
#include <CGAL/property_map.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <torch/torch.h>

#include "shapes/mesh_repair.h"
#include "shapes/reconstruct.h"

namespace shapediff::shapes {
namespace {

namespace PMP = CGAL::Polygon_mesh_processing;
using K = CGAL::Exact_predicates_inexact_constructions_kernel;
using Point = K::Point_3;
using Vector = K::Vector_3;
using Mesh = CGAL::Surface_mesh<Point>;
using Triangle = std::array<std::size_t, 3>;

std::vector<Point> to_points(const torch::Tensor& t) {
  const auto p = t.to(torch::kCPU, torch::kFloat64).contiguous();
  const double* d = p.data_ptr<double>();
  std::vector<Point> out;
  out.reserve(static_cast<size_t>(p.size(0)));
  for (int64_t i = 0; i < p.size(0); ++i) out.emplace_back(d[3 * i], d[3 * i + 1], d[3 * i + 2]);
  return out;
}

std::vector<Vector> to_vectors(const torch::Tensor& t) {
  std::vector<Vector> out;
  for (const auto& p : to_points(t)) out.emplace_back(p.x(), p.y(), p.z());
  return out;
}

torch::Tensor points_tensor(const std::vector<Point>& points) {
  auto t = torch::empty({static_cast<int64_t>(points.size()), 3}, torch::kFloat32);
  float* d = t.data_ptr<float>();
  for (size_t i = 0; i < points.size(); ++i) {
    for (int k = 0; k < 3; ++k) d[3 * i + k] = static_cast<float>(points[i][k]);
  }
  return t;
}

void to_soup(const TriangleMesh& mesh, std::vector<Point>& points, std::vector<Triangle>& triangles) {
  points = to_points(mesh.vertices);
  const auto f = mesh.faces.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t* fd = f.data_ptr<int64_t>();
  triangles.resize(static_cast<size_t>(f.size(0)));
  for (size_t i = 0; i < triangles.size(); ++i) {
    for (int k = 0; k < 3; ++k) triangles[i][k] = static_cast<std::size_t>(fd[3 * i + k]);
  }
}

TriangleMesh from_mesh(Mesh& sm) {
  sm.collect_garbage();
  std::vector<Point> points;
  points.reserve(sm.number_of_vertices());
  for (auto v : sm.vertices()) points.push_back(sm.point(v));
  auto faces = torch::empty({static_cast<int64_t>(sm.number_of_faces()), 3}, torch::kLong);
  int64_t* fd = faces.data_ptr<int64_t>();
  for (auto f : sm.faces()) {
    int k = 0;
    for (auto v : CGAL::vertices_around_face(sm.halfedge(f), sm)) fd[3 * static_cast<int64_t>(f.idx()) + k++] = v.idx();
  }
  return TriangleMesh{points_tensor(points), faces};
}

// Outward for a closed mesh: a positive enclosed volume. CGAL's orient_to_bound_a_volume would
// also handle nested shells, but it requires a mesh free of self-intersections and of isolated
// vertices, which interpolating reconstructions do not promise.
void orient_outward(Mesh& sm) {
  if (!CGAL::is_closed(sm)) return;
  double volume = 0;
  for (auto f : sm.faces()) {
    const auto h = sm.halfedge(f);
    const Vector a = sm.point(sm.source(h)) - CGAL::ORIGIN, b = sm.point(sm.target(h)) - CGAL::ORIGIN,
                 c = sm.point(sm.target(sm.next(h))) - CGAL::ORIGIN;
    volume += a * CGAL::cross_product(b, c);
  }
  if (volume < 0) PMP::reverse_face_orientations(sm);
}

// A consistently oriented surface mesh from a triangle soup: outward when it is closed; when it
// is open and `normals` (one per soup point) are given, the orientation most faces agree with.
Mesh orient_soup(std::vector<Point> points, std::vector<Triangle> triangles, const std::vector<Vector>& normals) {
  const size_t original = points.size();
  PMP::orient_polygon_soup(points, triangles);
  Mesh sm;
  PMP::polygon_soup_to_polygon_mesh(points, triangles, sm);
  PMP::remove_isolated_vertices(sm);
  if (CGAL::is_closed(sm)) {
    orient_outward(sm);
  } else if (!normals.empty()) {
    double agreement = 0;
    for (auto f : sm.faces()) {
      auto h = sm.halfedge(f);
      const auto a = sm.source(h), b = sm.target(h), c = sm.target(sm.next(h));
      if (a.idx() >= original || b.idx() >= original || c.idx() >= original) continue;
      const Vector n = CGAL::cross_product(sm.point(b) - sm.point(a), sm.point(c) - sm.point(a));
      agreement += n * (normals[a.idx()] + normals[b.idx()] + normals[c.idx()]);
    }
    if (agreement < 0) PMP::reverse_face_orientations(sm);
  }
  return sm;
}

// CGAL reports broken preconditions as exceptions derived from std::logic_error; the caller
// sees one runtime_error naming the step.
template <typename F>
auto cgal_call(const std::string& what, F&& f) {
  try {
    return f();
  } catch (const std::invalid_argument&) {
    throw;
  } catch (const std::runtime_error&) {
    throw;
  } catch (const std::exception& e) {
    std::string reason = e.what();
    std::replace(reason.begin(), reason.end(), '\n', ' ');
    throw std::runtime_error(what + ": CGAL failed: " + reason);
  }
}

Mesh poisson(const PointCloud& cloud, const PoissonOptions& opt) {
  using PointNormal = std::pair<Point, Vector>;
  const auto points = to_points(cloud.points);
  const auto normals = to_vectors(cloud.normals);
  std::vector<PointNormal> pn(points.size());
  for (size_t i = 0; i < points.size(); ++i) pn[i] = {points[i], normals[i]};
  const auto point_map = CGAL::First_of_pair_property_map<PointNormal>();
  const auto normal_map = CGAL::Second_of_pair_property_map<PointNormal>();
  double spacing = opt.spacing;
  if (spacing == 0) {
    spacing = CGAL::compute_average_spacing<CGAL::Sequential_tag>(pn, 6, CGAL::parameters::point_map(point_map));
  }
  using Function = CGAL::Poisson_reconstruction_function<K>;
  Function function(pn.begin(), pn.end(), point_map, normal_map);
  if (!function.compute_implicit_function()) {
    throw std::runtime_error("poisson: CGAL's solver found no implicit function (inconsistent normals?)");
  }
  using Triangulation = CGAL::Surface_mesh_default_triangulation_3;
  using Complex = CGAL::Surface_mesh_complex_2_in_triangulation_3<Triangulation>;
  using Surface = CGAL::Implicit_surface_3<K, Function>;
  const Point inner = function.get_inner_point();
  const auto sphere = function.bounding_sphere();
  // The mesher's bounding sphere must hold the whole surface; the surface lies within the
  // points' bounding sphere, which is not centred on the inner point, hence the margin.
  const double bound = 5.0 * std::sqrt(sphere.squared_radius());
  const double dichotomy_error = opt.distance * spacing / 1000.0;
  Surface surface(function, K::Sphere_3(inner, bound * bound), dichotomy_error / bound);
  CGAL::Surface_mesh_default_criteria_3<Triangulation> criteria(opt.angle, opt.radius * spacing,
                                                               opt.distance * spacing);
  Triangulation tr;
  Complex c2t3(tr);
  CGAL::make_surface_mesh(c2t3, surface, criteria, CGAL::Manifold_with_boundary_tag());
  if (tr.number_of_vertices() == 0 || c2t3.number_of_facets() == 0) {
    throw std::runtime_error("poisson: the surface mesher found no surface (the inner point is outside?)");
  }
  Mesh sm;
  CGAL::facets_in_complex_2_to_triangle_mesh(c2t3, sm);
  orient_outward(sm);
  return sm;
}

Mesh advancing_front(const PointCloud& cloud, const AdvancingFrontOptions& opt) {
  const auto points = to_points(cloud.points);
  std::vector<Triangle> triangles;
  CGAL::advancing_front_surface_reconstruction(points.begin(), points.end(), std::back_inserter(triangles),
                                               opt.radius_ratio_bound, opt.beta);
  if (triangles.empty()) throw std::runtime_error("advancing-front: CGAL produced no triangles");
  return orient_soup(points, std::move(triangles),
                     cloud.has_normals() ? to_vectors(cloud.normals) : std::vector<Vector>{});
}

Mesh scale_space(const PointCloud& cloud, const ScaleSpaceOptions& opt) {
  const auto points = to_points(cloud.points);
  CGAL::Scale_space_surface_reconstruction_3<K> reconstruction(points.begin(), points.end());
  CGAL::Scale_space_reconstruction_3::Weighted_PCA_smoother<K> smoother(static_cast<unsigned>(opt.neighbors));
  reconstruction.increase_scale(static_cast<std::size_t>(opt.iterations), smoother);
  CGAL::Scale_space_reconstruction_3::Alpha_shape_mesher<K> mesher(smoother.squared_radius(), false,
                                                                  /*force_manifold=*/true);
  reconstruction.reconstruct_surface(mesher);
  // The facets index the points in their original order: the mesh interpolates the input.
  std::vector<Triangle> triangles(reconstruction.facets_begin(), reconstruction.facets_end());
  if (triangles.empty()) throw std::runtime_error("scale-space: CGAL produced no triangles");
  return orient_soup(points, std::move(triangles),
                     cloud.has_normals() ? to_vectors(cloud.normals) : std::vector<Vector>{});
}

void check_options(const ReconstructOptions& o) {
  auto fail = [](const std::string& field, double v, const std::string& need) {
    throw std::invalid_argument("reconstruct: " + field + " must be " + need + ", got " + std::to_string(v));
  };
  if (o.normals.neighbors < 6) fail("normals.neighbors", double(o.normals.neighbors), ">= 6");
  const auto& p = o.poisson;
  if (!(p.spacing >= 0) || !std::isfinite(p.spacing)) fail("poisson.spacing", p.spacing, ">= 0");
  if (!(p.angle > 0 && p.angle <= 30)) fail("poisson.angle", p.angle, "in (0, 30] degrees");
  if (!(p.radius > 0) || !std::isfinite(p.radius)) fail("poisson.radius", p.radius, "> 0");
  if (!(p.distance > 0) || !std::isfinite(p.distance)) fail("poisson.distance", p.distance, "> 0");
  const auto& a = o.advancing_front;
  if (!(a.radius_ratio_bound > 0)) fail("advancing_front.radius_ratio_bound", a.radius_ratio_bound, "> 0");
  if (!(a.beta > 0 && a.beta < M_PI)) fail("advancing_front.beta", a.beta, "in (0, pi)");
  if (o.scale_space.iterations < 1) fail("scale_space.iterations", double(o.scale_space.iterations), ">= 1");
  if (o.scale_space.neighbors < 3) fail("scale_space.neighbors", double(o.scale_space.neighbors), ">= 3");
  if (o.keep_components < 0) fail("keep_components", double(o.keep_components), ">= 0");
  if (o.fill_holes_max_edges < 0) fail("fill_holes_max_edges", double(o.fill_holes_max_edges), ">= 0");
}

}  // namespace

bool reconstruction_available() { return true; }

PointCloud estimate_normals(const PointCloud& cloud, const NormalOptions& options, std::vector<std::string>& warnings) {
  cloud.validate("estimate_normals");
  if (options.neighbors < 6) {
    throw std::invalid_argument("estimate_normals: neighbors must be >= 6, got " + std::to_string(options.neighbors));
  }
  PointCloud out = cloud;
  if (options.keep_given && cloud.has_normals()) {
    const auto n = cloud.normals.to(torch::kFloat32);
    const auto length = n.norm(2, 1, true);
    if ((length == 0).any().item<bool>()) {
      throw std::invalid_argument("estimate_normals: the cloud's normals include zero vectors");
    }
    out.normals = n / length;
    return out;
  }
  const int64_t n = cloud.size();
  if (n < 7) throw std::invalid_argument("estimate_normals: needs at least 7 points, got " + std::to_string(n));
  const auto k = static_cast<unsigned>(std::min<int64_t>(options.neighbors, n - 1));
  using Entry = std::tuple<Point, Vector, int64_t>;
  const auto points = to_points(cloud.points);
  std::vector<Entry> entries(points.size());
  for (size_t i = 0; i < points.size(); ++i) entries[i] = Entry{points[i], Vector(0, 0, 0), int64_t(i)};
  const auto np = CGAL::parameters::point_map(CGAL::Nth_of_tuple_property_map<0, Entry>())
                      .normal_map(CGAL::Nth_of_tuple_property_map<1, Entry>());
  const auto unoriented = cgal_call("estimate_normals", [&] {
    if (options.method == NormalEstimation::Jet) {
      CGAL::jet_estimate_normals<CGAL::Sequential_tag>(entries, k, np);
    } else {
      CGAL::pca_estimate_normals<CGAL::Sequential_tag>(entries, k, np);
    }
    return CGAL::mst_orient_normals(entries, k, np) - entries.begin();
  });
  const auto left = static_cast<int64_t>(entries.size()) - static_cast<int64_t>(unoriented);
  if (left > 0) {
    warnings.push_back("estimate_normals: " + std::to_string(left) +
                       " points are cut off from the neighbour graph; their normals are not oriented");
  }
  auto normals = torch::empty({n, 3}, torch::kFloat32);
  float* d = normals.data_ptr<float>();
  for (const auto& e : entries) {
    const Vector& v = std::get<1>(e);
    const double len = std::sqrt(v.squared_length());
    const int64_t i = std::get<2>(e);
    for (int c = 0; c < 3; ++c) d[3 * i + c] = len > 0 ? static_cast<float>(v[c] / len) : 0.f;
  }
  out.normals = normals.to(cloud.points.device());
  return out;
}

Reconstruction reconstruct(const PointCloud& cloud, const ReconstructOptions& options) {
  check_options(options);
  Reconstruction result;
  const std::string name = to_string(options.method);
  PointCloud input = prepare_reconstruction_input(cloud, name, result.warnings);
  Mesh sm = cgal_call(name, [&] {
    switch (options.method) {
      case ReconstructMethod::Poisson:
        return poisson(estimate_normals(input, options.normals, result.warnings), options.poisson);
      case ReconstructMethod::AdvancingFront:
        return advancing_front(input, options.advancing_front);
      case ReconstructMethod::ScaleSpace:
        return scale_space(input, options.scale_space);
    }
    throw std::invalid_argument("reconstruct: unknown method");
  });
  if (sm.number_of_faces() == 0) throw std::runtime_error(name + ": CGAL produced no triangles");
  result.mesh = from_mesh(sm);
  if (options.keep_components > 0) result.mesh = keep_largest_components(result.mesh, options.keep_components);
  if (options.fill_holes_max_edges > 0) {
    int64_t filled = 0;
    result.mesh = fill_small_holes(result.mesh, options.fill_holes_max_edges, &filled);
    if (filled > 0) result.warnings.push_back(name + ": filled " + std::to_string(filled) + " small holes");
  }
  return result;
}

TriangleMesh fill_small_holes(const TriangleMesh& mesh, int64_t max_edges, int64_t* filled) {
  mesh.validate("fill_small_holes");
  if (max_edges < 3) throw std::invalid_argument("fill_small_holes: max_edges must be >= 3, got " + std::to_string(max_edges));
  std::vector<Point> points;
  std::vector<Triangle> triangles;
  to_soup(mesh, points, triangles);
  if (!PMP::is_polygon_soup_a_polygon_mesh(triangles)) {
    throw std::invalid_argument("fill_small_holes: the mesh is not an oriented 2-manifold");
  }
  Mesh sm;
  PMP::polygon_soup_to_polygon_mesh(points, triangles, sm);
  std::vector<Mesh::Halfedge_index> borders;
  PMP::extract_boundary_cycles(sm, std::back_inserter(borders));
  int64_t count = 0;
  cgal_call("fill_small_holes", [&] {
    for (auto h : borders) {
      int64_t length = 0;
      for (auto e : CGAL::halfedges_around_face(h, sm)) {
        (void)e;
        ++length;
      }
      if (length > max_edges) continue;
      std::vector<Mesh::Face_index> patch;
      std::vector<Mesh::Vertex_index> added;
      PMP::triangulate_and_refine_hole(sm, h, std::back_inserter(patch), std::back_inserter(added));
      count += !patch.empty();
    }
    return 0;
  });
  if (filled != nullptr) *filled = count;
  return from_mesh(sm);
}

int64_t count_self_intersections(const TriangleMesh& mesh) {
  mesh.validate("count_self_intersections");
  if (mesh.empty()) return 0;
  std::vector<Point> points;
  std::vector<Triangle> triangles, kept;
  to_soup(mesh, points, triangles);
  // Degenerate triangles break CGAL's intersection predicates; mesh_quality counts them apart.
  for (const auto& t : triangles) {
    if (!CGAL::collinear(points[t[0]], points[t[1]], points[t[2]])) kept.push_back(t);
  }
  PMP::orient_polygon_soup(points, kept);
  Mesh sm;
  PMP::polygon_soup_to_polygon_mesh(points, kept, sm);
  std::vector<std::pair<Mesh::Face_index, Mesh::Face_index>> pairs;
  cgal_call("count_self_intersections", [&] {
    PMP::self_intersections(sm.faces(), sm, std::back_inserter(pairs));
    return 0;
  });
  return static_cast<int64_t>(pairs.size());
}

}  // namespace shapediff::shapes

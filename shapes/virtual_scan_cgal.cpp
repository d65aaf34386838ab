// Ray casting with CGAL's AABB tree. Kept in its own file: the CGAL headers are heavy.
#include <CGAL/AABB_traits.h>
#include <CGAL/AABB_tree.h>
#include <CGAL/AABB_triangle_primitive.h>
#include <CGAL/Simple_cartesian.h>

#include <cmath>
#include <stdexcept>

#include <torch/torch.h>

#include "shapes/virtual_scan_cast.h"

namespace shapediff::shapes {
namespace {

using detail::PixelHit;

using K = CGAL::Simple_cartesian<double>;
using Point = K::Point_3;
using Triangle = K::Triangle_3;
using Ray = K::Ray_3;
using Iterator = std::vector<Triangle>::const_iterator;
using Primitive = CGAL::AABB_triangle_primitive<K, Iterator>;
using Tree = CGAL::AABB_tree<CGAL::AABB_traits<K, Primitive>>;

struct Scene {
  std::vector<Triangle> triangles;
  std::vector<std::array<double, 3>> normals;
  Tree tree;
};

void build_scene(const TriangleMesh& mesh, Scene& scene) {
  mesh.validate("scan_mesh");
  if (mesh.empty()) throw std::invalid_argument("scan_mesh: the mesh has no faces");
  const auto v = mesh.vertices.to(torch::kFloat64).contiguous();
  const auto f = mesh.faces.to(torch::kLong).contiguous();
  const auto va = v.accessor<double, 2>();
  const auto fa = f.accessor<int64_t, 2>();
  scene.triangles.reserve(static_cast<size_t>(f.size(0)));
  for (int64_t i = 0; i < f.size(0); ++i) {
    Point p[3];
    for (int k = 0; k < 3; ++k) {
      const int64_t j = fa[i][k];
      p[k] = Point(va[j][0], va[j][1], va[j][2]);
    }
    Triangle t(p[0], p[1], p[2]);
    if (t.is_degenerate()) continue;
    const auto n = CGAL::cross_product(p[1] - p[0], p[2] - p[0]);
    const double len = std::sqrt(n.squared_length());
    scene.triangles.push_back(t);
    scene.normals.push_back({n.x() / len, n.y() / len, n.z() / len});
  }
  if (scene.triangles.empty()) throw std::invalid_argument("scan_mesh: every face of the mesh is degenerate");
  scene.tree.insert(scene.triangles.cbegin(), scene.triangles.cend());
  scene.tree.build();
}

}  // namespace

std::vector<VirtualScan> detail::scan_views_cgal(const TriangleMesh& mesh, const std::vector<PinholeCamera>& cameras,
                                                 const std::vector<ScanOptions>& options) {
  Scene scene;
  build_scene(mesh, scene);
  const auto base = scene.triangles.cbegin();
  const PixelHit hit = [&](const double origin[3], const double dir[3], double point[3], int64_t* face) {
    const auto h = scene.tree.first_intersection(
        Ray(Point(origin[0], origin[1], origin[2]), K::Vector_3(dir[0], dir[1], dir[2])));
    if (!h) return false;
    const Point* p = boost::get<Point>(&h->first);
    if (p == nullptr) return false;  // ray grazing along a face: no single return
    point[0] = p->x();
    point[1] = p->y();
    point[2] = p->z();
    *face = static_cast<int64_t>(h->second - base);
    return true;
  };
  std::vector<VirtualScan> scans;
  scans.reserve(cameras.size());
  for (size_t i = 0; i < cameras.size(); ++i) scans.push_back(cast_scan(cameras[i], options[i], hit, scene.normals));
  return scans;
}

}  // namespace shapediff::shapes

#include "shapes/mesh_render.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "shapes/camera_frame.h"

namespace shapediff::shapes {
namespace {

using camera_frame::dot;
using camera_frame::sub;
using Vec = camera_frame::Vec;

// One triangle in pixel coordinates (x right, y down) with its depths, and the pixel rows and
// columns whose centres its bounding box covers.
struct ScreenTriangle {
  double x[3], y[3], depth[3];
  double area;  // twice the signed area, made positive by the vertex order kept
  int64_t u0, u1, v0, v1;
};

// Twice the signed area of (a, b, p); >= 0 on the inner side of edge a->b for positive triangles.
inline double edge(double ax, double ay, double bx, double by, double px, double py) {
  return (bx - ax) * (py - ay) - (by - ay) * (px - ax);
}

}  // namespace

OrthographicCamera OrthographicCamera::looking_at(const Vec& position, const Vec& target,
                                                  const Vec& up, int64_t width, int64_t height,
                                                  double half_width) {
  OrthographicCamera c;
  c.width = width;
  c.height = height;
  c.half_width = half_width;
  c.position = position;
  c.rotation = camera_frame::look_at(position, target, up, "orthographic camera");
  c.validate();
  return c;
}

void OrthographicCamera::validate() const {
  std::ostringstream err;
  if (width < 1 || height < 1 || width > 16384 || height > 16384) {
    err << "orthographic camera: image size " << width << "x" << height << " outside [1, 16384]";
  } else if (!(half_width > 0) || !std::isfinite(half_width)) {
    err << "orthographic camera: half_width must be > 0, got " << half_width;
  } else if (!std::isfinite(position[0]) || !std::isfinite(position[1]) || !std::isfinite(position[2])) {
    err << "orthographic camera: position is not finite";
  } else if (!camera_frame::orthonormal(rotation)) {
    err << "orthographic camera: rotation is not orthonormal";
  }
  if (!err.str().empty()) throw std::invalid_argument(err.str());
}

MeshRender render_mesh(const TriangleMesh& mesh, const OrthographicCamera& camera) {
  camera.validate();
  mesh.validate("render_mesh");
  const int64_t width = camera.width, height = camera.height;
  const double pixel = 2.0 * camera.half_width / static_cast<double>(width);
  const double half_height = 0.5 * pixel * static_cast<double>(height);

  const auto vertices = mesh.vertices.to(torch::kCPU, torch::kFloat64).contiguous();
  const auto faces = mesh.faces.to(torch::kCPU, torch::kLong).contiguous();
  const double* v = vertices.data_ptr<double>();
  const int64_t* f = faces.data_ptr<int64_t>();
  const int64_t num_vertices = vertices.size(0), num_faces = mesh.num_faces();

  // Every vertex once into pixel coordinates and depth.
  const Vec& right = camera.rotation[0];
  const Vec& up = camera.rotation[1];
  const Vec& back = camera.rotation[2];
  std::vector<double> px(num_vertices), py(num_vertices), pd(num_vertices);
  for (int64_t i = 0; i < num_vertices; ++i) {
    const Vec p = sub({v[3 * i], v[3 * i + 1], v[3 * i + 2]}, camera.position);
    px[i] = (dot(p, right) + camera.half_width) / pixel;
    py[i] = (half_height - dot(p, up)) / pixel;
    pd[i] = -dot(p, back);
  }

  std::vector<ScreenTriangle> triangles;
  triangles.reserve(static_cast<size_t>(num_faces));
  for (int64_t t = 0; t < num_faces; ++t) {
    int64_t k[3] = {f[3 * t], f[3 * t + 1], f[3 * t + 2]};
    if (std::max({pd[k[0]], pd[k[1]], pd[k[2]]}) <= 0) continue;  // wholly behind the camera
    double area = edge(px[k[0]], py[k[0]], px[k[1]], py[k[1]], px[k[2]], py[k[2]]);
    // Seen edge-on: it covers no pixel centre that its neighbours do not.
    if (std::abs(area) < 1e-12) continue;
    if (area < 0) {
      std::swap(k[1], k[2]);
      area = -area;
    }
    ScreenTriangle s{};
    for (int c = 0; c < 3; ++c) {
      s.x[c] = px[k[c]];
      s.y[c] = py[k[c]];
      s.depth[c] = pd[k[c]];
    }
    s.area = area;
    // Pixel u has its centre at u + 0.5: the covered columns are ceil(min - 0.5)..floor(max - 0.5).
    s.u0 = std::max<int64_t>(0, static_cast<int64_t>(std::ceil(std::min({s.x[0], s.x[1], s.x[2]}) - 0.5)));
    s.u1 = std::min<int64_t>(width - 1, static_cast<int64_t>(std::floor(std::max({s.x[0], s.x[1], s.x[2]}) - 0.5)));
    s.v0 = std::max<int64_t>(0, static_cast<int64_t>(std::ceil(std::min({s.y[0], s.y[1], s.y[2]}) - 0.5)));
    s.v1 = std::min<int64_t>(height - 1, static_cast<int64_t>(std::floor(std::max({s.y[0], s.y[1], s.y[2]}) - 0.5)));
    if (s.u0 > s.u1 || s.v0 > s.v1) continue;
    triangles.push_back(s);
  }

  std::vector<double> zbuffer(static_cast<size_t>(width * height),
                              std::numeric_limits<double>::infinity());
  // Each chunk of rows owns its part of the z-buffer, so no two threads write the same pixel.
  at::parallel_for(0, height, 8, [&](int64_t row_begin, int64_t row_end) {
    for (const ScreenTriangle& s : triangles) {
      const int64_t v0 = std::max(s.v0, row_begin), v1 = std::min(s.v1, row_end - 1);
      for (int64_t row = v0; row <= v1; ++row) {
        const double cy = static_cast<double>(row) + 0.5;
        double* zrow = zbuffer.data() + row * width;
        for (int64_t col = s.u0; col <= s.u1; ++col) {
          const double cx = static_cast<double>(col) + 0.5;
          const double w0 = edge(s.x[1], s.y[1], s.x[2], s.y[2], cx, cy);
          const double w1 = edge(s.x[2], s.y[2], s.x[0], s.y[0], cx, cy);
          const double w2 = edge(s.x[0], s.y[0], s.x[1], s.y[1], cx, cy);
          if (w0 < 0 || w1 < 0 || w2 < 0) continue;
          const double d = (w0 * s.depth[0] + w1 * s.depth[1] + w2 * s.depth[2]) / s.area;
          if (d > 0 && d < zrow[col]) zrow[col] = d;
        }
      }
    }
  });

  MeshRender out;
  out.depth = torch::from_blob(zbuffer.data(), {height, width}, torch::kFloat64).to(torch::kFloat32);
  out.mask = torch::isfinite(out.depth);
  return out;
}

}  // namespace shapediff::shapes

#include "shapes/render_dataset.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "shapes/mesh_render.h"
#include "shapes/procedural_families.h"

namespace shapediff::shapes {
namespace {

using Vec = std::array<double, 3>;

uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

std::string invalid(const std::string& field, const std::string& value, const std::string& rule) {
  return "render dataset: " + field + " must be " + rule + ", got " + value;
}

}  // namespace

void RenderDatasetOptions::validate() const {
  if (families.empty()) throw std::invalid_argument("render dataset: families is empty");
  if (per_family < 1) throw std::invalid_argument(invalid("per_family", std::to_string(per_family), ">= 1"));
  if (views < 1) throw std::invalid_argument(invalid("views", std::to_string(views), ">= 1"));
  if (size < 8 || size > 1024) {
    throw std::invalid_argument(invalid("size", std::to_string(size), "in [8, 1024]"));
  }
  if (resolution < 8 || resolution > 1024) {
    throw std::invalid_argument(invalid("resolution", std::to_string(resolution), "in [8, 1024]"));
  }
  if (!(min_elevation >= -89 && min_elevation <= max_elevation && max_elevation <= 89)) {
    throw std::invalid_argument("render dataset: elevations must satisfy -89 <= min <= max <= 89, got " +
                                std::to_string(min_elevation) + " and " + std::to_string(max_elevation));
  }
  if (supersample < 1 || supersample > 8) {
    throw std::invalid_argument(invalid("supersample", std::to_string(supersample), "in [1, 8]"));
  }
  if (!(fill > 0 && fill <= 1)) throw std::invalid_argument(invalid("fill", std::to_string(fill), "in (0, 1]"));
  if (!(floor > -1 && floor < 1)) throw std::invalid_argument(invalid("floor", std::to_string(floor), "in (-1, 1)"));
}

torch::Tensor render_depth_image(const TriangleMesh& mesh, double azimuth_deg,
                                 double elevation_deg, const RenderDatasetOptions& options) {
  options.validate();
  mesh.validate("render_depth_image");
  if (mesh.empty()) throw std::invalid_argument("render_depth_image: the mesh has no faces");
  const double az = azimuth_deg * M_PI / 180.0, el = elevation_deg * M_PI / 180.0;
  const Vec back{std::cos(el) * std::sin(az), std::sin(el), std::cos(el) * std::cos(az)};
  // looking_at gives the orthonormal frame; position and extent are fitted below.
  const int64_t fine = options.size * options.supersample;
  OrthographicCamera camera = OrthographicCamera::looking_at(back, {0, 0, 0}, {0, 1, 0}, fine, fine, 1.0);
  const auto axes = torch::tensor({camera.rotation[0][0], camera.rotation[0][1], camera.rotation[0][2],
                                   camera.rotation[1][0], camera.rotation[1][1], camera.rotation[1][2],
                                   camera.rotation[2][0], camera.rotation[2][1], camera.rotation[2][2]},
                                  torch::kFloat64)
                        .view({3, 3});
  const auto projected = torch::matmul(mesh.vertices.to(torch::kFloat64), axes.t());  // [V,3]
  const auto lo = std::get<0>(projected.min(0)), hi = std::get<0>(projected.max(0));
  const auto l = lo.accessor<double, 1>(), h = hi.accessor<double, 1>();
  const double half = 0.5 * std::max(h[0] - l[0], h[1] - l[1]) / options.fill;
  if (!(half > 0)) throw std::invalid_argument("render_depth_image: the mesh has no extent in view");
  camera.half_width = half;
  for (int k = 0; k < 3; ++k) {
    // Centred on the projected box, in front of the nearest vertex.
    camera.position[k] = camera.rotation[0][k] * 0.5 * (l[0] + h[0]) +
                         camera.rotation[1][k] * 0.5 * (l[1] + h[1]) +
                         camera.rotation[2][k] * (h[2] + half);
  }
  const MeshRender render = render_mesh(mesh, camera);
  if (!render.mask.any().item<bool>()) return torch::full({1, options.size, options.size}, -1.0f);
  const double nearest = render.depth.masked_select(render.mask).min().item<double>();
  const auto value = (1.0 - (1.0 - options.floor) * (render.depth - nearest) / (2.0 * half))
                         .clamp(options.floor, 1.0);
  const auto image = torch::where(render.mask, value, torch::full_like(value, -1.0f)).unsqueeze(0);
  if (options.supersample == 1) return image;
  // The brightest (nearest) sub-sample wins: any hit keeps its pixel, values stay surface values.
  return torch::max_pool2d(image.unsqueeze(0), options.supersample).squeeze(0);
}

RenderedImages render_dataset(const RenderDatasetOptions& options) {
  options.validate();
  const auto num_families = static_cast<int64_t>(options.families.size());
  const int64_t shapes = num_families * options.per_family;
  const int64_t n = shapes * options.views;
  RenderedImages out;
  out.images = torch::empty({n, 1, options.size, options.size});
  out.labels = torch::arange(num_families, torch::kLong).repeat_interleave(options.per_family * options.views);
  out.families = options.families;
  out.names.reserve(static_cast<size_t>(n));
  for (ShapeFamily family : options.families) {
    const std::string name = to_string(family);
    for (int64_t i = 0; i < options.per_family; ++i) {
      for (int64_t v = 0; v < options.views; ++v) {
        char file[64];
        std::snprintf(file, sizeof file, "-%04lld-v%02lld", static_cast<long long>(i),
                      static_cast<long long>(v));
        out.names.push_back(name + "/" + name + file);
      }
    }
  }
  const ProceduralOptions shape_options = ProceduralOptions{}.set_resolution(options.resolution);
  // Shapes are independent and cost far more than one small render: one shape per task.
  at::parallel_for(0, shapes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; ++s) {
      const ShapeFamily family = options.families[static_cast<size_t>(s / options.per_family)];
      const int64_t index = s % options.per_family;
      const TriangleMesh mesh = make_shape(family, index, options.seed, shape_options);
      detail::ParamRng rng(mix(mix(options.seed ^ 0x52454E44ull) ^ (static_cast<uint64_t>(family) << 32) ^
                               static_cast<uint64_t>(index)));
      // Evenly spread azimuths from a random start, so the views of one shape differ.
      const double start = 360.0 * rng.uniform();
      for (int64_t v = 0; v < options.views; ++v) {
        const double azimuth = start + 360.0 * static_cast<double>(v) / static_cast<double>(options.views);
        const double elevation = rng.uniform(options.min_elevation, options.max_elevation);
        out.images[s * options.views + v].copy_(render_depth_image(mesh, azimuth, elevation, options));
      }
    }
  });
  return out;
}

}  // namespace shapediff::shapes

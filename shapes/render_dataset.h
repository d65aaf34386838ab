// The embedded 2D training images: depth renders of the procedural shape families
// (shapes/procedural.h) from seeded views, one channel each, in the image-diffusion value
// range [-1, 1]. io/render_folder.h writes them as a PNG folder (one subfolder per family).
//
// One channel carries both depth and silhouette: the background is -1 and surface depth maps
// to [floor, 1] (nearest = 1, farther = darker), so the silhouette is the set of pixels above
// (floor - 1) / 2 and the gap (0.5 wide at the default floor) keeps it readable after 8-bit quantisation. A single
// gray channel is what the PNG folder, the U-Net and the pictures handle most simply; a second
// silhouette channel would repeat what the gap already says and PNG has no plain 2-channel form.
//
// Framing: each view is orthographic (shapes/mesh_render.h) and fitted to the shape — the
// projected bounding box of the mesh is centred and its longer side spans `fill` of the image
// — so every image uses its pixels, which matters at 32x32. Depth uses the same world scale as
// the image: a depth difference of one image width spans the whole [floor, 1] range (deeper
// surface is clamped at floor), offset so the nearest surface of the view is exactly 1. Views
// look at the shape from azimuths spread evenly around +Y from a seeded start and seeded
// elevations in [min_elevation, max_elevation] degrees; +Y is up in every image.
//
// Thin parts (chair legs, lamp poles) can fall between pixel centres at 32x32, so each pixel
// takes the nearest of supersample^2 sub-samples: a part that any sub-sample hits stays
// visible, and a pixel never mixes surface with background (the silhouette gap survives).
//
//   RenderDatasetOptions o;                        // 6 families x 20 shapes x 2 views, 32x32
//   RenderedImages r = render_dataset(o);          // r.images [240, 1, 32, 32] float32
//   auto one = render_depth_image(make_shape(ShapeFamily::Mug, 0, 0), 30.0, 20.0, o);  // [1,32,32]
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include "shapes/procedural.h"
#include "shapes/triangle_mesh.h"

namespace shapediff::shapes {

struct RenderDatasetOptions {
  std::vector<ShapeFamily> families{ShapeFamily::Airplane, ShapeFamily::Car,
                                    ShapeFamily::Chair,    ShapeFamily::Lamp,
                                    ShapeFamily::Mug,      ShapeFamily::Table};
  int64_t per_family = 20;       // shapes per family, indices 0 .. per_family - 1
  int64_t views = 2;             // renders per shape
  int64_t size = 32;             // image width = height, [8, 1024]
  uint64_t seed = 0;             // shapes and views
  int64_t resolution = 64;       // procedural sampling grid (ProceduralOptions::resolution)
  double min_elevation = 10.0;   // degrees above the horizon, in [-89, 89]
  double max_elevation = 40.0;
  double fill = 0.9;             // fraction of the image the longer projected side spans, (0, 1]
  double floor = -0.5;           // value of the farthest surface, in (-1, 1)
  // Samples per pixel side, in [1, 8]; a pixel takes its nearest sub-sample's value.
  int64_t supersample = 2;

  // Throws std::invalid_argument naming the field and value.
  void validate() const;
};

struct RenderedImages {
  torch::Tensor images;                // [N,1,S,S] float32 in [-1, 1], -1 = background
  torch::Tensor labels;                // [N] int64, index into `families`
  std::vector<ShapeFamily> families;   // the options' families, in their order
  std::vector<std::string> names;      // [N] "<family>/<family>-<index:04>-v<view:02>"
};

// Renders family-major, then shape index, then view (the order of `names`). Parallel over
// shapes with at::parallel_for; the result does not depend on the thread count.
RenderedImages render_dataset(const RenderDatasetOptions& options);

// One view of `mesh` as described above: [1,S,S] float32. Uses size, fill and floor of
// `options`. Throws std::invalid_argument for an invalid or empty mesh.
torch::Tensor render_depth_image(const TriangleMesh& mesh, double azimuth_deg,
                                 double elevation_deg, const RenderDatasetOptions& options);

}  // namespace shapediff::shapes

// Uniform random points on the surface of a triangle mesh: a face is drawn with probability
// proportional to its area (zero-area faces are never drawn), then a uniform point inside it
// (square-root barycentric warp). Each point carries its face's unit normal. Computed on the
// CPU in double precision; the cloud is float32 [N,3] points and [N,3] normals, world units.
//
//   PointCloud pc = sample_surface(mesh, 2048, /*seed=*/7);
//   torch::Tensor faces;                                       // [N] int64, optional
//   PointCloud pc2 = sample_surface(mesh, 2048, generator, &faces);
#pragma once

#include <cstdint>

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include "shapes/point_cloud.h"
#include "shapes/triangle_mesh.h"

namespace shapediff::shapes {

// `generator` is a CPU generator (or undefined for torch's default one). When `face_index` is
// given it receives the face each point lies on, int64 [N]. Throws std::invalid_argument for an
// invalid mesh, a mesh without faces or without area, or num_points < 0.
PointCloud sample_surface(const TriangleMesh& mesh, int64_t num_points, at::Generator generator,
                          torch::Tensor* face_index = nullptr);
PointCloud sample_surface(const TriangleMesh& mesh, int64_t num_points, uint64_t seed,
                          torch::Tensor* face_index = nullptr);

}  // namespace shapediff::shapes

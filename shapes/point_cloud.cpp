#include "shapes/point_cloud.h"

#include <stdexcept>

#include <torch/torch.h>

#include "shapes/validation.h"

namespace shapediff::shapes {

void PointCloud::validate(const std::string& context) const {
  if (!points.defined()) throw std::invalid_argument(context + ": point cloud has no points tensor");
  detail::check_matrix(points, 3, context, "points");
  detail::check_finite(points, context, "points");
  if (normals.defined()) {
    detail::check_matrix(normals, 3, context, "normals");
    detail::check_rows(normals, points.size(0), context, "normals");
    detail::check_finite(normals, context, "normals");
  }
  if (colors.defined()) {
    detail::check_matrix(colors, 3, context, "colors");
    detail::check_rows(colors, points.size(0), context, "colors");
    detail::check_finite(colors, context, "colors");
  }
}

PointCloud PointCloud::select(const torch::Tensor& index) const {
  PointCloud out;
  out.points = points.index_select(0, index);
  if (normals.defined()) out.normals = normals.index_select(0, index);
  if (colors.defined()) out.colors = colors.index_select(0, index);
  return out;
}

}  // namespace shapediff::shapes

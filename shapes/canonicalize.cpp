#include "shapes/canonicalize.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <queue>
#include <stdexcept>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "shapes/validation.h"

namespace shapediff::shapes {
namespace {

constexpr const char* kAxisNames[] = {"+x", "-x", "+y", "-y", "+z", "-z"};

std::array<double, 3> axis_vector(Axis a) {
  std::array<double, 3> v{0, 0, 0};
  const int i = static_cast<int>(a);
  v[i / 2] = (i % 2 == 0) ? 1.0 : -1.0;
  return v;
}

torch::Tensor rotation_tensor(const std::array<double, 9>& r, const torch::TensorOptions& options) {
  return torch::tensor(std::vector<double>(r.begin(), r.end()), torch::kFloat64)
      .reshape({3, 3})
      .to(options);
}

void check_last_dim(const torch::Tensor& t, const std::string& context) {
  if (!t.defined() || t.dim() < 1 || t.size(-1) != 3 || !at::isFloatingType(t.scalar_type())) {
    throw std::invalid_argument(context + ": points must be a floating [..., 3] tensor, got " +
                                (t.defined() ? c10::str(t.sizes()) : "nothing"));
  }
}

double squared_distance(const double* p, int64_t i, int64_t j) {
  const double dx = p[3 * i] - p[3 * j], dy = p[3 * i + 1] - p[3 * j + 1],
               dz = p[3 * i + 2] - p[3 * j + 2];
  return dx * dx + dy * dy + dz * dz;
}

// Mean of the square roots of the k smallest squared distances, summed in ascending order so
// that the brute-force and tree paths agree to the last bit.
double mean_of_smallest(std::vector<double>& d2, int64_t k) {
  std::sort(d2.begin(), d2.end());
  double sum = 0;
  for (int64_t i = 0; i < k; ++i) sum += std::sqrt(d2[i]);
  return sum / static_cast<double>(k);
}

// k-d tree over points [N,3] (median splits on the widest axis) for k-nearest-neighbour queries.
class KdTree {
 public:
  KdTree(const double* points, int64_t n) : p_(points), index_(n) {
    std::iota(index_.begin(), index_.end(), 0);
    nodes_.reserve(static_cast<size_t>(2 * (n / kLeafSize + 1)));
    build(0, n);
  }

  // Squared distances to the k nearest points other than `self`, ascending.
  std::vector<double> nearest(int64_t self, int64_t k) const {
    std::priority_queue<double> heap;  // the k best so far, largest on top
    search(0, self, k, heap);
    std::vector<double> out;
    out.reserve(k);
    while (!heap.empty()) {
      out.push_back(heap.top());
      heap.pop();
    }
    std::reverse(out.begin(), out.end());
    return out;
  }

 private:
  static constexpr int64_t kLeafSize = 16;
  struct Node {
    int64_t begin, end;
    int axis = -1;  // -1 in a leaf
    double split = 0;
    int32_t left = -1, right = -1;
  };

  int32_t build(int64_t begin, int64_t end) {
    const auto id = static_cast<int32_t>(nodes_.size());
    nodes_.push_back({begin, end});
    if (end - begin <= kLeafSize) return id;
    double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (int64_t i = begin; i < end; ++i) {
      for (int k = 0; k < 3; ++k) {
        lo[k] = std::min(lo[k], p_[3 * index_[i] + k]);
        hi[k] = std::max(hi[k], p_[3 * index_[i] + k]);
      }
    }
    int axis = 0;
    for (int k = 1; k < 3; ++k) {
      if (hi[k] - lo[k] > hi[axis] - lo[axis]) axis = k;
    }
    const int64_t mid = begin + (end - begin) / 2;
    std::nth_element(index_.begin() + begin, index_.begin() + mid, index_.begin() + end,
                     [&](int64_t a, int64_t b) { return p_[3 * a + axis] < p_[3 * b + axis]; });
    const double split = p_[3 * index_[mid] + axis];
    const int32_t left = build(begin, mid);
    const int32_t right = build(mid, end);
    nodes_[id].axis = axis;
    nodes_[id].split = split;
    nodes_[id].left = left;
    nodes_[id].right = right;
    return id;
  }

  void search(int32_t id, int64_t self, int64_t k, std::priority_queue<double>& heap) const {
    const Node& n = nodes_[id];
    if (n.axis < 0) {
      for (int64_t i = n.begin; i < n.end; ++i) {
        const int64_t j = index_[i];
        if (j == self) continue;
        const double d2 = squared_distance(p_, self, j);
        if (static_cast<int64_t>(heap.size()) < k) {
          heap.push(d2);
        } else if (d2 < heap.top()) {
          heap.pop();
          heap.push(d2);
        }
      }
      return;
    }
    // Left holds coordinates <= split, right >= split along the axis.
    const double diff = p_[3 * self + n.axis] - n.split;
    const int32_t near = diff < 0 ? n.left : n.right;
    const int32_t far = diff < 0 ? n.right : n.left;
    search(near, self, k, heap);
    if (static_cast<int64_t>(heap.size()) < k || diff * diff < heap.top())
      search(far, self, k, heap);
  }

  const double* p_;
  std::vector<int64_t> index_;
  std::vector<Node> nodes_;
};

}  // namespace

std::string to_string(Axis axis) { return kAxisNames[static_cast<int>(axis)]; }

Axis parse_axis(const std::string& name) {
  for (int i = 0; i < 6; ++i) {
    if (name == kAxisNames[i]) return static_cast<Axis>(i);
  }
  if (name == "x") return Axis::PosX;
  if (name == "y") return Axis::PosY;
  if (name == "z") return Axis::PosZ;
  throw std::invalid_argument("axis '" + name +
                              "' is not one of +x, -x, +y, -y, +z, -z (or x, y, z)");
}

torch::Tensor SimilarityTransform::apply(const torch::Tensor& points) const {
  check_last_dim(points, "SimilarityTransform::apply");
  const auto r = rotation_tensor(rotation, points.options());
  const auto t = torch::tensor({translation[0], translation[1], translation[2]}, torch::kFloat64)
                     .to(points.options());
  return torch::matmul(points, r.t()) * scale + t;
}

torch::Tensor SimilarityTransform::invert(const torch::Tensor& points) const {
  check_last_dim(points, "SimilarityTransform::invert");
  const auto r = rotation_tensor(rotation, points.options());
  const auto t = torch::tensor({translation[0], translation[1], translation[2]}, torch::kFloat64)
                     .to(points.options());
  // Row vectors: (y - t) R / s is R^T (y - t) / s per point.
  return torch::matmul(points - t, r) / scale;
}

torch::Tensor SimilarityTransform::apply_to_directions(const torch::Tensor& directions) const {
  check_last_dim(directions, "SimilarityTransform::apply_to_directions");
  return torch::matmul(directions, rotation_tensor(rotation, directions.options()).t());
}

torch::Tensor SimilarityTransform::invert_directions(const torch::Tensor& directions) const {
  check_last_dim(directions, "SimilarityTransform::invert_directions");
  return torch::matmul(directions, rotation_tensor(rotation, directions.options()));
}

torch::Tensor SimilarityTransform::matrix() const {
  auto m = torch::eye(4, torch::kFloat64);
  m.slice(0, 0, 3).slice(1, 0, 3).copy_(rotation_tensor(rotation, torch::kFloat64) * scale);
  for (int d = 0; d < 3; ++d) m[d][3] = translation[d];
  return m;
}

SimilarityTransform SimilarityTransform::inverse() const {
  SimilarityTransform inv;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) inv.rotation[3 * i + j] = rotation[3 * j + i];
  }
  inv.scale = 1.0 / scale;
  for (int i = 0; i < 3; ++i) {
    double rt = 0;
    for (int j = 0; j < 3; ++j) rt += inv.rotation[3 * i + j] * translation[j];
    inv.translation[i] = -rt / scale;
  }
  return inv;
}

std::array<double, 9> axis_change_rotation(Axis from, Axis to) {
  const auto a = axis_vector(from);
  const auto b = axis_vector(to);
  std::array<double, 9> r{1, 0, 0, 0, 1, 0, 0, 0, 1};
  const double cos = a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  if (cos > 0.5) return r;
  if (cos < -0.5) {
    // Half turn about the next axis: 2 e e^T - I.
    std::array<double, 3> e{0, 0, 0};
    e[(static_cast<int>(from) / 2 + 1) % 3] = 1.0;
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) r[3 * i + j] = 2 * e[i] * e[j] - (i == j ? 1.0 : 0.0);
    }
    return r;
  }
  // Quarter turn about k = a x b: R = I + [k]x + [k]x^2 (Rodrigues with sin 1, cos 0).
  const double k[3] = {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                       a[0] * b[1] - a[1] * b[0]};
  const double kx[9] = {0, -k[2], k[1], k[2], 0, -k[0], -k[1], k[0], 0};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      double kx2 = 0;
      for (int m = 0; m < 3; ++m) kx2 += kx[3 * i + m] * kx[3 * m + j];
      r[3 * i + j] = (i == j ? 1.0 : 0.0) + kx[3 * i + j] + kx2;
    }
  }
  return r;
}

torch::Tensor knn_mean_distance(const torch::Tensor& points, int64_t k, int64_t brute_force_max) {
  const std::string context = "knn_mean_distance";
  detail::check_matrix(points, 3, context, "points");
  detail::check_finite(points, context, "points");
  const int64_t n = points.size(0);
  if (k < 1 || k >= n) {
    throw std::invalid_argument(context + ": neighbors must be in [1, " + std::to_string(n - 1) +
                                "] for " + std::to_string(n) + " points, got " + std::to_string(k));
  }
  const auto p = points.to(torch::kCPU, torch::kFloat64).contiguous();
  const double* pp = p.data_ptr<double>();
  auto out = torch::empty({n}, torch::kFloat64);
  double* op = out.data_ptr<double>();
  if (n <= brute_force_max) {
    at::parallel_for(0, n, 16, [&](int64_t b, int64_t e) {
      std::vector<double> d2(n - 1);
      for (int64_t i = b; i < e; ++i) {
        int64_t m = 0;
        for (int64_t j = 0; j < n; ++j) {
          if (j != i) d2[m++] = squared_distance(pp, i, j);
        }
        std::nth_element(d2.begin(), d2.begin() + (k - 1), d2.end());
        std::vector<double> smallest(d2.begin(), d2.begin() + k);
        op[i] = mean_of_smallest(smallest, k);
      }
    });
    return out;
  }
  const KdTree tree(pp, n);
  at::parallel_for(0, n, 64, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      auto d2 = tree.nearest(i, k);
      op[i] = mean_of_smallest(d2, k);
    }
  });
  return out;
}

torch::Tensor statistical_outlier_mask(const torch::Tensor& points, const OutlierOptions& options) {
  if (!(options.std_ratio >= 0) || !std::isfinite(options.std_ratio)) {
    throw std::invalid_argument(
        "statistical_outlier_mask: std_ratio must be finite and >= 0, got " +
        std::to_string(options.std_ratio));
  }
  const auto d = knn_mean_distance(points, options.neighbors, options.brute_force_max);
  const double mean = d.mean().item<double>();
  const double std_dev = d.numel() > 1 ? d.std(/*unbiased=*/true).item<double>() : 0.0;
  return d <= mean + options.std_ratio * std_dev;
}

CanonicalScan canonicalize_scan(const PointCloud& scan, const CanonicalizeOptions& options) {
  const std::string context = "canonicalize_scan";
  scan.validate(context);
  if (scan.empty()) throw std::invalid_argument(context + ": scan has no points");
  if (options.scaling == NormalizationKind::DatasetGlobal) {
    throw std::invalid_argument(context +
                                ": scaling must be unit_sphere, unit_box or identity, got "
                                "dataset_global (pass it as model_normalization)");
  }
  if (options.model_normalization)
    options.model_normalization->validate(context + " model_normalization");

  CanonicalScan out;
  out.kept = options.remove_outliers
                 ? statistical_outlier_mask(scan.points, options.outliers).nonzero().select(1, 0)
                 : torch::arange(scan.size(), torch::kLong);
  const PointCloud inliers = options.remove_outliers ? scan.select(out.kept) : scan;
  const auto x = inliers.points.to(torch::kCPU, torch::kFloat64);
  const auto mean = x.mean(0);
  const auto centred = x - mean;

  auto rotation = torch::eye(3, torch::kFloat64);
  if (options.pca_align) {
    const auto cov = torch::matmul(centred.t(), centred) / static_cast<double>(x.size(0));
    const auto eig = at::linalg_eigh(cov);
    const auto vectors = std::get<1>(eig);  // columns, ascending eigenvalues
    std::vector<torch::Tensor> axes;
    for (int64_t c : {2, 1}) {
      auto e = vectors.select(1, c).clone();
      if (torch::matmul(centred, e).pow(3).sum().item<double>() < 0) e = -e;
      axes.push_back(e);
    }
    axes.push_back(torch::cross(axes[0], axes[1], 0));
    rotation = torch::stack(axes, 0);
  }
  const auto up =
      rotation_tensor(axis_change_rotation(options.up_from, options.up_to), torch::kFloat64);
  rotation = torch::matmul(up, rotation);
  const auto rotated = torch::matmul(centred, rotation.t());

  Normalization shape_norm;
  switch (options.scaling) {
    case NormalizationKind::UnitSphere:
      shape_norm = Normalization::unit_sphere(rotated, options.sphere_center);
      break;
    case NormalizationKind::UnitBox:
      shape_norm = Normalization::unit_box(rotated);
      break;
    default:
      break;
  }
  const Normalization model = options.model_normalization.value_or(Normalization{});

  SimilarityTransform& tf = out.transform;
  const auto rc = rotation.contiguous();
  for (int i = 0; i < 9; ++i) tf.rotation[i] = rc.data_ptr<double>()[i];
  tf.scale = 1.0 / (shape_norm.scale * model.scale);
  const auto origin_image =
      model.apply(shape_norm.apply(torch::matmul(-mean, rotation.t()).unsqueeze(0)))[0];
  for (int d = 0; d < 3; ++d) tf.translation[d] = origin_image[d].item<double>();

  out.cloud.points = tf.apply(x).to(inliers.points.scalar_type());
  if (inliers.has_normals()) {
    out.cloud.normals = tf.apply_to_directions(inliers.normals.to(torch::kCPU));
  }
  if (inliers.has_colors()) out.cloud.colors = inliers.colors.to(torch::kCPU);
  return out;
}

}  // namespace shapediff::shapes

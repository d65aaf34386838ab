#include "networks/sparse/sparse_tensor.h"

#include <c10/util/StringUtil.h>
#include <torch/torch.h>

#include <stdexcept>
#include <utility>

#include "networks/sparse/coordinate_key.h"
#include "networks/sparse/kernel_map.h"
#include "networks/sparse/sparse_backend.h"

namespace shapediff::sparse {
namespace {

template <typename... Args>
void require(bool ok, const char* op, const Args&... message) {
  if (!ok) throw std::invalid_argument(c10::str(op, ": ", message...));
}

void check_features(const torch::Tensor& features, const torch::Tensor& coords, const char* op) {
  require(features.defined(), op, "features is undefined");
  require(features.is_floating_point(), op, "features must be floating point, got ",
          features.scalar_type());
  require(features.dim() == 2, op, "features must be [N, C], got ", features.sizes());
  require(features.size(0) == coords.size(0), op, "features has ", features.size(0),
          " rows but coords has ", coords.size(0));
  require(features.device() == coords.device(), op, "features are on ", features.device(),
          " but coords on ", coords.device());
}

}  // namespace

SparseTensor::SparseTensor(torch::Tensor coords, torch::Tensor features, int64_t stride,
                           std::shared_ptr<CoordinateManager> manager)
    : SparseTensor(std::move(coords), std::move(features), stride, std::move(manager), false) {}

SparseTensor::SparseTensor(torch::Tensor coords, torch::Tensor features, int64_t stride,
                           std::shared_ptr<CoordinateManager> manager, bool validated)
    : coords_(coords.defined() ? coords.contiguous() : coords),
      features_(std::move(features)),
      stride_(stride),
      manager_(manager ? std::move(manager) : std::make_shared<CoordinateManager>()) {
  if (validated) return;
  const char* op = "SparseTensor";
  require(stride_ >= 1, op, "stride must be >= 1, got ", stride_);
  detail::check_coords(coords_, op, "coords");
  check_features(features_, coords_, op);
  // Only the duplicate check is wanted; the hash itself is rebuilt where a map needs it.
  torch::Tensor keys, values;
  detail::build_hash(coords_, op, keys, values);
}

SparseTensor SparseTensor::replace_features(torch::Tensor features) const {
  check_features(features, coords_, "SparseTensor::replace_features");
  return SparseTensor(coords_, std::move(features), stride_, manager_, true);
}

SparseTensor SparseTensor::to(torch::Device device) const {
  return SparseTensor(coords_.to(device), features_.to(device), stride_, nullptr, true);
}

torch::Tensor SparseTensor::to_dense(std::array<int64_t, 3> spatial, int64_t batch) const {
  const char* op = "SparseTensor::to_dense";
  require(batch >= 1, op, "batch must be >= 1, got ", batch);
  for (int d = 0; d < 3; ++d) {
    require(spatial[d] >= 1, op, "spatial size ", d, " must be >= 1, got ", spatial[d]);
  }
  const int64_t n = size();
  if (n > 0) {
    const auto limits = torch::tensor({batch, spatial[0], spatial[1], spatial[2]},
                                      coords_.options().dtype(torch::kLong));
    const auto outside = coords_.ge(limits).any(1);
    if (outside.any().item<bool>()) {
      const int64_t row = outside.nonzero()[0][0].item<int64_t>();
      const auto cell = coords_[row].cpu();
      const int32_t* c = cell.data_ptr<int32_t>();
      require(false, op, "coords row ", row, " (", c[0], ", ", c[1], ", ", c[2], ", ", c[3],
              ") lies outside batch ", batch, " x [", spatial[0], ", ", spatial[1], ", ",
              spatial[2], "]");
    }
  }
  const int64_t channels = features_.size(1);
  const auto c = coords_.to(torch::kLong);
  const auto flat = ((c.select(1, 0) * spatial[0] + c.select(1, 1)) * spatial[1] +
                     c.select(1, 2)) * spatial[2] + c.select(1, 3);
  auto dense = torch::zeros({batch * spatial[0] * spatial[1] * spatial[2], channels},
                            features_.options());
  dense = dense.index_copy(0, flat, features_);
  return dense.view({batch, spatial[0], spatial[1], spatial[2], channels})
      .permute({0, 4, 1, 2, 3})
      .contiguous();
}

SparseTensor SparseTensor::from_dense(const torch::Tensor& dense, const torch::Tensor& active,
                                      int64_t stride) {
  const char* op = "SparseTensor::from_dense";
  require(stride >= 1, op, "stride must be >= 1, got ", stride);
  require(dense.defined() && active.defined(), op, "dense and active must be defined");
  require(dense.is_floating_point(), op, "dense must be floating point, got ",
          dense.scalar_type());
  require(dense.dim() == 5, op, "dense must be [B, C, X, Y, Z], got ", dense.sizes());
  require(active.scalar_type() == torch::kBool, op, "active must be bool, got ",
          active.scalar_type());
  require(active.dim() == 4 && active.size(0) == dense.size(0) &&
              active.size(1) == dense.size(2) && active.size(2) == dense.size(3) &&
              active.size(3) == dense.size(4),
          op, "active must be [B, X, Y, Z] of dense ", dense.sizes(), ", got ", active.sizes());
  require(active.device() == dense.device(), op, "active is on ", active.device(),
          " but dense on ", dense.device());
  require(dense.size(0) <= detail::kMaxBatch, op, "batch ", dense.size(0),
          " is too large (at most 32768)");
  for (int d = 2; d < 5; ++d) {
    require(dense.size(d) <= detail::kMaxCoordinate, op, "spatial size ", dense.size(d),
            " is too large (at most 65536)");
  }
  auto coords = active.nonzero().to(torch::kInt32);
  auto features = dense.permute({0, 2, 3, 4, 1}).index({active});
  // nonzero() yields each active cell once, in row-major order, within the checked bounds.
  return SparseTensor(std::move(coords), std::move(features), stride, nullptr, true);
}

}  // namespace shapediff::sparse

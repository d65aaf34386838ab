#include "shapes/validation.h"

#include <stdexcept>

#include <torch/torch.h>

namespace shapediff::shapes::detail {

void check_matrix(const torch::Tensor& t, int64_t cols, const std::string& context,
                  const std::string& field, bool integer) {
  if (!t.defined()) throw std::invalid_argument(context + ": " + field + " is missing");
  if (t.dim() != 2 || t.size(1) != cols) {
    throw std::invalid_argument(context + ": " + field + " must be [N," + std::to_string(cols) +
                                "], got " + c10::str(t.sizes()));
  }
  const bool is_float = at::isFloatingType(t.scalar_type());
  if (integer == is_float) {
    throw std::invalid_argument(context + ": " + field + " must be " +
                                (integer ? "an integer" : "a floating-point") + " tensor, got " +
                                c10::toString(t.scalar_type()));
  }
}

void check_rows(const torch::Tensor& t, int64_t rows, const std::string& context,
                const std::string& field) {
  if (t.size(0) != rows) {
    throw std::invalid_argument(context + ": " + field + " has " + std::to_string(t.size(0)) +
                                " rows, expected " + std::to_string(rows));
  }
}

void check_finite(const torch::Tensor& t, const std::string& context, const std::string& field) {
  if (t.numel() == 0) return;
  const auto bad = torch::isfinite(t).logical_not();
  if (bad.any().item<bool>()) {
    const auto row = bad.reshape({t.size(0), -1}).any(1).nonzero()[0][0].item<int64_t>();
    throw std::invalid_argument(context + ": " + field + " row " + std::to_string(row) +
                                " is not finite (NaN or Inf)");
  }
}

}  // namespace shapediff::shapes::detail

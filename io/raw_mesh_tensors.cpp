#include "io/raw_mesh_tensors.h"

#include <torch/torch.h>

#include <cstring>

namespace shapediff::io {

torch::Tensor float_rows(const std::vector<float>& values, bool keep_empty) {
  if (values.empty() && !keep_empty) return {};
  auto out = torch::empty({static_cast<int64_t>(values.size() / 3), 3}, torch::kFloat32);
  if (!values.empty())
    std::memcpy(out.data_ptr<float>(), values.data(), values.size() * sizeof(float));
  return out;
}

torch::Tensor index_rows(const std::vector<int64_t>& values) {
  auto out = torch::empty({static_cast<int64_t>(values.size() / 3), 3}, torch::kInt64);
  if (!values.empty()) {
    std::memcpy(out.data_ptr<int64_t>(), values.data(), values.size() * sizeof(int64_t));
  }
  return out;
}

std::vector<float> float_values(const torch::Tensor& rows) {
  const auto t = rows.to(torch::kCPU, torch::kFloat32).contiguous();
  const float* p = t.data_ptr<float>();
  return std::vector<float>(p, p + t.numel());
}

std::vector<int64_t> index_values(const torch::Tensor& rows) {
  const auto t = rows.to(torch::kCPU, torch::kInt64).contiguous();
  const int64_t* p = t.data_ptr<int64_t>();
  return std::vector<int64_t>(p, p + t.numel());
}

}  // namespace shapediff::io

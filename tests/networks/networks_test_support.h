// Helpers the networks tests share.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

namespace shapediff::test {

// Runs fn and expects a one-line std::invalid_argument whose message contains `needle`.
inline void expect_error(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no error, expected one mentioning '" << needle << "'";
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

// Distinct random cells (int32 [N,4]: batch, x, y, z) of `batches` grids of extent^3, each cell
// active with probability `density`, in shuffled row order so nothing may rely on sorting.
inline torch::Tensor random_sparse_coords(int64_t batches, int64_t extent, double density) {
  const auto active = torch::rand({batches, extent, extent, extent}).lt(density);
  const auto coords = active.nonzero().to(torch::kInt32);
  return coords.index_select(0, torch::randperm(coords.size(0))).contiguous();
}

}  // namespace shapediff::test

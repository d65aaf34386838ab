// Conversions between the torch-free RawMesh of io/formats/ and tensors: [N,3] float32 rows
// and [F,3] int64 faces, copied (a RawMesh owns std::vector storage).
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

#include "io/formats/raw_mesh.h"

namespace shapediff::io {

// [values.size()/3, 3] float32 (undefined when `values` is empty and `keep_empty` is false).
torch::Tensor float_rows(const std::vector<float>& values, bool keep_empty);
// [values.size()/3, 3] int64.
torch::Tensor index_rows(const std::vector<int64_t>& values);

// The values of a [N,3] tensor (any floating dtype or device) as float32, row-major.
std::vector<float> float_values(const torch::Tensor& rows);
// The values of a [F,3] integer tensor as int64, row-major.
std::vector<int64_t> index_values(const torch::Tensor& rows);

}  // namespace shapediff::io

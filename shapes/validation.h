// Shared checks for the shape types: one-line std::invalid_argument messages that start with
// the caller's context (usually a file name) and name the field.
#pragma once

#include <string>

#include <torch/types.h>

namespace shapediff::shapes::detail {

// t is 2-D [*, cols] of a floating type (or integer when `integer` is set).
void check_matrix(const torch::Tensor& t, int64_t cols, const std::string& context,
                  const std::string& field, bool integer = false);
void check_rows(const torch::Tensor& t, int64_t rows, const std::string& context,
                const std::string& field);
// Every value finite; the message gives the first bad row.
void check_finite(const torch::Tensor& t, const std::string& context, const std::string& field);

}  // namespace shapediff::shapes::detail

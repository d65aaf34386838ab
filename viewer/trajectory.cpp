#include "viewer/trajectory.h"

#include <sstream>
#include <stdexcept>

#include <torch/torch.h>

#include "io/npz.h"

namespace shapediff::viewer {
namespace {

std::string shape_text(at::IntArrayRef s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? "," : "") << s[i];
  o << "]";
  return o.str();
}

[[noreturn]] void fail(const std::string& context, const std::string& name, const std::string& what) {
  throw std::runtime_error(context + ": array '" + name + "' " + what);
}

void require_defined(const std::string& context, const std::string& name, const torch::Tensor& t) {
  if (!t.defined()) {
    throw std::runtime_error(context + ": no array '" + name +
                             "' (a trajectory has x, x0, step and timestep)");
  }
}

bool is_number(const torch::Tensor& t) {
  return t.is_floating_point() || at::isIntegralType(t.scalar_type(), /*includeBool=*/false);
}

}  // namespace

void Trajectory::validate(const std::string& context) {
  for (const auto& [name, t] : {std::pair<const char*, torch::Tensor&>{"x", x}, {"x0", x0},
                                {"step", step}, {"timestep", timestep}}) {
    require_defined(context, name, t);
    if (!is_number(t)) fail(context, name, "has dtype " + std::string(c10::toString(t.scalar_type())) + " (expected numbers)");
  }
  if (x.dim() != 4 || x.size(3) != 3) {
    fail(context, "x", "has shape " + shape_text(x.sizes()) + " (expected [F,B,N,3])");
  }
  if (x.size(0) == 0) fail(context, "x", "has no frames");
  if (x.size(1) == 0) fail(context, "x", "has no shapes");
  if (x.size(2) == 0) fail(context, "x", "has no points (an empty cloud)");
  const std::string expected = " (expected " + shape_text(x.sizes());
  if (x0.sizes() != x.sizes()) fail(context, "x0", "has shape " + shape_text(x0.sizes()) + expected + " like x)");
  const std::vector<int64_t> frames{x.size(0)};
  if (step.sizes() != at::IntArrayRef(frames)) {
    fail(context, "step", "has shape " + shape_text(step.sizes()) + " (expected [" + std::to_string(x.size(0)) + "], one per frame of x)");
  }
  if (timestep.sizes() != at::IntArrayRef(frames)) {
    fail(context, "timestep", "has shape " + shape_text(timestep.sizes()) + " (expected [" + std::to_string(x.size(0)) + "], one per frame of x)");
  }
  x = x.to(torch::kCPU, torch::kFloat32).contiguous();
  x0 = x0.to(torch::kCPU, torch::kFloat32).contiguous();
  step = step.to(torch::kCPU, torch::kLong);
  timestep = timestep.to(torch::kCPU, torch::kDouble);
  if (!torch::isfinite(x).all().item<bool>()) fail(context, "x", "has non-finite coordinates");
  if (!torch::isfinite(x0).all().item<bool>()) fail(context, "x0", "has non-finite coordinates");
  if (!torch::isfinite(timestep).all().item<bool>()) fail(context, "timestep", "has non-finite values");
  if (known.defined()) {
    const std::vector<int64_t> bn{x.size(1), x.size(2)};
    if (known.sizes() != at::IntArrayRef(bn)) {
      fail(context, "known", "has shape " + shape_text(known.sizes()) + " (expected [" +
                                 std::to_string(x.size(1)) + "," + std::to_string(x.size(2)) + "], one flag per point)");
    }
    if (known.scalar_type() != torch::kBool) {
      if (known.scalar_type() != torch::kUInt8 || (known > 1).any().item<bool>()) {
        fail(context, "known", "must be bool or uint8 0/1");
      }
      known = known.to(torch::kBool);
    }
    known = known.to(torch::kCPU).contiguous();
  }
}

Trajectory read_trajectory(const std::string& path) {
  auto arrays = io::read_npz(path);
  auto get = [&](const std::string& name) {
    auto it = arrays.find(name);
    return it == arrays.end() ? torch::Tensor() : it->second;
  };
  Trajectory t{get("x"), get("x0"), get("step"), get("timestep"), get("known")};
  t.validate(path);
  return t;
}

double noise_rms(const Trajectory& t, int64_t f, int64_t b) {
  return (t.x[f][b] - t.x0[f][b]).square().sum(1).mean().sqrt().item<double>();
}

}  // namespace shapediff::viewer

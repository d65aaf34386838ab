// Helpers shared by the diffusion tests: where the reference data lives.
#pragma once

#include <cstdlib>
#include <string>

namespace shapediff::testing {

// ../shared/reference beside the checkout, or $SHAPEDIFF_REFERENCE_DIR.
inline std::string reference_dir() {
  if (const char* env = std::getenv("SHAPEDIFF_REFERENCE_DIR")) return env;
  return std::string(SHAPEDIFF_SHARED_DIR) + "/reference";
}

inline std::string diffusers_reference() {
  return reference_dir() + "/diffusers_schedulers.json";
}

}  // namespace shapediff::testing

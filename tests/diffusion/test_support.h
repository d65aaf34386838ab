// Helpers shared by the diffusion tests: where the reference data lives, scratch folders.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
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

// A fresh folder under the system temp dir (<prefix>-XXXXXX), removed with everything in it
// when the object goes away.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& prefix = "shapediff-test") {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
    dir_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

 private:
  std::filesystem::path dir_;
};

}  // namespace shapediff::testing

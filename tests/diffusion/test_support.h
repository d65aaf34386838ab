// Helpers shared by the diffusion tests: where the reference data lives, scratch folders,
// error messages, training logs.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "diffusion/training_run.h"

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

// What fn throws, for tests that check an error message: the message of a std::invalid_argument
// (invalid_argument_message) or of any std::exception (exception_message); a placeholder that no
// expected message contains when fn throws nothing of the kind.
inline std::string invalid_argument_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no std::invalid_argument)";
}

inline std::string exception_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

// The loss of every line of a training run's log.jsonl, in order.
inline std::vector<double> logged_losses(const std::string& run) {
  std::ifstream in(diffusion::run_log_path(run));
  std::vector<double> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line).at("loss").get<double>());
  return out;
}

}  // namespace shapediff::testing

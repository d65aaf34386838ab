#include "diffusion/training_run.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>

namespace shapediff::diffusion {

namespace fs = std::filesystem;

std::string run_config_path(const std::string& run) { return (fs::path(run) / "config.json").string(); }
std::string run_log_path(const std::string& run) { return (fs::path(run) / "log.jsonl").string(); }
std::string run_loss_plot_path(const std::string& run) { return (fs::path(run) / "loss.png").string(); }
std::string run_model_path(const std::string& run) { return (fs::path(run) / "model.pt").string(); }
std::string checkpoint_dir(const std::string& run) { return (fs::path(run) / "checkpoints").string(); }

std::string checkpoint_path(const std::string& run, int64_t step) {
  char name[32];
  std::snprintf(name, sizeof(name), "step-%08lld.pt", static_cast<long long>(step));
  return (fs::path(checkpoint_dir(run)) / name).string();
}

std::vector<CheckpointEntry> list_checkpoints(const std::string& run) {
  std::vector<CheckpointEntry> out;
  std::error_code ec;
  const fs::path dir = checkpoint_dir(run);
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    // step-<digits>.pt exactly; "step-00000010.pt.tmp-123" is an unfinished write.
    if (name.size() < 9 || name.rfind("step-", 0) != 0 || name.substr(name.size() - 3) != ".pt") continue;
    const std::string digits = name.substr(5, name.size() - 8);
    if (digits.empty() || digits.size() > 18 ||
        !std::all_of(digits.begin(), digits.end(), [](unsigned char c) { return std::isdigit(c); })) {
      continue;
    }
    out.push_back({std::stoll(digits), entry.path().string()});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.step < b.step; });
  return out;
}

std::optional<CheckpointEntry> latest_checkpoint(const std::string& run) {
  auto all = list_checkpoints(run);
  if (all.empty()) return std::nullopt;
  return all.back();
}

}  // namespace shapediff::diffusion

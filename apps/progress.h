// A progress line on stderr for long jobs: "make  120/600 shapes  4.2/s  ETA 1m54s".
// Redrawn in place on a terminal, printed every 10% otherwise (logs, CI).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace shapediff::apps {

class Progress {
 public:
  // `start`: work already done before this session (a resumed job); the rate counts from it.
  Progress(std::string what, int64_t total, std::string unit, int64_t start = 0);
  // `detail` is shown after the rate (e.g. "loss 0.0312").
  void update(int64_t done, const std::string& detail = "");
  void finish();

 private:
  std::string what_, unit_;
  int64_t total_;
  int64_t start_count_;
  int64_t last_decile_ = -1;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace shapediff::apps

// A progress line on stderr for long jobs: "make  120/600 shapes  4.2/s  ETA 1m54s".
// Redrawn in place on a terminal, printed every 10% otherwise (logs, CI).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace shapediff::apps {

class Progress {
 public:
  Progress(std::string what, int64_t total, std::string unit);
  void update(int64_t done);
  void finish();

 private:
  std::string what_, unit_;
  int64_t total_;
  int64_t last_decile_ = -1;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace shapediff::apps

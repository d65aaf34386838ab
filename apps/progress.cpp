#include "apps/progress.h"

#include <unistd.h>

#include <cstdio>

namespace shapediff::apps {

Progress::Progress(std::string what, int64_t total, std::string unit, int64_t start)
    : what_(std::move(what)), unit_(std::move(unit)), total_(total), start_count_(start),
      tty_(::isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()) {}

void Progress::update(int64_t done, const std::string& detail) {
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = secs > 0 ? static_cast<double>(done - start_count_) / secs : 0.0;
  const int64_t decile = total_ > 0 ? done * 10 / total_ : 10;
  if (!tty_ && decile == last_decile_) return;
  last_decile_ = decile;
  const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0.0;
  std::fprintf(stderr, "%s%s %lld/%lld %s  %.1f/s%s%s  ETA %dm%02ds%s", tty_ ? "\r" : "",
               what_.c_str(), static_cast<long long>(done), static_cast<long long>(total_),
               unit_.c_str(), rate, detail.empty() ? "" : "  ", detail.c_str(),
               static_cast<int>(eta) / 60, static_cast<int>(eta) % 60, tty_ ? "   " : "\n");
  std::fflush(stderr);
}

void Progress::finish() {
  if (tty_) std::fprintf(stderr, "\n");
}

}  // namespace shapediff::apps

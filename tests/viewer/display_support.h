// The rendering tests need an X display. With $DISPLAY set they use it; otherwise the first
// call starts a private Xvfb (stopped when the test process exits). Tests GTEST_SKIP when
// neither is possible.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

namespace shapediff::viewer::test {

inline pid_t& xvfb_pid() {
  static pid_t pid = 0;
  return pid;
}

inline void stop_xvfb() {
  if (xvfb_pid() > 0) {
    ::kill(xvfb_pid(), SIGTERM);
    ::waitpid(xvfb_pid(), nullptr, 0);
    xvfb_pid() = 0;
  }
}

inline bool start_xvfb() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    const int display = 100 + static_cast<int>((::getpid() * 7 + attempt * 13) % 800);
    const std::string lock = "/tmp/.X" + std::to_string(display) + "-lock";
    if (std::filesystem::exists(lock)) continue;
    const std::string name = ":" + std::to_string(display);
    const pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) {
      ::execlp("Xvfb", "Xvfb", name.c_str(), "-screen", "0", "1280x1024x24", "-nolisten", "tcp",
               static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const std::string socket = "/tmp/.X11-unix/X" + std::to_string(display);
    for (int wait = 0; wait < 100; ++wait) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) break;  // exited: no Xvfb, or the display was taken
      if (std::filesystem::exists(socket)) {
        xvfb_pid() = pid;
        std::atexit(stop_xvfb);
        ::setenv("DISPLAY", name.c_str(), 1);
        return true;
      }
    }
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
  }
  return false;
}

// True when an X display is available to this process (starting Xvfb if needed).
inline bool ensure_display() {
  static const bool ok = [] {
    const char* d = std::getenv("DISPLAY");
    if (d != nullptr && *d != '\0') return true;
    return start_xvfb();
  }();
  return ok;
}

}  // namespace shapediff::viewer::test

// Wall clock, injectable so that tests can move time.
#pragma once

#include <chrono>
#include <cstdint>

namespace loyalty::app {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_ms() const = 0;  // unix milliseconds
};

class SystemClock final : public Clock {
 public:
  int64_t now_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace loyalty::app

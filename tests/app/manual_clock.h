// The wall clock of the app tests: it stands still until the test moves `now`.
#pragma once

#include <cstdint>

#include "app/clock.h"

namespace loyalty::testing {

class ManualClock final : public app::Clock {
 public:
  int64_t now_ms() const override { return now; }
  int64_t now = 1'795'000'000'000;  // 2026-11-18
};

}  // namespace loyalty::testing

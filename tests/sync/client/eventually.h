// Polling for the sync tests, which drive real threads, sockets and processes: there is no
// clock to inject into a hub process or the kernel.
#pragma once

#include <chrono>
#include <thread>

namespace loyalty::testing {

// Polls every 10 ms until `done()` or `limit`; gives done()'s last answer.
template <class F>
bool eventually(F done, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

}  // namespace loyalty::testing

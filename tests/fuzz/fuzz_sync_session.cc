// libFuzzer entry for the hub's session state machine (sync/hub/hub_core.h): the input is
// split at '\n' into text frames that branch B01 sends after a valid hello, against one hub
// on an in-memory SQLite database. Any bytes: no crash, hang or sanitizer report; a session
// that closed sends nothing more; every frame the hub sends decodes.
// Seeds: tests/fuzz/corpus/sync_session/.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "sync/hub/hub_core.h"
#include "sync/protocol/frames.h"

namespace {

loyalty::sync::hub::HubCore& the_hub() {
  static std::unique_ptr<loyalty::sync::hub::HubCore> h = [] {
    auto store = loyalty::sync::hub::HubStore::open(":memory:");
    if (!store.ok()) __builtin_trap();
    loyalty::sync::hub::HubLimits limits;
    limits.push_rate_per_s = 0;  // no rate limit: every frame reaches the store
    return std::make_unique<loyalty::sync::hub::HubCore>(std::move(*store), limits);
  }();
  return *h;
}

void check(const loyalty::sync::hub::SessionOutput& out) {
  for (const auto& f : out.frames) {
    if (!loyalty::sync::decode_frame(f).ok()) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace loyalty::sync;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  hub::SessionCore session(the_hub(), "B01");
  check(session.on_text(encode(Hello{1, "B01", "ep", 0, 0, "", "", 0}), 1));
  size_t start = 0;
  int64_t now = 2;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const bool was_closed = session.closed();
    auto out = session.on_text(text.substr(start, end - start), now++);
    if (was_closed && !out.frames.empty()) __builtin_trap();
    check(out);
    check(session.pump(now));
    start = end + 1;
  }
  return 0;
}

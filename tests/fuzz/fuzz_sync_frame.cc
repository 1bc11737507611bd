// libFuzzer entry for the sync protocol decoder (sync/protocol/frames.h): any bytes give a
// Frame or an Error, never a crash, hang or sanitizer report; a decoded frame re-encodes to
// text that decodes to an equal frame. Seeds: tests/fuzz/corpus/sync_frame/.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "sync/protocol/frames.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto frame = loyalty::sync::decode_frame(text);
  if (frame.ok()) {
    const std::string again = loyalty::sync::encode(*frame);
    auto reparsed = loyalty::sync::decode_frame(again);
    if (!reparsed.ok() || !(*reparsed == *frame)) {
      __builtin_trap();  // encode must give back the same frame
    }
  } else {
    const std::string body =
        loyalty::sync::encode(loyalty::sync::error_frame_for(frame.error(), true));
    static_cast<void>(body);
  }
  return 0;
}

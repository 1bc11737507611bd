// libFuzzer entry for the contract's JSON request parser (protocol/codec.h): any bytes give
// a ParsedRequest or an Error, never a crash, hang or sanitizer report; a parsed request
// re-encodes, and encoding an error always works. Seeds: tests/fuzz/corpus/request/.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = loyalty::protocol::parse_request(text, "B01");
  if (parsed.ok()) {
    const std::string again = loyalty::protocol::encode_request(parsed->request);
    auto reparsed = loyalty::protocol::parse_request(again, "B01");
    if (!reparsed.ok()) {
      __builtin_trap();  // encode_request must give back a request the parser accepts
    }
  } else {
    const std::string body = loyalty::protocol::encode_error(parsed.error(), "x");
    static_cast<void>(body);
  }
  return 0;
}

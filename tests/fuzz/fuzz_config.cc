// libFuzzer entry for the TOML configuration loader (config/load.h): any text gives
// Settings or an invalid_config Error naming the key, never a crash, hang or sanitizer
// report. Seeds: tests/fuzz/corpus/config/.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/load.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto settings = loyalty::config::parse_settings(text, "/fuzz/loyalty.toml");
  static_cast<void>(settings.ok());
  return 0;
}

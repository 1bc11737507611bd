// libFuzzer entry for the POSLog adapter: any bytes must give a Translation or an Error,
// never a crash, a hang, an exception or a sanitizer report. Seeds: tests/fuzz/corpus/poslog/.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "adapters/adapter.h"
#include "adapters/poslog/poslog_adapter.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const loyalty::adapters::Mapping kMapping{};
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto result = loyalty::adapters::poslog::adapter().translate(bytes, kMapping);
  if (result.ok()) {
    // Touch the output so that a translation with dangling parts would be caught by ASan.
    size_t n = 0;
    for (const auto& e : result->events) {
      n += loyalty::domain::header_of(e.request).id.size();
    }
    for (const auto& s : result->skipped) {
      n += s.reason.size();
    }
    static_cast<void>(n);
  }
  return 0;
}

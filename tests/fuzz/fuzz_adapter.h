// The body shared by the adapters' libFuzzer entries: any bytes must give a Translation or
// an Error, never a crash, a hang, an exception or a sanitizer report.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "adapters/adapter.h"

namespace loyalty::adapters::fuzz {

inline int translate_any(const Adapter& adapter, const uint8_t* data, size_t size) {
  static const Mapping kMapping{};
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto result = adapter.translate(bytes, kMapping);
  if (result.ok()) {
    // Touch the output so that a translation with dangling parts would be caught by ASan.
    size_t n = 0;
    for (const auto& e : result->events) {
      n += domain::header_of(e.request).id.size();
    }
    for (const auto& s : result->skipped) {
      n += s.reason.size();
    }
    static_cast<void>(n);
  }
  return 0;
}

}  // namespace loyalty::adapters::fuzz

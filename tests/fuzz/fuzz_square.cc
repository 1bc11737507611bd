// libFuzzer entry for the Square adapter (see fuzz_adapter.h). Seeds: tests/fuzz/corpus/square/.
#include "adapters/square/square_adapter.h"
#include "fuzz_adapter.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return loyalty::adapters::fuzz::translate_any(loyalty::adapters::square::adapter(), data, size);
}

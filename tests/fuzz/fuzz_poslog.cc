// libFuzzer entry for the POSLog adapter (see fuzz_adapter.h). Seeds: tests/fuzz/corpus/poslog/.
#include "adapters/poslog/poslog_adapter.h"
#include "fuzz_adapter.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return loyalty::adapters::fuzz::translate_any(loyalty::adapters::poslog::adapter(), data, size);
}

// libFuzzer entry for the Odoo adapter (see fuzz_adapter.h). Seeds: tests/fuzz/corpus/odoo/.
#include "adapters/odoo/odoo_adapter.h"
#include "fuzz_adapter.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return loyalty::adapters::fuzz::translate_any(loyalty::adapters::odoo::adapter(), data, size);
}

// Every adapter, listed explicitly: adding a format means adding a line here.
#include "adapters/adapter.h"
#include "adapters/odoo/odoo_adapter.h"
#include "adapters/poslog/poslog_adapter.h"
#include "adapters/square/square_adapter.h"

namespace loyalty::adapters {

std::span<const Adapter* const> all_adapters() {
  static const Adapter* const kAll[] = {&poslog::adapter(), &square::adapter(), &odoo::adapter()};
  return kAll;
}

}  // namespace loyalty::adapters

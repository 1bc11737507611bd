// The odoo adapter: see adapters/odoo/README.md for the format and the field mapping.
#pragma once

#include "adapters/adapter.h"

namespace loyalty::adapters::odoo {

// The stateless translator, registered in adapters/registry.cc.
const Adapter& adapter();

}  // namespace loyalty::adapters::odoo

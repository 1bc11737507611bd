// The poslog adapter: see adapters/poslog/README.md for the format and the field mapping.
#pragma once

#include "adapters/adapter.h"

namespace loyalty::adapters::poslog {

// The stateless translator, registered in adapters/registry.cc.
const Adapter& adapter();

}  // namespace loyalty::adapters::poslog

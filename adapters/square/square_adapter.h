// The square adapter: see adapters/square/README.md for the format and the field mapping.
#pragma once

#include "adapters/adapter.h"

namespace loyalty::adapters::square {

// The stateless translator, registered in adapters/registry.cc.
const Adapter& adapter();

}  // namespace loyalty::adapters::square

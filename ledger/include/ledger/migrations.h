// The ledger's schema history (see ledger/src/migrations.cc).
#pragma once

#include <cstdint>
#include <vector>

namespace loyalty::ledger {

struct Migration {
  int64_t version;      // the schema version after this step
  const char* summary;  // one line for the log and `loyaltyctl` output
  const char* sql;
};

const std::vector<Migration>& migrations();

}  // namespace loyalty::ledger

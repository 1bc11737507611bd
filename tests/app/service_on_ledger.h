// The app tests' Service on a real SQLite ledger: the TOML text parsed as loyalty_open would
// (relative paths inside `dir`), the ledger opened with the given durability, no sync.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "app/service.h"
#include "config/load.h"
#include "ledger/sqlite_ledger.h"

namespace loyalty::testing {

struct ServiceOnLedger {
  std::shared_ptr<ledger::SqliteLedger> ledger;
  std::unique_ptr<app::Service> service;
};

// synchronous: 1 normal, 2 full. checkpoint_pages: 0 = SQLite's own auto-checkpoint (no
// background thread). An invalid `toml` fails the calling test and returns nothing.
inline ServiceOnLedger open_service(const std::string& toml, const std::string& dir,
                                    std::shared_ptr<const app::Clock> clock, int synchronous = 1,
                                    int64_t checkpoint_pages = ledger::LedgerOptions{}.checkpoint_pages,
                                    bool preload_balances = false) {
  auto settings = config::parse_settings(toml, dir + "/loyalty.toml");
  EXPECT_TRUE(settings.ok()) << settings.error().field << ": " << settings.error().message;
  if (!settings.ok()) return {};
  ledger::LedgerOptions o;
  o.path = settings->db_path;
  o.branch = settings->branch;
  o.synchronous = synchronous;
  o.checkpoint_pages = checkpoint_pages;
  o.preload_balances = preload_balances;
  o.busy_timeout_ms = settings->busy_timeout_ms;
  ServiceOnLedger out;
  out.ledger = std::shared_ptr<ledger::SqliteLedger>(ledger::SqliteLedger::open(o).release());
  out.service = std::make_unique<app::Service>(
      out.ledger, std::make_shared<const config::Settings>(std::move(*settings)), std::move(clock));
  return out;
}

}  // namespace loyalty::testing

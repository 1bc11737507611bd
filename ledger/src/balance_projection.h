// The balance projection: what balance.query needs of every account (balance, category,
// open lots, active holds) and which account each reference names, kept in memory so that
// the POS's most frequent call is a hash lookup instead of five b-tree descents into a
// ledger of gigabytes (docs/performance.md, "balance.query from memory").
//
// It is a cache of committed rows, never a second source of truth:
//  - Filled lazily: a read that misses asks SQLite (app::LedgerTx::balance_view) and puts
//    the answer here (put()). And in bulk: SqliteLedger's projection thread reads every
//    account after open, and again once the writes have made it forget many, on a
//    connection of its own (begin_bulk(), install(), end_bulk()).
//  - Emptied by the ledger's own writes: TEMP triggers on accounts, aliases, lots and holds
//    note every account (and reference) a write changes; once its transaction has ended,
//    committed or not, the ledger hands them to forget() in one call. Until then nothing
//    reads from here on that connection (reads wait for the transaction to end).
//  - Emptied by other connections' writes (loyaltyctl, another process): the ledger compares
//    PRAGMA data_version at the start of every read transaction and calls clear().
// A bulk load never installs what may have changed after its snapshot: forget() runs after
// the commit, so a load whose ticket is older than a forget() skips what it names (the
// load's snapshot may be older than that commit), and a load whose ticket is newer began
// its snapshot after the commit. After a clear() a load installs nothing.
//
// Thread-safe: the POS threads (under the ledger's connection lock) and the projection
// thread share it under its own mutex, held only for map operations (a chunk at most).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "app/ledger_port.h"

namespace loyalty::ledger {

class BalanceProjection {
 public:
  // Where a bulk load began (begin_bulk()): what forget() names after it is not installed.
  struct BulkTicket {
    uint64_t clears = 0;
    size_t forgotten_mark = 0, forgotten_refs_mark = 0;
  };
  using Refs = std::vector<std::pair<std::string, std::string>>;  // reference, account id

  std::optional<app::BalanceView> find(const std::string& ref) const;
  // A read answered by SQLite on the connection that writes, with no write open.
  void put(const std::string& ref, const app::BalanceView& view);

  // A transaction that changed these accounts and references has ended (committed or
  // rolled back). Returns how many accounts were forgotten since the last full load began.
  // `uncommitted`: a write of a held group (SqliteLedger, hold_commit_ms) whose transaction
  // is still open: reads on the writing connection see it, a load's snapshot does not, so
  // no load installs them until release_uncommitted() (after that COMMIT or rollback).
  size_t forget(const std::vector<std::string>& accounts, const std::vector<std::string>& refs,
                bool uncommitted = false);
  // The held group has ended: forgets its accounts again (a load that began before the
  // COMMIT skips them) and lets loads install them.
  void release_uncommitted();
  // Another connection committed: nothing here can be trusted any more.
  void clear();

  // A load of accounts on another connection: begin_bulk() before its read transaction
  // begins (`full`: the first part of a load of every account, which restarts the count of
  // forget()), install() after each chunk is read (the accounts installed; nothing,
  // installing nothing, once clear() has run since the ticket), end_bulk() when done.
  BulkTicket begin_bulk(bool full);
  std::optional<size_t> install(const BulkTicket& ticket, std::vector<app::BalanceView>& accounts, Refs& refs);
  void end_bulk();
  // Room for this many accounts and references, so that a load's installs do not rehash
  // the maps under the lock (a rehash of 100,000 nodes: milliseconds).
  void reserve(size_t accounts, size_t refs);

 private:
  using AccountMap = std::unordered_map<std::string, app::BalanceView>;  // by account id
  using RefMap = std::unordered_map<std::string, std::string>;           // reference -> account id

  // Links a node made outside the lock into `map`; when the key is there already (a read
  // put it first), its value is moved over and the node is freed (rare).
  template <class Map>
  static void link(Map& map, typename Map::node_type node) {
    auto r = map.insert(std::move(node));
    if (!r.inserted) r.position->second = std::move(r.node.mapped());
  }

  mutable std::mutex mu_;
  AccountMap accounts_;
  RefMap refs_;
  uint64_t clears_ = 0;
  // While a bulk load runs: every account and reference forgotten since it began, in order.
  int bulk_loads_ = 0;
  std::vector<std::string> forgotten_, forgotten_refs_;
  size_t forgotten_since_load_ = 0;  // accounts forgotten since the last load began
  std::unordered_set<std::string> uncommitted_, uncommitted_refs_;  // of the open held group
};

}  // namespace loyalty::ledger

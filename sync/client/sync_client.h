// The branch side of sync protocol v1 (docs/sync.md, "Branch"), inside the plugin.
//
// One thread with its own io_context runs one websocket session at a time to the hub
// (wss:// with OpenSSL, SNI and host name verification; ws:// only to loopback). It pushes
// this branch's entries from the outbox (entries WHERE origin_branch = self AND origin_seq >
// acked_seq; up to 4 batches of <= 500 in flight), applies other branches' entries and the
// program documents the hub pushes (CONFIG -> the config applier -> CONFIG_ACK). ENTRIES
// frames are decoded on the io thread and applied on a second thread, the apply thread: the
// frames queued behind a running commit go into the next write transaction together (with
// sync_state.applied_offset), and APPLIED goes out only after that COMMIT.
// Reconnects with capped exponential backoff and jitter (1 s x 1.6 up to 120 s, +-20 %,
// reset on WELCOME; an HTTP 401 waits at least 5 min). A flush timer pushes even without
// wake-ups.
//
// Threads: start()/stop() from the owner (loyalty_open/loyalty_close). wake() from any
// thread, never blocks (an atomic flag and at most one post). stop() joins both threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "app/clock.h"
#include "app/ledger_port.h"
#include "app/service.h"
#include "config/settings.h"
#include "domain/result.h"

namespace spdlog {
class logger;
}

namespace loyalty::sync {

struct ClientOptions {
  std::string url;      // ws://127.0.0.1:port/v1/sync or wss://host:port/v1/sync
  std::string token;    // the branch's bearer token
  std::string ca_file;  // wss: CA bundle ("" = the system store)
  std::string branch;   // this branch (X-Branch, origin of the outbox)
  std::string node_epoch;  // the ledger's node epoch (meta.node_epoch)
  std::chrono::milliseconds flush_period{5000};
  std::chrono::milliseconds idle_timeout{30000};
  std::chrono::milliseconds backoff_initial{1000};
  std::chrono::milliseconds backoff_max{120000};
  std::chrono::milliseconds auth_backoff{300000};
  // Owner-side expiry sweep (docs/sync.md "Expiry authority"): every sweep_period the sync
  // thread expires at most sweep_batch of this branch's own due lots per write transaction
  // (a full batch is followed by the next one at once). 0 = no sweep.
  std::chrono::milliseconds sweep_period{60000};
  int64_t sweep_batch = 100;
};

// Counters for tests, loyaltyctl and logs (read with stats()).
struct ClientStats {
  int64_t connects = 0;       // WELCOMEs received
  int64_t failures = 0;       // sessions that ended in an error
  int64_t auth_failures = 0;  // 401 answers
  int64_t pushed = 0;         // entries sent (resends included)
  int64_t acked_seq = 0;
  int64_t applied_offset = 0;
  int64_t applied = 0;        // remote entries written here
  int64_t entries_frames = 0;      // ENTRIES frames received and decoded
  int64_t apply_transactions = 0;  // write transactions that applied them (several frames each
                                   // when they queued up behind a commit)
  int64_t apply_ms = 0;            // wall time the apply thread spent in them
  int64_t apply_cpu_ms = 0;        // CPU time of the apply thread
  int64_t duplicates = 0;
  int64_t nacks = 0;          // NACKs received (the client rewound)
  int64_t resends = 0;        // rewinds after a flush period without an ack
  int64_t configs = 0;        // program documents applied
  int64_t last_backoff_ms = 0;
  std::string last_error;
  // Branch recovery (docs/sync.md "Branch recovery").
  int64_t restores_detected = 0;   // times the ledger turned out older than the hub's copy
  int64_t recovered = 0;           // own entries fetched back from the hub and written here
  int64_t recovery_conflicts = 0;  // own seqs the hub holds that this ledger used otherwise
  bool recovering = false;         // own entries still to fetch
  bool diverged = false;           // pushes held back: this ledger forked from the hub's copy
  std::string node_epoch;          // the epoch own writes use now
  int64_t expired = 0;             // lots expired by the sweep
  int64_t sweeps = 0;              // sweep transactions run
};

// Applies a program document the hub pushed; returns the error to log when it is refused.
using ConfigApplier = std::function<domain::Status(const std::string& version, const std::string& document)>;

// Exponential backoff with jitter; `next()` gives the wait before the next attempt.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, uint64_t seed)
      : initial_(initial), max_(max), rng_state_(seed | 1) {}
  std::chrono::milliseconds next();
  void reset() { attempt_ = 0; }

 private:
  std::chrono::milliseconds initial_, max_;
  int attempt_ = 0;
  uint64_t rng_state_;
};

class SyncClient {
 public:
  // `service` supplies the current settings (program) and the clock; `status` is written on
  // every frame from the hub. Nothing runs before start().
  SyncClient(ClientOptions options, std::shared_ptr<app::LedgerStore> store, app::Service& service,
             std::shared_ptr<app::SyncStatus> status, ConfigApplier apply_config,
             std::shared_ptr<spdlog::logger> logger);
  ~SyncClient();
  SyncClient(const SyncClient&) = delete;
  SyncClient& operator=(const SyncClient&) = delete;

  void start();
  void stop();
  void wake() noexcept;  // new local entries: push soon
  void sweep_now() noexcept;  // run the expiry sweep on the sync thread soon
  ClientStats stats() const;

  // The options of a plugin's [sync] section (reads the token file). kInvalidConfig naming
  // sync.token_file when it cannot be read or is empty.
  static domain::Result<ClientOptions> options_from(const config::Settings& settings);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace loyalty::sync

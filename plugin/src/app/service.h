// The application service: one call per POS request, the same code path for the C ABI,
// loyaltyd and loyaltyctl.
//
// handle() parses the request, checks idempotency, applies the rules of contract section 3
// inside one write transaction, renders the receipt, stores the response with the request
// id, commits, and returns the JSON. Malformed input is quarantined and changes nothing.
// Thread-safe: the ledger serialises writers; the program can be swapped while serving.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "app/clock.h"
#include "app/ledger_port.h"
#include "config/settings.h"
#include "domain/requests.h"
#include "domain/responses.h"

namespace loyalty::protocol {
struct ParsedRequest;
}

namespace loyalty::app {

struct Outcome {
  int code = 0;          // the C ABI code (0 = ok)
  std::string json;      // the response document
};

// When the hub was last heard from (unix ms; 0 = never). Written by the sync client, read
// by points.authorize for the offline redemption policy (docs/sync.md).
struct SyncStatus {
  std::atomic<int64_t> last_contact_ms{0};
};

class Service {
 public:
  Service(std::shared_ptr<LedgerStore> store, std::shared_ptr<const config::Settings> settings,
          std::shared_ptr<const Clock> clock);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // One request as raw bytes; `source` names where it came from in the quarantine.
  Outcome handle(std::string_view raw, std::string_view source = "abi");

  // Keeps input that never became a request (bytes an adapter could not translate) in the
  // quarantine with the error, as handle() does for a malformed request, so nothing a POS
  // sent is lost. Returns the error to report: `error` once the bytes are kept; when the
  // ledger cannot keep them now (busy, disk full), `unavailable`, so that they are sent again.
  domain::Error quarantine_input(std::string_view raw, std::string_view source, const domain::Error& error) {
    return quarantine(raw, source, error);
  }

  // Replaces the settings (a new program version) for the next requests; requests in
  // flight finish under the settings they started with.
  void replace_settings(std::shared_ptr<const config::Settings> settings);
  std::shared_ptr<const config::Settings> settings() const;

  LedgerStore& store() { return *store_; }
  const Clock& clock() const { return *clock_; }

  // Called after every committed write (the sync client's wake-up: must not block). Install
  // before serving.
  void set_commit_listener(std::function<void()> f) { on_commit_ = std::move(f); }

  // Installs the sync status (call before serving; with [sync] configured).
  void set_sync_status(std::shared_ptr<const SyncStatus> status) { sync_status_ = std::move(status); }

  // Runs again, inside `tx`, the request of a record this service gave LedgerTx::log_request,
  // exactly as it first ran (same clock, same random seed, same program), and commits `tx`.
  // The store calls it after a crash (ledger::SqliteLedger::set_request_executor). Throws
  // StoreFailure when the record is malformed or the request cannot run again.
  void reexecute(LedgerTx& tx, std::string_view record);
  // The settings of an earlier program version, for a record written under it (an admin's
  // change raced the request); null when unknown. Install before serving.
  using ProgramLookup = std::function<std::shared_ptr<const config::Settings>(const std::string& version)>;
  void set_program_lookup(ProgramLookup lookup) { program_lookup_ = std::move(lookup); }

 private:
  class Run;  // one request's work (service.cc)
  struct RecordContext;
  RecordContext context_now(const config::Settings& settings) const;
  static std::string encode_record(const RecordContext& c, std::string_view source, std::string_view raw);
  // A write request in one write transaction: the record first when the request is not
  // parsed yet (LedgerTx::log_request), then run_request(), the commit, and the answer.
  Outcome write(std::string_view raw, std::string_view source, const config::Settings& settings,
                const protocol::ParsedRequest* parsed);
  static bool looks_like_query(std::string_view raw);
  enum class Kept { kNothing, kAnswer, kQuarantine };  // what run_request wrote in its transaction
  // A request's work inside `tx`, live and re-run alike: parse (unless `parsed`), check the
  // id (rule 11), run, record the answer; a refusal undoes its work and a malformed request
  // is quarantined, both in `tx`. `kept`: what it wrote; `id`: the request's id, once known.
  Outcome run_request(LedgerTx& tx, const config::Settings& settings, const RecordContext& c, std::string_view raw,
                      std::string_view source, const protocol::ParsedRequest* parsed, Kept& kept,
                      std::string& id);
  // Keeps a malformed request in `tx` (throws StoreFailure kUnavailable, saying to send it
  // again, when it cannot).
  static void keep_in_quarantine(LedgerTx& tx, int64_t at_ms, std::string_view raw, std::string_view source,
                                 const domain::Error& e);
  static QuarantineRow quarantine_row(int64_t at_ms, std::string_view raw, std::string_view source,
                                      const domain::Error& e);
  static std::string unkept_message(const domain::Error& e, const StoreFailure& f);
  domain::Error quarantine(std::string_view raw, std::string_view source, const domain::Error& e);

  std::shared_ptr<LedgerStore> store_;
  std::shared_ptr<const Clock> clock_;
  mutable std::mutex settings_mu_;
  std::shared_ptr<const config::Settings> settings_;
  std::shared_ptr<const SyncStatus> sync_status_;
  std::function<void()> on_commit_;
  ProgramLookup program_lookup_;
};

}  // namespace loyalty::app

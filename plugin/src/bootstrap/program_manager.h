// The branch's effective program and its changes while the plugin runs.
//
// The effective program document is the newest row of program_versions (ledger/
// program_store.h), else the TOML file's [program] and [receipt]. ProgramManager applies
// it to the Service with Service::replace_settings: requests in flight keep the settings
// snapshot they started with, the next requests use the new one. There is no restart.
//
// Who changes it: loyaltyctl program ..., loyaltyd's admin page (in-process), the sync
// client when the hub pushes a document (source kHub). A version stored by another
// process is noticed by the watcher thread (start_watching: one indexed max(seq) lookup per
// period, off the POS threads), so a running POS picks it up within about one period.
//
// Thread-safety: every method may be called from any thread. The watcher thread is joined
// in the destructor. Failures are Results, never exceptions: kInvalidConfig naming the key
// for a bad document, kConflict when the program changed since `expected_seq`,
// kUnavailable for a busy or read-only ledger.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "app/clock.h"
#include "app/service.h"
#include "config/program_document.h"
#include "config/settings.h"
#include "domain/result.h"
#include "ledger/program_store.h"

namespace spdlog {
class logger;
}

namespace loyalty::bootstrap {

enum class ProgramSource { kFile = 1, kAdmin = 2, kHub = 3 };
const char* source_word(ProgramSource s);  // "file", "admin", "hub"

struct ProgramChange {
  std::string document;  // the whole new program document (TOML text)
  ProgramSource source = ProgramSource::kAdmin;
  std::string actor;  // who: "ana", "admin-page:admin", "hub"
  std::string note;
  // What changed, for the audit log (`who` and `at_ms` are filled in). Empty: one row
  // "program.set" with the program versions before and after.
  std::vector<ledger::AuditRow> audit;
  // The seq the change was computed from (ProgramManager::current_seq()); when set and the
  // newest stored seq differs, nothing is stored (kConflict): no lost update between two
  // admins.
  std::optional<int64_t> expected_seq;
};

struct ProgramApplied {
  int64_t seq = 0;      // its program_versions row
  std::string version;  // ProgramConfig.version
  bool changed = true;  // false: the document equals the effective one; nothing stored
};

class ProgramManager {
 public:
  ProgramManager(std::shared_ptr<const config::Settings> file_settings,
                 std::shared_ptr<ledger::SqliteLedger> ledger, app::Service& service,
                 std::shared_ptr<spdlog::logger> logger,
                 std::shared_ptr<const app::Clock> clock = std::make_shared<app::SystemClock>());
  ~ProgramManager();
  ProgramManager(const ProgramManager&) = delete;
  ProgramManager& operator=(const ProgramManager&) = delete;

  // The effective document and its seq (0: the file's).
  config::ProgramDocument current() const;
  int64_t current_seq() const;
  // The file's document (rendered canonically from the TOML file).
  const config::ProgramDocument& file_document() const { return file_doc_; }

  // Validates the document, stores it with the audit rows in one transaction and applies
  // it. A document equal to the effective one (same text once rendered) stores nothing.
  domain::Result<ProgramApplied> store(const ProgramChange& change);

  // Applies the newest stored version when it is not the applied one. Returns whether the
  // settings changed. A stored document that no longer parses is logged and skipped (the
  // running program stays).
  domain::Result<bool> refresh();

  // Starts the thread that calls refresh() every `period` (idempotent).
  void start_watching(std::chrono::milliseconds period);

  // Settings = the file's, with the document's program and receipt.
  static std::shared_ptr<const config::Settings> compose(const config::Settings& file,
                                                         const config::ProgramDocument& doc);

 private:
  void apply_locked(int64_t seq, config::ProgramDocument doc);
  void watch(std::chrono::milliseconds period);

  std::shared_ptr<const config::Settings> file_settings_;
  std::shared_ptr<ledger::SqliteLedger> ledger_;
  app::Service& service_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<const app::Clock> clock_;
  config::ProgramDocument file_doc_;

  mutable std::mutex mu_;  // guards current_, applied_seq_; held while applying
  config::ProgramDocument current_;
  int64_t applied_seq_ = 0;
  int64_t bad_seq_ = 0;  // a stored version that does not parse: logged once, skipped

  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  bool stop_ = false;
  std::thread watcher_;
};

}  // namespace loyalty::bootstrap

#include "bootstrap/program_manager.h"

#include <spdlog/spdlog.h>

#include <utility>

namespace loyalty::bootstrap {

using domain::ErrorCode;

const char* source_word(ProgramSource s) {
  switch (s) {
    case ProgramSource::kFile:
      return "file";
    case ProgramSource::kAdmin:
      return "admin";
    case ProgramSource::kHub:
      return "hub";
  }
  return "admin";
}

namespace {

std::string canonical_text(const config::ProgramDocument& d) {
  return config::render_program_document(d.program, d.receipt);
}

}  // namespace

ProgramManager::ProgramManager(std::shared_ptr<const config::Settings> file_settings,
                               std::shared_ptr<ledger::SqliteLedger> ledger, app::Service& service,
                               std::shared_ptr<spdlog::logger> logger,
                               std::shared_ptr<const app::Clock> clock)
    : file_settings_(std::move(file_settings)),
      ledger_(std::move(ledger)),
      service_(service),
      log_(std::move(logger)),
      clock_(std::move(clock)) {
  const std::string text =
      config::render_program_document(file_settings_->program, file_settings_->receipt);
  auto parsed = config::parse_program_document(text);
  if (parsed) {
    file_doc_ = std::move(*parsed);
  } else {  // cannot happen for a file that loaded; keep the file's values as they are
    file_doc_.program = file_settings_->program;
    file_doc_.receipt = file_settings_->receipt;
    file_doc_.text = text;
  }
  file_doc_.program.version = file_settings_->program.version;
  current_ = file_doc_;
}

ProgramManager::~ProgramManager() {
  {
    std::lock_guard lock(watch_mu_);
    stop_ = true;
  }
  watch_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

config::ProgramDocument ProgramManager::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

int64_t ProgramManager::current_seq() const {
  std::lock_guard lock(mu_);
  return applied_seq_;
}

std::shared_ptr<const config::Settings> ProgramManager::compose(
    const config::Settings& file, const config::ProgramDocument& doc) {
  auto s = std::make_shared<config::Settings>(file);
  s->program = doc.program;
  s->receipt = doc.receipt;
  return s;
}

void ProgramManager::apply_locked(int64_t seq, config::ProgramDocument doc) {
  service_.replace_settings(compose(*file_settings_, doc));
  current_ = std::move(doc);
  applied_seq_ = seq;
}

domain::Result<ProgramApplied> ProgramManager::store(const ProgramChange& change) {
  auto doc = config::parse_program_document(change.document);
  if (!doc) return doc.error();
  try {
    std::lock_guard lock(mu_);
    if (canonical_text(*doc) == canonical_text(current_) &&
        (!change.expected_seq || *change.expected_seq == applied_seq_)) {
      return ProgramApplied{applied_seq_, current_.program.version, false};
    }
    const int64_t now = clock_->now_ms();
    ledger::ProgramVersionRow row;
    row.version = doc->program.version;
    row.document = change.document;
    row.source = source_word(change.source);
    row.changed_by = change.actor;
    row.changed_at_ms = now;
    row.note = change.note;
    ledger::ProgramVersionRow bootstrap;
    bootstrap.version = file_doc_.program.version;
    bootstrap.document = file_doc_.text;
    bootstrap.source = "file";
    bootstrap.changed_by = "file:" + file_settings_->source_path;
    bootstrap.changed_at_ms = now;
    bootstrap.note = "the configuration file's program, before the first change";
    std::vector<ledger::AuditRow> audit = change.audit;
    if (audit.empty()) {
      audit.push_back(
          {0, "", 0, "program.set", "program", current_.program.version, doc->program.version});
    }
    for (auto& a : audit) {
      a.who = change.actor;
      a.at_ms = now;
    }
    const auto stored =
        ledger::store_program_version(*ledger_, row, bootstrap, audit, change.expected_seq);
    if (stored.seq > applied_seq_) apply_locked(stored.seq, *doc);
    if (log_) {
      log_->info("program version {} ({}) stored by {} from {}", stored.seq, stored.version,
                 change.actor, row.source);
    }
    return ProgramApplied{stored.seq, stored.version, true};
  } catch (const app::StoreFailure& f) {
    return domain::make_error(f.code(), "", f.what());
  }
}

domain::Result<bool> ProgramManager::refresh() {
  try {
    const int64_t latest = ledger::latest_program_seq(*ledger_);
    {
      std::lock_guard lock(mu_);
      if (latest == applied_seq_ || latest == bad_seq_) return false;
    }
    auto row = ledger::latest_program_version(*ledger_);
    if (!row) return false;
    auto doc = config::parse_program_document(row->document);
    if (!doc) {
      {
        std::lock_guard lock(mu_);
        bad_seq_ = row->seq;
      }
      if (log_) {
        log_->error("program version {} does not parse, keeping {}: {} {}", row->seq,
                    current().program.version, doc.error().field, doc.error().message);
      }
      return doc.error();
    }
    std::lock_guard lock(mu_);
    if (row->seq == applied_seq_) return false;
    apply_locked(row->seq, std::move(*doc));
    if (log_) log_->info("program version {} ({}) applied", row->seq, row->version);
    return true;
  } catch (const app::StoreFailure& f) {
    return domain::make_error(f.code(), "", f.what());
  }
}

void ProgramManager::start_watching(std::chrono::milliseconds period) {
  std::lock_guard lock(watch_mu_);
  if (watcher_.joinable() || stop_) return;
  watcher_ = std::thread([this, period] { watch(period); });
}

void ProgramManager::watch(std::chrono::milliseconds period) {
  std::unique_lock lock(watch_mu_);
  while (!watch_cv_.wait_for(lock, period, [this] { return stop_; })) {
    lock.unlock();
    try {
      (void)refresh();  // failures are logged by refresh() or retried next period
    } catch (...) {
      // never let the watcher take the process down; the next period retries
    }
    lock.lock();
  }
}

}  // namespace loyalty::bootstrap

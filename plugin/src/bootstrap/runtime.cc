#include "bootstrap/runtime.h"

#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/spdlog.h>

#include "config/load.h"
#include "ledger/program_store.h"
#include "ledger/sqlite_ledger.h"
#include "sync/client/sync_client.h"

namespace loyalty::bootstrap {

namespace {

std::shared_ptr<spdlog::logger> make_logger(const config::Settings& s) {
  // Never stdout: the POS owns the terminal. A file when configured, else nothing.
  if (s.log_path.empty()) {
    return std::make_shared<spdlog::logger>("loyalty", std::make_shared<spdlog::sinks::null_sink_mt>());
  }
  auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(s.log_path, 10 * 1024 * 1024, 5);
  auto logger = std::make_shared<spdlog::logger>("loyalty", sink);
  logger->set_level(spdlog::level::from_str(s.log_level));
  logger->flush_on(spdlog::level::warn);
  return logger;
}

}  // namespace

Runtime::~Runtime() {
  if (sync_) sync_->stop();  // joins the sync thread before the service and ledger go
  sync_.reset();
  program_.reset();  // joins the watcher before the service goes
  service_.reset();
  store_.reset();
  if (logger_) logger_->flush();
}

domain::Result<std::unique_ptr<Runtime>> Runtime::open(const std::string& config_path,
                                                       const OpenOptions& options) {
  auto settings = config::load_settings(config_path);
  if (!settings) return settings.error();
  std::unique_ptr<Runtime> rt(new Runtime());
  rt->settings_ = std::make_shared<const config::Settings>(std::move(*settings));
  const config::Settings& s = *rt->settings_;
  try {
    rt->logger_ = make_logger(s);
  } catch (const std::exception& e) {
    return domain::make_error(domain::ErrorCode::kInvalidConfig, "plugin.log",
                              std::string("cannot open the log file: ") + e.what());
  }
  try {
    ledger::LedgerOptions lo;
    lo.path = s.db_path;
    lo.branch = s.branch;
    lo.synchronous = static_cast<int>(s.synchronous);
    lo.busy_timeout_ms = s.busy_timeout_ms;
    lo.hold_commit_ms = s.commit_hold_ms;
    lo.quarantine_max_rows = s.quarantine_max_rows;
    lo.read_only = options.read_only;
    lo.request_log = options.request_records;  // whichever: the executor is installed below
    lo.preload_balances = options.preload_balances;
    rt->store_ = ledger::SqliteLedger::open(lo);
    if (options.read_only && std::static_pointer_cast<ledger::SqliteLedger>(rt->store_)->unapplied_requests()) {
      // A crash left acknowledged requests in the redo log, which only the service re-runs:
      // open the ledger for writing once (this user may), which re-runs them, so that the
      // reader shows them too. When that fails, the reader shows the last COMMIT and says so.
      OpenOptions writer = options;
      writer.read_only = false;
      writer.start_sync = false;
      writer.preload_balances = false;
      writer.program_watch_ms = 0;
      rt->store_.reset();
      if (auto w = Runtime::open(config_path, writer); !w) {
        rt->logger_->warn("cannot re-run the requests in the redo log of {}: {}", s.db_path, w.error().message);
      }
      rt->store_ = ledger::SqliteLedger::open(lo);
    }
  } catch (const app::StoreFailure& f) {
    rt->logger_->error("cannot open the ledger {}: {}", s.db_path, f.what());
    return domain::make_error(f.code(), "plugin.db", std::string("ledger ") + s.db_path + ": " + f.what());
  }
  // A ledger keeps the branch it was created for: its entries are numbered, synced, expired
  // and reported under that name, so another name would make its own lots look foreign.
  if (const auto& recorded = std::static_pointer_cast<ledger::SqliteLedger>(rt->store_)->branch_id();
      recorded != s.branch) {
    rt->logger_->error("the ledger {} belongs to branch {}, not {}", s.db_path, recorded, s.branch);
    return domain::make_error(domain::ErrorCode::kInvalidConfig, "plugin.branch",
                              "the ledger " + s.db_path + " belongs to branch '" + recorded +
                                  "' (recorded when it was created), not '" + s.branch +
                                  "'; give each branch its own plugin.db");
  }
  std::shared_ptr<const app::Clock> clock = options.clock;
  if (!clock) clock = std::make_shared<app::SystemClock>();
  rt->service_ = std::make_unique<app::Service>(rt->store_, rt->settings_, clock);
  rt->program_ = std::make_unique<ProgramManager>(
      rt->settings_, std::static_pointer_cast<ledger::SqliteLedger>(rt->store_), *rt->service_,
      rt->logger_, clock);
  // A program stored by an admin or the hub overrides the file's (docs/admin.md).
  if (auto applied = rt->program_->refresh(); !applied) {
    rt->logger_->error("stored program not applied, running the file's: {}",
                       applied.error().message);
  }
  // Requests a crash left in the ledger's redo log run again now, before any other write,
  // under the program each first ran with.
  try {
    auto ledger = std::static_pointer_cast<ledger::SqliteLedger>(rt->store_);
    if (!options.read_only) {
      // The programs requests may have run under: the stored versions, and the documents
      // of TOML files this ledger ran with (the file may have been edited since).
      auto versions = std::make_shared<std::map<std::string, std::shared_ptr<const config::Settings>>>();
      auto add = [&](const std::string& text) {
        auto doc = config::parse_program_document(text);
        if (doc && !versions->count(doc->program.version)) {
          versions->emplace(doc->program.version, ProgramManager::compose(s, *doc));
        }
      };
      for (const auto& row : ledger::program_history(*ledger, 64)) add(row.document);
      for (const auto& [version, text] : ledger::remembered_program_documents(*ledger)) add(text);
      rt->service_->set_program_lookup([versions](const std::string& version) {
        auto it = versions->find(version);
        return it == versions->end() ? nullptr : it->second;
      });
      app::Service* service = rt->service_.get();
      ledger->set_request_executor([service](app::LedgerTx& tx, std::string_view record) {
        service->reexecute(tx, record);
      });
      for (const auto& why : ledger->take_skipped_requests()) {
        rt->logger_->warn("not re-run from the redo log (it failed when it first ran, so it was never "
                          "acknowledged): {}", why);
      }
      // Before any request runs under it: the file's program, for a re-run after a crash.
      const config::ProgramDocument& file = rt->program_->file_document();
      ledger::remember_program_document(*ledger, file.program.version, file.text);
    }
  } catch (const app::StoreFailure& f) {
    rt->logger_->error("cannot re-run the requests in the redo log of {}: {}", s.db_path, f.what());
    return domain::make_error(f.code(), "plugin.db", std::string("ledger ") + s.db_path + ": " + f.what());
  }
  if (options.program_watch_ms > 0) {
    rt->program_->start_watching(std::chrono::milliseconds(options.program_watch_ms));
  }
  if (s.sync.enabled && options.start_sync && !options.read_only) {
    // A branch of a chain: until the hub answers it counts as offline (redemption caps).
    auto status = std::make_shared<app::SyncStatus>();
    rt->service_->set_sync_status(status);
    auto so = sync::SyncClient::options_from(s);
    if (!so) {
      // The POS keeps selling: a missing or empty token stops sync, never the checkout.
      // The log says why; the next loyalty_open tries again.
      rt->logger_->error("sync not started, the branch runs alone: {}: {}", so.error().field,
                         so.error().message);
    } else {
      so->node_epoch = std::static_pointer_cast<ledger::SqliteLedger>(rt->store_)->node_epoch();
      ProgramManager* pm = rt->program_.get();
      rt->sync_ = std::make_unique<sync::SyncClient>(
          std::move(*so), rt->store_, *rt->service_, status,
          [pm](const std::string& version, const std::string& document) -> domain::Status {
            ProgramChange change;
            change.document = document;
            change.source = ProgramSource::kHub;
            change.actor = "hub";
            change.note = "hub program version " + version;
            auto r = pm->store(change);
            if (!r) return r.error();
            return domain::ok_status();
          },
          rt->logger_);
      sync::SyncClient* client = rt->sync_.get();
      rt->service_->set_commit_listener([client] { client->wake(); });
      rt->sync_->start();
    }
  }
  rt->logger_->info("plugin open: branch {}, ledger {}, program {} (seq {})", s.branch,
                    s.db_path, rt->program_->current().program.version,
                    rt->program_->current_seq());
  return rt;
}

}  // namespace loyalty::bootstrap

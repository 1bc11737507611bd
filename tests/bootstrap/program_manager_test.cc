// Program versions on a real ledger: stored, audited, applied to a running Service without
// restart, noticed by another "process" (a second Runtime on the same file), and requests in
// flight finish under the program they started with.
#include "bootstrap/program_manager.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "bootstrap/runtime.h"
#include "config/load.h"
#include "ledger/program_store.h"
#include "ledger/sqlite_ledger.h"

namespace loyalty::bootstrap {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kConfig = R"([plugin]
branch = "B01"
db = "ledger.db"
synchronous = "normal"
[program]
point_value = "0.10"
earn_percent = "5"
excluded_payment_methods = ["credit_card"]
)";

class ProgramManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loyalty-program-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::ofstream(dir_ + "/loyalty.toml") << kConfig;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Runtime> open(int64_t watch_ms = 0) {
    OpenOptions o;
    o.program_watch_ms = watch_ms;
    auto rt = Runtime::open(dir_ + "/loyalty.toml", o);
    EXPECT_TRUE(rt.ok()) << rt.error().message;
    return rt.ok() ? std::move(*rt) : nullptr;
  }

  static json sale(Runtime& rt, const std::string& id, const std::string& method) {
    json req = {{"type", "sale.completed"},
                {"id", id},
                {"at", "2026-11-22T10:15:00-06:00"},
                {"ticket", id},
                {"customer", "card:1"},
                {"lines", {{{"n", 1}, {"sku", "A"}, {"qty", "1"}, {"amount", "90.00"}}}},
                {"tenders", {{{"method", method}, {"amount", "90.00"}}}}};
    auto out = rt.service().handle(req.dump());
    EXPECT_EQ(out.code, 0) << out.json;
    return json::parse(out.json);
  }

  // The current document with `cash` excluded as well.
  static std::string exclude(const config::ProgramDocument& d, const std::string& method) {
    auto p = d.program;
    p.excluded_payment_methods.insert(method);
    return config::render_program_document(p, d.receipt);
  }

  std::string dir_;
};

TEST_F(ProgramManagerTest, StartsWithTheFilesProgram) {
  auto rt = open();
  ASSERT_TRUE(rt);
  EXPECT_EQ(rt->program().current_seq(), 0);
  EXPECT_EQ(rt->program().current().program.version, rt->settings().program.version);
  auto& ledger = static_cast<ledger::SqliteLedger&>(*rt->store());
  EXPECT_EQ(ledger::latest_program_seq(ledger), 0);
  EXPECT_EQ(sale(*rt, "s1", "cash")["earned"], 45);
}

TEST_F(ProgramManagerTest, StoreValidatesAuditsAndAppliesWithoutRestart) {
  auto rt = open();
  ASSERT_TRUE(rt);
  EXPECT_EQ(sale(*rt, "s1", "cash")["earned"], 45);

  ProgramChange bad;
  bad.document = "[program]\nearn_percent = 5\n";
  bad.actor = "ana";
  auto refused = rt->program().store(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().field, "program.earn_percent");

  ProgramChange change;
  change.document = exclude(rt->program().current(), "cash");
  change.actor = "ana";
  change.note = "cash earns nothing this week";
  change.audit.push_back({0, "", 0, "program.exclude-method.add", "cash", "", "cash"});
  change.expected_seq = rt->program().current_seq();
  auto applied = rt->program().store(change);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  EXPECT_TRUE(applied->changed);
  EXPECT_EQ(applied->seq, 2);  // 1 = the file's document, kept for history
  EXPECT_EQ(sale(*rt, "s2", "cash")["earned"], 0);
  EXPECT_EQ(sale(*rt, "s3", "debit_card")["earned"], 45);

  auto& ledger = static_cast<ledger::SqliteLedger&>(*rt->store());
  auto history = ledger::program_history(ledger, 10);
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].source, "admin");
  EXPECT_EQ(history[0].changed_by, "ana");
  EXPECT_EQ(history[0].version, applied->version);
  EXPECT_EQ(history[1].source, "file");
  EXPECT_EQ(history[1].version, rt->settings().program.version);
  auto audit = ledger::audit_log(ledger, 10, "");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].who, "ana");
  EXPECT_EQ(audit[0].action, "program.exclude-method.add");
  EXPECT_GT(audit[0].at_ms, 0);
  // The rules that computed an entry can be found from its program_version.
  auto found = ledger::find_program_version(ledger, rt->settings().program.version);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->source, "file");

  // The same document again changes nothing.
  change.expected_seq.reset();
  auto again = rt->program().store(change);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changed);
  // A change computed from an old seq is refused: no lost update.
  change.document = exclude(rt->program().current(), "voucher");
  change.expected_seq = 1;
  auto stale = rt->program().store(change);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, domain::ErrorCode::kConflict);

  // Reopening runs the stored program, not the file's.
  rt.reset();
  auto reopened = open();
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->program().current_seq(), 2);
  EXPECT_EQ(sale(*reopened, "s4", "cash")["earned"], 0);
}

TEST_F(ProgramManagerTest, AnotherProcessesVersionIsPickedUpByTheWatcher) {
  auto pos = open(/*watch_ms=*/20);
  auto admin = open(0);
  ASSERT_TRUE(pos && admin);
  EXPECT_EQ(sale(*pos, "s1", "cash")["earned"], 45);
  ProgramChange change;
  change.document = exclude(admin->program().current(), "cash");
  change.actor = "ana";
  ASSERT_TRUE(admin->program().store(change).ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (pos->program().current_seq() != 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(pos->program().current_seq(), 2) << "the watcher did not apply the new version";
  EXPECT_EQ(sale(*pos, "s2", "cash")["earned"], 0);
}

TEST_F(ProgramManagerTest, RefreshAppliesTheNewestStoredVersion) {
  auto pos = open(0);
  auto admin = open(0);
  ASSERT_TRUE(pos && admin);
  ProgramChange change;
  change.document = exclude(admin->program().current(), "cash");
  change.actor = "ana";
  ASSERT_TRUE(admin->program().store(change).ok());
  auto r = pos->program().refresh();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
  EXPECT_FALSE(*pos->program().refresh());
  EXPECT_EQ(sale(*pos, "s1", "cash")["earned"], 0);
}

// A clock that stops the first request inside the service (after it took its settings
// snapshot, holding its transaction) until the test lets it go.
class GateClock final : public app::Clock {
 public:
  int64_t now_ms() const override {
    std::unique_lock lock(mu_);
    if (armed_) {
      armed_ = false;
      reached_ = true;
      cv_.notify_all();
      cv_.wait(lock, [this] { return released_; });
    }
    return 1'795'000'000'000;
  }
  void arm() {
    std::lock_guard lock(mu_);
    armed_ = true;
  }
  void wait_reached() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return reached_; });
  }
  void release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable bool armed_ = false, reached_ = false;
  bool released_ = false;
};

TEST_F(ProgramManagerTest, SaleInFlightFinishesUnderTheOldProgram) {
  auto file = config::load_settings(dir_ + "/loyalty.toml");
  ASSERT_TRUE(file.ok());
  auto settings = std::make_shared<const config::Settings>(std::move(*file));
  ledger::LedgerOptions lo;
  lo.path = settings->db_path;
  lo.branch = "B01";
  lo.synchronous = 1;
  std::shared_ptr<ledger::SqliteLedger> store(ledger::SqliteLedger::open(lo).release());
  auto clock = std::make_shared<GateClock>();
  app::Service service(store, settings, clock);
  ProgramManager manager(settings, store, service, nullptr);

  auto request = [](const std::string& id) {
    return json{{"type", "sale.completed"},
                {"id", id},
                {"at", "2026-11-22T10:15:00-06:00"},
                {"ticket", id},
                {"customer", "card:1"},
                {"lines", {{{"n", 1}, {"qty", "1"}, {"amount", "90.00"}}}},
                {"tenders", {{{"method", "cash"}, {"amount", "90.00"}}}}}
        .dump();
  };
  clock->arm();
  app::Outcome in_flight;
  std::thread pos([&] { in_flight = service.handle(request("old")); });
  clock->wait_reached();  // the sale holds its snapshot and its transaction
  auto doc = manager.current();
  doc.program.excluded_payment_methods.insert("cash");
  doc.program.version = config::program_version(doc.program);
  service.replace_settings(ProgramManager::compose(*settings, doc));
  clock->release();
  pos.join();
  EXPECT_EQ(json::parse(in_flight.json)["earned"], 45) << in_flight.json;
  auto after = service.handle(request("new"));
  EXPECT_EQ(json::parse(after.json)["earned"], 0) << after.json;
}

// A power cut left acknowledged sales only in the redo log (request records, "full"), and
// the TOML file was edited before the POS started again: the sales run again under the
// program they first ran with (remembered in the ledger when the plugin opened), so they
// earn what their receipts said.
TEST_F(ProgramManagerTest, RequestsReRunAfterACrashUnderTheProgramTheyFirstRanWith) {
  std::string full = kConfig;
  full.replace(full.find("synchronous = \"normal\""), std::string("synchronous = \"normal\"").size(),
               "synchronous = \"full\"\ncommit_hold_ms = 1000");
  std::ofstream(dir_ + "/loyalty.toml") << full;
  const std::string cut = dir_ + "/cut";
  fs::create_directories(cut);
  int64_t earned = 0;
  {
    auto rt = open();
    ASSERT_TRUE(rt);
    // What a power cut right now can leave: the ledger as opened, nothing of the sales below.
    for (const char* f : {"ledger.db", "ledger.db-wal"}) {
      if (fs::exists(dir_ + "/" + f)) fs::copy_file(dir_ + "/" + f, cut + "/" + f);
    }
    for (const char* id : {"s1", "s2", "s3"}) earned += sale(*rt, id, "cash")["earned"].get<int64_t>();
    EXPECT_EQ(earned, 3 * 45);
  }
  fs::copy_file(dir_ + "/ledger.db-redo", cut + "/ledger.db-redo");
  // The admin doubles the rate in the file before the POS starts again.
  std::string edited = full;
  edited.replace(edited.find("earn_percent = \"5\""), std::string("earn_percent = \"5\"").size(),
                 "earn_percent = \"10\"");
  std::ofstream(cut + "/loyalty.toml") << edited;
  OpenOptions o;
  o.program_watch_ms = 0;
  auto rt = Runtime::open(cut + "/loyalty.toml", o);
  ASSERT_TRUE(rt.ok()) << rt.error().message;
  auto ledger = std::static_pointer_cast<ledger::SqliteLedger>((*rt)->store());
  EXPECT_EQ(ledger->stats().requests_replayed, 3u);
  auto q = (*rt)->service().handle(
      R"({"type":"balance.query","id":"q","at":"2026-11-22T12:00:00-06:00","customer":"card:1"})");
  ASSERT_EQ(q.code, 0) << q.json;
  EXPECT_EQ(json::parse(q.json)["balance"], earned) << "re-run under the program they first ran with";
  // New sales earn by the edited file.
  EXPECT_EQ(sale(**rt, "s4", "cash")["earned"], 90);
}

}  // namespace
}  // namespace loyalty::bootstrap

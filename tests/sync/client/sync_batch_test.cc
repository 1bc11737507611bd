// The sync client's batched apply (docs/sync.md "Speed"): ENTRIES frames that queue up behind
// a running commit are applied in one write transaction, APPLIED goes out only after that
// transaction committed, a bad frame in the middle of a batch keeps the frames before it and
// applies none after it, and a restart after a batch commit applies nothing twice.
//
// A scripted hub (a Beast websocket server on 127.0.0.1:0 in a thread of this test) sends
// prepared frames to a real SyncClient on a real SQLite ledger; the ledger is wrapped so that
// the test can hold the apply thread before its next write transaction (a gate) and count
// write transactions. Every APPLIED the hub receives is checked against the ledger file at
// that moment, through a separate SQLite connection: the offset must already be committed.
#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "app/service.h"
#include "app/sync_apply.h"
#include "config/load.h"
#include "ledger/admin.h"
#include "ledger/sqlite_ledger.h"
#include "sync/client/sync_client.h"
#include "sync/protocol/frames.h"

#include "eventually.h"

namespace loyalty {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
namespace fs = std::filesystem;
using sync::Entries;
using sync::Frame;

using testing::eventually;

class FixedClock final : public app::Clock {
 public:
  int64_t now_ms() const override { return 1'795'000'000'000; }
};

// sync_state.applied_offset of `db`, read through a connection of its own (what is committed).
int64_t committed_offset(const std::string& db) {
  sqlite3* c = nullptr;
  int64_t v = -1;
  if (sqlite3_open_v2(db.c_str(), &c, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(c, "SELECT applied_offset FROM sync_state WHERE peer = 'hub'", -1, &st,
                           nullptr) == SQLITE_OK) {
      v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(c);
  return v;
}

// The ledger with a gate before write transactions and a count of them: while closed, the
// write transactions from the `from`-th on (0-based) wait at the gate.
class GatedStore final : public app::LedgerStore {
 public:
  explicit GatedStore(std::shared_ptr<app::LedgerStore> inner) : inner_(std::move(inner)) {}
  std::unique_ptr<app::LedgerTx> begin_write() override {
    gate();
    return inner_->begin_write();
  }
  // The batches of remote entries (as the real ledger: COMMITted at once, never held).
  std::unique_ptr<app::LedgerTx> begin_bulk_write() override {
    gate();
    return inner_->begin_bulk_write();
  }
  std::unique_ptr<app::LedgerTx> begin_read() override { return inner_->begin_read(); }
  void quarantine(const app::QuarantineRow& row) override { inner_->quarantine(row); }
  int64_t schema_version() override { return inner_->schema_version(); }

  void gate() {
    std::unique_lock lock(mu_);
    const int index = started_++;
    if (closed_ && index >= from_) {
      ++waiting_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return !closed_; });
      --waiting_;
    }
    ++writes_;
  }

  void close_from(int from) {
    std::lock_guard lock(mu_);
    closed_ = true;
    from_ = from;
  }
  void open() {
    {
      std::lock_guard lock(mu_);
      closed_ = false;
    }
    cv_.notify_all();
  }
  // Waits (10 s at most) until a writer stands at the closed gate.
  bool held() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return waiting_ > 0; });
  }
  int writes() {
    std::lock_guard lock(mu_);
    return writes_;
  }

 private:
  std::shared_ptr<app::LedgerStore> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;
  int from_ = 0;
  int started_ = 0;
  int waiting_ = 0;
  int writes_ = 0;  // passed the gate
};

// A hub that plays a script: for its n-th connection it answers hello with a welcome and
// then sends `sessions[n]` at once (on the first connection it stops after `pause_after`
// frames until release()); it records every frame the branch sends, and for each APPLIED
// the committed applied_offset of `db` at the moment it arrived.
class ScriptHub {
 public:
  struct Received {
    Frame frame;
    int64_t committed = -1;  // for APPLIED: sync_state.applied_offset in the file then
  };

  ScriptHub(std::string db, std::vector<std::vector<Frame>> sessions, size_t pause_after = 0)
      : db_(std::move(db)),
        sessions_(std::move(sessions)),
        pause_after_(pause_after),
        acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptHub() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    try {  // wake the accept
      net::io_context ioc;
      tcp::socket s(ioc);
      s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
    } catch (const std::exception&) {
    }
    thread_.join();
  }
  void release() {
    {
      std::lock_guard lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/v1/sync"; }

  // Frames received on connection `session` so far.
  std::vector<Received> received(size_t session) {
    std::lock_guard lock(mu_);
    return session < got_.size() ? got_[session] : std::vector<Received>{};
  }
  size_t connections() {
    std::lock_guard lock(mu_);
    return got_.size();
  }
  bool closed(size_t session) {
    std::lock_guard lock(mu_);
    return session < closed_.size() && closed_[session];
  }
  std::vector<sync::Applied> applied(size_t session) {
    std::vector<sync::Applied> out;
    for (const Received& r : received(session)) {
      if (auto* a = std::get_if<sync::Applied>(&r.frame)) out.push_back(*a);
    }
    return out;
  }

 private:
  void serve() {
    for (size_t n = 0; !stopping(); ++n) {
      tcp::socket sock(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(sock, ec);
      if (ec || stopping()) return;
      {
        std::lock_guard lock(mu_);
        got_.emplace_back();
        closed_.push_back(false);
      }
      try {
        websocket::stream<tcp::socket> ws(std::move(sock));
        ws.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
          res.set(beast::http::field::sec_websocket_protocol, std::string(sync::kSubprotocol));
        }));
        ws.accept();
        ws.text(true);
        beast::flat_buffer buf;
        bool welcomed = false;
        for (;;) {
          buf.clear();
          ws.read(buf);
          auto f = sync::decode_frame(beast::buffers_to_string(buf.data()));
          if (!f) {
            ADD_FAILURE() << "the branch sent an unreadable frame: " << f.error().message;
            break;
          }
          Received r{*f, -1};
          if (std::holds_alternative<sync::Applied>(*f)) r.committed = committed_offset(db_);
          {
            std::lock_guard lock(mu_);
            got_[n].push_back(std::move(r));
          }
          if (!welcomed && std::holds_alternative<sync::Hello>(*f)) {
            welcomed = true;
            sync::Welcome w;
            w.hub_epoch = "hubepoch";
            ws.write(net::buffer(sync::encode(Frame{w})));
            for (size_t i = 0; n < sessions_.size() && i < sessions_[n].size(); ++i) {
              if (n == 0 && i == pause_after_ && pause_after_ > 0) {
                std::unique_lock lock(mu_);
                cv_.wait(lock, [&] { return released_ || stop_; });
              }
              ws.write(net::buffer(sync::encode(sessions_[n][i])));
            }
          }
        }
      } catch (const std::exception&) {
        // the branch closed the connection
      }
      std::lock_guard lock(mu_);
      closed_[n] = true;
    }
  }

  bool stopping() {
    std::lock_guard lock(mu_);
    return stop_;
  }

  std::string db_;
  std::vector<std::vector<Frame>> sessions_;
  size_t pause_after_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // under mu_
  bool released_ = false;
  std::vector<std::vector<Received>> got_;
  std::vector<bool> closed_;
};

// An earn entry of branch B9 (seq `seq`, 10 points to card `card`), as the hub sends it.
sync::Entry remote(int64_t seq, const std::string& card = "B9-card") {
  sync::Entry e;
  e.entry_id = "B9/req-" + std::to_string(seq) + "/earn";
  e.origin_branch = "B9";
  e.origin_seq = seq;
  e.node_epoch = "b9b9";
  e.account_id = card;
  e.kind = "earn";
  e.points = 10;
  e.request_id = "req-" + std::to_string(seq);
  e.branch = "B9";
  e.ticket = "T" + std::to_string(seq);
  e.business_at = "2026-11-22T10:15:00-06:00";
  e.recorded_at_ms = 1'790'000'000'000;
  e.program_version = "v1";
  e.body_hash = "00ff";
  e.data = "null";
  return e;
}

// An ENTRIES frame of B9's seqs first..last at hub offsets 100 + seq.
Frame frame_of(int64_t first, int64_t last) {
  Entries f;
  f.from_offset = 100 + first;
  f.to_offset = 100 + last;
  for (int64_t s = first; s <= last; ++s) f.entries.push_back({100 + s, remote(s)});
  return Frame{f};
}

class SyncBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sync_batch_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    db_ = (dir_ / "B2.db").string();
  }
  void TearDown() override {
    client_.reset();  // closes the connection: the hub's thread ends its session
    hub_.reset();
    service_.reset();
    ledger_.reset();
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // Opens B2's ledger (again) and a sync client to the hub (not started). No reconnect
  // within a test: the backoff is a minute.
  void open() {
    client_.reset();
    service_.reset();
    ledger_.reset();
    const std::string toml =
        "[plugin]\nbranch = \"B2\"\ndb = \"B2.db\"\nsynchronous = \"full\"\n"
        "[program]\npoint_value = \"0.10\"\nearn_percent = \"5\"\n";
    auto s = config::parse_settings(toml, (dir_ / "B2.toml").string());
    ASSERT_TRUE(s.ok()) << s.error().field << ": " << s.error().message;
    ledger::LedgerOptions o;
    o.path = s->db_path;
    o.branch = "B2";
    ledger_ = std::shared_ptr<ledger::SqliteLedger>(ledger::SqliteLedger::open(o).release());
    gate_ = std::make_shared<GatedStore>(ledger_);
    service_ = std::make_unique<app::Service>(
        gate_, std::make_shared<const config::Settings>(std::move(*s)),
        std::make_shared<FixedClock>());
    sync::ClientOptions co;
    co.url = hub_->url();
    co.token = "t";
    co.branch = "B2";
    co.node_epoch = "b2b2";
    co.backoff_initial = std::chrono::minutes(1);
    co.sweep_period = std::chrono::milliseconds(0);  // only the apply thread writes
    client_ = std::make_unique<sync::SyncClient>(
        co, gate_, *service_, std::make_shared<app::SyncStatus>(), nullptr,
        std::make_shared<spdlog::logger>("B2", std::make_shared<spdlog::sinks::null_sink_mt>()));
  }

  int64_t count(const std::string& sql) {
    sqlite3* c = nullptr;
    int64_t v = -1;
    sqlite3_open_v2(db_.c_str(), &c, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(c, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(c);
    return v;
  }
  int64_t b9_entries() { return count("SELECT count(*) FROM entries WHERE origin_branch = 'B9'"); }
  int64_t points() {
    return count("SELECT coalesce(sum(points), 0) FROM entries WHERE origin_branch = 'B9'");
  }
  std::vector<int64_t> applied_offsets(size_t session) {
    std::vector<int64_t> out;
    for (const auto& a : hub_->applied(session)) out.push_back(a.offset);
    return out;
  }

  // Every APPLIED of the hub's connection `n` was committed in the ledger when it arrived.
  void expect_acks_committed(size_t n) {
    for (const auto& r : hub_->received(n)) {
      if (auto* a = std::get_if<sync::Applied>(&r.frame)) {
        EXPECT_GE(r.committed, a->offset) << "APPLIED " << a->offset << " before its commit";
      }
    }
  }

  // Starts the client with f0 held: the hub sends its first frame and waits; the apply
  // thread takes f0 and stops at the gate before its transaction; then the hub sends the
  // rest, which the io thread decodes and queues behind it (`frames` ENTRIES in all).
  void start_with_first_frame_held(int64_t frames) {
    gate_->close_from(1);  // 0 is check_restore's, after the welcome
    client_->start();
    ASSERT_TRUE(gate_->held());
    hub_->release();
    ASSERT_TRUE(eventually([&] { return client_->stats().entries_frames == frames; }));
    EXPECT_TRUE(hub_->applied(0).empty()) << "APPLIED before any apply transaction ran";
  }

  fs::path dir_;
  std::string db_;
  std::unique_ptr<ScriptHub> hub_;
  std::shared_ptr<ledger::SqliteLedger> ledger_;
  std::shared_ptr<GatedStore> gate_;
  std::unique_ptr<app::Service> service_;
  std::unique_ptr<sync::SyncClient> client_;
};

TEST_F(SyncBatchTest, FramesQueuedBehindACommitShareOneTransactionAndAreAckedAfterIt) {
  hub_ = std::make_unique<ScriptHub>(
      db_,
      std::vector<std::vector<Frame>>{
          {frame_of(1, 5), frame_of(6, 10), frame_of(11, 15), frame_of(16, 20)}},
      /*pause_after=*/1);
  open();
  start_with_first_frame_held(4);
  gate_->open();
  ASSERT_TRUE(eventually([&] { return client_->stats().applied_offset == 120; }))
      << client_->stats().last_error;
  // f0 alone, then f1..f3 in one transaction with one APPLIED (the hub releases every frame
  // up to its offset).
  ASSERT_TRUE(eventually([&] { return applied_offsets(0).size() == 2; }));
  EXPECT_EQ(applied_offsets(0), (std::vector<int64_t>{105, 120}));
  expect_acks_committed(0);
  const auto st = client_->stats();
  EXPECT_EQ(st.apply_transactions, 2);
  EXPECT_EQ(gate_->writes(), 3);  // check_restore, f0, f1..f3
  EXPECT_EQ(st.applied, 20);
  EXPECT_EQ(st.failures, 0) << st.last_error;
  EXPECT_EQ(b9_entries(), 20);
  EXPECT_EQ(points(), 200);
  EXPECT_EQ(count("SELECT check_offset FROM sync_state WHERE peer = 'hub'"), 120);
  client_->stop();
  auto v = ledger::verify(*ledger_);
  EXPECT_TRUE(v.ok()) << (v.problems.empty() ? "" : v.problems.front());
}

TEST_F(SyncBatchTest, ABadFrameInABatchKeepsTheFramesBeforeItAndARestartAppliesNothingTwice) {
  // Session 1: f0 (held), then one batch of f1 good, f2 with an entry at the seq an entry of
  // f1 holds (another id: the ledger refuses it inside the transaction) and f3 good.
  Entries bad = std::get<Entries>(frame_of(11, 15));
  bad.entries[2].entry.origin_seq = 7;  // offset 113: B9 seq 7 is f1's
  // Session 2, after a restart: the hub sends f1 again (as if its APPLIED had been lost),
  // then the good f2 and f3.
  hub_ = std::make_unique<ScriptHub>(
      db_,
      std::vector<std::vector<Frame>>{
          {frame_of(1, 5), frame_of(6, 10), Frame{bad}, frame_of(16, 20)},
          {frame_of(6, 10), frame_of(11, 15), frame_of(16, 20)}},
      /*pause_after=*/1);
  open();
  start_with_first_frame_held(4);
  gate_->open();
  ASSERT_TRUE(eventually([&] { return client_->stats().failures == 1; }));
  auto st = client_->stats();
  EXPECT_NE(st.last_error.find("entries at offsets 111..115"), std::string::npos) << st.last_error;
  // f0; the batch f1..f3 rolled back; then f1 alone, committed; f2 alone, failed; f3 dropped.
  EXPECT_EQ(st.apply_transactions, 2);
  EXPECT_EQ(gate_->writes(), 5);
  EXPECT_EQ(st.applied_offset, 110);
  EXPECT_EQ(st.applied, 10);
  ASSERT_TRUE(eventually([&] { return hub_->closed(0); }));
  EXPECT_EQ(applied_offsets(0), (std::vector<int64_t>{105, 110}));
  expect_acks_committed(0);
  client_->stop();
  EXPECT_EQ(committed_offset(db_), 110);
  EXPECT_EQ(b9_entries(), 10);  // f0 and f1; nothing of f2 (all or nothing) or f3 (after it)

  // Restart: the ledger opened again and a new client; hello carries the committed position.
  open();
  client_->start();
  ASSERT_TRUE(eventually([&] { return client_->stats().applied_offset == 120; }))
      << client_->stats().last_error;
  ASSERT_EQ(hub_->connections(), 2u);
  auto got = hub_->received(1);
  ASSERT_FALSE(got.empty());
  auto* hello = std::get_if<sync::Hello>(&got.front().frame);
  ASSERT_NE(hello, nullptr);
  EXPECT_EQ(hello->applied_offset, 110);
  EXPECT_EQ(hello->check_offset, 110);
  EXPECT_EQ(hello->check_entry_id, "B9/req-10/earn");
  st = client_->stats();
  EXPECT_EQ(st.duplicates, 5);  // f1 again: already here, not applied twice
  EXPECT_EQ(st.applied, 10);
  EXPECT_EQ(st.failures, 0) << st.last_error;
  ASSERT_TRUE(eventually([&] {
    auto a = applied_offsets(1);
    return !a.empty() && a.back() == 120;
  }));
  expect_acks_committed(1);
  client_->stop();
  EXPECT_EQ(b9_entries(), 20);
  EXPECT_EQ(points(), 200);
  auto v = ledger::verify(*ledger_);
  EXPECT_TRUE(v.ok()) << (v.problems.empty() ? "" : v.problems.front());
}

}  // namespace
}  // namespace loyalty

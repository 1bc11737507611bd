// The redo log's records and payload encoding (ledger/src/redo_log.h) on a real file.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <vector>

#include "redo_log.h"

namespace loyalty::ledger {
namespace {

namespace fs = std::filesystem;

class RedoLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loyalty-redo-log-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path() const { return dir_ + "/ledger.db-redo"; }
  std::string dir_;
};

constexpr uint64_t kId = 0x1234abcd5678ef00ULL;

TEST_F(RedoLogTest, ARecordIsReadBackOnlyWithItsNumberAndLogId) {
  RedoLog log(path());
  const std::string payload(1000, 'x');
  log.append(0, 7, kId, payload);
  log.append(RedoLog::kHeaderBytes + 1000, 8, kId, "second");
  EXPECT_EQ(log.read(0, 7, kId), payload);
  EXPECT_EQ(log.read(RedoLog::kHeaderBytes + 1000, 8, kId), "second");
  EXPECT_FALSE(log.read(0, 8, kId)) << "a stale record of an earlier pass over the file";
  EXPECT_FALSE(log.read(0, 7, kId + 1)) << "the log of another database";
  EXPECT_FALSE(log.read(RedoLog::kHeaderBytes + 1030, 9, kId)) << "past the end";
}

TEST_F(RedoLogTest, TornAndInvalidatedRecordsAreNotRead) {
  RedoLog log(path());
  log.append(0, 1, kId, std::string(5000, 'a'));
  log.append(5024, 2, kId, std::string(5000, 'b'));
  log.invalidate(0);
  EXPECT_FALSE(log.read(0, 1, kId));
  fs::resize_file(path(), 5024 + RedoLog::kHeaderBytes + 4000);  // the power went mid-write
  EXPECT_FALSE(log.read(5024, 2, kId));
  // A byte flipped inside the payload.
  log.append(0, 3, kId, std::string(100, 'c'));
  {
    FILE* f = std::fopen(path().c_str(), "r+b");
    std::fseek(f, RedoLog::kHeaderBytes + 50, SEEK_SET);
    std::fputc('d', f);
    std::fclose(f);
  }
  EXPECT_FALSE(log.read(0, 3, kId));
}

TEST_F(RedoLogTest, StatementsRoundTripWithEveryParameterType) {
  std::string payload, binds;
  RedoWriter::put_int(binds, 1, -42);
  RedoWriter::put_text(binds, 2, std::string("a\0b", 3));
  RedoWriter::put_blob(binds, 3, std::string("\xff\x00", 2));
  RedoWriter::put_null(binds, 5);
  RedoWriter(payload).begin_statement("INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)", binds, 4);
  RedoWriter(payload).begin_statement("DELETE FROM t", "", 0);
  const auto st = decode_redo(payload, 1);
  ASSERT_EQ(st.size(), 2u);
  EXPECT_EQ(st[0].sql, "INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)");
  ASSERT_EQ(st[0].params.size(), 4u);
  EXPECT_EQ(st[0].params[0].i, -42);
  EXPECT_EQ(st[0].params[1].type, RedoParam::Type::kText);
  EXPECT_EQ(st[0].params[1].bytes, std::string("a\0b", 3));
  EXPECT_EQ(st[0].params[2].type, RedoParam::Type::kBlob);
  EXPECT_EQ(st[0].params[2].bytes, std::string("\xff\x00", 2));
  EXPECT_EQ(st[0].params[3].index, 5);
  EXPECT_EQ(st[0].params[3].type, RedoParam::Type::kNull);
  EXPECT_EQ(st[1].sql, "DELETE FROM t");
  EXPECT_TRUE(st[1].params.empty());
}

TEST_F(RedoLogTest, AMalformedPayloadIsAnErrorNamingTheRecord) {
  std::string payload, binds;
  RedoWriter::put_text(binds, 1, "hello");
  RedoWriter(payload).begin_statement("SELECT ?1", binds, 1);
  for (size_t cut : {size_t{2}, size_t{12}, payload.size() - 1}) {
    try {
      decode_redo(std::string_view(payload).substr(0, cut), 17);
      ADD_FAILURE() << "no error at " << cut;
    } catch (const app::StoreFailure& e) {
      EXPECT_NE(std::string(e.what()).find("redo record 17"), std::string::npos) << e.what();
    }
  }
}

// The syncer of request records: every ticket's wait returns once a sync that began after
// the ticket was asked for has ended, from many threads at once, while the thread spins
// between requests and sleeps when none come.
TEST_F(RedoLogTest, TheSyncerAnswersEveryTicketFromManyThreads) {
  RedoLog log(path());
  RedoSyncer syncer(log);
  std::atomic<int64_t> offset{0};
  std::atomic<int> waited{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string payload(100 + t, static_cast<char>('a' + t));
        log.write(offset.fetch_add(RedoLog::kHeaderBytes + 200), 1 + t * 1000 + i, kId, payload, true);
        const uint64_t ticket = syncer.ask();
        EXPECT_GT(ticket, 0u);
        syncer.wait(ticket);
        ++waited;
        if (i % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the thread sleeps, then wakes
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(waited.load(), 1600);
  EXPECT_FALSE(syncer.failed());
  syncer.wait(0);  // nothing to wait for
}

TEST_F(RedoLogTest, TheSyncerFinishesWhatWasAskedBeforeItStops) {
  RedoLog log(path());
  uint64_t last = 0;
  {
    RedoSyncer syncer(log);
    log.write(0, 1, kId, "one", true);
    last = syncer.ask();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // asleep by now
    log.write(RedoLog::kHeaderBytes + 3, 2, kId, "two", true);
    last = syncer.ask();
    syncer.wait(last);
  }  // joins
  EXPECT_EQ(last, 2u);
  EXPECT_EQ(log.read(RedoLog::kHeaderBytes + 3, 2, kId), "two");
}

}  // namespace
}  // namespace loyalty::ledger

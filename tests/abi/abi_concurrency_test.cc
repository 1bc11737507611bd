// loyalty_handle from many threads at once on one handle (contract section 1: several
// POS terminals share the plugin): every call succeeds, balances equal the sum of what the
// responses said was earned, and a request id sent by several terminals at the same moment
// is applied once with one answer.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "abi_support.h"

namespace abi_test {
namespace {

constexpr int kThreads = 8;
constexpr int kSalesPerThread = 200;
constexpr int kDuplicateEvery = 20;  // every 20th step all threads also send one shared id

std::string amount_for(int t, int i) { return std::to_string(10 + (t * 7 + i) % 50) + ".35"; }

TEST(AbiConcurrency, EightThreadsOfSalesAddUpExactly) {
  ASSERT_TRUE(api().loaded()) << api().load_error;
  Plugin plugin;
  ASSERT_TRUE(plugin.opened()) << plugin.open_error();

  std::mutex mu;
  std::map<std::string, int64_t> expected;                      // customer -> points earned
  std::map<std::string, std::vector<std::string>> dup_replies;  // shared id -> every answer
  std::vector<std::string> failures;
  std::atomic<bool> writers_done{false};
  std::atomic<int> reads{0}, read_failures{0};

  // A reader querying balances while the terminals write.
  std::thread reader([&] {
    while (!writers_done.load()) {
      char* out = nullptr;
      const std::string q =
          json{{"type", "balance.query"}, {"id", "r"}, {"at", kAt}, {"customer", "card:shared-0"}}
              .dump();
      const int rc = api().handle(plugin.handle(), q.data(), q.size(), &out);
      // not_found until the first sale of that customer commits.
      if (rc != LOYALTY_OK && rc != LOYALTY_ERR_NOT_FOUND) ++read_failures;
      ++reads;
      api().free(out);
    }
  });

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::map<std::string, int64_t> mine;
      std::map<std::string, std::string> my_dups;
      std::vector<std::string> my_failures;
      auto send = [&](const json& req) -> json {
        const std::string body = req.dump();
        char* out = nullptr;
        const int rc = api().handle(plugin.handle(), body.data(), body.size(), &out);
        std::string text = out != nullptr ? out : "";
        api().free(out);
        if (rc != LOYALTY_OK) {
          my_failures.push_back(std::to_string(rc) + " " + text);
          return json();
        }
        return json::parse(text, nullptr, false);
      };
      for (int i = 0; i < kSalesPerThread; ++i) {
        const std::string customer =
            i % 2 == 0 ? "card:shared-" + std::to_string(i % 3) : "card:own-" + std::to_string(t);
        const json sale = cash_sale("c" + std::to_string(t) + "-" + std::to_string(i),
                                    "C" + std::to_string(t) + "-" + std::to_string(i), customer,
                                    {amount_for(t, i)});
        const json r = send(sale);
        if (r.is_object() && r["earned"].is_number_integer())
          mine[customer] += r["earned"].get<int64_t>();
        if (i % kDuplicateEvery == 0) {
          // Identical body from every terminal: one sale, one answer.
          const std::string id = "dup-" + std::to_string(i);
          const json dup = cash_sale(id, "D-" + std::to_string(i), "card:dup", {"42.00"});
          const std::string body = dup.dump();
          char* out = nullptr;
          const int rc = api().handle(plugin.handle(), body.data(), body.size(), &out);
          my_dups[id] = std::to_string(rc) + " " + (out != nullptr ? out : "");
          api().free(out);
        }
      }
      std::lock_guard lock(mu);
      for (const auto& [c, p] : mine) expected[c] += p;
      for (const auto& [id, text] : my_dups) dup_replies[id].push_back(text);
      failures.insert(failures.end(), my_failures.begin(), my_failures.end());
    });
  }
  for (auto& th : threads) th.join();
  writers_done = true;
  reader.join();

  ASSERT_TRUE(failures.empty()) << failures.size() << " sales failed, first: " << failures.front();
  EXPECT_EQ(read_failures.load(), 0) << "of " << reads.load() << " concurrent balance queries";
  int64_t total = 0, sum_of_balances = 0;
  for (const auto& [customer, points] : expected) {
    EXPECT_EQ(plugin.balance(customer), points) << customer;
    total += points;
    sum_of_balances += plugin.balance(customer);
  }
  EXPECT_EQ(sum_of_balances, total);
  EXPECT_GT(total, 0);

  // Each shared id: every terminal got the same bytes, and it was applied once.
  ASSERT_EQ(dup_replies.size(), static_cast<size_t>(kSalesPerThread / kDuplicateEvery));
  for (const auto& [id, replies] : dup_replies) {
    ASSERT_EQ(replies.size(), static_cast<size_t>(kThreads));
    EXPECT_EQ(replies.front().rfind("0 ", 0), 0u) << replies.front();
    for (const auto& r : replies) EXPECT_EQ(r, replies.front()) << id;
  }
  EXPECT_EQ(plugin.balance("card:dup"),
            static_cast<int64_t>(dup_replies.size()) * 21);  // 42.00 -> 21 each
  LedgerReader db(plugin.db_path());
  EXPECT_EQ(db.scalar("SELECT count(*) FROM sales"),
            kThreads * kSalesPerThread + static_cast<int64_t>(dup_replies.size()));
  EXPECT_EQ(db.scalar("SELECT count(*) FROM requests"),
            kThreads * kSalesPerThread + static_cast<int64_t>(dup_replies.size()));
}

// Two handles on one ledger (two POS processes of a branch, or a POS and loyaltyctl):
// each with four threads, interleaving writes through separate SQLite connections.
// loyalty_close while terminals' calls are still inside loyalty_handle (waiting for a ledger
// another process holds): it waits for them and they finish normally. It freed the plugin
// under them (a crash, 3 of 3 times).
TEST(AbiConcurrency, CloseWaitsForTheCallsInFlight) {
  ASSERT_TRUE(api().loaded()) << api().load_error;
  Plugin plugin;
  ASSERT_TRUE(plugin.opened()) << plugin.open_error();
  loyalty_plugin* p = plugin.open_another();
  ASSERT_NE(p, nullptr);
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(plugin.db_path().c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  constexpr int kCalls = 4;
  std::vector<int> codes(kCalls, -1);
  std::atomic<int> started{0};
  std::vector<std::thread> calls;
  for (int i = 0; i < kCalls; ++i) {
    calls.emplace_back([&, i] {
      const std::string body =
          cash_sale("C-" + std::to_string(i), "C-" + std::to_string(i), "card:close", {"10.00"}).dump();
      char* out = nullptr;
      ++started;
      codes[i] = api().handle(p, body.data(), body.size(), &out);
      api().free(out);
    });
  }
  while (started.load() < kCalls) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // inside, waiting for the lock
  std::atomic<bool> closed{false};
  std::thread closer([&] {
    api().close(p);
    closed = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(closed.load()) << "loyalty_close returned while calls were still inside";
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  for (auto& t : calls) t.join();
  closer.join();
  // A call still on its way in when the close began (a slow machine) is answered
  // unavailable; every other finished normally, and the ledger holds exactly those.
  int ok = 0;
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_TRUE(codes[i] == LOYALTY_OK || codes[i] == LOYALTY_ERR_UNAVAILABLE) << i << ": " << codes[i];
    ok += codes[i] == LOYALTY_OK;
  }
  EXPECT_GE(ok, 1);
  EXPECT_EQ(plugin.send(json{{"type", "balance.query"}, {"id", "q"}, {"at", kAt}, {"customer", "card:close"}}.dump())
                .body["balance"],
            ok * 5);
}

TEST(AbiConcurrency, TwoHandlesOnOneLedgerKeepItConsistent) {
  ASSERT_TRUE(api().loaded()) << api().load_error;
  Plugin plugin;
  ASSERT_TRUE(plugin.opened()) << plugin.open_error();
  loyalty_plugin* second = plugin.open_another();
  ASSERT_NE(second, nullptr);
  loyalty_plugin* const handles[2] = {plugin.handle(), second};

  constexpr int kPerThread = 100;
  std::mutex mu;
  std::map<std::string, int64_t> expected;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      loyalty_plugin* h = handles[t % 2];
      std::map<std::string, int64_t> mine;
      std::vector<std::string> my_failures;
      for (int i = 0; i < kPerThread; ++i) {
        const std::string customer = "card:two-" + std::to_string((t + i) % 5);
        const std::string body = cash_sale("two-" + std::to_string(t) + "-" + std::to_string(i),
                                           "W" + std::to_string(t) + "-" + std::to_string(i),
                                           customer, {amount_for(t, i)})
                                     .dump();
        char* out = nullptr;
        const int rc = api().handle(h, body.data(), body.size(), &out);
        const std::string text = out != nullptr ? out : "";
        api().free(out);
        if (rc != LOYALTY_OK) {
          my_failures.push_back(std::to_string(rc) + " " + text);
          continue;
        }
        const json r = json::parse(text, nullptr, false);
        if (r.is_object() && r["earned"].is_number_integer())
          mine[customer] += r["earned"].get<int64_t>();
      }
      std::lock_guard lock(mu);
      for (const auto& [c, p] : mine) expected[c] += p;
      failures.insert(failures.end(), my_failures.begin(), my_failures.end());
    });
  }
  for (auto& th : threads) th.join();
  api().close(second);

  EXPECT_TRUE(failures.empty()) << failures.size() << " sales failed, first: " << failures.front();
  for (const auto& [customer, points] : expected)
    EXPECT_EQ(plugin.balance(customer), points) << customer;
  LedgerReader db(plugin.db_path());
  EXPECT_EQ(db.scalar("SELECT count(*) FROM sales"),
            8 * kPerThread - static_cast<int64_t>(failures.size()));
  // origin_seq is allocated by two connections: still 1..n without gaps or duplicates.
  EXPECT_EQ(db.scalar("SELECT count(*) FROM entries"),
            db.scalar("SELECT max(origin_seq) FROM entries"));
  EXPECT_EQ(db.scalar("SELECT count(DISTINCT origin_seq) FROM entries"),
            db.scalar("SELECT count(*) FROM entries"));
  EXPECT_EQ(
      db.scalar("SELECT count(*) FROM accounts a WHERE balance != (SELECT coalesce(sum(points), 0) "
                "FROM entries e WHERE e.account_id = a.account_id)"),
      0);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM aliases WHERE ref LIKE 'card:two-%'"), 5)
      << "each customer enrolled once, whichever handle saw it first";
}

}  // namespace
}  // namespace abi_test

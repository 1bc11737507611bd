// The C ABI through the real libloyalty.so, loaded with dlopen as a POS would.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "loyalty/loyalty.h"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct Api {
  void* so = nullptr;
  uint32_t (*abi_version)() = nullptr;
  int (*open)(const char*, loyalty_plugin**, char**) = nullptr;
  int (*handle)(loyalty_plugin*, const char*, size_t, char**) = nullptr;
  void (*free)(char*) = nullptr;
  void (*close)(loyalty_plugin*) = nullptr;
};

const Api& api() {
  static Api a = [] {
    Api x;
    x.so = dlopen(LOYALTY_SO, RTLD_NOW | RTLD_LOCAL);
    if (!x.so) {
      std::fprintf(stderr, "dlopen %s: %s\n", LOYALTY_SO, dlerror());
      std::abort();
    }
    x.abi_version = reinterpret_cast<uint32_t (*)()>(dlsym(x.so, "loyalty_abi_version"));
    x.open = reinterpret_cast<int (*)(const char*, loyalty_plugin**, char**)>(dlsym(x.so, "loyalty_open"));
    x.handle = reinterpret_cast<int (*)(loyalty_plugin*, const char*, size_t, char**)>(dlsym(x.so, "loyalty_handle"));
    x.free = reinterpret_cast<void (*)(char*)>(dlsym(x.so, "loyalty_free"));
    x.close = reinterpret_cast<void (*)(loyalty_plugin*)>(dlsym(x.so, "loyalty_close"));
    return x;
  }();
  return a;
}

constexpr const char* kConfig = R"([plugin]
branch = "B01"
db = "ledger.db"
locale = "es"
synchronous = "normal"

[program]
currency = "MXN"
point_value = "0.10"
earn_percent = "5"
excluded_payment_methods = ["credit_card"]

[program.overrides.sku]
"GIFT-100" = "0"

[receipt]
width = 42
)";

class AbiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loyalty-abi-XXXXXX";
    dir_ = mkdtemp(tmpl);
    write_config(kConfig);
    char* err = nullptr;
    ASSERT_EQ(api().open(config_.c_str(), &p_, &err), 0) << (err ? err : "");
    ASSERT_EQ(err, nullptr);
  }
  void TearDown() override {
    api().close(p_);
    fs::remove_all(dir_);
  }
  void write_config(const std::string& text) {
    config_ = dir_ + "/loyalty.toml";
    std::ofstream(config_) << text;
  }

  // Sends raw bytes; returns the code and the parsed response.
  std::pair<int, json> raw(const std::string& bytes) {
    char* out = nullptr;
    const int rc = api().handle(p_, bytes.data(), bytes.size(), &out);
    EXPECT_NE(out, nullptr);
    json j = json::parse(out ? out : "null", nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "response is not JSON";
    api().free(out);
    return {rc, j};
  }
  json ok(const json& req) {
    auto [rc, j] = raw(req.dump());
    EXPECT_EQ(rc, 0) << j.dump();
    return j;
  }
  int64_t balance(const std::string& customer) {
    auto [rc, j] = raw(json{{"type", "balance.query"}, {"id", "q"}, {"at", "2026-11-22T12:00:00-06:00"},
                            {"customer", customer}}.dump());
    return rc == 0 ? j["balance"].get<int64_t>() : -999999;
  }

  std::string dir_, config_;
  loyalty_plugin* p_ = nullptr;
};

const char* kSale = R"({"type":"sale.completed","id":"B01-T1-000123","at":"2026-11-22T10:15:00-06:00",
 "branch":"B01","terminal":"T1","ticket":"000123","currency":"MXN","customer":"card:4000123",
 "lines":[{"n":1,"sku":"CAFE-AMER","category":"bebidas","qty":"2","amount":"90.00"},
          {"n":2,"sku":"GIFT-100","category":"gift-cards","qty":"1","amount":"100.00"}],
 "tenders":[{"method":"cash","amount":"200.00","change":"10.00"}]})";

size_t columns(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

TEST(Abi, Version) { EXPECT_EQ(api().abi_version(), 1u); }

TEST(Abi, ExportsExactlyTheContractFunctions) {
  FILE* f = popen((std::string("nm -D --defined-only ") + LOYALTY_SO + " 2>/dev/null").c_str(), "r");
  if (!f) GTEST_SKIP() << "nm not available";
  std::set<std::string> funcs;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    char addr[64], type[8], name[400];
    if (sscanf(line, "%63s %7s %399s", addr, type, name) == 3 && (type[0] == 'T' || type[0] == 'W' || type[0] == 'D' || type[0] == 'B')) {
      std::string n = name;
      funcs.insert(n.substr(0, n.find('@')));
    }
  }
  pclose(f);
  if (funcs.empty()) GTEST_SKIP() << "nm printed nothing";
  EXPECT_EQ(funcs, (std::set<std::string>{"loyalty_abi_version", "loyalty_open", "loyalty_handle", "loyalty_free",
                                          "loyalty_close"}));
}

TEST(Abi, OpenErrorsNameTheProblem) {
  loyalty_plugin* p = nullptr;
  char* err = nullptr;
  EXPECT_EQ(api().open("/nonexistent/loyalty.toml", &p, &err), LOYALTY_ERR_INVALID_CONFIG);
  EXPECT_EQ(p, nullptr);
  ASSERT_NE(err, nullptr);
  EXPECT_NE(std::string(err).find("/nonexistent/loyalty.toml"), std::string::npos);
  api().free(err);

  char tmpl[] = "/tmp/loyalty-abi-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::ofstream(dir + "/bad.toml") << "[plugin]\nbranch = \"B01\"\n[program]\nearn_percnt = \"5\"\n";
  err = nullptr;
  EXPECT_EQ(api().open((dir + "/bad.toml").c_str(), &p, &err), LOYALTY_ERR_INVALID_CONFIG);
  ASSERT_NE(err, nullptr);
  auto j = json::parse(err);
  EXPECT_EQ(j["error"]["code"], "invalid_config");
  EXPECT_EQ(j["error"]["field"], "program.earn_percnt");
  api().free(err);
  std::ofstream(dir + "/float.toml") << "[plugin]\nbranch = \"B01\"\n[program]\npoint_value = 0.10\n";
  err = nullptr;
  EXPECT_EQ(api().open((dir + "/float.toml").c_str(), &p, &err), LOYALTY_ERR_INVALID_CONFIG);
  EXPECT_EQ(json::parse(err)["error"]["field"], "program.point_value");
  api().free(err);
  fs::remove_all(dir);
}

TEST(Abi, NullArgumentsAreRefusedWithoutCrashing) {
  char* out = nullptr;
  EXPECT_EQ(api().handle(nullptr, "{}", 2, &out), LOYALTY_ERR_INVALID_ARGUMENT);
  api().free(out);
  EXPECT_EQ(api().handle(nullptr, "{}", 2, nullptr), LOYALTY_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api().open(nullptr, nullptr, nullptr), LOYALTY_ERR_INVALID_ARGUMENT);
  loyalty_plugin* p = nullptr;
  EXPECT_EQ(api().open(nullptr, &p, nullptr), LOYALTY_ERR_INVALID_ARGUMENT);
  api().close(nullptr);
  api().free(nullptr);
}

TEST_F(AbiTest, ContractSaleEarnsAndReturnsTheReceipt) {
  auto [rc, r] = raw(kSale);
  ASSERT_EQ(rc, 0) << r.dump();
  EXPECT_EQ(r["ok"], true);
  EXPECT_EQ(r["earned"], 45);
  EXPECT_EQ(r["redeemed"], 0);
  EXPECT_EQ(r["balance"], 45);
  EXPECT_EQ(r["balance_value"], "4.50");
  EXPECT_EQ(r["customer"], "card:4000123");
  ASSERT_TRUE(r["receipt"].is_array());
  ASSERT_FALSE(r["receipt"].empty());
  for (const auto& line : r["receipt"]) EXPECT_LE(columns(line.get<std::string>()), 42u) << line;
}

TEST_F(AbiTest, IdempotentReplayAndConflict) {
  auto first = raw(kSale);
  auto again = raw(kSale);
  EXPECT_EQ(first.second.dump(), again.second.dump());
  EXPECT_EQ(balance("card:4000123"), 45);
  std::string changed = kSale;
  changed.replace(changed.find("90.00"), 5, "91.00");
  auto [rc, j] = raw(changed);
  EXPECT_EQ(rc, LOYALTY_ERR_CONFLICT);
  EXPECT_EQ(j["error"]["code"], "conflict");
  EXPECT_EQ(balance("card:4000123"), 45);
}

TEST_F(AbiTest, BadInputGetsTheContractCodeAndChangesNothing) {
  ok(json::parse(kSale));
  struct Case {
    std::string bytes;
    int code;
    std::string field;
  };
  std::string nul = R"({"type":"balance.query","id":"x","at":"2026-11-22T10:00:00Z","customer":"card:4000123"})";
  nul.insert(10, 1, '\0');
  std::vector<Case> cases = {
      {"this is not json", LOYALTY_ERR_INVALID_JSON, ""},
      {nul, LOYALTY_ERR_INVALID_JSON, ""},
      {"\xff\xfe{}", LOYALTY_ERR_INVALID_JSON, ""},
      {std::string(100000, '['), LOYALTY_ERR_INVALID_JSON, ""},
      {R"({"type":"coupon.redeemed","id":"1","at":"2026-11-22T10:00:00Z"})", LOYALTY_ERR_UNKNOWN_TYPE, "type"},
      {R"({"type":"sale.completed","id":"n1","at":"2026-11-22T10:00:00Z","ticket":"1","lines":[{"amount":"-1.00"}]})",
       LOYALTY_ERR_INVALID_EVENT, "lines[0].amount"},
      {R"({"type":"sale.completed","id":"n2","at":"2026-11-22T10:00:00Z","ticket":"1","lines":[{"amount":90.0}]})",
       LOYALTY_ERR_INVALID_EVENT, "lines[0].amount"},
      {R"({"type":"sale.completed","id":"n3","at":"2026-11-22T10:00:00Z","ticket":"1","lines":[],"discount":"5"})",
       LOYALTY_ERR_INVALID_EVENT, "discount"},
      {R"({"type":"sale.completed","id":"n4","at":"yesterday","ticket":"1","lines":[]})", LOYALTY_ERR_INVALID_EVENT,
       "at"},
      {R"([1,2,3])", LOYALTY_ERR_INVALID_EVENT, ""},
  };
  for (const auto& c : cases) {
    auto [rc, j] = raw(c.bytes);
    EXPECT_EQ(rc, c.code) << c.bytes.substr(0, 80) << " -> " << j.dump();
    EXPECT_EQ(j["ok"], false);
    if (!c.field.empty()) {
      EXPECT_EQ(j["error"]["field"], c.field) << j.dump();
    }
  }
  EXPECT_EQ(balance("card:4000123"), 45);
}

TEST_F(AbiTest, TenMegabyteRequestsAreRefusedCleanly) {
  std::string big = R"({"type":"sale.completed","id":"big","at":"2026-11-22T10:00:00Z","ticket":"1","customer":")" +
                    std::string(10 * 1024 * 1024, 'x') + R"(","lines":[]})";
  auto [rc, j] = raw(big);
  EXPECT_EQ(rc, LOYALTY_ERR_INVALID_EVENT);
  EXPECT_EQ(j["error"]["field"], "customer");
  std::string garbage(10 * 1024 * 1024, '\x7f');
  auto [rc2, j2] = raw(garbage);
  EXPECT_EQ(rc2, LOYALTY_ERR_INVALID_JSON);
  std::string huge(17 * 1024 * 1024, ' ');
  auto [rc3, j3] = raw(huge);
  EXPECT_EQ(rc3, LOYALTY_ERR_INVALID_EVENT);
  EXPECT_NE(j3["error"]["message"].get<std::string>().find("exceeds"), std::string::npos);
}

TEST_F(AbiTest, EightThreadsAtOnce) {
  constexpr int kThreads = 8, kSales = 200;
  std::atomic<int64_t> earned_total{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kSales; ++i) {
        const std::string customer = (i % 2 == 0) ? "card:shared" : "card:t" + std::to_string(t);
        json req = {{"type", "sale.completed"}, {"id", "t" + std::to_string(t) + "-" + std::to_string(i)},
                    {"at", "2026-11-22T10:15:00-06:00"}, {"ticket", std::to_string(t * 1000 + i)},
                    {"customer", customer}, {"lines", {{{"amount", std::to_string(10 + i % 7) + ".50"}}}}};
        const std::string body = req.dump();
        char* out = nullptr;
        const int rc = api().handle(p_, body.data(), body.size(), &out);
        if (rc != 0 || out == nullptr) {
          ++failures;
        } else {
          earned_total += json::parse(out)["earned"].get<int64_t>();
        }
        api().free(out);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, 0);
  int64_t sum = balance("card:shared");
  for (int t = 0; t < kThreads; ++t) sum += balance("card:t" + std::to_string(t));
  EXPECT_EQ(sum, earned_total.load());
}

TEST_F(AbiTest, PointsPaymentWithHoldRefundsAndTransfers) {
  ok(json::parse(kSale));  // 45 points
  auto hold = ok({{"type", "points.authorize"}, {"id", "a1"}, {"at", "2026-11-22T11:00:00-06:00"},
                  {"customer", "card:4000123"}, {"ticket", "000124"}, {"amount", "4.00"}});
  EXPECT_EQ(hold["points"], 40);
  EXPECT_EQ(hold["hold"].get<std::string>().rfind("H-", 0), 0u);
  auto [rc, refused] = raw(json{{"type", "points.authorize"}, {"id", "a2"}, {"at", "2026-11-22T11:00:00-06:00"},
                                {"customer", "card:4000123"}, {"ticket", "000125"}, {"amount", "1.00"}}.dump());
  EXPECT_EQ(rc, LOYALTY_ERR_INSUFFICIENT_POINTS);
  EXPECT_EQ(refused["error"]["code"], "insufficient_points");
  auto paid = ok({{"type", "sale.completed"}, {"id", "s2"}, {"at", "2026-11-22T11:01:00-06:00"}, {"ticket", "000124"},
                  {"customer", "card:4000123"}, {"lines", {{{"n", 1}, {"amount", "4.00"}}}},
                  {"tenders", {{{"method", "points"}, {"amount", "4.00"}, {"hold", hold["hold"]}}}}});
  EXPECT_EQ(paid["redeemed"], 40);
  EXPECT_EQ(paid["balance"], 5);
  auto refund = ok({{"type", "refund.completed"}, {"id", "r1"}, {"at", "2026-11-22T12:00:00-06:00"}, {"ticket", "R-1"},
                    {"original_ticket", "000123"}, {"original_branch", "B01"}, {"customer", "card:4000123"},
                    {"lines", {{{"n", 1}, {"qty", "2"}, {"amount", "90.00"}}}},
                    {"tenders", {{{"method", "cash"}, {"amount", "90.00"}}}}});
  EXPECT_EQ(refund["clawed_back"], 45);
  EXPECT_EQ(refund["balance"], -40);
  auto rel = raw(json{{"type", "points.release"}, {"id", "l1"}, {"at", "2026-11-22T12:00:00-06:00"},
                      {"hold", "H-DOESNOTEXIST"}}.dump());
  EXPECT_EQ(rel.first, LOYALTY_ERR_NOT_FOUND);
  auto tr = raw(json{{"type", "points.transfer"}, {"id", "x1"}, {"at", "2026-11-22T12:00:00-06:00"},
                     {"from", "card:4000123"}, {"to", "card:2"}, {"points", 1}}.dump());
  EXPECT_EQ(tr.first, LOYALTY_ERR_FORBIDDEN);
  EXPECT_EQ(tr.second["error"]["code"], "forbidden");
  auto hist = ok({{"type", "history.query"}, {"id", "h"}, {"at", "2026-11-22T12:00:00-06:00"},
                  {"customer", "card:4000123"}});
  ASSERT_EQ(hist["entries"].size(), 3u);
  EXPECT_EQ(hist["entries"][0]["kind"], "earn");
  EXPECT_EQ(hist["entries"][1]["kind"], "redeem");
  EXPECT_EQ(hist["entries"][2]["kind"], "clawback");
  auto info = ok({{"type", "plugin.info"}, {"id", "i"}, {"at", "2026-11-22T12:00:00-06:00"}});
  EXPECT_EQ(info["abi_version"], 1);
}

}  // namespace

// The C ABI (contract section 1) through the real libloyalty.so, loaded with dlopen as a
// POS loads it: version, exported symbols, loyalty_open errors, NULL arguments, the
// contract's sale, idempotency, and malformed input of every kind (codes, fields, and
// the ledger left untouched).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "abi_support.h"

namespace abi_test {
namespace {

class AbiLib : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(api().loaded()) << api().load_error; }
};

class AbiPlugin : public AbiLib {
 protected:
  void SetUp() override {
    AbiLib::SetUp();
    ASSERT_TRUE(plugin_.opened()) << plugin_.open_code() << " " << plugin_.open_error();
  }
  Plugin plugin_;
};

// Opens `toml` (written into a fresh directory) expecting a failure; returns the code and
// the error body.
std::pair<int, std::string> open_failure(const std::string& toml) {
  TempDir dir;
  dir.write("loyalty.toml", toml);
  loyalty_plugin* p = reinterpret_cast<loyalty_plugin*>(&dir);  // must be reset to NULL
  char* err = nullptr;
  const int rc = api().open(dir.file("loyalty.toml").c_str(), &p, &err);
  EXPECT_EQ(p, nullptr) << "on failure *out must be NULL";
  if (rc == 0) api().close(p);
  std::string text = err != nullptr ? err : "";
  api().free(err);
  return {rc, text};
}

// ---- library ----------------------------------------------------------------------------

TEST_F(AbiLib, VersionIsOne) {
  EXPECT_EQ(api().abi_version(), 1u);
  EXPECT_EQ(api().abi_version(), static_cast<uint32_t>(LOYALTY_ABI_VERSION));
}

TEST_F(AbiLib, ExportsExactlyTheFiveContractFunctions) {
  if (std::system("command -v nm >/dev/null 2>&1") != 0) GTEST_SKIP() << "nm is not installed";
  FILE* f =
      popen((std::string("nm -D --defined-only '") + LOYALTY_SO + "' 2>/dev/null").c_str(), "r");
  if (f == nullptr) GTEST_SKIP() << "cannot run nm";
  std::set<std::string> exported;
  std::set<std::string> functions;
  char line[1024];
  while (fgets(line, sizeof line, f) != nullptr) {
    char addr[64], type[8], name[900];
    if (sscanf(line, "%63s %7s %899s", addr, type, name) != 3) continue;
    if (type[0] == 'A') continue;  // version nodes (LOYALTY_1), not symbols
    std::string n = name;
    n = n.substr(0, n.find('@'));
    exported.insert(n + " (" + type + ")");
    if (type[0] == 'T') functions.insert(n);
  }
  pclose(f);
  if (exported.empty()) GTEST_SKIP() << "nm printed nothing";
  const std::set<std::string> contract = {"loyalty_abi_version", "loyalty_open", "loyalty_handle",
                                          "loyalty_free", "loyalty_close"};
  EXPECT_EQ(functions, contract);
  std::set<std::string> expected;
  for (const auto& c : contract) expected.insert(c + " (T)");
  EXPECT_EQ(exported, expected) << "only the five contract functions may be exported";
}

TEST_F(AbiLib, OpenMissingFileIsInvalidConfigNamingThePath) {
  loyalty_plugin* p = nullptr;
  char* err = nullptr;
  const std::string path = "/nonexistent-dir-for-loyalty/loyalty.toml";
  EXPECT_EQ(api().open(path.c_str(), &p, &err), LOYALTY_ERR_INVALID_CONFIG);
  EXPECT_EQ(p, nullptr);
  ASSERT_NE(err, nullptr);
  const std::string text = err;
  api().free(err);
  const json j = json::parse(text, nullptr, false);
  ASSERT_TRUE(j.is_object()) << text;
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["error"]["code"], "invalid_config") << text;
  EXPECT_NE(j["error"]["message"].get<std::string>().find(path), std::string::npos) << text;

  // Without an error_json pointer the code alone reports it.
  EXPECT_EQ(api().open(path.c_str(), &p, nullptr), LOYALTY_ERR_INVALID_CONFIG);
  EXPECT_EQ(p, nullptr);
}

// The contract's own [sync] example: a hub that is not there and no token file yet. The
// checkout must not notice: the plugin opens, sales earn at once, and points are spent as
// without sync (contract section 4: a branch works fully offline; no offline_redeem_allowance
// is set, so nothing is capped).
TEST_F(AbiLib, SyncSectionWithoutTokenOrHubNeverStopsTheCheckout) {
  ConfigOptions o;
  o.extra = "\n[sync]\nurl = \"wss://hub.example.com:8443/v1/sync\"\ntoken_file = \"branch.token\"\n";
  const auto t0 = std::chrono::steady_clock::now();
  Plugin plugin(o);
  ASSERT_TRUE(plugin.opened()) << plugin.open_error();
  const json sale = {{"type", "sale.completed"}, {"id", "S1"}, {"at", "2026-11-22T10:15:00-06:00"},
                     {"ticket", "000123"}, {"customer", "card:4000123"},
                     {"lines", {{{"n", 1}, {"sku", "CAFE-AMER"}, {"qty", "2"}, {"amount", "90.00"}}}},
                     {"tenders", {{{"method", "cash"}, {"amount", "90.00"}}}}};
  const Reply r = plugin.call(sale);
  EXPECT_EQ(r.code, 0) << r.text;
  EXPECT_EQ(r.body["earned"], 45) << r.text;
  const Reply a = plugin.call({{"type", "points.authorize"}, {"id", "A1"}, {"at", "2026-11-22T10:20:00-06:00"},
                               {"customer", "card:4000123"}, {"ticket", "000124"}, {"amount", "1.00"}});
  EXPECT_EQ(a.code, 0) << a.text;
  EXPECT_EQ(a.body["points"], 10) << a.text;
  // Nothing waited on the network (open, two calls; the bound is generous for CI).
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST_F(AbiLib, OpenUnknownKeyIsInvalidConfigNamingTheKey) {
  std::string toml = config_text();
  toml.replace(toml.find("earn_percent = \"5\""), 18, "earn_percnt = \"5\"");
  auto [rc, text] = open_failure(toml);
  EXPECT_EQ(rc, LOYALTY_ERR_INVALID_CONFIG) << text;
  const json j = json::parse(text, nullptr, false);
  ASSERT_TRUE(j.is_object()) << text;
  EXPECT_EQ(j["error"]["code"], "invalid_config");
  EXPECT_EQ(j["error"]["field"], "program.earn_percnt") << text;
  EXPECT_FALSE(j["error"]["message"].get<std::string>().empty()) << text;
}

TEST_F(AbiLib, OpenWrongTypesAndMissingBranchNameTheKey) {
  struct Case {
    std::string from, to, key;
  };
  const std::vector<Case> cases = {
      {"point_value = \"0.10\"", "point_value = 0.10", "program.point_value"},  // a float for money
      {"expiry_days = 365", "expiry_days = \"365\"", "program.expiry_days"},
      {"on_points_tender = \"block\"", "on_points_tender = \"sometimes\"",
       "program.on_points_tender"},
      {"width = 42", "width = 4", "receipt.width"},
      {"branch = \"B01\"\n", "", "plugin.branch"},
      {"[receipt]", "[reciept]", "reciept"},
  };
  for (const auto& c : cases) {
    std::string toml = config_text();
    toml.replace(toml.find(c.from), c.from.size(), c.to);
    auto [rc, text] = open_failure(toml);
    EXPECT_EQ(rc, LOYALTY_ERR_INVALID_CONFIG) << c.to << " -> " << text;
    EXPECT_NE(text.find(c.key), std::string::npos) << c.to << " -> " << text;
  }
  auto [rc, text] = open_failure("[plugin\nbranch = ");
  EXPECT_EQ(rc, LOYALTY_ERR_INVALID_CONFIG) << text;
}

TEST_F(AbiLib, NullArgumentsAreInvalidArgumentWithoutCrashing) {
  char* out = nullptr;
  EXPECT_EQ(api().handle(nullptr, "{}", 2, &out), LOYALTY_ERR_INVALID_ARGUMENT);
  ASSERT_NE(out, nullptr);
  const json j = json::parse(out, nullptr, false);
  api().free(out);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["error"]["code"], "invalid_argument");
  EXPECT_EQ(api().handle(nullptr, "{}", 2, nullptr), LOYALTY_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(api().handle(nullptr, nullptr, 0, nullptr), LOYALTY_ERR_INVALID_ARGUMENT);

  loyalty_plugin* p = nullptr;
  char* err = nullptr;
  EXPECT_EQ(api().open(nullptr, &p, &err), LOYALTY_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(p, nullptr);
  api().free(err);
  EXPECT_EQ(api().open(nullptr, nullptr, nullptr), LOYALTY_ERR_INVALID_ARGUMENT);
  TempDir dir;
  dir.write("loyalty.toml", config_text());
  err = nullptr;
  EXPECT_EQ(api().open(dir.file("loyalty.toml").c_str(), nullptr, &err),
            LOYALTY_ERR_INVALID_ARGUMENT);
  api().free(err);
  api().close(nullptr);
  api().free(nullptr);
}

TEST_F(AbiPlugin, NullRequestOrResponsePointerOnAnOpenHandle) {
  char* out = nullptr;
  EXPECT_EQ(api().handle(plugin_.handle(), nullptr, 10, &out), LOYALTY_ERR_INVALID_ARGUMENT);
  EXPECT_NE(out, nullptr);
  api().free(out);
  const std::string body = cash_sale("null-out", "N1", "card:1", {"10.00"}).dump();
  EXPECT_EQ(api().handle(plugin_.handle(), body.data(), body.size(), nullptr),
            LOYALTY_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ledger_counts(plugin_.db_path()).sales, 0)
      << "a request without a response pointer must not run";
}

// loyalty.h documents code 10 as "invalid_argument": a NULL pointer passed. A NULL
// request_json is a NULL pointer whatever len says.
TEST_F(AbiPlugin, NullRequestWithZeroLengthIsInvalidArgument) {
  char* out = nullptr;
  EXPECT_EQ(api().handle(plugin_.handle(), nullptr, 0, &out), LOYALTY_ERR_INVALID_ARGUMENT);
  EXPECT_NE(out, nullptr);
  api().free(out);
}

TEST_F(AbiLib, NeverWritesToStdoutOrStderr) {
  // Everything that could tempt a library to print: bad configurations, bad input, a sale,
  // errors on a NULL handle, close. Results are checked after the descriptors are back.
  TempDir capture_dir;
  const std::string capture = capture_dir.file("out.txt");
  std::fflush(stdout);
  std::fflush(stderr);
  const int saved_out = dup(1), saved_err = dup(2);
  const int fd = ::open(capture.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  dup2(fd, 1);
  dup2(fd, 2);
  std::vector<int> codes;
  {
    loyalty_plugin* bad = nullptr;
    char* err = nullptr;
    codes.push_back(api().open("/nonexistent/x.toml", &bad, &err));
    api().free(err);
    Plugin p;
    codes.push_back(p.open_code());
    for (const std::string& req :
         {std::string("nonsense"), std::string(R"({"type":"x.y","id":"1","at":"z"})"),
          cash_sale("s", "T", "card:9", {"12.00"}).dump()}) {
      char* out = nullptr;
      codes.push_back(api().handle(p.handle(), req.data(), req.size(), &out));
      api().free(out);
    }
    char* out = nullptr;
    codes.push_back(api().handle(nullptr, "x", 1, &out));
    api().free(out);
  }
  std::fflush(stdout);
  std::fflush(stderr);
  dup2(saved_out, 1);
  dup2(saved_err, 2);
  ::close(saved_out);
  ::close(saved_err);
  ::close(fd);
  EXPECT_EQ(codes, (std::vector<int>{LOYALTY_ERR_INVALID_CONFIG, 0, LOYALTY_ERR_INVALID_JSON,
                                     LOYALTY_ERR_UNKNOWN_TYPE, 0, LOYALTY_ERR_INVALID_ARGUMENT}));
  std::ifstream in(capture, std::ios::binary);
  const std::string printed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(printed, "") << "the plugin wrote to stdout/stderr";
}

// ---- the contract's sale ------------------------------------------------------------------

TEST_F(AbiPlugin, ContractSaleEarns45AndReturnsTheReceipt) {
  const Reply r = plugin_.send(kContractSale);
  ASSERT_EQ(r.code, LOYALTY_OK) << r.text;
  const json& b = r.body;
  EXPECT_EQ(b["ok"], true);
  // Lines 90.00 + 100.00 (GIFT-100 excluded by its SKU override), tenders 200 - 10 change,
  // all cash: s = 1; earned = floor(90 * 5 / 100 / 0.10) = 45.
  EXPECT_EQ(b["earned"], 45) << r.text;
  EXPECT_EQ(b["redeemed"], 0);
  EXPECT_EQ(b["balance"], 45);
  EXPECT_EQ(b["balance_value"], "4.50");
  EXPECT_EQ(b["customer"], "card:4000123");
  ASSERT_TRUE(b["receipt"].is_array()) << r.text;
  EXPECT_FALSE(b["receipt"].empty());
  for (const auto& line : b["receipt"]) {
    ASSERT_TRUE(line.is_string());
    EXPECT_LE(code_points(line.get<std::string>()), 42u) << line;
  }
  bool mentions_earned = false;
  for (const auto& line : b["receipt"])
    mentions_earned |= line.get<std::string>().find("45") != std::string::npos;
  EXPECT_TRUE(mentions_earned) << "the receipt should print the points earned: "
                               << b["receipt"].dump();
  EXPECT_EQ(plugin_.balance("card:4000123"), 45);
}

TEST_F(AbiPlugin, CashSaleOf90Earns45AndAnonymousSaleEarnsNothing) {
  const json sale = plugin_.ok(cash_sale("s-90", "T90", "card:90", {"90.00"}));
  EXPECT_EQ(sale["earned"], 45);
  const json anon = plugin_.ok(cash_sale("s-anon", "TA", "", {"90.00"}));
  EXPECT_EQ(anon["earned"], 0) << anon.dump();
  EXPECT_EQ(ledger_counts(plugin_.db_path()).sales, 2)
      << "an anonymous sale is recorded for reports";
}

TEST_F(AbiPlugin, RequestNeedNotBeNulTerminated) {
  const std::string body = cash_sale("not-terminated", "NT", "card:nt", {"10.00"}).dump();
  const std::string buffer = body + "}}garbage after the request";
  char* out = nullptr;
  EXPECT_EQ(api().handle(plugin_.handle(), buffer.data(), body.size(), &out), LOYALTY_OK)
      << (out ? out : "");
  api().free(out);
}

TEST_F(AbiLib, ReceiptLinesFitANarrowWidthWithLongUtf8References) {
  ConfigOptions o;
  o.locale = "en";
  o.width = 20;
  Plugin p(o);
  ASSERT_TRUE(p.opened()) << p.open_error();
  std::string customer = "card:";
  while (code_points(customer) < 120) customer += "\xC3\xB1\xE2\x82\xAC ";  // "ñ€ "
  customer.pop_back();
  const json r = p.ok(cash_sale("wide", "W1", customer, {"1234567.00"}));
  ASSERT_TRUE(r["receipt"].is_array()) << r.dump();
  EXPECT_FALSE(r["receipt"].empty());
  for (const auto& line : r["receipt"])
    EXPECT_LE(code_points(line.get<std::string>()), 20u) << line;
}

// ---- idempotency (rule 11) ----------------------------------------------------------------

TEST_F(AbiPlugin, SameIdSameBodyIsByteIdenticalAndChangesNothing) {
  const Reply first = plugin_.send(kContractSale);
  ASSERT_EQ(first.code, 0) << first.text;
  const LedgerCounts before = ledger_counts(plugin_.db_path());
  for (int i = 0; i < 3; ++i) {
    const Reply again = plugin_.send(kContractSale);
    EXPECT_EQ(again.code, 0);
    EXPECT_EQ(again.text, first.text) << "a replay must return the stored response byte for byte";
  }
  // The same body with other whitespace and key order is the same request.
  json reordered = json::parse(kContractSale);
  const Reply compact = plugin_.send(reordered.dump());
  EXPECT_EQ(compact.code, 0);
  EXPECT_EQ(compact.text, first.text);
  EXPECT_EQ(ledger_counts(plugin_.db_path()), before);
  EXPECT_EQ(plugin_.balance("card:4000123"), 45);
}

TEST_F(AbiPlugin, ReplaysReturnTheFirstAnswerEvenAfterLaterSalesAndAReopen) {
  const Reply first = plugin_.send(kContractSale);
  ASSERT_EQ(first.code, 0) << first.text;
  ASSERT_EQ(first.body["balance"], 45);
  // The balance moves on; the stored answer does not.
  plugin_.ok(cash_sale("later-1", "L1", "card:4000123", {"20.00"}));
  EXPECT_EQ(plugin_.send(kContractSale).text, first.text);
  plugin_.reopen();
  ASSERT_TRUE(plugin_.opened()) << plugin_.open_error();
  const LedgerCounts before = ledger_counts(plugin_.db_path());
  EXPECT_EQ(plugin_.send(kContractSale).text, first.text)
      << "idempotency must survive loyalty_close/loyalty_open";
  EXPECT_EQ(ledger_counts(plugin_.db_path()), before);
  EXPECT_EQ(plugin_.balance("card:4000123"), 55);
}

// Held groups (plugin.commit_hold_ms; on by default in the plugin): a sale is in the redo log
// when it is acknowledged, and its transaction is COMMITted about a millisecond after the
// last write, so another connection sees it soon without anyone asking. With 0, every
// request COMMITs before its answer and no redo log is kept with "normal".
int64_t entries_seen_by_another_connection(const std::string& db) {
  sqlite3* c = nullptr;
  sqlite3_open_v2(db.c_str(), &c, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(c, "SELECT count(*) FROM entries", -1, &s, nullptr);
  const int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
  sqlite3_finalize(s);
  sqlite3_close(c);
  return n;
}

TEST_F(AbiPlugin, WithNormalSyncASaleIsInTheRedoLogAndCommittedRightAfter) {
  ASSERT_EQ(plugin_.send(kContractSale).code, 0);
  std::error_code ec;
  EXPECT_GT(std::filesystem::file_size(plugin_.db_path() + "-redo", ec), 0u) << ec.message();
  int64_t seen = 0;
  for (int i = 0; i < 500 && seen == 0; ++i) {  // ~1 ms expected; 5 s for a loaded machine
    seen = entries_seen_by_another_connection(plugin_.db_path());
    if (seen == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GT(seen, 0) << "the held group was never COMMITted";
}

// With "full" (the default) the plugin's record of a sale is the request itself, synced
// while it runs (ledger/README.md, "Request records"); its transaction is COMMITted right
// after, as with "normal".
// With either setting (held groups by default): the record holds the request's bytes as the
// POS sent them, not the member's statements.
TEST_F(AbiLib, ASaleIsARequestRecordAndCommittedRightAfter) {
  for (const char* sync : {"full", "normal"}) {
    SCOPED_TRACE(sync);
    ConfigOptions o;
    o.synchronous = sync;
    Plugin plugin(o);
    ASSERT_TRUE(plugin.opened()) << plugin.open_error();
    ASSERT_EQ(plugin.send(kContractSale).code, 0);
    {
      std::ifstream in(plugin.db_path() + "-redo", std::ios::binary);
      const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      EXPECT_NE(log.find(kContractSale), std::string::npos) << "the request is not in the redo log";
      EXPECT_EQ(log.find("INSERT INTO entries"), std::string::npos) << "the sale's statements were recorded";
    }
    int64_t seen = 0;
    for (int i = 0; i < 500 && seen == 0; ++i) {  // ~1 ms expected; 5 s for a loaded machine
      seen = entries_seen_by_another_connection(plugin.db_path());
      if (seen == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_GT(seen, 0) << "the held group was never COMMITted";
  }
}

TEST_F(AbiLib, CommitHoldZeroCommitsEveryRequestBeforeItsAnswer) {
  TempDir dir;
  std::string text = config_text();
  const std::string sync = "synchronous = \"normal\"\n";
  text.replace(text.find(sync), sync.size(), sync + "commit_hold_ms = 0\n");
  dir.write("loyalty.toml", text);
  loyalty_plugin* p = nullptr;
  char* err = nullptr;
  ASSERT_EQ(api().open(dir.file("loyalty.toml").c_str(), &p, &err), 0) << (err ? err : "");
  char* out = nullptr;
  EXPECT_EQ(api().handle(p, kContractSale, std::strlen(kContractSale), &out), 0) << (out ? out : "");
  api().free(out);
  EXPECT_GT(entries_seen_by_another_connection(dir.file("ledger.db")), 0);
  EXPECT_FALSE(std::filesystem::exists(dir.file("ledger.db-redo")));
  api().close(p);
}

TEST_F(AbiPlugin, ALedgerOpenedUnderAnotherBranchNameIsInvalidConfig) {
  plugin_.ok(cash_sale("b-1", "B1", "card:1", {"90.00"}));
  // The same ledger.db, but the configuration now says B02 (a copied config, a rename).
  std::string text = config_text();
  text.replace(text.find("branch = \"B01\""), 14, "branch = \"B02\"");
  plugin_.dir().write("other.toml", text);
  loyalty_plugin* p = nullptr;
  char* err = nullptr;
  EXPECT_EQ(api().open(plugin_.dir().file("other.toml").c_str(), &p, &err), LOYALTY_ERR_INVALID_CONFIG);
  EXPECT_EQ(p, nullptr);
  ASSERT_NE(err, nullptr);
  const json e = json::parse(err)["error"];
  api().free(err);
  EXPECT_EQ(e["field"], "plugin.branch");
  EXPECT_NE(e["message"].get<std::string>().find("belongs to branch 'B01'"), std::string::npos) << e;
  EXPECT_EQ(plugin_.balance("card:1"), 45);  // the open handle and its ledger are untouched
}

TEST_F(AbiPlugin, AnIdReusedByAnotherRequestTypeIsConflict) {
  ASSERT_EQ(plugin_.send(kContractSale).code, 0);
  const LedgerCounts before = ledger_counts(plugin_.db_path());
  const Reply r = plugin_.call(json{{"type", "points.authorize"},
                                    {"id", "B01-T1-000123"},
                                    {"at", kAt},
                                    {"customer", "card:4000123"},
                                    {"amount", "1.00"}});
  EXPECT_EQ(r.code, LOYALTY_ERR_CONFLICT) << r.text;
  EXPECT_EQ(r.body["error"]["code"], "conflict");
  EXPECT_EQ(ledger_counts(plugin_.db_path()), before);
}

TEST_F(AbiPlugin, SameIdDifferentBodyIsConflict) {
  const Reply first = plugin_.send(kContractSale);
  ASSERT_EQ(first.code, 0) << first.text;
  const LedgerCounts before = ledger_counts(plugin_.db_path());
  std::string changed = kContractSale;
  changed.replace(changed.find("90.00"), 5, "91.00");
  const Reply r = plugin_.send(changed);
  EXPECT_EQ(r.code, LOYALTY_ERR_CONFLICT) << r.text;
  EXPECT_EQ(r.body["ok"], false);
  EXPECT_EQ(r.body["error"]["code"], "conflict");
  EXPECT_EQ(ledger_counts(plugin_.db_path()), before);
  EXPECT_EQ(plugin_.balance("card:4000123"), 45);
  // The original still replays.
  EXPECT_EQ(plugin_.send(kContractSale).text, first.text);
}

// ---- malformed input (rule 12) ------------------------------------------------------------

struct BadCase {
  std::string name;
  std::string bytes;
  int code;
  std::string field;  // expected error.field; "*" = not checked
};

std::vector<BadCase> bad_cases() {
  std::string nul =
      R"({"type":"balance.query","id":"x","at":"2026-11-22T10:00:00Z","customer":"card:4000123"})";
  nul.insert(10, 1, '\0');
  std::string nul_in_sale = cash_sale("nul-sale", "NS", "card:4000123", {"10.00"}).dump();
  nul_in_sale.insert(nul_in_sale.find("card:") + 5, 1, '\0');
  const std::string sale_head =
      R"({"type":"sale.completed","id":"bad-1","at":"2026-11-22T10:00:00Z","ticket":"B1",)"
      R"("customer":"card:4000123",)";
  return {
      {"not json", "this is not json", LOYALTY_ERR_INVALID_JSON, "*"},
      {"empty", "", LOYALTY_ERR_INVALID_JSON, "*"},
      {"truncated", R"({"type":"sale.completed","id":)", LOYALTY_ERR_INVALID_JSON, "*"},
      {"NUL in the middle", nul, LOYALTY_ERR_INVALID_JSON, "*"},
      {"NUL inside a sale", nul_in_sale, LOYALTY_ERR_INVALID_JSON, "*"},
      {"invalid UTF-8", "{\"type\":\"sale.completed\",\"id\":\"\xff\xfe\"}",
       LOYALTY_ERR_INVALID_JSON, "*"},
      {"100k-deep nesting", std::string(100000, '['), LOYALTY_ERR_INVALID_JSON, "*"},
      {"unknown type", R"({"type":"coupon.redeemed","id":"u1","at":"2026-11-22T10:00:00Z"})",
       LOYALTY_ERR_UNKNOWN_TYPE, "type"},
      {"negative amount",
       sale_head + R"("lines":[{"n":1,"qty":"1","amount":"-1.00"}],)" +
           R"("tenders":[{"method":"cash","amount":"0"}]})",
       LOYALTY_ERR_INVALID_EVENT, "lines[0].amount"},
      {"amount as JSON number", sale_head + R"("lines":[{"n":1,"amount":90.0}]})",
       LOYALTY_ERR_INVALID_EVENT, "lines[0].amount"},
      {"amount as JSON integer", sale_head + R"("lines":[{"n":1,"amount":90}]})",
       LOYALTY_ERR_INVALID_EVENT, "lines[0].amount"},
      {"unknown top-level field", sale_head + R"("lines":[],"discount":"5.00"})",
       LOYALTY_ERR_INVALID_EVENT, "discount"},
      {"unknown line field", sale_head + R"("lines":[{"n":1,"amount":"5.00","colour":"red"}]})",
       LOYALTY_ERR_INVALID_EVENT, "lines[0].colour"},
      {"negative tender",
       sale_head + R"("lines":[{"amount":"5.00"}],"tenders":[{"method":"cash","amount":"-5.00"}]})",
       LOYALTY_ERR_INVALID_EVENT, "tenders[0].amount"},
      {"bad time",
       R"({"type":"sale.completed","id":"bad-2","at":"yesterday","ticket":"1","lines":[]})",
       LOYALTY_ERR_INVALID_EVENT, "at"},
      {"missing id",
       R"({"type":"sale.completed","at":"2026-11-22T10:00:00Z","ticket":"1","lines":[]})",
       LOYALTY_ERR_INVALID_EVENT, "id"},
      {"not an object", "[1,2,3]", LOYALTY_ERR_INVALID_EVENT, "*"},
      {"points as a string",
       R"({"type":"points.adjust","id":"bad-3","at":"2026-11-22T10:00:00Z",)"
       R"("customer":"card:4000123","points":"10","reason":"x"})",
       LOYALTY_ERR_INVALID_EVENT, "points"},
  };
}

TEST_F(AbiPlugin, MalformedRequestsGetTheirCodeAndChangeNothing) {
  ASSERT_EQ(plugin_.send(kContractSale).code, 0);
  for (const BadCase& c : bad_cases()) {
    SCOPED_TRACE(c.name);
    const LedgerCounts before = ledger_counts(plugin_.db_path());
    const int64_t balance_before = plugin_.balance("card:4000123");
    const Reply r = plugin_.send(c.bytes);
    EXPECT_EQ(r.code, c.code) << r.text;
    ASSERT_TRUE(r.body.is_object()) << r.text;
    EXPECT_EQ(r.body["ok"], false);
    ASSERT_TRUE(r.body["error"].is_object()) << r.text;
    EXPECT_TRUE(r.body["error"]["code"].is_string());
    EXPECT_TRUE(r.body["error"]["message"].is_string());
    if (c.field != "*") {
      EXPECT_EQ(r.body["error"]["field"], c.field) << r.text;
    }
    EXPECT_EQ(ledger_counts(plugin_.db_path()), before);
    EXPECT_EQ(plugin_.balance("card:4000123"), balance_before);
  }
}

TEST_F(AbiPlugin, ErrorCodeWordsMatchTheReturnCodes) {
  const std::vector<std::pair<int, std::string>> words = {
      {LOYALTY_ERR_INVALID_JSON, "invalid_json"},
      {LOYALTY_ERR_INVALID_EVENT, "invalid_event"},
      {LOYALTY_ERR_UNKNOWN_TYPE, "unknown_type"}};
  for (const BadCase& c : bad_cases()) {
    const Reply r = plugin_.send(c.bytes);
    for (const auto& [code, word] : words) {
      if (r.code == code) {
        EXPECT_EQ(r.body["error"]["code"], word) << c.name << ": " << r.text;
      }
    }
  }
}

TEST_F(AbiPlugin, MalformedRequestsAreQuarantinedAndTheirIdStaysFree) {
  const std::string bad =
      R"({"type":"sale.completed","id":"fix-me","at":"2026-11-22T10:00:00Z","ticket":"F1",)"
      R"("customer":"card:q","lines":[{"n":1,"amount":"-3.00"}]})";
  const int64_t quarantined_before =
      LedgerReader(plugin_.db_path()).scalar("SELECT count(*) FROM quarantine");
  EXPECT_EQ(plugin_.send(bad).code, LOYALTY_ERR_INVALID_EVENT);
  LedgerReader reader(plugin_.db_path());
  EXPECT_EQ(reader.scalar("SELECT count(*) FROM quarantine"), quarantined_before + 1);
  EXPECT_EQ(reader.bytes("SELECT raw FROM quarantine ORDER BY id DESC LIMIT 1"), bad)
      << "the raw bytes of a malformed request are kept";
  // Malformed input is not an answer to remember: the corrected request with the same id
  // is processed, not a conflict.
  const json fixed = plugin_.ok(cash_sale("fix-me", "F1", "card:q", {"30.00"}));
  EXPECT_EQ(fixed["earned"], 15);
}

TEST_F(AbiPlugin, TenMegabyteRequestsFailCleanlyAndQuickly) {
  ASSERT_EQ(plugin_.send(kContractSale).code, 0);
  const std::string ten_mb(10 * 1024 * 1024, 'x');
  const std::vector<std::pair<std::string, std::string>> requests = {
      {"huge customer string",
       R"({"type":"sale.completed","id":"big-1","at":"2026-11-22T10:00:00Z","ticket":"1",)"
       R"("customer":")" +
           ten_mb + R"(","lines":[]})"},
      {"huge unknown field",
       R"({"type":"sale.completed","id":"big-2","at":"2026-11-22T10:00:00Z","ticket":"1",)"
       R"("lines":[],"notes":")" +
           ten_mb + "\"}"},
      {"huge id",
       R"({"type":"balance.query","at":"2026-11-22T10:00:00Z","customer":"card:4000123","id":")" +
           ten_mb + "\"}"},
      {"10 MB of garbage", std::string(10 * 1024 * 1024, '\x7f')},
      {"10 MB of invalid UTF-8", std::string(10 * 1024 * 1024, '\xff')},
      {"10 MB of open brackets", std::string(10 * 1024 * 1024, '[')},
  };
  for (const auto& [name, bytes] : requests) {
    SCOPED_TRACE(name);
    const LedgerCounts before = ledger_counts(plugin_.db_path());
    const auto t0 = std::chrono::steady_clock::now();
    const Reply r = plugin_.send(bytes);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_TRUE(r.code == LOYALTY_ERR_INVALID_JSON || r.code == LOYALTY_ERR_INVALID_EVENT)
        << r.code << " " << r.text.substr(0, 300);
    EXPECT_EQ(r.body["ok"], false);
    EXPECT_LT(r.text.size(), 4096u) << "the error must not echo the 10 MB back";
    EXPECT_LT(seconds, 10.0) << "a 10 MB request took " << seconds << " s";
    std::printf("  %-24s -> %d in %.3f s\n", name.c_str(), r.code, seconds);
    EXPECT_EQ(ledger_counts(plugin_.db_path()), before);
  }
  EXPECT_EQ(plugin_.balance("card:4000123"), 45);
}

}  // namespace
}  // namespace abi_test

// TOML configuration (contract section 6): the contract's example, defaults, errors that
// name the key, paths, the program version, and the shipped example files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "config/load.h"
#include "domain/promotions.h"

namespace loyalty::config {
namespace {

namespace fs = std::filesystem;
using domain::ErrorCode;
using domain::Money;
using domain::Percent;

constexpr const char* kSource = "/etc/loyalty/loyalty.toml";
const std::string kBranch = "[plugin]\nbranch = \"B01\"\n";

constexpr const char* kContractExample = R"(
[plugin]
branch = "B01"
db = "ledger.db"
locale = "es"                       # receipt language: "es" or "en"

[program]
currency = "MXN"
point_value = "0.10"
earn_percent = "5"
expiry_days = 365
welcome_bonus = 0
auto_enroll = true                  # first sale of an unknown customer reference enrolls it
points_methods = ["points"]
on_points_tender = "block"          # or "earn_on_remainder"
excluded_payment_methods = ["credit_card"]
unmatched_refund = "clawback_at_rate"   # or "ignore"
hold_minutes = 15
allow_transfers = false

[program.categories]                # customer category -> earn_percent
gold = "8"

[program.overrides.sku]             # SKU -> earn_percent ("0" excludes)
"GIFT-100" = "0"

[program.overrides.category]        # product category -> earn_percent
"tabaco" = "0"

[receipt]
width = 42

[sync]                              # optional; without it the branch runs alone
url = "wss://hub.example.com:8443/v1/sync"
token_file = "branch.token"
)";

Percent pct(const char* s) { return *Percent::parse(s); }
Money money(const char* s) { return *Money::parse(s); }

std::string describe(const domain::Error& e) { return e.field + ": " + e.message; }

domain::Error error_of(const std::string& toml) {
  auto s = parse_settings(toml, kSource);
  EXPECT_FALSE(s.ok()) << "accepted:\n" << toml;
  return s.ok() ? domain::Error{} : s.error();
}

Settings settings_of(const std::string& toml, const std::string& source = kSource) {
  auto s = parse_settings(toml, source);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : describe(s.error())) << "\n" << toml;
  return s.ok() ? *s : Settings{};
}

struct Case {
  std::string toml;
  std::string field;
  std::string says = "";  // a fragment the message must contain
};

void expect_errors(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    const domain::Error e = error_of(c.toml);
    EXPECT_EQ(e.code, ErrorCode::kInvalidConfig) << c.toml;
    EXPECT_EQ(e.field, c.field) << c.toml << "\n-> " << describe(e);
    EXPECT_NE(e.message.find(c.says), std::string::npos)
        << "message lacks \"" << c.says << "\": " << e.message;
  }
}

// A scratch directory, removed afterwards.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/loyalty-config-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }

 private:
  std::string path_;
};

// ---- the contract's example and the defaults -----------------------------------------------

TEST(Config, ContractExampleParsesToTheExpectedValues) {
  const Settings s = settings_of(kContractExample);
  EXPECT_EQ(s.source_path, "/etc/loyalty/loyalty.toml");
  EXPECT_EQ(s.branch, "B01");
  EXPECT_EQ(s.db_path, "/etc/loyalty/ledger.db");
  EXPECT_EQ(s.receipt.locale, "es");
  EXPECT_EQ(s.receipt.width, 42);
  const domain::ProgramConfig& p = s.program;
  EXPECT_EQ(p.currency, "MXN");
  EXPECT_EQ(p.point_value, money("0.10"));
  EXPECT_EQ(p.earn_percent, pct("5"));
  EXPECT_EQ(p.expiry_days, 365);
  EXPECT_EQ(p.welcome_bonus, domain::Points(0));
  EXPECT_TRUE(p.auto_enroll);
  EXPECT_EQ(p.points_methods, std::set<std::string>{"points"});
  EXPECT_EQ(p.on_points_tender, domain::PointsTenderPolicy::kBlock);
  EXPECT_EQ(p.excluded_payment_methods, std::set<std::string>{"credit_card"});
  EXPECT_EQ(p.unmatched_refund, domain::UnmatchedRefundPolicy::kClawbackAtRate);
  EXPECT_EQ(p.hold_minutes, 15);
  EXPECT_FALSE(p.allow_transfers);
  EXPECT_EQ(p.customer_categories, (std::map<std::string, Percent>{{"gold", pct("8")}}));
  EXPECT_EQ(p.sku_overrides, (std::map<std::string, Percent>{{"GIFT-100", pct("0")}}));
  EXPECT_EQ(p.category_overrides, (std::map<std::string, Percent>{{"tabaco", pct("0")}}));
  EXPECT_TRUE(p.promotions.empty());
  EXPECT_EQ(p.version, program_version(p));
  EXPECT_TRUE(s.sync.enabled);
  EXPECT_EQ(s.sync.url, "wss://hub.example.com:8443/v1/sync");
  EXPECT_EQ(s.sync.token_file, "/etc/loyalty/branch.token");
  EXPECT_EQ(s.sync.ca_file, "");
}

TEST(Config, EverythingButTheBranchHasADefault) {
  const Settings s = settings_of(kBranch, "/srv/x/loyalty.toml");
  const domain::ProgramConfig d;  // program.h's defaults
  EXPECT_EQ(s.branch, "B01");
  EXPECT_EQ(s.db_path, "/srv/x/ledger.db");
  EXPECT_EQ(s.synchronous, Synchronous::kFull);
  EXPECT_EQ(s.busy_timeout_ms, 5000);
  EXPECT_EQ(s.commit_hold_ms, -1);  // the host's choice (bootstrap::OpenOptions::request_records)
  EXPECT_EQ(s.log_path, "");
  EXPECT_EQ(s.log_level, "info");
  EXPECT_EQ(s.max_request_bytes, 16 * 1024 * 1024);
  EXPECT_EQ(s.quarantine_max_rows, 10000);
  EXPECT_EQ(s.program.currency, "MXN");
  EXPECT_EQ(s.program.point_value, money("0.10"));
  EXPECT_EQ(s.program.earn_percent, pct("5"));
  EXPECT_EQ(s.program.expiry_days, 365);
  EXPECT_EQ(s.program.welcome_bonus, d.welcome_bonus);
  EXPECT_EQ(s.program.auto_enroll, d.auto_enroll);
  EXPECT_EQ(s.program.points_methods, d.points_methods);
  EXPECT_EQ(s.program.on_points_tender, domain::PointsTenderPolicy::kBlock);
  EXPECT_TRUE(s.program.excluded_payment_methods.empty());
  EXPECT_EQ(s.program.unmatched_refund, domain::UnmatchedRefundPolicy::kClawbackAtRate);
  EXPECT_EQ(s.program.hold_minutes, 15);
  EXPECT_FALSE(s.program.allow_transfers);
  EXPECT_TRUE(s.program.customer_categories.empty());
  EXPECT_TRUE(s.program.sku_overrides.empty());
  EXPECT_TRUE(s.program.category_overrides.empty());
  EXPECT_EQ(s.program.version, program_version(d));
  EXPECT_EQ(s.receipt.locale, "es");
  EXPECT_EQ(s.receipt.width, 42);
  EXPECT_TRUE(s.receipt.sale_template.empty());
  EXPECT_TRUE(s.receipt.refund_template.empty());
  EXPECT_TRUE(s.receipt.show_reasons);
  EXPECT_FALSE(s.sync.enabled);
}

TEST(Config, EveryExtensionKeyIsRead) {
  const Settings s = settings_of(kBranch + R"(synchronous = "normal"
busy_timeout_ms = 250
commit_hold_ms = 20
log = "logs/loyalty.log"
log_level = "debug"
max_request_bytes = 65536
quarantine_max_rows = 10
[program]
currency = "USD"
point_value = "0.01"
earn_percent = "2.5"
expiry_days = 90
welcome_bonus = 100
auto_enroll = false
points_methods = ["points", "loyalty"]
on_points_tender = "earn_on_remainder"
excluded_payment_methods = []
unmatched_refund = "ignore"
hold_minutes = 5
allow_transfers = true
[receipt]
width = 32
locale = "en"
sale_template = ["Earned {earned}", ""]
refund_template = ["Back {clawed_back}"]
show_reasons = false
[sync]
url = "ws://127.0.0.1:9000/v1/sync"
token_file = "/var/lib/loyalty/token"
ca_file = "ca.pem"
stale_after_seconds = 300
offline_redeem_allowance = 500
)");
  EXPECT_EQ(s.synchronous, Synchronous::kNormal);
  EXPECT_EQ(s.busy_timeout_ms, 250);
  EXPECT_EQ(s.commit_hold_ms, 20);
  EXPECT_EQ(s.log_path, "/etc/loyalty/logs/loyalty.log");
  EXPECT_EQ(s.log_level, "debug");
  EXPECT_EQ(s.max_request_bytes, 65536);
  EXPECT_EQ(s.quarantine_max_rows, 10);
  EXPECT_EQ(s.program.currency, "USD");
  EXPECT_EQ(s.program.point_value, money("0.01"));
  EXPECT_EQ(s.program.earn_percent, pct("2.5"));
  EXPECT_EQ(s.program.expiry_days, 90);
  EXPECT_EQ(s.program.welcome_bonus, domain::Points(100));
  EXPECT_FALSE(s.program.auto_enroll);
  EXPECT_EQ(s.program.points_methods, (std::set<std::string>{"loyalty", "points"}));
  EXPECT_EQ(s.program.on_points_tender, domain::PointsTenderPolicy::kEarnOnRemainder);
  EXPECT_TRUE(s.program.excluded_payment_methods.empty());
  EXPECT_EQ(s.program.unmatched_refund, domain::UnmatchedRefundPolicy::kIgnore);
  EXPECT_EQ(s.program.hold_minutes, 5);
  EXPECT_TRUE(s.program.allow_transfers);
  EXPECT_EQ(s.receipt.width, 32);
  EXPECT_EQ(s.receipt.locale, "en");
  EXPECT_EQ(s.receipt.sale_template, (std::vector<std::string>{"Earned {earned}", ""}));
  EXPECT_EQ(s.receipt.refund_template, std::vector<std::string>{"Back {clawed_back}"});
  EXPECT_FALSE(s.receipt.show_reasons);
  EXPECT_TRUE(s.sync.enabled);
  EXPECT_EQ(s.sync.url, "ws://127.0.0.1:9000/v1/sync");
  EXPECT_EQ(s.sync.token_file, "/var/lib/loyalty/token");
  EXPECT_EQ(s.sync.ca_file, "/etc/loyalty/ca.pem");
  EXPECT_EQ(s.sync.stale_after_seconds, 300);
  EXPECT_EQ(s.sync.offline_redeem_allowance, 500);
}

TEST(Config, EverySynchronousAndLogLevelWord) {
  const std::pair<const char*, Synchronous> modes[] = {{"off", Synchronous::kOff},
                                                       {"normal", Synchronous::kNormal},
                                                       {"full", Synchronous::kFull},
                                                       {"extra", Synchronous::kExtra}};
  for (const auto& [word, mode] : modes) {
    EXPECT_EQ(settings_of(kBranch + "synchronous = \"" + word + "\"\n").synchronous, mode) << word;
  }
  for (const char* level : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    EXPECT_EQ(settings_of(kBranch + "log_level = \"" + level + "\"\n").log_level, level);
  }
}

// ---- errors name the key --------------------------------------------------------------------

TEST(ConfigErrors, BranchIsRequired) {
  expect_errors({
      {"", "plugin.branch", "required"},
      {"[program]\ncurrency = \"MXN\"\n", "plugin.branch", "required"},
      {"[plugin]\ndb = \"x.db\"\n", "plugin.branch", "required"},
      {"[plugin]\nbranch = \"\"\n", "plugin.branch", "empty"},
      {"[plugin]\nbranch = \"B 01\"\n", "plugin.branch", "spaces"},
      {"[plugin]\nbranch = 1\n", "plugin.branch", "must be a string, not an integer"},
  });
}

TEST(ConfigErrors, UnknownKeysAtEveryLevel) {
  expect_errors({
      {"[plugin]\nbrnach = \"B01\"\n", "plugin.brnach", "did you mean \"branch\""},
      {kBranch + "[program]\nearn_percnt = \"5\"\n", "program.earn_percnt",
       "did you mean \"earn_percent\""},
      {kBranch + "[program]\nbonus_points = 10\n", "program.bonus_points", "[program] takes:"},
      {kBranch + "[program.overrides.brand]\nx = \"1\"\n", "program.overrides.brand",
       "unknown key"},
      {kBranch + "[program.overrides]\nskus = {A = \"0\"}\n", "program.overrides.skus",
       "did you mean \"sku\""},
      {kBranch + "[receipt]\ncolor = true\n", "receipt.color", "unknown key"},
      {kBranch + "[receipt]\nwidht = 40\n", "receipt.widht", "did you mean \"width\""},
      {kBranch + "[sync]\nurl = \"wss://h/\"\ntoken_file = \"t\"\ntoken = \"x\"\n", "sync.token",
       "unknown key"},
      {kBranch + "[extra]\nx = 1\n", "extra", "the file takes: plugin program receipt sync"},
      {kBranch + "[programme]\nx = 1\n", "programme", "did you mean \"program\""},
      {"branch = \"B01\"\n" + kBranch, "branch", "unknown key"},
      {kBranch + "[plugin.extra]\nx = 1\n", "plugin.extra", "unknown key"},
  });
}

TEST(ConfigErrors, WrongTypes) {
  expect_errors({
      {"plugin = 5\n", "plugin", "must be a table, not an integer"},
      {"program = \"x\"\n" + kBranch, "program", "must be a table"},
      {kBranch + "[[sync]]\nurl = \"wss://h/\"\n", "sync", "must be a table, not an array"},
      {kBranch + "db = 5\n", "plugin.db", "must be a string"},
      {kBranch + "busy_timeout_ms = \"5000\"\n", "plugin.busy_timeout_ms", "must be an integer"},
      {kBranch + "busy_timeout_ms = 1.5\n", "plugin.busy_timeout_ms", "not a float"},
      {kBranch + "[program]\nexpiry_days = \"365\"\n", "program.expiry_days", "an integer"},
      {kBranch + "[program]\nauto_enroll = \"yes\"\n", "program.auto_enroll", "true or false"},
      {kBranch + "[program]\nallow_transfers = 1\n", "program.allow_transfers", "true or false"},
      {kBranch + "[program]\ncurrency = 484\n", "program.currency", "must be a string"},
      {kBranch + "[program]\nexcluded_payment_methods = \"cash\"\n",
       "program.excluded_payment_methods", "an array of strings"},
      {kBranch + "[program]\npoints_methods = [\"points\", 2]\n", "program.points_methods[1]",
       "a string"},
      {kBranch + "[program]\non_points_tender = true\n", "program.on_points_tender",
       "\"block\" or \"earn_on_remainder\""},
      {kBranch + "[program]\ncategories = [\"gold\"]\n", "program.categories", "a table"},
      {kBranch + "[program]\nearn_percent = 2026-01-01\n", "program.earn_percent", "a date"},
      {kBranch + "[receipt]\nwidth = \"42\"\n", "receipt.width", "an integer"},
      {kBranch + "[receipt]\nsale_template = \"{earned}\"\n", "receipt.sale_template",
       "an array of strings"},
      {kBranch + "[receipt]\nrefund_template = [1]\n", "receipt.refund_template[0]", "a string"},
      {kBranch + "[receipt]\nshow_reasons = \"no\"\n", "receipt.show_reasons", "true or false"},
      {kBranch + "[sync]\nurl = \"wss://h/\"\ntoken_file = \"t\"\nstale_after_seconds = \"60\"\n",
       "sync.stale_after_seconds", "an integer"},
  });
}

TEST(ConfigErrors, DecimalsGivenAsFloatsAreRefusedWithAHintToQuote) {
  expect_errors({
      {kBranch + "[program]\npoint_value = 0.10\n", "program.point_value",
       "write \"0.1\" with quotes"},
      {kBranch + "[program]\nearn_percent = 5.5\n", "program.earn_percent", "\"5.5\""},
      {kBranch + "[program]\nearn_percent = 5\n", "program.earn_percent",
       "write \"5\" with quotes"},
      {kBranch + "[program.categories]\ngold = 8.0\n", "program.categories.gold", "quotes"},
      {kBranch + "[program.overrides.sku]\n\"GIFT-100\" = 0\n", "program.overrides.sku.GIFT-100",
       "write \"0\" with quotes"},
      {kBranch + "[program.overrides.category]\ntabaco = 0.0\n",
       "program.overrides.category.tabaco", "quotes"},
  });
  EXPECT_NE(error_of(kBranch + "[program]\npoint_value = 0.10\n").message.find("float"),
            std::string::npos);
}

TEST(ConfigErrors, AmountsAndPercentsOutOfRange) {
  expect_errors({
      {kBranch + "[program]\npoint_value = \"0\"\n", "program.point_value", "greater than zero"},
      {kBranch + "[program]\npoint_value = \"-0.10\"\n", "program.point_value",
       "greater than zero"},
      {kBranch + "[program]\npoint_value = \"0,10\"\n", "program.point_value", "decimal"},
      {kBranch + "[program]\npoint_value = \"1e-1\"\n", "program.point_value", "decimal"},
      {kBranch + "[program]\npoint_value = \"0.1234567\"\n", "program.point_value", "6 decimal"},
      {kBranch + "[program]\npoint_value = \"\"\n", "program.point_value", "empty"},
      {kBranch + "[program]\nearn_percent = \"-1\"\n", "program.earn_percent", "between"},
      {kBranch + "[program]\nearn_percent = \"1000.000001\"\n", "program.earn_percent", "\"1000\""},
      {kBranch + "[program]\nearn_percent = \"5 %\"\n", "program.earn_percent", "decimal"},
      {kBranch + "[program.categories]\ngold = \"-8\"\n", "program.categories.gold", "between"},
      {kBranch + "[program.categories]\ngold = \"abc\"\n", "program.categories.gold", "decimal"},
      {kBranch + "[program.overrides.sku]\n\"GIFT-100\" = \"2000\"\n",
       "program.overrides.sku.GIFT-100", "between"},
      {kBranch + "[program.overrides.category]\n\"\" = \"0\"\n", "program.overrides.category.",
       "empty"},
      {kBranch + "[program]\ncurrency = \"mxn\"\n", "program.currency", "ISO 4217"},
      {kBranch + "[program]\ncurrency = \"\"\n", "program.currency", "empty"},
  });
  EXPECT_EQ(settings_of(kBranch + "[program]\nearn_percent = \"1000\"\n").program.earn_percent,
            pct("1000"));
  EXPECT_EQ(settings_of(kBranch + "[program]\nearn_percent = \"0\"\n").program.earn_percent,
            pct("0"));
}

TEST(ConfigErrors, IntegersOutOfRange) {
  expect_errors({
      {kBranch + "[program]\nexpiry_days = 0\n", "program.expiry_days", "between 1 and"},
      {kBranch + "[program]\nexpiry_days = -5\n", "program.expiry_days", "not -5"},
      {kBranch + "[program]\nhold_minutes = 0\n", "program.hold_minutes", "between 1 and"},
      {kBranch + "[program]\nwelcome_bonus = -1\n", "program.welcome_bonus", "between 0 and"},
      {kBranch + "busy_timeout_ms = -1\n", "plugin.busy_timeout_ms", "between"},
      {kBranch + "commit_hold_ms = -1\n", "plugin.commit_hold_ms", "between 0 and 1000"},
      {kBranch + "commit_hold_ms = 1001\n", "plugin.commit_hold_ms", "between 0 and 1000"},
      {kBranch + "max_request_bytes = 10\n", "plugin.max_request_bytes", "between"},
      {kBranch + "quarantine_max_rows = 0\n", "plugin.quarantine_max_rows", "between"},
      {kBranch + "[receipt]\nwidth = 15\n", "receipt.width", "between 16 and 200"},
      {kBranch + "[receipt]\nwidth = 201\n", "receipt.width", "between 16 and 200"},
  });
  EXPECT_EQ(
      settings_of(kBranch + "[program]\nexpiry_days = 1\nhold_minutes = 1\n").program.hold_minutes,
      1);
}

TEST(ConfigErrors, WordsMustBeOneOfTheirWords) {
  expect_errors({
      {kBranch + "[program]\non_points_tender = \"allow\"\n", "program.on_points_tender",
       "must be \"block\" or \"earn_on_remainder\", not \"allow\""},
      {kBranch + "[program]\non_points_tender = \"Block\"\n", "program.on_points_tender", "Block"},
      {kBranch + "[program]\nunmatched_refund = \"refund\"\n", "program.unmatched_refund",
       "\"clawback_at_rate\" or \"ignore\""},
      {kBranch + "synchronous = \"fast\"\n", "plugin.synchronous",
       "\"off\", \"normal\", \"full\" or \"extra\""},
      {kBranch + "log_level = \"verbose\"\n", "plugin.log_level", "\"trace\""},
      {kBranch + "locale = \"fr\"\n", "plugin.locale", "\"es\" or \"en\""},
      {kBranch + "[receipt]\nlocale = \"pt\"\n", "receipt.locale", "\"es\" or \"en\""},
  });
}

TEST(ConfigErrors, MethodNames) {
  expect_errors({
      {kBranch + "[program]\nexcluded_payment_methods = [\"cash\", \"cash\"]\n",
       "program.excluded_payment_methods[1]", "listed twice"},
      {kBranch + "[program]\nexcluded_payment_methods = [\"cash\", \"\"]\n",
       "program.excluded_payment_methods[1]", "empty"},
      {kBranch + "[program]\nexcluded_payment_methods = [\" cash\"]\n",
       "program.excluded_payment_methods[0]", "spaces"},
      {kBranch + "[program]\npoints_methods = [\"points\", \"points\"]\n",
       "program.points_methods[1]", "listed twice"},
      {kBranch + "[program]\npoints_methods = [\"\"]\n", "program.points_methods[0]", "empty"},
      {kBranch + "[program]\nexcluded_payment_methods = [\"points\"]\n",
       "program.excluded_payment_methods", "also in program.points_methods"},
  });
}

TEST(ConfigErrors, LocalesMustAgree) {
  EXPECT_EQ(settings_of(kBranch + "locale = \"en\"\n").receipt.locale, "en");
  EXPECT_EQ(settings_of(kBranch + "[receipt]\nlocale = \"en\"\n").receipt.locale, "en");
  EXPECT_EQ(settings_of(kBranch + "locale = \"en\"\n[receipt]\nlocale = \"en\"\n").receipt.locale,
            "en");
  expect_errors({{kBranch + "locale = \"es\"\n[receipt]\nlocale = \"en\"\n", "receipt.locale",
                  "plugin.locale is \"es\""}});
}

TEST(ConfigErrors, ReceiptTemplatesAreValidated) {
  expect_errors({
      {kBranch + "[receipt]\nsale_template = [\"ok {earned}\", \"bad {points}\"]\n",
       "receipt.sale_template[1]", "unknown token {points}"},
      {kBranch + "[receipt]\nrefund_template = [\"open {restored\"]\n",
       "receipt.refund_template[0]", "unclosed"},
      {kBranch + "[receipt]\nsale_template = []\n", "receipt.sale_template", "empty array"},
  });
  // The receipt module names the key; the loader adds where it is in the file.
  const auto e = error_of(kBranch + "[receipt]\nsale_template = [\n  \"ok\",\n  \"{nope}\",\n]\n");
  EXPECT_NE(e.message.find("(line 6)"), std::string::npos) << e.message;
  EXPECT_EQ(settings_of(kBranch + "[receipt]\nsale_template = [\"{{literal}} {earned}\"]\n")
                .receipt.sale_template.size(),
            1u);
}

TEST(ConfigErrors, SyncUrlAndToken) {
  const std::string token = "token_file = \"t\"\n";
  expect_errors({
      {kBranch + "[sync]\nurl = \"http://hub/\"\n" + token, "sync.url", "must start with wss://"},
      {kBranch + "[sync]\nurl = \"WSS://hub/\"\n" + token, "sync.url", "must start with wss://"},
      {kBranch + "[sync]\nurl = \"ws://hub.example.com/v1/sync\"\n" + token, "sync.url",
       "only allowed to 127.0.0.1, localhost or [::1]"},
      {kBranch + "[sync]\nurl = \"ws://localhost.example.com/\"\n" + token, "sync.url", "ws://"},
      {kBranch + "[sync]\nurl = \"ws://127.0.0.1.nip.io/\"\n" + token, "sync.url", "ws://"},
      {kBranch + "[sync]\nurl = \"ws://localhost@evil.example/\"\n" + token, "sync.url",
       "credentials"},
      {kBranch + "[sync]\nurl = \"wss://user:pw@hub/\"\n" + token, "sync.url", "credentials"},
      {kBranch + "[sync]\nurl = \"wss:///v1/sync\"\n" + token, "sync.url", "no host"},
      {kBranch + "[sync]\nurl = \"wss://hub:99999/\"\n" + token, "sync.url", "port"},
      {kBranch + "[sync]\nurl = \"wss://hub:/\"\n" + token, "sync.url", "port"},
      {kBranch + "[sync]\nurl = \"wss://[::1/\"\n" + token, "sync.url", "["},
      // Connected to nowhere, forever, with a log line per attempt: refused at open instead.
      {kBranch + "[sync]\nurl = \"ws://127.0.0.1:18742/v1/sync extra\"\n" + token, "sync.url",
       "must not contain spaces"},
      {kBranch + "[sync]\nurl = \"wss://hub.example.com/v1/sync#frag\"\n" + token, "sync.url", "#fragment"},
      {kBranch + "[sync]\nurl = \"\"\n" + token, "sync.url", "empty"},
      {kBranch + "[sync]\n" + token, "sync.url", "required"},
      {kBranch + "[sync]\n", "sync.url", "required"},
      {kBranch + "[sync]\nurl = \"wss://hub.example.com/v1/sync\"\n", "sync.token_file",
       "required"},
      {kBranch + "[sync]\nurl = \"wss://hub/\"\ntoken_file = \"\"\n", "sync.token_file", "empty"},
  });
  for (const char* ok : {"wss://hub.example.com:8443/v1/sync", "wss://10.0.0.5/sync",
                         "ws://127.0.0.1:9000/v1/sync", "ws://localhost/sync", "ws://LOCALHOST:1/",
                         "ws://[::1]:9000/v1/sync", "wss://[2001:db8::1]:443/"}) {
    const Settings s = settings_of(kBranch + "[sync]\nurl = \"" + ok + "\"\n" + token);
    EXPECT_EQ(s.sync.url, ok);
  }
}

TEST(ConfigErrors, MessagesCarryTheTomlLine) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[plugin]\nbranch = \"B01\"\n\n[program]\npoint_value = 0.10\n", "(line 5)"},
      {"[plugin]\nbranch = \"B01\"\nbrnach = \"B02\"\n", "(line 3)"},
      {"[plugin]\nbranch = \"B01\"\n[program]\nexpiry_days = 0\n", "(line 4)"},
      {"[plugin]\nbranch = \"B01\"\n[program]\non_points_tender = \"x\"\n", "(line 4)"},
      {"[plugin]\nbranch = \"B01\"\n[program]\nexcluded_payment_methods = [\n \"a\",\n \"a\"]\n",
       "(line 6)"},
      {"[plugin]\nbranch = \"B01\"\n[program.overrides.sku]\nA = \"0\"\nB = \"-1\"\n", "(line 5)"},
  };
  for (const auto& [toml, line] : cases) {
    const auto e = error_of(toml);
    EXPECT_NE(e.message.find(line), std::string::npos) << toml << "\n-> " << describe(e);
  }
}

TEST(ConfigErrors, SyntaxErrorSaysLineAndColumn) {
  const auto e = error_of("[plugin]\nbranch = \"B01\nx = 1\n");
  EXPECT_EQ(e.code, ErrorCode::kInvalidConfig);
  EXPECT_NE(e.message.find("line 2"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("column"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find(kSource), std::string::npos) << e.message;
  // A duplicate key is a syntax error too, never "last one wins".
  const auto dup = error_of("[plugin]\nbranch = \"B01\"\nbranch = \"B02\"\n");
  EXPECT_NE(dup.message.find("line 3"), std::string::npos) << dup.message;
}

// ---- files and paths ------------------------------------------------------------------------

TEST(ConfigFiles, MissingFileOrDirectoryNamesThePath) {
  auto s = load_settings("/nonexistent/dir/loyalty.toml");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidConfig);
  EXPECT_NE(s.error().message.find("/nonexistent/dir/loyalty.toml"), std::string::npos);
  TempDir dir;
  auto d = load_settings(dir.path());
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("directory"), std::string::npos) << d.error().message;
}

TEST(ConfigFiles, RelativePathsAreRelativeToTheFile) {
  TempDir dir;
  fs::create_directories(dir.path() + "/etc");
  const std::string file = dir.write("etc/loyalty.toml", kBranch + R"(db = "../data/ledger.db"
log = "log/loyalty.log"
[sync]
url = "wss://hub.example.com/v1/sync"
token_file = "./secrets/branch.token"
ca_file = "/usr/share/ca.pem"
)");
  auto s = load_settings(file);
  ASSERT_TRUE(s.ok()) << describe(s.error());
  EXPECT_EQ(s->source_path, dir.path() + "/etc/loyalty.toml");
  EXPECT_EQ(s->db_path, dir.path() + "/data/ledger.db");
  EXPECT_EQ(s->log_path, dir.path() + "/etc/log/loyalty.log");
  EXPECT_EQ(s->sync.token_file, dir.path() + "/etc/secrets/branch.token");
  EXPECT_EQ(s->sync.ca_file, "/usr/share/ca.pem");
  EXPECT_EQ(settings_of(kBranch + "db = \"/var/lib/loyalty/ledger.db\"\n").db_path,
            "/var/lib/loyalty/ledger.db");
}

TEST(ConfigFiles, ARelativeSourcePathIsMadeAbsolute) {
  const Settings s = settings_of(kBranch, "conf/loyalty.toml");
  const std::string cwd = fs::current_path().string();
  EXPECT_EQ(s.source_path, cwd + "/conf/loyalty.toml");
  EXPECT_EQ(s.db_path, cwd + "/conf/ledger.db");
  EXPECT_TRUE(fs::path(s.db_path).is_absolute());
}

TEST(ConfigFiles, ShippedExampleLoads) {
  const std::string path = std::string(LOYALTY_SOURCE_DIR) + "/examples/config/loyalty.toml";
  auto s = load_settings(path);
  ASSERT_TRUE(s.ok()) << describe(s.error());
  EXPECT_EQ(s->branch, "B01");
  EXPECT_EQ(s->db_path, std::string(LOYALTY_SOURCE_DIR) + "/examples/config/ledger.db");
  EXPECT_EQ(s->synchronous, Synchronous::kFull);
  EXPECT_EQ(s->receipt.locale, "es");
  EXPECT_EQ(s->receipt.width, 42);
  EXPECT_EQ(s->program.point_value, money("0.10"));
  EXPECT_EQ(s->program.earn_percent, pct("5"));
  EXPECT_TRUE(s->program.is_excluded_method("credit_card"));
  EXPECT_EQ(s->program.customer_categories.at("gold"), pct("8"));
  EXPECT_TRUE(s->program.sku_overrides.at("GIFT-100").is_zero());
  EXPECT_TRUE(s->program.category_overrides.at("tabaco").is_zero());
  EXPECT_FALSE(s->sync.enabled);
  // The example's program is the contract's: same rules, same version.
  EXPECT_EQ(s->program.version, settings_of(kContractExample).program.version);
}

TEST(ConfigFiles, DemoConfigLoads) {
  auto s = load_settings(std::string(LOYALTY_SOURCE_DIR) + "/examples/pos-sim/cafe.toml");
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : describe(s.error()));
}

// ---- the program version --------------------------------------------------------------------

TEST(ConfigProgramVersion, IsSixteenLowercaseHexDigits) {
  const std::string v = program_version(domain::ProgramConfig{});
  ASSERT_EQ(v.size(), 16u);
  EXPECT_EQ(v.find_first_not_of("0123456789abcdef"), std::string::npos) << v;
  EXPECT_EQ(v, program_version(domain::ProgramConfig{}));  // deterministic
}

TEST(ConfigProgramVersion, ChangesWhenAnyRuleChanges) {
  const std::string base = kBranch + "[program]\n";
  const std::vector<std::string> variants = {
      "",
      "currency = \"USD\"\n",
      "point_value = \"0.11\"\n",
      "earn_percent = \"6\"\n",
      "expiry_days = 364\n",
      "welcome_bonus = 1\n",
      "auto_enroll = false\n",
      "points_methods = [\"points\", \"wallet\"]\n",
      "points_methods = []\n",
      "on_points_tender = \"earn_on_remainder\"\n",
      "excluded_payment_methods = [\"credit_card\"]\n",
      "excluded_payment_methods = [\"credit_card\", \"voucher\"]\n",
      "unmatched_refund = \"ignore\"\n",
      "hold_minutes = 16\n",
      "allow_transfers = true\n",
      "[program.categories]\ngold = \"8\"\n",
      "[program.categories]\ngold = \"9\"\n",
      "[program.categories]\nsilver = \"8\"\n",
      "[program.overrides.sku]\nA = \"0\"\n",
      "[program.overrides.sku]\nB = \"0\"\n",
      "[program.overrides.category]\nA = \"0\"\n",  // same name, other table
      "[program.overrides.category]\nA = \"1\"\n",
  };
  std::map<std::string, std::string> seen;  // version -> variant
  for (const auto& v : variants) {
    const std::string version = settings_of(base + v).program.version;
    const auto [it, inserted] = seen.emplace(version, v);
    EXPECT_TRUE(inserted) << "\"" << v << "\" has the version of \"" << it->second << "\"";
  }
}

TEST(ConfigProgramVersion, IgnoresEverythingButTheProgram) {
  const std::string program = "[program]\nearn_percent = \"5\"\n";
  const std::string v = settings_of(kBranch + program).program.version;
  EXPECT_EQ(settings_of(kBranch + program +
                        "[receipt]\nwidth = 32\nlocale = \"en\"\n"
                        "sale_template = [\"{earned}\"]\nshow_reasons = false\n")
                .program.version,
            v);
  EXPECT_EQ(settings_of("[plugin]\nbranch = \"B02\"\ndb = \"other.db\"\nsynchronous = \"off\"\n" +
                        program)
                .program.version,
            v);
  EXPECT_EQ(settings_of(kBranch + program + "[sync]\nurl = \"wss://h/\"\ntoken_file = \"t\"\n")
                .program.version,
            v);
  EXPECT_EQ(settings_of(kBranch + program, "/elsewhere/loyalty.toml").program.version, v);
  // Same values written differently are the same program.
  EXPECT_EQ(settings_of(kBranch + "[program]\nearn_percent = \"5.000\"\n").program.version, v);
  EXPECT_EQ(settings_of(kBranch + "[program]\nexcluded_payment_methods = [\"b\", \"a\"]\n")
                .program.version,
            settings_of(kBranch + "[program]\nexcluded_payment_methods = [\"a\", \"b\"]\n")
                .program.version);
}

class NamedPromotion final : public domain::Promotion {
 public:
  explicit NamedPromotion(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  domain::PromotionOutcome apply(const domain::SaleCompleted&, const domain::CustomerFacts&,
                                 domain::Points) const override {
    return {};
  }

 private:
  std::string name_;
};

TEST(ConfigProgramVersion, NamesCannotForgeOtherFields) {
  domain::ProgramConfig a;
  a.sku_overrides["A\"=0\noverrides.sku.\"B"] = Percent::from_units(0);
  domain::ProgramConfig b;
  b.sku_overrides["A"] = Percent::from_units(0);
  b.sku_overrides["B"] = Percent::from_units(0);
  EXPECT_NE(program_version(a), program_version(b));
}

TEST(ConfigProgramVersion, PromotionsAndTheirOrderCount) {
  domain::ProgramConfig a;
  const std::string none = program_version(a);
  a.promotions = {std::make_shared<NamedPromotion>("double-tuesday"),
                  std::make_shared<NamedPromotion>("cap-500")};
  domain::ProgramConfig b;
  b.promotions = {a.promotions[1], a.promotions[0]};
  EXPECT_NE(program_version(a), none);
  EXPECT_NE(program_version(a), program_version(b));
  const std::string before = program_version(a);
  a.version = "anything";  // the version field is not part of the content
  EXPECT_EQ(program_version(a), before);
}

// ---- [daemon] and [adapters.<name>] (loyaltyd) ------------------------------------------------

TEST(ConfigDaemon, DefaultsWithoutASection) {
  const Settings s = settings_of(kBranch, "/srv/x/loyalty.toml");
  const DaemonSettings& d = s.daemon;
  EXPECT_EQ(d.address, "127.0.0.1");
  EXPECT_EQ(d.port, 8380);
  EXPECT_EQ(d.token_file, "");
  EXPECT_EQ(d.max_body_bytes, 1024 * 1024);
  EXPECT_EQ(d.request_timeout_ms, 15000);
  EXPECT_EQ(d.io_threads, 2);
  EXPECT_EQ(d.worker_threads, 8);
  EXPECT_EQ(d.drop_dir, "");
  EXPECT_EQ(d.drop_poll_ms, 1000);
  EXPECT_EQ(d.log_path, "");
  EXPECT_EQ(d.log_max_bytes, 10 * 1024 * 1024);
  EXPECT_EQ(d.log_files, 5);
  EXPECT_TRUE(s.adapters.empty());
}

TEST(ConfigDaemon, EveryKeyIsReadAndPathsAreRelativeToTheFile) {
  const Settings s = settings_of(kBranch + R"(
[daemon]
address = "0.0.0.0"
port = 0
token_file = "secrets/daemon.token"
max_body_bytes = 4096
request_timeout_ms = 500
io_threads = 3
worker_threads = 3
drop_dir = "../drop"
drop_poll_ms = 250
log = "/var/log/loyalty/loyaltyd.log"
log_max_bytes = 1048576
log_files = 3
)",
                                 "/srv/x/loyalty.toml");
  const DaemonSettings& d = s.daemon;
  EXPECT_EQ(d.address, "0.0.0.0");
  EXPECT_EQ(d.port, 0);
  EXPECT_EQ(d.token_file, "/srv/x/secrets/daemon.token");
  EXPECT_EQ(d.max_body_bytes, 4096);
  EXPECT_EQ(d.request_timeout_ms, 500);
  EXPECT_EQ(d.io_threads, 3);
  EXPECT_EQ(d.worker_threads, 3);
  EXPECT_EQ(d.drop_dir, "/srv/drop");
  EXPECT_EQ(d.drop_poll_ms, 250);
  EXPECT_EQ(d.log_path, "/var/log/loyalty/loyaltyd.log");
  EXPECT_EQ(d.log_max_bytes, 1048576);
  EXPECT_EQ(d.log_files, 3);
}

TEST(ConfigDaemon, LoopbackNeedsNoTokenIPv6Too) {
  EXPECT_EQ(settings_of(kBranch + "[daemon]\naddress = \"::1\"\n").daemon.address, "::1");
  EXPECT_EQ(settings_of(kBranch + "[daemon]\naddress = \"127.0.0.2\"\n").daemon.token_file, "");
}

// The plugin ignores [daemon]: a non-loopback address without a token is loyaltyd's to
// refuse (HttpDaemon.NonLoopbackAddressNeedsAToken), not a reason for loyalty_open to fail.
TEST(ConfigDaemon, ANonLoopbackAddressWithoutATokenIsLoyaltydsToRefuse) {
  const Settings s = settings_of(kBranch + "[daemon]\naddress = \"0.0.0.0\"\n");
  EXPECT_FALSE(s.daemon.address_is_loopback);
  EXPECT_FALSE(settings_of(kBranch + "[daemon]\naddress = \"::\"\n").daemon.address_is_loopback);
  EXPECT_TRUE(settings_of(kBranch + "[daemon]\naddress = \"::1\"\n").daemon.address_is_loopback);
}

TEST(ConfigDaemon, ErrorsNameTheKey) {
  expect_errors({
      {kBranch + "[daemon]\nadress = \"127.0.0.1\"\n", "daemon.adress", "did you mean \"address\""},
      {kBranch + "[daemon]\nport = \"8380\"\n", "daemon.port", "must be an integer"},
      {kBranch + "[daemon]\nport = 70000\n", "daemon.port", "between 0 and 65535"},
      {kBranch + "[daemon]\naddress = \"localhost\"\n", "daemon.address", "IPv4 or IPv6"},
      {kBranch + "[daemon]\nmax_body_bytes = 10\n", "daemon.max_body_bytes", "between"},
      {kBranch + "[daemon]\nio_threads = 0\n", "daemon.io_threads", "between 1 and"},
      {kBranch + "[daemon]\ndrop_dir = \"\"\n", "daemon.drop_dir", "must not be empty"},
      {kBranch + "[daemon]\ndrop_poll_ms = 1.5\n", "daemon.drop_poll_ms", "not a float"},
      {kBranch + "[daemon]\nlog_files = true\n", "daemon.log_files", "must be an integer"},
      {kBranch + "daemon = 1\n", "plugin.daemon", "unknown key"},
      {"daemon = 1\n" + kBranch, "daemon", "must be a table"},
  });
}

TEST(ConfigAdapters, EveryKeyIsRead) {
  const Settings s = settings_of(kBranch + R"(
[adapters.poslog]
branch = "B07"
customer_prefix = "pos:"
utc_offset = "-06:00"
currency = "USD"
[adapters.poslog.stores]
"0042" = "B02"
[adapters.poslog.tenders]
CASH = "cash"
"11" = "credit_card"
[adapters.poslog.categories]
"100" = "bebidas"
[adapters.square]
utc_offset = "+05:30"
[adapters.odoo]
utc_offset = "Z"
customer_prefix = ""
)");
  ASSERT_EQ(s.adapters.size(), 3u);
  const domain::FormatMapping& p = s.adapters.at("poslog");
  EXPECT_EQ(p.branch, "B07");
  EXPECT_EQ(p.customer_prefix, "pos:");
  EXPECT_EQ(p.utc_offset_minutes, -360);
  EXPECT_EQ(p.currency, "USD");
  EXPECT_EQ(p.stores, (std::map<std::string, std::string>{{"0042", "B02"}}));
  EXPECT_EQ(p.tenders,
            (std::map<std::string, std::string>{{"CASH", "cash"}, {"11", "credit_card"}}));
  EXPECT_EQ(p.categories, (std::map<std::string, std::string>{{"100", "bebidas"}}));
  const domain::FormatMapping& sq = s.adapters.at("square");
  EXPECT_EQ(sq.branch, "B01");  // plugin.branch when not given
  EXPECT_EQ(sq.customer_prefix, "card:");
  EXPECT_EQ(sq.utc_offset_minutes, 330);
  EXPECT_EQ(sq.currency, "");
  EXPECT_EQ(s.adapters.at("odoo").utc_offset_minutes, 0);
  EXPECT_EQ(s.adapters.at("odoo").customer_prefix, "");
}

TEST(ConfigAdapters, ErrorsNameTheKey) {
  expect_errors({
      {kBranch + "[adapters.toast]\nbranch = \"B1\"\n", "adapters.toast",
       "known: poslog square odoo"},
      {kBranch + "[adapters.poslog]\nstore = {}\n", "adapters.poslog.store",
       "did you mean \"stores\""},
      {kBranch + "[adapters.poslog]\nutc_offset = \"-6\"\n", "adapters.poslog.utc_offset",
       "such as \"-06:00\""},
      {kBranch + "[adapters.poslog]\nutc_offset = \"+19:00\"\n", "adapters.poslog.utc_offset",
       "such as"},
      {kBranch + "[adapters.poslog]\nutc_offset = -6\n", "adapters.poslog.utc_offset",
       "must be a string"},
      {kBranch + "[adapters.square]\ncurrency = \"usd\"\n", "adapters.square.currency",
       "ISO 4217"},
      {kBranch + "[adapters.odoo.tenders]\n\"1\" = 2\n", "adapters.odoo.tenders.1",
       "must be a string"},
      {kBranch + "[adapters.odoo.tenders]\n\"1\" = \" cash\"\n", "adapters.odoo.tenders.1",
       "leading or trailing spaces"},
      {kBranch + "[adapters.odoo]\nstores = \"B1\"\n", "adapters.odoo.stores", "must be a table"},
      {kBranch + "[adapters.odoo]\nbranch = \"B 1\"\n", "adapters.odoo.branch", "spaces"},
      {kBranch + "[adapters]\npos = 1\n", "adapters.pos", "is not an adapter"},
      {kBranch + "adapters = []\n", "plugin.adapters", "unknown key"},
  });
}

}  // namespace
}  // namespace loyalty::config

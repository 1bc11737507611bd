// TOML configuration: the contract's example, defaults, and errors that name the key.
#include <gtest/gtest.h>

#include "config/load.h"

namespace loyalty::config {
namespace {

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

domain::Error error_of(const std::string& toml) {
  auto s = parse_settings(toml, "/etc/loyalty/loyalty.toml");
  EXPECT_FALSE(s.ok()) << toml;
  return s.ok() ? domain::Error{} : s.error();
}

TEST(Config, ContractExampleParses) {
  auto s = parse_settings(kContractExample, "/etc/loyalty/loyalty.toml");
  ASSERT_TRUE(s.ok()) << s.error().field << ": " << s.error().message;
  EXPECT_EQ(s->branch, "B01");
  EXPECT_EQ(s->db_path, "/etc/loyalty/ledger.db");
  EXPECT_EQ(s->receipt.locale, "es");
  EXPECT_EQ(s->program.point_value, domain::Money::from_micros(100'000));
  EXPECT_EQ(s->program.earn_percent, domain::Percent::from_units(5));
  EXPECT_EQ(s->program.expiry_days, 365);
  EXPECT_TRUE(s->program.is_excluded_method("credit_card"));
  EXPECT_TRUE(s->program.is_points_method("points"));
  EXPECT_EQ(s->program.customer_categories.at("gold"), domain::Percent::from_units(8));
  EXPECT_TRUE(s->program.sku_overrides.at("GIFT-100").is_zero());
  EXPECT_TRUE(s->program.category_overrides.at("tabaco").is_zero());
  EXPECT_TRUE(s->sync.enabled);
  EXPECT_EQ(s->sync.token_file, "/etc/loyalty/branch.token");
  EXPECT_EQ(s->program.version.size(), 16u);
}

TEST(Config, EverythingButTheBranchHasADefault) {
  auto s = parse_settings("[plugin]\nbranch = \"B02\"\n", "/srv/x/loyalty.toml");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->db_path, "/srv/x/ledger.db");
  EXPECT_EQ(s->synchronous, Synchronous::kFull);
  EXPECT_EQ(s->program.currency, "MXN");
  EXPECT_EQ(s->program.hold_minutes, 15);
  EXPECT_TRUE(s->program.auto_enroll);
  EXPECT_FALSE(s->program.allow_transfers);
  EXPECT_EQ(s->program.on_points_tender, domain::PointsTenderPolicy::kBlock);
  EXPECT_EQ(s->program.unmatched_refund, domain::UnmatchedRefundPolicy::kClawbackAtRate);
  EXPECT_EQ(s->receipt.width, 42);
  EXPECT_FALSE(s->sync.enabled);
  EXPECT_EQ(error_of("[program]\ncurrency = \"MXN\"\n").field, "plugin.branch");
}

TEST(Config, ErrorsNameTheKey) {
  const std::string b = "[plugin]\nbranch = \"B01\"\n";
  struct Case {
    std::string toml, field;
  } cases[] = {
      {"[plugin]\nbrnach = \"B01\"\n", "plugin.brnach"},
      {b + "[program]\nearn_percnt = \"5\"\n", "program.earn_percnt"},
      {b + "[program]\npoint_value = 0.10\n", "program.point_value"},
      {b + "[program]\npoint_value = \"0\"\n", "program.point_value"},
      {b + "[program]\nearn_percent = \"-1\"\n", "program.earn_percent"},
      {b + "[program]\nexpiry_days = \"365\"\n", "program.expiry_days"},
      {b + "[program]\nexpiry_days = 0\n", "program.expiry_days"},
      {b + "[program]\nauto_enroll = \"yes\"\n", "program.auto_enroll"},
      {b + "[program]\non_points_tender = \"allow\"\n", "program.on_points_tender"},
      {b + "[program]\nunmatched_refund = \"x\"\n", "program.unmatched_refund"},
      {b + "[program]\nexcluded_payment_methods = [\"cash\", \"cash\"]\n", "program.excluded_payment_methods[1]"},
      {b + "[program]\nexcluded_payment_methods = \"cash\"\n", "program.excluded_payment_methods"},
      {b + "[program.overrides.sku]\n\"GIFT-100\" = 0\n", "program.overrides.sku.GIFT-100"},
      {b + "[program.overrides.brand]\nx = \"1\"\n", "program.overrides.brand"},
      {b + "[program.categories]\ngold = \"abc\"\n", "program.categories.gold"},
      {b + "[receipt]\nwidth = 5\n", "receipt.width"},
      {b + "[receipt]\nsale_template = [\"{nope}\"]\n", "receipt.sale_template[0]"},
      {b + "[receipt]\ncolor = true\n", "receipt.color"},
      {b + "locale = \"fr\"\n", "plugin.locale"},
      {b + "synchronous = \"fast\"\n", "plugin.synchronous"},
      {b + "[sync]\nurl = \"http://hub\"\ntoken_file = \"t\"\n", "sync.url"},
      {b + "[sync]\nurl = \"ws://hub.example.com/v1/sync\"\ntoken_file = \"t\"\n", "sync.url"},
      {b + "[sync]\nurl = \"wss://hub.example.com/v1/sync\"\n", "sync.token_file"},
      {b + "[extra]\nx = 1\n", "extra"},
  };
  for (const auto& c : cases) {
    auto e = error_of(c.toml);
    EXPECT_EQ(e.code, domain::ErrorCode::kInvalidConfig) << c.toml;
    EXPECT_EQ(e.field, c.field) << c.toml << " -> " << e.message;
    EXPECT_FALSE(e.message.empty());
  }
}

TEST(Config, SyntaxErrorsSayWhere) {
  auto e = error_of("[plugin]\nbranch = \"B01\n");
  EXPECT_NE(e.message.find("line 2"), std::string::npos) << e.message;
}

TEST(Config, MissingFileNamesThePath) {
  auto s = load_settings("/nonexistent/dir/loyalty.toml");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("/nonexistent/dir/loyalty.toml"), std::string::npos);
}

TEST(Config, ProgramVersionFollowsTheRulesOnly) {
  const std::string base = "[plugin]\nbranch = \"B01\"\n[program]\nearn_percent = \"5\"\n";
  auto a = parse_settings(base, "/x/l.toml");
  auto b = parse_settings(base + "[receipt]\nwidth = 32\n", "/x/l.toml");
  auto c = parse_settings("[plugin]\nbranch = \"B01\"\n[program]\nearn_percent = \"6\"\n", "/x/l.toml");
  auto d = parse_settings(base + "[program.overrides.sku]\nA = \"0\"\n", "/x/l.toml");
  EXPECT_EQ(a->program.version, b->program.version);
  EXPECT_NE(a->program.version, c->program.version);
  EXPECT_NE(a->program.version, d->program.version);
}

TEST(Config, ExampleConfigsLoad) {
  for (const char* f : {"/examples/config/loyalty.toml", "/examples/pos-sim/cafe.toml"}) {
    auto s = load_settings(std::string(LOYALTY_SOURCE_DIR) + f);
    EXPECT_TRUE(s.ok()) << f << ": " << (s.ok() ? "" : s.error().field + " " + s.error().message);
  }
}

}  // namespace
}  // namespace loyalty::config

// parse_program_document / render_program_document: the document admins and the hub change.
#include "config/program_document.h"

#include <gtest/gtest.h>

#include "config/load.h"

namespace loyalty::config {
namespace {

constexpr const char* kDoc = R"(
[program]
point_value = "0.10"
earn_percent = "5"
excluded_payment_methods = ["credit_card"]
hold_minutes = 20
[program.categories]
gold = "8"
[program.overrides.sku]
"GIFT-100" = "0"
[program.overrides.category]
tabaco = "0"
[receipt]
width = 32
locale = "en"
sale_template = ["Points: {earned}", "Balance: {balance}"]
)";

TEST(ProgramDocument, ParsesProgramAndReceipt) {
  auto d = parse_program_document(kDoc);
  ASSERT_TRUE(d.ok()) << d.error().field << ": " << d.error().message;
  EXPECT_EQ(d->program.hold_minutes, 20);
  EXPECT_EQ(d->program.excluded_payment_methods, std::set<std::string>{"credit_card"});
  EXPECT_EQ(d->program.customer_categories.at("gold"), domain::Percent::from_units(8));
  EXPECT_TRUE(d->program.sku_overrides.at("GIFT-100").is_zero());
  EXPECT_EQ(d->receipt.width, 32);
  EXPECT_EQ(d->receipt.locale, "en");
  EXPECT_EQ(d->receipt.sale_template.size(), 2u);
  EXPECT_EQ(d->program.version, program_version(d->program));
  EXPECT_EQ(d->text, kDoc);
}

TEST(ProgramDocument, SameProgramAsTheFileGivesTheSameVersion) {
  const std::string file = std::string("[plugin]\nbranch = \"B01\"\n") + kDoc;
  auto s = parse_settings(file, "/tmp/x.toml");
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto d = parse_program_document(kDoc);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(s->program.version, d->program.version);
}

TEST(ProgramDocument, RenderRoundTrips) {
  auto d = parse_program_document(kDoc);
  ASSERT_TRUE(d.ok());
  const std::string text = render_program_document(d->program, d->receipt);
  auto again = parse_program_document(text);
  ASSERT_TRUE(again.ok()) << again.error().field << ": " << again.error().message << "\n" << text;
  EXPECT_EQ(again->program.version, d->program.version);
  EXPECT_EQ(again->receipt.sale_template, d->receipt.sale_template);
  EXPECT_EQ(again->receipt.width, 32);
  EXPECT_EQ(render_program_document(again->program, again->receipt), text);
}

TEST(ProgramDocument, DefaultsRoundTrip) {
  auto d = parse_program_document("");
  ASSERT_TRUE(d.ok());
  auto again = parse_program_document(render_program_document(d->program, d->receipt));
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->program.version, d->program.version);
}

// A whole document handed in (the hub, `loyaltyctl program set --file`) must be a program:
// a [receipt]-only file parses (every key has a default) but would reset the program.
TEST(ProgramDocument, AWholeDocumentNeedsAProgramTable) {
  ASSERT_TRUE(parse_program_document("[receipt]\nwidth = 30\n").ok());
  auto receipt_only = parse_whole_program_document("[receipt]\nwidth = 30\n");
  ASSERT_FALSE(receipt_only.ok());
  EXPECT_EQ(receipt_only.error().code, domain::ErrorCode::kInvalidConfig);
  EXPECT_EQ(receipt_only.error().field, "program");
  EXPECT_TRUE(parse_whole_program_document("[program]\nearn_percent = \"8\"\n").ok());
  EXPECT_EQ(parse_whole_program_document("[program]\nearn_percent = 8\n").error().field, "program.earn_percent");
  EXPECT_EQ(parse_whole_program_document("[program]\n[plugin]\nbranch = \"X\"\n").error().field, "plugin");
}

struct BadCase {
  const char* text;
  const char* field;
};

class ProgramDocumentErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(ProgramDocumentErrors, NameTheKey) {
  auto d = parse_program_document(GetParam().text);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, domain::ErrorCode::kInvalidConfig);
  EXPECT_EQ(d.error().field, GetParam().field) << d.error().message;
  EXPECT_FALSE(d.error().message.empty());
}

INSTANTIATE_TEST_SUITE_P(
    All, ProgramDocumentErrors,
    ::testing::Values(BadCase{"[plugin]\nbranch = \"B01\"\n", "plugin"},
                      BadCase{"[sync]\nurl = \"wss://h/v1/sync\"\n", "sync"},
                      BadCase{"[program]\nearn_percnt = \"5\"\n", "program.earn_percnt"},
                      BadCase{"[program]\npoint_value = 0.1\n", "program.point_value"},
                      BadCase{"[program]\nhold_minutes = 0\n", "program.hold_minutes"},
                      BadCase{"[program.overrides.sku]\nX = \"-1\"\n", "program.overrides.sku.X"},
                      BadCase{"[program.categories]\ngold = \"abc\"\n", "program.categories.gold"},
                      BadCase{"[receipt]\nlocale = \"fr\"\n", "receipt.locale"},
                      BadCase{"[receipt]\nsale_template = [\"{nope}\"]\n",
                              "receipt.sale_template[0]"},
                      BadCase{"[program\n", ""}));

}  // namespace
}  // namespace loyalty::config

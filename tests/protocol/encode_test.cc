// Responses and errors as JSON: the members of every response type, and output that is
// valid UTF-8 JSON whatever the strings hold.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "protocol/json_text.h"
#include "test_util.h"

namespace loyalty::protocol::test {
namespace {

using domain::Money;
using domain::Points;
using ojson = nlohmann::ordered_json;

const domain::BusinessTime kAt = *domain::parse_rfc3339("2027-11-22T10:15:00-06:00");

ojson encoded(const domain::Response& r, std::string type = "sale.completed") {
  const domain::RequestHeader h{std::move(type), "B01-T1-000123", kAt, "B01", "T1"};
  const std::string text = encode_response(h, r);
  auto j = ojson::parse(text, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << text;
  return j;
}

std::vector<std::string> keys(const ojson& j) {
  std::vector<std::string> out;
  for (auto it = j.begin(); it != j.end(); ++it) out.push_back(it.key());
  return out;
}

std::vector<std::string> with_header(std::vector<std::string> body) {
  std::vector<std::string> all = {"ok", "type", "id", "branch"};
  all.insert(all.end(), body.begin(), body.end());
  return all;
}

TEST(ProtocolEncode, Sale) {
  domain::SaleResponse s;
  s.customer = "card:4000123";
  s.account = "A-1";
  s.earned = Points(45);
  s.redeemed = Points(0);
  s.balance = Points(1045);
  s.balance_value = Money::from_micros(104'500'000);
  s.available = Points(1000);
  s.expiring = {{Points(45), kAt}};
  s.notes = {{domain::ZeroEarnReason::kExcludedProduct, "GIFT-100"},
             {domain::ZeroEarnReason::kNoCustomer, ""},
             {domain::ZeroEarnReason::kExcludedMethod, "credit_card"},
             {domain::ZeroEarnReason::kPaidWithPoints, ""},
             {domain::ZeroEarnReason::kRoundedToZero, ""}};
  s.warnings = {"points tender over the balance"};
  s.receipt = {"Puntos ganados: 45", "Saldo: 1045"};
  s.program_version = "0123456789abcdef";
  const auto j = encoded(s);
  EXPECT_EQ(keys(j), with_header({"customer", "account", "earned", "redeemed", "balance",
                                  "balance_value", "available", "expiring", "notes", "warnings",
                                  "receipt", "program_version"}));
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["type"], "sale.completed");
  EXPECT_EQ(j["id"], "B01-T1-000123");
  EXPECT_EQ(j["branch"], "B01");
  EXPECT_EQ(j["customer"], "card:4000123");
  EXPECT_EQ(j["earned"], 45);
  EXPECT_TRUE(j["earned"].is_number_integer());
  EXPECT_EQ(j["balance"], 1045);
  EXPECT_EQ(j["balance_value"], "104.50");
  EXPECT_EQ(j["available"], 1000);
  EXPECT_EQ(j["expiring"],
            ojson::parse(
                R"([{"points":45,"expires_at":"2027-11-22T10:15:00-06:00","date":"2027-11-22"}])"));
  EXPECT_EQ(j["notes"][0], ojson::parse(R"({"reason":"excluded_product","detail":"GIFT-100"})"));
  std::vector<std::string> reasons;
  for (const auto& n : j["notes"]) reasons.push_back(n["reason"].get<std::string>());
  EXPECT_EQ(reasons, (std::vector<std::string>{"excluded_product", "no_customer", "excluded_method",
                                               "paid_with_points", "rounded_to_zero"}));
  EXPECT_EQ(j["warnings"][0], "points tender over the balance");
  EXPECT_EQ(j["receipt"], ojson::parse(R"(["Puntos ganados: 45","Saldo: 1045"])"));
  EXPECT_EQ(j["program_version"], "0123456789abcdef");

  // Empty lists stay lists; balance_value keeps two places; negative balances are fine.
  domain::SaleResponse anon;
  anon.balance = Points(-30);
  anon.balance_value = Money::from_micros(-3'000'000);
  const auto a = encoded(anon);
  EXPECT_EQ(a["expiring"], ojson::array());
  EXPECT_EQ(a["notes"], ojson::array());
  EXPECT_EQ(a["receipt"], ojson::array());
  EXPECT_EQ(a["balance"], -30);
  EXPECT_EQ(a["balance_value"], "-3.00");
  EXPECT_EQ(encoded(domain::SaleResponse{})["balance_value"], "0.00");
}

TEST(ProtocolEncode, AuthorizeReleaseVoid) {
  domain::AuthorizeResponse a{"H-1", Points(400), Money::from_units(40), kAt.plus_minutes(15),
                              Points(600)};
  const auto ja = encoded(a, "points.authorize");
  EXPECT_EQ(keys(ja), with_header({"hold", "points", "amount", "expires_at", "available"}));
  EXPECT_EQ(ja["hold"], "H-1");
  EXPECT_EQ(ja["points"], 400);
  EXPECT_EQ(ja["amount"], "40.00");
  EXPECT_EQ(ja["expires_at"], "2027-11-22T10:30:00-06:00");
  EXPECT_EQ(ja["available"], 600);

  domain::ReleaseResponse r{{"H-1", "H-2"}, Points(500)};
  const auto jr = encoded(r, "points.release");
  EXPECT_EQ(keys(jr), with_header({"released", "points"}));
  EXPECT_EQ(jr["released"], ojson::parse(R"(["H-1","H-2"])"));
  EXPECT_EQ(jr["points"], 500);

  domain::VoidResponse v;
  v.ticket = "000124";
  v.released = {"H-1"};
  v.reversed_sale = true;
  v.clawed_back = Points(45);
  v.restored = Points(400);
  v.balance = Points(955);
  const auto jv = encoded(v, "sale.voided");
  EXPECT_EQ(keys(jv), with_header({"ticket", "released", "reversed_sale", "clawed_back", "restored",
                                   "balance"}));
  EXPECT_EQ(jv["reversed_sale"], true);
  EXPECT_EQ(jv["clawed_back"], 45);
  EXPECT_EQ(jv["restored"], 400);
  EXPECT_EQ(jv["balance"], 955);
  v.balance.reset();
  EXPECT_EQ(keys(encoded(v, "sale.voided")),
            with_header({"ticket", "released", "reversed_sale", "clawed_back", "restored"}));
}

TEST(ProtocolEncode, Refund) {
  domain::RefundResponse r;
  r.customer = "card:4000123";
  r.account = "A-1";
  r.matched = true;
  r.clawed_back = Points(22);
  r.restored = Points(0);
  r.balance = Points(23);
  r.balance_value = Money::from_micros(2'300'000);
  r.available = Points(23);
  r.expiring = {{Points(23), kAt}};
  r.warnings = {"capped"};
  r.receipt = {"Puntos descontados: 22"};
  const auto j = encoded(r, "refund.completed");
  EXPECT_EQ(keys(j),
            with_header({"customer", "account", "matched", "clawed_back", "restored", "balance",
                         "balance_value", "available", "expiring", "warnings", "receipt"}));
  EXPECT_EQ(j["matched"], true);
  EXPECT_EQ(j["clawed_back"], 22);
  EXPECT_EQ(j["balance_value"], "2.30");
  EXPECT_EQ(j["expiring"][0]["date"], "2027-11-22");
}

TEST(ProtocolEncode, CustomerBalanceHistory) {
  domain::CustomerResponse c{"card:1", "A-1", true, {"card:1", "phone:55"}, "gold", Points(10), {}};
  const auto jc = encoded(c, "customer.upsert");
  EXPECT_EQ(keys(jc),
            with_header({"customer", "account", "created", "aliases", "category", "balance", "warnings"}));
  EXPECT_EQ(jc["created"], true);
  EXPECT_EQ(jc["aliases"][1], "phone:55");
  EXPECT_EQ(jc["category"], "gold");

  domain::BalanceResponse b{"card:1",
                            "A-1",
                            Points(100),
                            Points(60),
                            Money::from_units(10),
                            "gold",
                            {{Points(100), kAt}}};
  const auto jb = encoded(b, "balance.query");
  EXPECT_EQ(keys(jb), with_header({"customer", "account", "balance", "available", "balance_value",
                                   "category", "expiring"}));
  EXPECT_EQ(jb["balance_value"], "10.00");
  EXPECT_EQ(jb["available"], 60);
  EXPECT_EQ(jb["expiring"][0]["points"], 100);

  domain::HistoryResponse h;
  h.customer = "card:1";
  h.account = "A-1";
  h.truncated = true;
  h.entries.push_back({"e-1", "earn", Points(45), "B01", "000123", kAt, kAt.plus_days(365), ""});
  h.entries.push_back({"e-2", "adjust", Points(-5), "B02", "", kAt, std::nullopt, "goodwill"});
  const auto jh = encoded(h, "history.query");
  EXPECT_EQ(keys(jh), with_header({"customer", "account", "entries", "truncated"}));
  EXPECT_EQ(jh["truncated"], true);
  ASSERT_EQ(jh["entries"].size(), 2u);
  EXPECT_EQ(keys(jh["entries"][0]),
            (std::vector<std::string>{"id", "kind", "points", "branch", "ticket", "at",
                                      "expires_at", "reason"}));
  EXPECT_EQ(jh["entries"][0]["id"], "e-1");
  EXPECT_EQ(jh["entries"][0]["at"], "2027-11-22T10:15:00-06:00");
  EXPECT_EQ(jh["entries"][0]["expires_at"], "2028-11-21T10:15:00-06:00");
  EXPECT_TRUE(jh["entries"][1]["expires_at"].is_null());
  EXPECT_EQ(jh["entries"][1]["points"], -5);
  EXPECT_EQ(jh["entries"][1]["reason"], "goodwill");
  EXPECT_EQ(encoded(domain::HistoryResponse{}, "history.query")["entries"], ojson::array());
}

TEST(ProtocolEncode, AdjustTransferInfo) {
  const auto ja =
      encoded(domain::AdjustResponse{"card:1", Points(-5), Points(40)}, "points.adjust");
  EXPECT_EQ(keys(ja), with_header({"customer", "points", "balance"}));
  EXPECT_EQ(ja["points"], -5);

  const auto jt =
      encoded(domain::TransferResponse{"card:1", "card:2", Points(25), Points(15), Points(30)},
              "points.transfer");
  EXPECT_EQ(keys(jt), with_header({"from", "to", "points", "from_balance", "to_balance"}));
  EXPECT_EQ(jt["to_balance"], 30);

  domain::InfoResponse i{1, "0.1.0", "B07", "abcdef0123456789", 3, "MXN"};
  const auto ji = encoded(i, "plugin.info");
  EXPECT_EQ(keys(ji), with_header({"abi_version", "version", "program_version", "schema_version",
                                   "currency"}));
  EXPECT_EQ(ji["branch"], "B07");  // the configured branch, written once
  EXPECT_EQ(ji["abi_version"], 1);
  EXPECT_EQ(ji["schema_version"], 3);
  EXPECT_EQ(ji["currency"], "MXN");
  i.branch.clear();
  EXPECT_EQ(encoded(i, "plugin.info")["branch"], "B01");
}

TEST(ProtocolEncode, ErrorShape) {
  const auto with_id =
      ojson::parse(encode_error(domain::make_error(domain::ErrorCode::kInvalidEvent,
                                                   "lines[0].amount", "must be zero or positive"),
                                "B01-1"));
  EXPECT_EQ(keys(with_id), (std::vector<std::string>{"ok", "id", "error"}));
  EXPECT_EQ(with_id["ok"], false);
  EXPECT_EQ(with_id["id"], "B01-1");
  EXPECT_EQ(keys(with_id["error"]), (std::vector<std::string>{"code", "field", "message"}));
  EXPECT_EQ(with_id["error"]["code"], "invalid_event");
  EXPECT_EQ(with_id["error"]["field"], "lines[0].amount");
  EXPECT_EQ(with_id["error"]["message"], "must be zero or positive");

  const auto no_id = ojson::parse(
      encode_error(domain::make_error(domain::ErrorCode::kInvalidJson, "", "not valid JSON")));
  EXPECT_EQ(keys(no_id), (std::vector<std::string>{"ok", "error"}));
  EXPECT_EQ(no_id["error"]["code"], "invalid_json");
  EXPECT_EQ(no_id["error"]["field"], "");

  using domain::ErrorCode;
  const std::pair<ErrorCode, const char*> words[] = {
      {ErrorCode::kUnknownType, "unknown_type"},
      {ErrorCode::kConflict, "conflict"},
      {ErrorCode::kInsufficientPoints, "insufficient_points"},
      {ErrorCode::kNotFound, "not_found"},
      {ErrorCode::kUnavailable, "unavailable"},
      {ErrorCode::kInternal, "internal"}};
  for (const auto& [code, word] : words) {
    EXPECT_EQ(ojson::parse(encode_error(domain::make_error(code, "", "m")))["error"]["code"], word);
  }
}

TEST(ProtocolEncode, ParseErrorsRoundTrip) {
  // What parse_request reports is what encode_error writes.
  auto r = parse(sale(R"({"amount":"-1"})"));
  ASSERT_FALSE(r.ok());
  const auto j = ojson::parse(encode_error(r.error(), "x"));
  EXPECT_EQ(j["error"]["code"], "invalid_event");
  EXPECT_EQ(j["error"]["field"], "lines[0].amount");
  EXPECT_EQ(j["error"]["message"], r.error().message);
}

TEST(ProtocolEncode, OutputIsAlwaysValidUtf8Json) {
  // Strings from a ledger or a template may hold anything; the output still parses
  // (nlohmann's parser rejects invalid UTF-8) and keeps what was valid.
  const auto bad = encode_error(domain::make_error(domain::ErrorCode::kInternal, "f\xc3",
                                                   "bad \xff byte \xe2\x82 \"q\" \x01 ok é"));
  const auto j = nlohmann::json::parse(bad, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << bad;
  EXPECT_EQ(j["error"]["message"],
            "bad \xEF\xBF\xBD byte \xEF\xBF\xBD\xEF\xBF\xBD \"q\" \x01 ok é");
  EXPECT_EQ(j["error"]["field"], "f\xEF\xBF\xBD");

  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    std::string junk(rng() % 40, '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng() % 256);
    domain::SaleResponse s;
    s.customer = junk;
    s.receipt = {junk, junk};
    s.notes = {{domain::ZeroEarnReason::kExcludedProduct, junk}};
    const auto out = encode_response({"sale.completed", junk, kAt, junk, ""}, s);
    EXPECT_FALSE(nlohmann::json::parse(out, nullptr, false).is_discarded()) << out;
    const auto err =
        encode_error(domain::make_error(domain::ErrorCode::kInternal, junk, junk), junk);
    EXPECT_FALSE(nlohmann::json::parse(err, nullptr, false).is_discarded()) << err;
  }
}

TEST(ProtocolEncode, StringEscapingMatchesNlohmannForValidUtf8) {
  std::string all_ascii;
  for (int c = 1; c < 128; ++c) all_ascii += static_cast<char>(c);
  for (const std::string& s :
       {std::string(), all_ascii, std::string("é€😀 \"\\/"), std::string(1, '\0')}) {
    std::string mine;
    append_json_string(mine, s);
    EXPECT_EQ(mine, nlohmann::json(s).dump());
  }
}

TEST(ProtocolEncode, JsonTextHelpers) {
  EXPECT_FALSE(find_bad_byte("plain ascii, long enough for the word-at-a-time path").has_value());
  const auto nul = find_bad_byte(std::string_view("0123456789abc\0", 14));
  ASSERT_TRUE(nul.has_value());
  EXPECT_EQ(nul->kind, BadByte::Kind::kNul);
  EXPECT_EQ(nul->offset, 13u);
  const auto bad = find_bad_byte("0123456789é\xff");
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->kind, BadByte::Kind::kInvalidUtf8);
  EXPECT_EQ(bad->offset, 12u);
  EXPECT_EQ(count_chars("aé€😀"), 4u);
  EXPECT_TRUE(has_control_chars("a\tb"));
  EXPECT_TRUE(has_control_chars("a\x7f"));
  EXPECT_TRUE(has_control_chars("a\xc2\x9f"));
  EXPECT_FALSE(has_control_chars("a\xc2\xa0é"));
  EXPECT_EQ(excerpt("short"), "short");
  EXPECT_EQ(excerpt("ééééé", 5), "éé...");  // never cuts a character in half
}

}  // namespace
}  // namespace loyalty::protocol::test

// The idempotency fingerprint: SHA-256 of the canonical text (nlohmann's dump() of the
// document as received).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "protocol/canonical.h"
#include "test_util.h"

namespace loyalty::protocol::test {
namespace {

std::string hash_of(std::string_view text) {
  auto r = parse(text);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : describe(r.error()));
  return r.ok() ? r->body_hash : std::string();
}

TEST(ProtocolHash, Sha256KnownAnswer) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(ProtocolHash, IsTheHashOfNlohmannDump) {
  for (
      const std::string& text :
      {kContractSale, kContractRefund, kContractAuthorize,
       request(
           "customer.upsert",
           R"("customer":"card:1","name":"Zoë \"Z\" \\ / \n\t\b\f\r \u001f \u007f \u00e9 \ud83d\ude00 ünï",
                   "aliases":["a","b"],"email":null)"),
       request("points.adjust", R"("customer":"c","points":-900719925474,"reason":"x","operator":"o")"),
       request("history.query", R"("customer":"c","limit":7)")}) {
    auto r = parse(text);
    ASSERT_TRUE(r.ok()) << describe(r.error());
    EXPECT_EQ(r->body_hash, sha256_hex(nlohmann::json::parse(text).dump())) << text;
  }
}

TEST(ProtocolHash, KeyOrderAndWhitespaceDoNotMatter) {
  const auto a =
      hash_of(R"({"type":"balance.query","id":"x","at":"2026-11-22T10:15:00Z","customer":"c"})");
  const auto b = hash_of(
      "{ \"customer\" : \"c\",\r\n\t\"at\":\"2026-11-22T10:15:00Z\",\n "
      "\"id\":\"x\",\"type\":\"balance.query\"}  ");
  EXPECT_EQ(a, b);
  // Nested objects too.
  const auto c = hash_of(sale(R"({"n":1,"amount":"1.00","sku":"A"})",
                              R"("tenders":[{"method":"cash","amount":"1.00"}])"));
  const auto d = hash_of(sale(R"({ "sku" : "A", "amount" : "1.00", "n" : 1 })",
                              R"("tenders":[ { "amount":"1.00","method":"cash" } ])"));
  EXPECT_EQ(c, d);
  // The same text as a \u escape is the same string.
  EXPECT_EQ(hash_of(request("balance.query", R"("customer":"café")")),
            hash_of(request("balance.query", R"("customer":"caf\u00e9")")));
}

TEST(ProtocolHash, AnyChangedValueChangesIt) {
  const auto base = hash_of(kContractSale);
  auto changed = [&](std::string_view from, std::string_view to) {
    std::string text = kContractSale;
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
    return hash_of(text);
  };
  EXPECT_NE(changed(R"("amount":"90.00")", R"("amount":"90.01")"), base);
  EXPECT_NE(changed(R"("amount":"90.00")", R"("amount":"90.0")"), base);  // same money, other text
  EXPECT_NE(changed(R"("n":2)", R"("n":3)"), base);
  EXPECT_NE(changed(R"("customer":"card:4000123")", R"("customer":"card:4000124")"), base);
  EXPECT_NE(changed(R"("terminal":"T1",)", ""), base);
  // Line order is part of the sale.
  EXPECT_NE(hash_of(sale(R"({"n":1,"amount":"1"},{"n":2,"amount":"2"})")),
            hash_of(sale(R"({"n":2,"amount":"2"},{"n":1,"amount":"1"})")));
}

TEST(ProtocolHash, TakenBeforeTheDefaultBranch) {
  const std::string text = request("balance.query", R"("customer":"c")");
  auto b1 = parse_request(text, "B01");
  auto b2 = parse_request(text, "B02");
  ASSERT_TRUE(b1.ok() && b2.ok());
  EXPECT_EQ(domain::header_of(b1->request).branch, "B01");
  EXPECT_EQ(domain::header_of(b2->request).branch, "B02");
  EXPECT_EQ(b1->body_hash, b2->body_hash);
  // Writing the default out is a different body.
  EXPECT_NE(b1->body_hash, hash_of(request("balance.query", R"("customer":"c","branch":"B01")")));
}

TEST(ProtocolHash, CanonicalTextEqualsDump) {
  const char* docs[] = {
      R"({})",
      R"([])",
      R"({"b":[1,-2,3.5,1e300,-0.0,0.1,18446744073709551615,-9223372036854775808,true,false,null],"a":{"z":{},"y":[]}})",
      R"({"s":"quote \" backslash \\ slash \/ controls \u0000\u0001\b\f\n\r\t\u001f del \u007f"})",
      R"({"u":"é€😀 \u00e9\u20ac\ud83d\ude00","é":1,"e":2,"E":3,"":4})",
      R"("top-level string")",
      R"(12.50)",
  };
  for (const char* d : docs) {
    const auto j = nlohmann::json::parse(d);
    std::string canonical;
    append_canonical(j, canonical);
    EXPECT_EQ(canonical, j.dump()) << d;
  }
}

}  // namespace
}  // namespace loyalty::protocol::test

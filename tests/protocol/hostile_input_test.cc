// Bytes a broken or hostile POS might send: NUL, invalid UTF-8, deep nesting, huge
// values, random garbage. None may crash, hang, or echo megabytes back.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <random>

#include "test_util.h"

namespace loyalty::protocol::test {
namespace {

using domain::ErrorCode;

const std::string kBalance = request("balance.query", R"("customer":"card:1")");

TEST(ProtocolHostile, NulByteNamesItsOffset) {
  for (size_t at : {size_t{0}, size_t{5}, size_t{30}, kBalance.size() - 1}) {
    std::string text = kBalance;
    text[at] = '\0';
    const auto e = error_of(text);
    EXPECT_EQ(e.code, ErrorCode::kInvalidJson);
    EXPECT_NE(e.message.find("NUL"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("offset " + std::to_string(at)), std::string::npos) << e.message;
  }
  // A NUL after otherwise complete JSON too.
  const auto e = error_of(kBalance + std::string(1, '\0'));
  EXPECT_EQ(e.code, ErrorCode::kInvalidJson);
  EXPECT_NE(e.message.find("offset " + std::to_string(kBalance.size())), std::string::npos);
}

TEST(ProtocolHostile, InvalidUtf8NamesItsOffset) {
  const std::string head =
      R"({"type":"balance.query","id":"x","at":"2026-11-22T10:15:00Z","customer":")";
  const std::string bad[] = {
      "\xc3\x28",          // 2-byte lead, then not a continuation
      "\x80",              // lone continuation
      "\xc0\xaf",          // overlong '/'
      "\xe0\x80\xaf",      // overlong
      "\xed\xa0\x80",      // UTF-16 surrogate
      "\xf4\x90\x80\x80",  // above U+10FFFF
      "\xf5\x80\x80\x80",
      "\xff",
      "\xe2\x82",  // truncated (then the closing quote)
  };
  for (const auto& b : bad) {
    const auto e = error_of(head + b + "\"}");
    EXPECT_EQ(e.code, ErrorCode::kInvalidJson) << describe(e);
    EXPECT_NE(e.message.find("UTF-8"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("offset " + std::to_string(head.size())), std::string::npos)
        << e.message;
  }
  // Truncated at the very end of the input.
  EXPECT_EQ(error_of(head + "\xf0\x9f\x98").code, ErrorCode::kInvalidJson);
  // Valid multi-byte text around it is fine.
  EXPECT_TRUE(parse(head + "caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80\"}").ok());
}

TEST(ProtocolHostile, DeepNestingIsRefusedWithoutRecursion) {
  for (const char* open : {"[", "{\"a\":"}) {
    std::string deep;
    for (int i = 0; i < 100000; ++i) deep += open;
    const auto e = error_of(deep);
    EXPECT_EQ(e.code, ErrorCode::kInvalidJson);
    EXPECT_NE(e.message.find("nesting deeper than 64"), std::string::npos) << e.message;
    // Closed and inside a real request.
    const auto f =
        error_of(request("balance.query", R"("customer":"c","x":)" + std::string(100000, '[') +
                                              std::string(100000, ']')));
    EXPECT_EQ(f.code, ErrorCode::kInvalidJson);
  }
}

TEST(ProtocolHostile, NestingLimitIsExactly64) {
  // The request object is level 1, so 63 more levels are allowed and 64 are not.
  auto nested = [](int levels) {
    return request("balance.query", R"("customer":"c","x":)" +
                                        std::string(static_cast<size_t>(levels), '[') +
                                        std::string(static_cast<size_t>(levels), ']'));
  };
  const auto ok_depth = error_of(nested(63));
  EXPECT_EQ(ok_depth.code, ErrorCode::kInvalidEvent);  // parsed; "x" is just unknown
  EXPECT_EQ(ok_depth.field, "x");
  EXPECT_EQ(error_of(nested(64)).code, ErrorCode::kInvalidJson);
}

TEST(ProtocolHostile, HugeValuesAreRefusedQuicklyAndNotEchoed) {
  const std::string ten_mb(10 << 20, '9');
  struct Case {
    std::string text;
    std::string field;
  } cases[] = {
      {sale(R"({"amount":")" + ten_mb + "\"}"), "lines[0].amount"},
      {sale(R"({"amount":"1","qty":")" + ten_mb + "\"}"), "lines[0].qty"},
      {request("balance.query", R"("customer":")" + ten_mb + "\""), "customer"},
      {request("balance.query", R"("customer":"c","at2":")" + ten_mb + "\""), "at2"},
      {R"({"type":"balance.query","id":"x","customer":"c","at":")" + ten_mb + "\"}", "at"},
      {request("customer.upsert", R"("customer":"c","name":")" + ten_mb + "\""), "name"},
  };
  for (const auto& c : cases) {
    const auto start = std::chrono::steady_clock::now();
    const auto e = error_of(c.text);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(e.code, ErrorCode::kInvalidEvent);
    EXPECT_EQ(e.field, c.field);
    EXPECT_LT(e.message.size(), 300u) << e.message.substr(0, 300);
    EXPECT_LT(elapsed, std::chrono::seconds(5));
  }
  // A 10 MB key as an unknown field: the path is shortened.
  const auto k = error_of(request("balance.query", R"("customer":"c",")" + ten_mb + R"(":1)"));
  EXPECT_EQ(k.code, ErrorCode::kInvalidEvent);
  EXPECT_LT(k.field.size(), 100u);
  // An unterminated 10 MB string: the parser's message is shortened too.
  const auto u = error_of(R"({"type":")" + ten_mb);
  EXPECT_EQ(u.code, ErrorCode::kInvalidJson);
  EXPECT_LT(u.message.size(), 300u);
  // A 10 MB unknown type.
  const auto t = error_of(request(ten_mb));
  EXPECT_LT(t.message.size(), 600u);
}

TEST(ProtocolHostile, RandomMutationsNeverCrash) {
  std::mt19937 rng(12345);
  const std::string seeds[] = {kContractSale, kContractRefund, kContractAuthorize, kBalance};
  int accepted = 0;
  for (int round = 0; round < 4000; ++round) {
    std::string text = seeds[static_cast<size_t>(round) % std::size(seeds)];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits && !text.empty(); ++k) {
      const size_t pos = rng() % text.size();
      switch (rng() % 4) {
        case 0:
          text[pos] = static_cast<char>(rng() % 256);
          break;
        case 1:
          text.erase(pos, 1 + rng() % 8);
          break;
        case 2:
          text.insert(pos, 1, "{}[]\",:-0\\u"[rng() % 12]);
          break;
        default:
          text.resize(pos);
          break;
      }
    }
    auto r = parse(text);
    if (r.ok()) {
      ++accepted;
      EXPECT_EQ(r->body_hash.size(), 64u);
    } else {
      EXPECT_FALSE(r.error().message.empty()) << text;
      EXPECT_LT(r.error().message.size(), 1000u);
      // Whatever went wrong, the error still encodes as valid JSON.
      const auto out = encode_error(r.error(), "x");
      EXPECT_FALSE(nlohmann::json::parse(out, nullptr, false).is_discarded()) << out;
    }
  }
  EXPECT_GT(accepted, 0);  // some mutations only touch values, and those still parse
}

}  // namespace
}  // namespace loyalty::protocol::test

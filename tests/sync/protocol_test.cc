// Sync protocol v1 codec: every frame round-trips; every malformed input is rejected with the
// field that is wrong.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "sync/protocol/frames.h"
#include "sample_entry.h"

namespace loyalty::sync {
namespace {

using domain::ErrorCode;
using json = nlohmann::json;


json entry_json(int64_t seq) { return json::parse(encode_entry(sample_entry(seq))); }

json push_json(int64_t first, int n) {
  json j = {{"type", "push"}, {"first_seq", first}, {"last_seq", first + n - 1}};
  j["entries"] = json::array();
  for (int i = 0; i < n; ++i) j["entries"].push_back(entry_json(first + i));
  return j;
}

domain::Error decode_error(const json& j) {
  auto r = decode_frame(j.dump());
  EXPECT_FALSE(r.ok()) << j.dump();
  return r.ok() ? domain::Error{} : r.error();
}

TEST(SyncProtocol, EveryFrameRoundTrips) {
  Push push{5, 6, {sample_entry(5), sample_entry(6)}};
  push.entries[1].expires_at.reset();
  push.entries[1].data = "null";
  push.entries[1].points = -30;
  push.entries[1].reason = "quote \" backslash \\ newline \n tab \t ctrl \x01 utf8 \xC3\xA9";
  Entries entries{3, 9, {{4, sample_entry(1)}, {8, sample_entry(2)}}};
  const Frame frames[] = {
      Hello{1, "B01", "ab12", 7, 3, "cd34", "v1", 1700000000000},
      Welcome{"cd34", 7, 40, 1700000000001, "v2", true},
      push,
      Ack{6},
      Nack{3},
      entries,
      Entries{10, 12, {}},
      Applied{9},
      Config{"v2", "[program]\nname = \"Cafe\"\n"},
      ConfigAck{"v2"},
      ErrorFrame{"fork", "seq 3 differs", true},
  };
  for (const Frame& f : frames) {
    const std::string text = encode(f);
    auto back = decode_frame(text);
    ASSERT_TRUE(back.ok()) << text << ": " << back.error().message;
    EXPECT_TRUE(*back == f) << text;
    EXPECT_EQ(json::parse(text)["type"], frame_type(f));
  }
}

TEST(SyncProtocol, EntryKeepsDataAsRawJsonAndEveryWireField) {
  const json j = entry_json(17);
  for (const char* key :
       {"entry_id", "origin_branch", "origin_seq", "node_epoch", "account_id", "kind", "points",
        "request_id", "branch", "ticket", "ref_entry_id", "business_at", "recorded_at_ms",
        "expires_at", "program_version", "reason", "body_hash", "data"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j.size(), 18u);
  auto e = decode_entry(j.dump());
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(json::parse(e->data), json::parse(sample_entry(17).data));
}

TEST(SyncProtocol, InvalidUtf8IsReplacedSoOutputAlwaysDecodes) {
  Entry e = sample_entry(1);
  e.ticket = "bad \xFF\xC3 bytes";
  auto back = decode_entry(encode_entry(e));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->ticket, "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes");
}

TEST(SyncProtocol, MalformedJsonAndNonObjects) {
  for (const char* text : {"", "{", "not json", "[1,2]", "\"push\"", "{\"type\":\"ack\",}"}) {
    auto r = decode_frame(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidJson) << text;
    EXPECT_EQ(sync_error_code(r.error()), "invalid");
  }
}

TEST(SyncProtocol, DeepNestingIsRejectedNotRecursedInto) {
  std::string deep(100000, '[');
  auto r = decode_frame(deep);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("deeper"), std::string::npos);
}

TEST(SyncProtocol, NestingIsCountedOutsideStringsUpTo64Levels) {
  // frame { entries [ entry { data {...}: data holding m nested objects reaches 3 + m levels.
  auto with_data_depth = [](int m) {
    std::string data;
    for (int i = 1; i < m; ++i) data += "{\"a\":";
    data += "{}";
    data += std::string(static_cast<size_t>(m - 1), '}');
    Entry e = sample_entry(1);
    e.data = data;
    e.ticket = "[[[[{{{{\\\"[[[[";  // brackets, a backslash and a quote inside a string
    Push p{1, 1, {e}};
    return encode(Frame{p});
  };
  auto ok = decode_frame(with_data_depth(61));  // 64 levels
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(std::get<Push>(*ok).entries[0].ticket, "[[[[{{{{\\\"[[[[");
  auto deep = decode_frame(with_data_depth(62));  // 65 levels
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.error().message.find("deeper"), std::string::npos);
}

TEST(SyncProtocol, UnknownTypeMapsToVersion) {
  const domain::Error e = decode_error({{"type", "fetch_everything"}});
  EXPECT_EQ(e.code, ErrorCode::kUnknownType);
  EXPECT_EQ(sync_error_code(e), "version");
  EXPECT_EQ(error_frame_for(e, false).code, "version");
  EXPECT_EQ(decode_error({{"kind", "ack"}}).field, "type");
  EXPECT_EQ(decode_error({{"type", 3}}).field, "type");
}

TEST(SyncProtocol, OversizedFrameIsTooBig) {
  std::string text =
      R"({"type":"ack","acked_seq":1,"pad":")" + std::string(kMaxFrameBytes, 'x') + "\"}";
  auto r = decode_frame(text);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(sync_error_code(r.error()), "too_big");
}

TEST(SyncProtocol, MissingAndWrongTypedFieldsAreNamed) {
  json hello = json::parse(encode(Hello{1, "B01", "ab", 0, 0, "", "", 1}));
  hello.erase("node_epoch");
  EXPECT_EQ(decode_error(hello).field, "node_epoch");

  json ack = {{"type", "ack"}, {"acked_seq", "7"}};
  const auto e = decode_error(ack);
  EXPECT_EQ(e.field, "acked_seq");
  EXPECT_EQ(e.code, ErrorCode::kInvalidEvent);
  EXPECT_NE(e.message.find("integer"), std::string::npos);

  EXPECT_EQ(decode_error({{"type", "ack"}, {"acked_seq", 1.5}}).field, "acked_seq");
  EXPECT_EQ(decode_error({{"type", "ack"}, {"acked_seq", -1}}).field, "acked_seq");
  EXPECT_EQ(decode_error({{"type", "ack"}, {"acked_seq", 18446744073709551615ull}}).field,
            "acked_seq");
  EXPECT_EQ(decode_error({{"type", "error"}, {"code", "x"}, {"message", ""}, {"fatal", 1}}).field,
            "fatal");
  json hello2 = json::parse(encode(Hello{1, "B01", "ab", 0, 0, "", "", 1}));
  hello2["proto"] = 2;
  EXPECT_EQ(decode_error(hello2).field, "proto");
}

TEST(SyncProtocol, EntryFieldErrorsCarryTheirIndex) {
  json p = push_json(1, 3);
  p["entries"][2]["points"] = "45";
  EXPECT_EQ(decode_error(p).field, "entries[2].points");

  p = push_json(1, 3);
  p["entries"][1].erase("body_hash");
  EXPECT_EQ(decode_error(p).field, "entries[1].body_hash");

  p = push_json(1, 2);
  p["entries"][0]["data"] = json::array({1});
  EXPECT_EQ(decode_error(p).field, "entries[0].data");

  p = push_json(1, 2);
  p["entries"][0]["expires_at"] = 5;
  EXPECT_EQ(decode_error(p).field, "entries[0].expires_at");

  p = push_json(1, 2);
  p["entries"][1]["entry_id"] = "";
  EXPECT_EQ(decode_error(p).field, "entries[1].entry_id");

  p = push_json(1, 1);
  p["entries"][0] = 7;
  EXPECT_EQ(decode_error(p).field, "entries[0]");
}

TEST(SyncProtocol, PushSeqRangeMustMatchEntries) {
  json p = push_json(4, 3);
  p["last_seq"] = 7;
  EXPECT_EQ(decode_error(p).field, "last_seq");

  p = push_json(4, 3);
  p["entries"][1]["origin_seq"] = 9;
  EXPECT_EQ(decode_error(p).field, "entries[1].origin_seq");

  p = push_json(4, 3);
  p["last_seq"] = 3;
  EXPECT_EQ(decode_error(p).field, "last_seq");

  p = push_json(4, 1);
  p["entries"] = json::array();
  p["last_seq"] = 4;
  EXPECT_EQ(decode_error(p).field, "entries");

  p = push_json(4, 1);
  p["first_seq"] = 0;
  EXPECT_EQ(decode_error(p).field, "first_seq");
}

TEST(SyncProtocol, AtMost500EntriesPerFrame) {
  json ok = push_json(1, 500);
  EXPECT_TRUE(decode_frame(ok.dump()).ok());
  json big = push_json(1, 501);
  const auto e = decode_error(big);
  EXPECT_EQ(e.field, "entries");
  EXPECT_NE(e.message.find("500"), std::string::npos);
}

TEST(SyncProtocol, EntriesOffsetsIncreaseWithinRange) {
  json f = json::parse(encode(Entries{3, 9, {{4, sample_entry(1)}, {8, sample_entry(2)}}}));
  f["entries"][1]["offset"] = 4;
  EXPECT_EQ(decode_error(f).field, "entries[1].offset");

  f = json::parse(encode(Entries{3, 9, {{4, sample_entry(1)}}}));
  f["entries"][0]["offset"] = 10;
  EXPECT_EQ(decode_error(f).field, "entries[0].offset");

  f = json::parse(encode(Entries{3, 9, {{4, sample_entry(1)}}}));
  f["entries"][0]["offset"] = 2;
  EXPECT_EQ(decode_error(f).field, "entries[0].offset");

  f = json::parse(encode(Entries{3, 9, {}}));
  f["to_offset"] = 2;
  EXPECT_EQ(decode_error(f).field, "to_offset");

  f = json::parse(encode(Entries{3, 9, {{4, sample_entry(1)}}}));
  f["entries"][0].erase("entry");
  EXPECT_EQ(decode_error(f).field, "entries[0].entry");
}

TEST(SyncProtocol, UnknownFieldsAreIgnored) {
  auto r = decode_frame(R"({"type":"applied","offset":4,"future":{"x":1}})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<Applied>(*r).offset, 4);
}

// Branch recovery frames (docs/sync.md "Branch recovery").
TEST(SyncProtocol, RecoveryFramesRoundTripAndAreChecked) {
  Hello hello{1, "B01", "ab12", 7, 3, "cd34", "v1", 1700000000000};
  hello.check_offset = 12;
  hello.check_entry_id = "B02/r/earn";
  Welcome welcome{"cd34", 7, 40, 1700000000001, "v2", false};
  welcome.acked_entry_id = "B01/req-7/earn";
  const Frame frames[] = {hello, welcome, FetchOwn{101, 600},
                          OwnEntries{101, 600, {sample_entry(101), sample_entry(150)}},
                          OwnEntries{1, 1, {}}};
  for (const Frame& f : frames) {
    const std::string text = encode(f);
    auto back = decode_frame(text);
    ASSERT_TRUE(back.ok()) << text << ": " << back.error().message;
    EXPECT_TRUE(*back == f) << text;
    EXPECT_EQ(json::parse(text)["type"], frame_type(f));
  }
  // Optional fields: absent in an older peer's frames.
  auto old_hello = decode_frame(R"({"type":"hello","proto":1,"branch":"B01","node_epoch":"e",)"
                                R"("local_max_seq":0,"applied_offset":5,"hub_epoch_seen":"",)"
                                R"("config_version":"","client_time_ms":0})");
  ASSERT_TRUE(old_hello.ok());
  EXPECT_EQ(std::get<Hello>(*old_hello).check_offset, -1);
  EXPECT_EQ(json::parse(encode(*old_hello)).count("check_offset"), 0u);
  auto old_welcome = decode_frame(R"({"type":"welcome","hub_epoch":"h","acked_seq":3,)"
                                  R"("head_offset":0,"server_time_ms":0,"config_version":"",)"
                                  R"("must_refetch":false})");
  ASSERT_TRUE(old_welcome.ok());
  EXPECT_EQ(std::get<Welcome>(*old_welcome).acked_entry_id, "");

  EXPECT_EQ(decode_error({{"type", "fetch_own"}, {"from_seq", 0}, {"to_seq", 3}}).field,
            "from_seq");
  EXPECT_EQ(decode_error({{"type", "fetch_own"}, {"from_seq", 5}, {"to_seq", 4}}).field, "to_seq");
  auto big = decode_error({{"type", "fetch_own"}, {"from_seq", 1}, {"to_seq", 501}});
  EXPECT_EQ(big.field, "to_seq");
  EXPECT_NE(big.message.find("at most 500"), std::string::npos) << big.message;
  EXPECT_TRUE(
      decode_frame(json({{"type", "fetch_own"}, {"from_seq", 1}, {"to_seq", 500}}).dump()).ok());
  EXPECT_EQ(decode_error({{"type", "hello"},
                          {"proto", 1},
                          {"branch", "B"},
                          {"node_epoch", "e"},
                          {"local_max_seq", 0},
                          {"applied_offset", 0},
                          {"hub_epoch_seen", ""},
                          {"config_version", ""},
                          {"client_time_ms", 0},
                          {"check_offset", "x"}})
                .field,
            "check_offset");

  json own = {{"type", "own_entries"}, {"from_seq", 10}, {"to_seq", 20}};
  // json::array(): a braced list of one json is a copy, not an array, with clang.
  own["entries"] = json::array({entry_json(12), entry_json(11)});
  EXPECT_EQ(decode_error(own).field, "entries[1].origin_seq");
  own["entries"] = json::array({entry_json(21)});
  EXPECT_EQ(decode_error(own).field, "entries[0].origin_seq");
  own["entries"] = json::array({entry_json(9)});
  EXPECT_EQ(decode_error(own).field, "entries[0].origin_seq");
  own["entries"] = json::array({entry_json(10)});
  own["entries"][0].erase("points");
  EXPECT_EQ(decode_error(own).field, "entries[0].points");
}

}  // namespace
}  // namespace loyalty::sync

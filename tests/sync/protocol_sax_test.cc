// The SAX decoder (sync/protocol/frames.cc) against the DOM decoder it replaced
// (frames_dom_reference.cc): for every input the same Frame, or the same Error (code, field,
// message). Inputs: the fuzz corpora, hand-written edge cases (key order, duplicate keys, the
// data object's canonical text), every field of valid frames replaced by each JSON kind, and
// seeded random byte edits of valid frames.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "frames_dom_reference.h"
#include "sync/protocol/frames.h"
#include "sample_entry.h"

namespace loyalty::sync {
namespace {

using ojson = nlohmann::ordered_json;

// Returns how the two decoders differ on `text` ("" = they agree).
std::string difference(std::string_view text) {
  auto now = decode_frame(text);
  auto before = reference::decode_frame(text);
  if (now.ok() != before.ok()) {
    return now.ok() ? "SAX accepts, DOM says: " + before.error().message
                    : "DOM accepts, SAX says: " + now.error().message;
  }
  if (now.ok()) return *now == *before ? "" : "different frames";
  const domain::Error& a = now.error();
  const domain::Error& b = before.error();
  if (a.code != b.code || a.field != b.field || a.message != b.message) {
    return "SAX: [" + a.field + "] " + a.message + " | DOM: [" + b.field + "] " + b.message;
  }
  return "";
}

std::string entry_difference(std::string_view text) {
  auto now = decode_entry(text);
  auto before = reference::decode_entry(text);
  if (now.ok() != before.ok()) return "accepted by one decoder only";
  if (now.ok()) return *now == *before ? "" : "different entries";
  const domain::Error& a = now.error();
  const domain::Error& b = before.error();
  if (a.code != b.code || a.field != b.field || a.message != b.message) {
    return "SAX: [" + a.field + "] " + a.message + " | DOM: [" + b.field + "] " + b.message;
  }
  return "";
}

// Its `data` nests an object in an object (the SAX decoder's DumpWriter recurses).
Entry nested_entry(int64_t seq) {
  return sample_entry(
      seq, R"({"sale":{"earned":45,"lines":[{"amount":"12.50","n":1},{"amount":"3","n":2}]}})");
}

std::vector<std::string> valid_frames() {
  Push push{7, 9, {nested_entry(7), nested_entry(8), nested_entry(9)}};
  push.entries[1].expires_at.reset();
  push.entries[1].data = "null";
  return {
      encode(push),
      encode(Entries{3, 9, {{4, nested_entry(1)}, {8, nested_entry(2)}}}),
      encode(OwnEntries{2, 6, {nested_entry(2), nested_entry(5)}}),
      encode(Hello{1, "B01", "ab12", 7, 3, "cd34", "v1", 1700000000000, 4, "B02/x/earn"}),
      encode(Welcome{"cd34", 7, 40, 1700000000001, "v2", true, "B01/y"}),
      encode(FetchOwn{1, 5}),
      encode(Ack{6}),
  };
}

TEST(SyncProtocolSax, AgreesWithTheDomDecoderOnTheFuzzCorpora) {
  int files = 0;
  for (const char* dir : {"sync_frame", "sync_session"}) {
    const std::filesystem::path root = std::filesystem::path(LOYALTY_FUZZ_CORPUS_DIR) / dir;
    for (const auto& f : std::filesystem::directory_iterator(root)) {
      std::ifstream in(f.path(), std::ios::binary);
      const std::string text((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
      EXPECT_EQ(difference(text), "") << f.path();
      // Session files hold one frame a line.
      size_t start = 0;
      while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        const std::string line = text.substr(start, end - start);
        EXPECT_EQ(difference(line), "") << f.path() << ": " << line;
        start = end + 1;
      }
      ++files;
    }
  }
  EXPECT_GT(files, 10);
}

TEST(SyncProtocolSax, AgreesOnHandWrittenEdgeCases) {
  const std::string e1 = encode_entry(nested_entry(1));
  const std::string e2 = encode_entry(nested_entry(2));
  auto with_data = [&](const std::string& data) {
    Entry e = nested_entry(1);
    e.data = data;
    return R"({"type":"push","first_seq":1,"last_seq":1,"entries":[)" + encode_entry(e) + "]}";
  };
  const std::string cases[] = {
      // "type" after "entries", or replaced by a later "type".
      R"({"first_seq":1,"last_seq":2,"entries":[)" + e1 + "," + e2 + R"(],"type":"push"})",
      R"({"type":"ack","first_seq":1,"last_seq":2,"entries":[)" + e1 + "," + e2 +
          R"(],"type":"push"})",
      R"({"type":"push","first_seq":1,"last_seq":1,"entries":[)" + e1 +
          R"(],"type":"entries","from_offset":1,"to_offset":3})",
      R"({"type":"entries","from_offset":1,"to_offset":3,"entries":[{"offset":1,"entry":)" + e1 +
          R"(}],"type":"own_entries","from_seq":1,"to_seq":4})",
      // Duplicate "entries": the last wins, whatever its kind.
      R"({"type":"push","first_seq":1,"last_seq":1,"entries":[1,2],"entries":[)" + e1 + "]}",
      R"({"type":"push","first_seq":1,"last_seq":1,"entries":[)" + e1 + R"(],"entries":7})",
      R"({"type":"push","first_seq":1,"last_seq":1,"entries":[)" + e1 + R"(],"entries":{}})",
      R"({"type":"push","first_seq":1,"last_seq":1,"entries":[]})",
      R"({"type":"push","first_seq":1,"last_seq":2,"entries":[)" + e1 + R"(,7]})",
      R"({"type":"push","first_seq":1,"last_seq":3,"entries":[)" + e1 + R"(,7,)" + e2 + "]}",
      R"({"type":"push","first_seq":2,"last_seq":3,"entries":[)" + e1 + R"(,{"entry_id":5}]})",
      R"({"type":"own_entries","from_seq":1,"to_seq":1,"entries":[)" + e1 + "," + e2 + "]}",
      R"({"type":"own_entries","from_seq":2,"to_seq":3,"entries":[)" + e2 + "," + e1 + "]}",
      R"({"type":"own_entries","from_seq":1,"to_seq":3,"entries":[)" + e1 + R"(,[]]})",
      // entries items: not objects, offsets, missing or wrong "entry", duplicates.
      R"({"type":"entries","from_offset":1,"to_offset":3,"entries":[3]})",
      R"({"type":"entries","from_offset":1,"to_offset":3,"entries":[{"entry":)" + e1 + "}]}",
      R"({"type":"entries","from_offset":1,"to_offset":3,"entries":[{"offset":2}]})",
      R"({"type":"entries","from_offset":1,"to_offset":3,"entries":[{"offset":2,"entry":[]}]})",
      R"({"type":"entries","from_offset":1,"to_offset":3,"entries":[{"offset":9,"entry":5}]})",
      R"({"type":"entries","from_offset":4,"to_offset":9,"entries":[{"offset":2,"entry":{}}]})",
      R"({"type":"entries","from_offset":1,"to_offset":9,"entries":[{"offset":5,"entry":)" + e1 +
          R"(},{"offset":5,"entry":{"x":1}}]})",
      R"({"type":"entries","from_offset":1,"to_offset":9,"entries":[{"offset":5,"entry":)" + e1 +
          R"(,"entry":{}}]})",
      std::string(R"({"type":"entries","from_offset":1,"to_offset":9,"entries":[{"offset":5,)") +
          R"("entry":{},"entry":)" + e1 + R"(,"offset":{}}]})",
      R"({"type":"entries","from_offset":1,"to_offset":9,"entries":[{"offset":"5","entry":)" + e1 +
          "}]}",
      R"({"type":"entries","from_offset":1,"to_offset":9,"entries":[{"offset":[],"entry":)" + e1 +
          "}]}",
      R"({"type":"entries","to_offset":9,"entries":[{"offset":1,"entry":{}}]})",
      // Integers at and beyond the int64 edges, floats, kinds of every sort.
      R"({"type":"ack","acked_seq":9223372036854775807})",
      R"({"type":"ack","acked_seq":9223372036854775808})",
      R"({"type":"ack","acked_seq":18446744073709551616})",
      R"({"type":"ack","acked_seq":-1})",
      R"({"type":"ack","acked_seq":1.0})",
      R"({"type":"ack","acked_seq":1e999})",
      R"({"type":[],"acked_seq":1})",
      R"({"type":{"a":[1,{"b":2}]},"acked_seq":1})",
      R"({"acked_seq":1})",
      R"([{"type":"ack","acked_seq":1}])",
      R"("push")",
      R"({"type":"push","first_seq":1,"last_seq":1,"entries":[)" + e1 + "]",
      R"({"type":"push","first_seq":1,"last_seq":1,"entries":[)" + e1 + "]} x",
      "",
      // The data object: canonical text equal to the DOM's dump().
      with_data(R"({"b":1,"a":2})"),
      with_data(R"({"a":1,"a":2})"),
      with_data(R"({"a":{"z":[1,{"y":2,"x":3}],"c":null},"B":true,"b":false})"),
      with_data(R"({"n":1.5,"m":-0.0,"e":1E+2,"f":12345678901234567890,"g":-9223372036854775808})"),
      with_data(R"({"s":"\u00e9\t\n\u0001\u001f\u007f \/ \"q\" \\ \ud83d\ude00 é"})"),
      with_data(R"({"\u0000k":1,"k\n":2,"é":3,"e":4})"),
      with_data(R"({})"),
      with_data(R"({"a":[],"b":{},"c":[[],[{}]]})"),
  };
  for (const std::string& text : cases) EXPECT_EQ(difference(text), "") << text;

  // Nesting: kMaxJsonDepth levels are fine, one more is "too deep", and too deep wins over a
  // syntax error before or after the deep part (the DOM decoder checked depth first).
  auto nested = [](int levels) { return std::string(levels, '[') + std::string(levels, ']'); };
  const int max = kMaxJsonDepth;
  const std::string deep_cases[] = {
      nested(max),
      nested(max + 1),
      R"({"type":"ack","acked_seq":1,"x":)" + nested(max - 1) + "}",
      R"({"type":"ack","acked_seq":1,"x":)" + nested(max) + "}",
      R"({"type" "ack","x":)" + nested(max) + "}",
      R"({"type":"ack","x":)" + nested(max) + ",}",
      R"({"type":"ack","x":")" + nested(max) + R"("})",
      R"({"type":"ack","x":"")" + nested(max) + R"("})",
      // nlohmann's lexer stops at a NUL byte; the depth check read the whole text.
      std::string("7\0", 2) + nested(max + 1),
      std::string(R"({"type":"ack","acked_seq":1})") + std::string("\0", 1) + nested(max + 1),
      std::string(R"({"type":"ack","acked_seq":1})") + std::string("\0", 1) + "[[",
      with_data(R"({"a":)" + nested(max - 4) + "}"),
      with_data(R"({"a":)" + nested(max - 3) + "}"),
  };
  for (const std::string& text : deep_cases) EXPECT_EQ(difference(text), "") << text;

  // Entries alone.
  for (const std::string& text :
       {e1, std::string("[]"), std::string("7"), std::string("{}"), std::string("{"),
        std::string(R"({"entry_id":"a","data":{"b":1,"a":[1.25,"x"]}})"), std::string("null")}) {
    EXPECT_EQ(entry_difference(text), "") << text;
  }
}

TEST(SyncProtocolSax, DataIsTheDomsDumpText) {
  Entry e = nested_entry(1);
  e.data = R"({"b":{"d":1,"c":[2.50,1e2]},"a":"\u00e9"})";
  auto back = decode_entry(encode_entry(e));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->data, R"({"a":"é","b":{"c":[2.5,100.0],"d":1}})");
}

// Every member of each valid frame, at every depth, replaced by each kind of JSON value or
// removed, with the members' order kept (the encoder's order, "type" first).
TEST(SyncProtocolSax, AgreesWhenAnyFieldHasAnyKind) {
  const char* replacements[] = {"null",
                                "true",
                                "0",
                                "-1",
                                "1",
                                "2",
                                "1.5",
                                "\"\"",
                                "\"x\"",
                                "{}",
                                "[]",
                                "[{}]",
                                "9223372036854775808"};
  int cases = 0;
  for (const std::string& frame : valid_frames()) {
    const ojson doc = ojson::parse(frame);
    const ojson flat = doc.flatten();
    std::vector<std::string> pointers;
    for (const auto& [pointer, value] : flat.items()) {
      // Every ancestor too, so that whole entries and the data object are replaced.
      std::string p = pointer;
      while (!p.empty()) {
        pointers.push_back(p);
        p = p.substr(0, p.rfind('/'));
      }
    }
    std::sort(pointers.begin(), pointers.end());
    pointers.erase(std::unique(pointers.begin(), pointers.end()), pointers.end());
    for (const std::string& p : pointers) {
      const ojson::json_pointer ptr(p);
      for (const char* r : replacements) {
        ojson changed = doc;
        changed[ptr] = ojson::parse(r);
        const std::string text = changed.dump();
        EXPECT_EQ(difference(text), "") << text;
        ++cases;
      }
      ojson removed = doc;
      const ojson::json_pointer parent = ptr.parent_pointer();
      if (removed[parent].is_object()) {
        removed[parent].erase(ptr.back());
        EXPECT_EQ(difference(removed.dump()), "") << removed.dump();
        ++cases;
      }
    }
  }
  EXPECT_GT(cases, 1000);
}

// Seeded random edits of valid frames: bytes deleted, inserted or replaced by JSON fragments,
// and spans duplicated (which makes duplicate keys). 4,000 edits (~0.1 s); a long tier by hand:
// LOYALTY_SAX_EDITS=1000000 LOYALTY_SAX_SEED=7 sync_protocol_sax_tests.
TEST(SyncProtocolSax, AgreesOnRandomEdits) {
  const std::string fragments[] = {"\"", ",",   ":",     "{",  "}",  "[",  "]",       "null", "1",
                                   "-1", "1.5", "\"x\"", "{}", "[]", "\\", "\\u00e9", " "};
  const char* seed = std::getenv("LOYALTY_SAX_SEED");
  const char* edits_env = std::getenv("LOYALTY_SAX_EDITS");
  std::mt19937 rng(seed ? static_cast<unsigned>(std::atoi(seed)) : 20261201u);
  const int edits_total = edits_env ? std::atoi(edits_env) : 4000;
  const std::vector<std::string> frames = valid_frames();
  int accepted = 0;
  for (int n = 0; n < edits_total; ++n) {
    std::string text = frames[n % frames.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < edits && !text.empty(); ++k) {
      const size_t at = rng() % text.size();
      switch (rng() % 4) {
        case 0:
          text.erase(at, 1 + rng() % 4);
          break;
        case 1:
          text.insert(at, fragments[rng() % std::size(fragments)]);
          break;
        case 2:
          text.replace(at, 1 + rng() % 3, fragments[rng() % std::size(fragments)]);
          break;
        default: {
          const size_t len = 1 + rng() % 60;
          text.insert(at, text.substr(at, len));
        }
      }
    }
    const std::string diff = difference(text);
    EXPECT_EQ(diff, "") << text;
    if (!diff.empty()) break;
    accepted += decode_frame(text).ok() ? 1 : 0;
  }
  EXPECT_GT(accepted, 0);  // some edits (inside strings) keep the frame valid
}

}  // namespace
}  // namespace loyalty::sync

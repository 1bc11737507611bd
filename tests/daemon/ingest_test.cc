// app::ingest with a fake adapter, app::ingest_jsonl, and the report's JSON, on a real
// SQLite ledger; plus the agreement between config's adapter names and the registry.
#include "app/ingest.h"

#include "adapters/adapter.h"
#include "config/settings.h"
#include "daemon_test_support.h"
#include "protocol/codec.h"

namespace loyalty::daemon::test {
namespace {

// Yields one sale per line "<id> <amount>", or fails on a line "!".
class FakeAdapter final : public adapters::Adapter {
 public:
  std::string_view name() const override { return "fake"; }
  std::string_view description() const override { return "test lines"; }
  domain::Result<adapters::Translation> translate(std::string_view bytes,
                                                  const adapters::Mapping& m) const override {
    adapters::Translation t;
    size_t n = 0;
    for (size_t start = 0; start < bytes.size();) {
      const size_t end = std::min(bytes.find('\n', start), bytes.size());
      const std::string line(bytes.substr(start, end - start));
      start = end + 1;
      ++n;
      if (line == "!") {
        return domain::make_error(domain::ErrorCode::kInvalidEvent,
                                  "line[" + std::to_string(n) + "]", "a bang");
      }
      if (line == "skip") {
        t.skipped.push_back({{"fake", "line " + std::to_string(n), ""}, "a sign-on"});
        continue;
      }
      domain::SaleCompleted s;
      s.h.id = line.substr(0, line.find(' '));
      s.h.at = *domain::parse_rfc3339("2026-11-22T10:15:00-06:00");
      s.h.branch = m.branch;
      s.ticket = s.h.id;
      s.customer = m.customer_prefix + "77";
      s.lines.push_back({1, "X", "", domain::Quantity::from_units(1),
                         *domain::Money::parse(line.substr(line.find(' ') + 1))});
      t.events.push_back({s, {"fake", "line " + std::to_string(n), s.h.id}});
    }
    return t;
  }
};

class Ingest : public DaemonFixture {
 protected:
  void SetUp() override {
    DaemonFixture::SetUp();
    start();
    mapping_.branch = "B01";
    mapping_.customer_prefix = "pos:";
  }
  app::Service& service() { return daemon_->runtime().service(); }
  FakeAdapter adapter_;
  domain::FormatMapping mapping_;
};

TEST_F(Ingest, EventsGoThroughTheServiceAndReplaysAreHarmless) {
  auto r = app::ingest(service(), adapter_, "F1 90.00\nskip\nF2 10.00", mapping_, "test:1");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->events.size(), 2u);
  EXPECT_EQ(r->skipped.size(), 1u);
  EXPECT_EQ(r->failed(), 0u);
  EXPECT_EQ(json::parse(r->events[0].response_json)["earned"], 45);
  EXPECT_EQ(r->events[1].provenance.source_id, "F2");
  auto again = app::ingest(service(), adapter_, "F1 90.00\nF2 10.00", mapping_, "test:1");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->events[0].response_json, r->events[0].response_json);
  EXPECT_EQ(json::parse(again->events[1].response_json)["balance"], 50);

  const json report = json::parse(app::encode_report(*r));
  EXPECT_EQ(report["ok"], true);
  EXPECT_EQ(report["adapter"], "fake");
  EXPECT_EQ(report["source"], "test:1");
  EXPECT_EQ(report["results"][0]["locator"], "line 1");
  EXPECT_EQ(report["results"][0]["response"]["customer"], "pos:77");
  EXPECT_EQ(report["skipped"][0]["reason"], "a sign-on");
}

TEST_F(Ingest, ATranslationErrorSendsNothingAndQuarantinesTheBytes) {
  auto r = app::ingest(service(), adapter_, "G1 90.00\n!", mapping_, "test:2");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "line[2]");
  EXPECT_EQ(quarantined(), 1);
  auto balance = service().handle(
      R"({"type":"balance.query","id":"q","at":"2026-11-22T10:15:00Z","customer":"pos:77"})");
  EXPECT_NE(balance.code, 0) << "G1 must not have been recorded: " << balance.json;
}

// An event the service refuses (a negative line) is quarantined as the request the adapter
// made of it; the POS's document is kept too, once, since the HTTP answer is all it had.
TEST_F(Ingest, AnEventTheServiceRefusesKeepsItsDocumentToo) {
  const std::string doc = "H1 90.00\nH2 -5.00\nH3 -1.00";
  auto r = app::ingest(service(), adapter_, doc, mapping_, "test:3");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->failed(), 2u);
  EXPECT_EQ(quarantined(), 3);  // two translated requests and the document
  auto& l = *std::static_pointer_cast<ledger::SqliteLedger>(daemon_->runtime().store());
  const std::string kept = l.with_db([&](sqlite3*) {
    auto q = l.query("SELECT CAST(raw AS TEXT) FROM quarantine WHERE field = 'line 2'");
    return q.step() ? q.text(0) : std::string();
  });
  EXPECT_EQ(kept, doc);
}

TEST_F(Ingest, JsonLinesAreSentAsWritten) {
  // The idempotency fingerprint is the POS's own: a line sent through ingest_jsonl and
  // the same bytes through handle() are one request.
  const std::string line = sale("J1");
  const app::IngestReport r = app::ingest_jsonl(service(), line + "\r\n  \n" + line, "test:3");
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0].provenance.locator, "line 1");
  EXPECT_EQ(r.events[1].provenance.locator, "line 3");
  EXPECT_EQ(r.events[0].response_json, r.events[1].response_json);
  EXPECT_EQ(service().handle(line).json, r.events[0].response_json);
  const app::IngestReport empty = app::ingest_jsonl(service(), "\n \n", "test:4");
  ASSERT_EQ(empty.events.size(), 1u);  // the service's answer to no request at all
  EXPECT_NE(empty.events[0].code, 0);
  EXPECT_EQ(json::parse(app::encode_responses(r)).size(), 2u);
}

TEST(DaemonAdapters, ConfigNamesAreTheRegisteredAdapters) {
  for (std::string_view name : config::kAdapterNames) {
    EXPECT_NE(adapters::find_adapter(name), nullptr) << name;
  }
  EXPECT_EQ(adapters::all_adapters().size(), config::kAdapterNames.size());
}

TEST(DaemonMask, CustomerReferencesKeepTheirSchemeAndTwoCharacters) {
  EXPECT_EQ(mask_ref("card:4000123"), "card:*****23");
  EXPECT_EQ(mask_ref("phone:5512345678"), "phone:********78");
  EXPECT_EQ(mask_ref("pos:77"), "pos:**");
  EXPECT_EQ(mask_ref("4000123"), "*****23");
  EXPECT_EQ(mask_ref(""), "");
}

}  // namespace
}  // namespace loyalty::daemon::test

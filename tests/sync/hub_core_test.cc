// The hub's session state machine over a real SQLite file, without sockets: hello/welcome,
// ack after store, dedupe, fork, not_your_entry, NACK on a gap, re-ACK of an old batch,
// fan-out to other branches only, overdraw reports, config push, quarantine.
#include "sync/hub/hub_core.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "sync/hub/hub_config.h"

namespace loyalty::sync::hub {
namespace {

using json = nlohmann::json;

class HubCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hub_core_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    open();
  }
  void TearDown() override {
    hub_.reset();
    std::filesystem::remove_all(dir_);
  }
  void open(HubLimits limits = {}) {
    hub_.reset();
    auto store = HubStore::open((dir_ / "hub.db").string());
    ASSERT_TRUE(store.ok()) << store.error().message;
    hub_ = std::make_unique<HubCore>(std::move(*store), limits);
  }

  static Entry entry(const std::string& branch, int64_t seq, int64_t points = 10,
                     const std::string& account = "A1") {
    Entry e;
    e.entry_id = branch + "/req-" + std::to_string(seq) + "/" + (points < 0 ? "redeem" : "earn");
    e.origin_branch = branch;
    e.origin_seq = seq;
    e.node_epoch = "ep-" + branch;
    e.account_id = account;
    e.kind = points < 0 ? "redeem" : "earn";
    e.points = points;
    e.request_id = "req-" + std::to_string(seq);
    e.branch = branch;
    e.business_at = "2026-11-22T10:15:00Z";
    e.recorded_at_ms = 1;
    e.body_hash = "h" + std::to_string(seq) + "_" + std::to_string(points);
    e.data = R"({"k":1})";
    return e;
  }
  static std::string push(const std::string& branch, int64_t first, int n, int64_t points = 10,
                          const std::string& account = "A1") {
    Push p{first, first + n - 1, {}};
    for (int i = 0; i < n; ++i) p.entries.push_back(entry(branch, first + i, points, account));
    return encode(p);
  }
  static std::string hello(const std::string& branch, int64_t applied = 0,
                           const std::string& hub_epoch_seen = "", const std::string& cfg = "") {
    return encode(Hello{1, branch, "ep-" + branch, 0, applied, hub_epoch_seen, cfg, 1000});
  }
  static Frame frame(const std::string& text) {
    auto f = decode_frame(text);
    EXPECT_TRUE(f.ok()) << text;
    return f.ok() ? *f : Frame{ErrorFrame{}};
  }
  // Decodes every frame of `out` and returns those of type T.
  template <class T>
  static std::vector<T> frames_of(const SessionOutput& out) {
    std::vector<T> v;
    for (const auto& text : out.frames) {
      Frame f = frame(text);
      if (auto* t = std::get_if<T>(&f)) v.push_back(*t);
    }
    return v;
  }
  static ErrorFrame only_error(const SessionOutput& out) {
    auto errors = frames_of<ErrorFrame>(out);
    EXPECT_EQ(errors.size(), 1u);
    return errors.empty() ? ErrorFrame{} : errors[0];
  }

  std::filesystem::path dir_;
  std::unique_ptr<HubCore> hub_;
};

TEST_F(HubCoreTest, HelloThenPushIsAckedAfterStore) {
  SessionCore s(*hub_, "B01");
  auto w = frames_of<Welcome>(s.on_text(hello("B01"), 1));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].acked_seq, 0);
  EXPECT_EQ(w[0].hub_epoch, hub_->hub_epoch());
  EXPECT_FALSE(w[0].must_refetch);
  auto out = s.on_text(push("B01", 1, 3), 2);
  auto acks = frames_of<Ack>(out);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].acked_seq, 3);
  EXPECT_TRUE(out.notify_all);
  EXPECT_EQ(*hub_->store_for_tests().entry_count(), 3);
  EXPECT_EQ(*hub_->store_for_tests().balance("A1"), 30);
  EXPECT_EQ(hub_->connections("B01"), 1);
}

TEST_F(HubCoreTest, PushBeforeHelloIsFatal) {
  SessionCore s(*hub_, "B01");
  auto out = s.on_text(push("B01", 1, 1), 1);
  EXPECT_EQ(only_error(out).code, "invalid");
  EXPECT_EQ(out.close, SessionOutput::Close::kPolicy);
}

TEST_F(HubCoreTest, HelloForAnotherBranchIsAuthError) {
  SessionCore s(*hub_, "B01");
  auto out = s.on_text(hello("B02"), 1);
  EXPECT_EQ(only_error(out).code, "auth");
  EXPECT_TRUE(s.closed());
}

TEST_F(HubCoreTest, DuplicateBatchIsReAckedAndStoredOnce) {
  SessionCore s(*hub_, "B01");
  (void)s.on_text(hello("B01"), 1);
  (void)s.on_text(push("B01", 1, 5), 2);
  auto again = s.on_text(push("B01", 1, 5), 3);
  ASSERT_EQ(frames_of<Ack>(again).size(), 1u);
  EXPECT_EQ(frames_of<Ack>(again)[0].acked_seq, 5);
  EXPECT_FALSE(again.notify_all);
  EXPECT_EQ(*hub_->store_for_tests().entry_count(), 5);
  EXPECT_NE(hub_->metrics_json(4, 0).find("\"duplicates\":5"), std::string::npos);
  // An old batch retried after newer acks (R8): re-ACK with the cumulative seq, no error.
  (void)s.on_text(push("B01", 6, 2), 4);
  auto old = s.on_text(push("B01", 2, 2), 5);
  ASSERT_EQ(frames_of<Ack>(old).size(), 1u);
  EXPECT_EQ(frames_of<Ack>(old)[0].acked_seq, 7);
  // Overlapping batch: old part deduplicated, new part stored.
  auto overlap = s.on_text(push("B01", 6, 4), 6);
  EXPECT_EQ(frames_of<Ack>(overlap)[0].acked_seq, 9);
  EXPECT_EQ(*hub_->store_for_tests().entry_count(), 9);
}

TEST_F(HubCoreTest, GapIsNackedWithExpectedSeq) {
  SessionCore s(*hub_, "B01");
  (void)s.on_text(hello("B01"), 1);
  (void)s.on_text(push("B01", 1, 2), 2);
  auto out = s.on_text(push("B01", 5, 2), 3);
  auto nacks = frames_of<Nack>(out);
  ASSERT_EQ(nacks.size(), 1u);
  EXPECT_EQ(nacks[0].expected, 3);
  EXPECT_FALSE(s.closed());
  EXPECT_EQ(*hub_->store_for_tests().entry_count(), 2);
}

TEST_F(HubCoreTest, SameSeqDifferentBodyIsForkAndStoresNothing) {
  SessionCore s(*hub_, "B01");
  (void)s.on_text(hello("B01"), 1);
  (void)s.on_text(push("B01", 1, 2), 2);
  // seq 2 again with another body, plus a new seq 3: the whole batch is refused.
  Push p{2, 3, {entry("B01", 2, 99), entry("B01", 3)}};
  auto out = s.on_text(encode(p), 3);
  const ErrorFrame e = only_error(out);
  EXPECT_EQ(e.code, "fork");
  EXPECT_TRUE(e.fatal);
  EXPECT_NE(e.message.find("seq 2"), std::string::npos);
  EXPECT_EQ(out.close, SessionOutput::Close::kPolicy);
  EXPECT_EQ(*hub_->store_for_tests().entry_count(), 2);
  EXPECT_EQ(*hub_->acked_seq("B01"), 2);
}

TEST_F(HubCoreTest, AnotherBranchsEntryIsNotYourEntryAndNothingStored) {
  SessionCore s(*hub_, "B01");
  (void)s.on_text(hello("B01"), 1);
  Push p{1, 2, {entry("B01", 1), entry("B02", 2)}};
  auto out = s.on_text(encode(p), 2);
  const ErrorFrame e = only_error(out);
  EXPECT_EQ(e.code, "not_your_entry");
  EXPECT_NE(e.message.find("entries[1]"), std::string::npos);
  EXPECT_EQ(*hub_->store_for_tests().entry_count(), 0);
}

TEST_F(HubCoreTest, EntryIdFromAnotherOriginIsSkippedCountedAndAcked) {
  SessionCore a(*hub_, "B01");
  SessionCore b(*hub_, "B02");
  (void)a.on_text(hello("B01"), 1);
  (void)b.on_text(hello("B02"), 1);
  (void)a.on_text(push("B01", 1, 1), 2);
  Entry clash = entry("B02", 1);
  clash.entry_id = entry("B01", 1).entry_id;
  auto out = b.on_text(encode(Push{1, 1, {clash}}), 3);
  ASSERT_EQ(frames_of<Ack>(out).size(), 1u);
  EXPECT_EQ(frames_of<Ack>(out)[0].acked_seq, 1);
  EXPECT_EQ(*hub_->store_for_tests().entry_count(), 1);
  // The skipped seq still takes part in fork checks.
  Entry changed = clash;
  changed.body_hash = "other";
  EXPECT_EQ(only_error(b.on_text(encode(Push{1, 1, {changed}}), 4)).code, "fork");
}

TEST_F(HubCoreTest, FanOutGoesToOtherBranchesOnlyInHubOrder) {
  SessionCore a(*hub_, "B01");
  SessionCore b(*hub_, "B02");
  (void)a.on_text(hello("B01"), 1);
  (void)b.on_text(hello("B02"), 1);
  auto pushed = a.on_text(push("B01", 1, 3), 2);
  // The pusher gets no ENTRIES of its own entries.
  EXPECT_TRUE(frames_of<Entries>(pushed).empty());
  auto got = frames_of<Entries>(b.pump(3));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].from_offset, 1);
  EXPECT_EQ(got[0].to_offset, 3);
  ASSERT_EQ(got[0].entries.size(), 3u);
  EXPECT_EQ(got[0].entries[2].offset, 3);
  EXPECT_EQ(got[0].entries[0].entry, entry("B01", 1));
  EXPECT_TRUE(b.pump(4).frames.empty());  // nothing new
  (void)b.on_text(encode(Applied{3}), 5);
  EXPECT_EQ(b.applied_offset(), 3);
  // B02's own push then B01's: B02 receives only B01's, B01 receives B02's.
  // B02's own entry (offset 4) is skipped without a frame since nothing is in flight.
  (void)b.on_text(push("B02", 1, 1), 6);
  EXPECT_EQ(b.sent_offset(), 4);
  auto a_out = a.on_text(push("B01", 4, 1), 7);  // offset 5
  auto to_b = frames_of<Entries>(b.pump(8));
  ASSERT_EQ(to_b.size(), 1u);
  EXPECT_EQ(to_b[0].from_offset, 5);
  EXPECT_EQ(to_b[0].to_offset, 5);
  ASSERT_EQ(to_b[0].entries.size(), 1u);
  EXPECT_EQ(to_b[0].entries[0].entry.origin_branch, "B01");
  // The pusher's own answer carries what arrived meanwhile: B02's entry at offset 4.
  auto to_a = frames_of<Entries>(a_out);
  ASSERT_EQ(to_a.size(), 1u);
  EXPECT_EQ(to_a[0].from_offset, 4);
  EXPECT_EQ(to_a[0].to_offset, 5);
  ASSERT_EQ(to_a[0].entries.size(), 1u);
  EXPECT_EQ(to_a[0].entries[0].entry.origin_branch, "B02");
}

TEST_F(HubCoreTest, BacklogIsStreamedInBatchesOf500WithFlowControl) {
  SessionCore a(*hub_, "B01");
  (void)a.on_text(hello("B01"), 1);
  for (int64_t first = 1; first <= 3000; first += 500) (void)a.on_text(push("B01", first, 500), 2);
  SessionCore b(*hub_, "B02");
  auto out = b.on_text(hello("B02"), 3);
  auto batches = frames_of<Entries>(out);
  ASSERT_EQ(batches.size(), 4u);  // max_unapplied_frames
  EXPECT_EQ(batches[0].entries.size(), 500u);
  EXPECT_EQ(batches[3].to_offset, 2000);
  auto more = frames_of<Entries>(b.on_text(encode(Applied{1000}), 4));
  ASSERT_EQ(more.size(), 2u);
  EXPECT_EQ(more[1].to_offset, 3000);
}

TEST_F(HubCoreTest, PartialFramesWaitWhileOneIsInFlightSoEntriesShareAFrame) {
  SessionCore a(*hub_, "B01");
  SessionCore b(*hub_, "B02");
  (void)a.on_text(hello("B01"), 1);
  (void)b.on_text(hello("B02"), 1);
  (void)a.on_text(push("B01", 1, 1), 2);
  auto first = frames_of<Entries>(b.pump(3));  // nothing in flight: at once
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].to_offset, 1);
  (void)a.on_text(push("B01", 2, 1), 4);
  (void)a.on_text(push("B01", 3, 1), 5);
  EXPECT_TRUE(frames_of<Entries>(b.pump(6)).empty());  // offset 1 not applied yet
  auto together = frames_of<Entries>(b.on_text(encode(Applied{1}), 7));
  ASSERT_EQ(together.size(), 1u);
  EXPECT_EQ(together[0].from_offset, 2);
  EXPECT_EQ(together[0].to_offset, 3);
  EXPECT_EQ(together[0].entries.size(), 2u);
}

TEST(HubConfigTest, FanoutIntervalIsReadAndRangeChecked) {
  auto ok = parse_hub_config("[limits]\nfanout_interval_ms = 0\n", "/tmp/hub.toml");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->fanout_interval_ms, 0);
  EXPECT_EQ(parse_hub_config("", "/tmp/hub.toml")->fanout_interval_ms, 50);
  auto bad = parse_hub_config("[limits]\nfanout_interval_ms = 5000\n", "/tmp/hub.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().field, "limits.fanout_interval_ms");
}

TEST(HubConfigTest, MaxUnappliedFramesIsReadAndRangeChecked) {
  auto ok = parse_hub_config("[limits]\nmax_unapplied_frames = 16\n", "/tmp/hub.toml");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->max_unapplied_frames, 16);
  EXPECT_EQ(parse_hub_config("", "/tmp/hub.toml")->max_unapplied_frames, 4);
  for (const char* v : {"0", "65"}) {
    auto bad = parse_hub_config(std::string("[limits]\nmax_unapplied_frames = ") + v + "\n",
                                "/tmp/hub.toml");
    ASSERT_FALSE(bad.ok()) << v;
    EXPECT_EQ(bad.error().field, "limits.max_unapplied_frames");
  }
}

TEST_F(HubCoreTest, ReconnectResumesFromTheBranchsAppliedOffset) {
  {
    SessionCore a(*hub_, "B01");
    (void)a.on_text(hello("B01"), 1);
    (void)a.on_text(push("B01", 1, 10), 2);
  }
  SessionCore b(*hub_, "B02");
  auto got = frames_of<Entries>(b.on_text(hello("B02", 7, hub_->hub_epoch()), 3));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].from_offset, 8);
  EXPECT_EQ(got[0].entries.size(), 3u);
}

TEST_F(HubCoreTest, HubEpochChangeOrOffsetBeyondHeadMeansMustRefetch) {
  SessionCore a(*hub_, "B01");
  auto w = frames_of<Welcome>(a.on_text(hello("B01", 0, "some-older-hub"), 1));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_TRUE(w[0].must_refetch);
  SessionCore b(*hub_, "B02");
  auto w2 = frames_of<Welcome>(b.on_text(hello("B02", 50, hub_->hub_epoch()), 1));
  EXPECT_TRUE(w2[0].must_refetch);
  EXPECT_EQ(b.sent_offset(), 0);
}

TEST_F(HubCoreTest, TwoBranchesRedeemingTheSamePointsMakeAnOverdrawReport) {
  SessionCore a(*hub_, "B01");
  SessionCore b(*hub_, "B02");
  (void)a.on_text(hello("B01"), 1);
  (void)b.on_text(hello("B02"), 1);
  (void)a.on_text(push("B01", 1, 1, 100, "ACC"), 2);       // earn 100
  (void)a.on_text(push("B01", 2, 1, -80, "ACC"), 3);       // B01 redeems 80 (offline at B02)
  auto out = b.on_text(push("B02", 1, 1, -80, "ACC"), 4);  // B02 redeems the same 80
  EXPECT_EQ(frames_of<Ack>(out)[0].acked_seq, 1);          // never dropped
  EXPECT_EQ(*hub_->store_for_tests().balance("ACC"), -60);
  auto reports = hub_->overdraws(10);
  ASSERT_TRUE(reports.ok());
  ASSERT_EQ(reports->size(), 1u);
  EXPECT_EQ((*reports)[0].account_id, "ACC");
  EXPECT_EQ((*reports)[0].balance, -60);
  const json details = json::parse((*reports)[0].details_json);
  EXPECT_EQ(details["balance_before"], 20);
  EXPECT_EQ(details["branches"], json::array({"B01", "B02"}));
  // The report is a hub entry with points 0, fanned out to both branches.
  bool a_saw = false;
  for (const auto& f : frames_of<Entries>(a.pump(5))) {
    for (const auto& oe : f.entries) {
      if (oe.entry.kind == "overdraw_report") {
        a_saw = true;
        EXPECT_EQ(oe.entry.origin_branch, "hub");
        EXPECT_EQ(oe.entry.points, 0);
        EXPECT_EQ(oe.entry.account_id, "ACC");
      }
    }
  }
  EXPECT_TRUE(a_saw);
  bool b_saw = false;
  for (const auto& f : frames_of<Entries>(out)) {
    for (const auto& oe : f.entries) b_saw |= oe.entry.kind == "overdraw_report";
  }
  EXPECT_TRUE(b_saw);
  EXPECT_NE(hub_->metrics_json(6, 0).find("\"overdraw_reports\":1"), std::string::npos);
  // A positive balance after a redeem makes no report.
  (void)a.on_text(push("B01", 3, 1, 500, "ACC"), 7);
  (void)a.on_text(push("B01", 4, 1, -10, "ACC"), 8);
  EXPECT_EQ(hub_->overdraws(10)->size(), 1u);
}

TEST_F(HubCoreTest, MalformedFrameIsQuarantinedAndFatal) {
  SessionCore s(*hub_, "B01");
  (void)s.on_text(hello("B01"), 1);
  auto out =
      s.on_text(R"({"type":"push","first_seq":1,"last_seq":1,"entries":[{"entry_id":1}]})", 2);
  const ErrorFrame e = only_error(out);
  EXPECT_EQ(e.code, "invalid");
  EXPECT_NE(e.message.find("entries[0].entry_id"), std::string::npos);
  EXPECT_EQ(out.close, SessionOutput::Close::kPolicy);
  EXPECT_EQ(hub_->store_for_tests().quarantined(), 1);
}

TEST_F(HubCoreTest, UnknownTypeIsAnsweredWithVersionAndTheStreamGoesOn) {
  SessionCore s(*hub_, "B01");
  (void)s.on_text(hello("B01"), 1);
  auto out = s.on_text(R"({"type":"fetch_everything","from":1})", 2);
  const ErrorFrame e = only_error(out);
  EXPECT_EQ(e.code, "version");
  EXPECT_FALSE(e.fatal);
  EXPECT_FALSE(s.closed());
}

TEST_F(HubCoreTest, BinaryFrameClosesWithUnsupportedData) {
  SessionCore s(*hub_, "B01");
  EXPECT_EQ(s.on_binary().close, SessionOutput::Close::kUnsupportedData);
}

TEST_F(HubCoreTest, PushRateLimitRefusesWithoutStoring) {
  HubLimits limits;
  limits.push_rate_per_s = 1;  // burst 2
  open(limits);
  SessionCore s(*hub_, "B01");
  (void)s.on_text(hello("B01"), 1000);
  (void)s.on_text(push("B01", 1, 1), 1000);
  (void)s.on_text(push("B01", 2, 1), 1000);
  auto out = s.on_text(push("B01", 3, 1), 1000);
  EXPECT_EQ(only_error(out).code, "rate");
  EXPECT_FALSE(s.closed());
  EXPECT_EQ(*hub_->acked_seq("B01"), 2);
  // One second later a token is back.
  EXPECT_EQ(frames_of<Ack>(s.on_text(push("B01", 3, 1), 2000))[0].acked_seq, 3);
}

TEST_F(HubCoreTest, ConfigIsPushedOnConnectAndOnChange) {
  auto v1 = hub_->set_config("[program]\nearn_percent = 5\n", 1);
  ASSERT_TRUE(v1.ok());
  SessionCore s(*hub_, "B01");
  auto out = s.on_text(hello("B01"), 1);
  auto cfgs = frames_of<Config>(out);
  ASSERT_EQ(cfgs.size(), 1u);
  EXPECT_EQ(cfgs[0].version, v1->version);
  (void)s.on_text(encode(ConfigAck{v1->version}), 2);
  EXPECT_TRUE(s.pump(3).frames.empty());
  // A branch already on the current version gets no config frame.
  SessionCore t(*hub_, "B02");
  EXPECT_TRUE(frames_of<Config>(t.on_text(hello("B02", 0, "", v1->version), 1)).empty());
  auto v2 = hub_->set_config("[program]\nearn_percent = 6\n", 4);
  ASSERT_TRUE(v2.ok());
  EXPECT_NE(v2->version, v1->version);
  auto pushed = frames_of<Config>(s.pump(5));
  ASSERT_EQ(pushed.size(), 1u);
  EXPECT_EQ(pushed[0].document, "[program]\nearn_percent = 6\n");
}

TEST_F(HubCoreTest, InvalidDocumentIsRefusedByTheValidator) {
  hub_->set_validator([](const std::string& doc) -> domain::Status {
    if (doc.find("bad") != std::string::npos) {
      return domain::make_error(domain::ErrorCode::kInvalidConfig, "program.x", "bad key");
    }
    return domain::ok_status();
  });
  EXPECT_FALSE(hub_->set_config("bad", 1).ok());
  EXPECT_FALSE(hub_->config().has_value());
}

TEST_F(HubCoreTest, StateSurvivesReopen) {
  {
    SessionCore s(*hub_, "B01");
    (void)s.on_text(hello("B01"), 1);
    (void)s.on_text(push("B01", 1, 4, -5), 2);
  }
  const std::string epoch = hub_->hub_epoch();
  open();
  EXPECT_EQ(hub_->hub_epoch(), epoch);
  EXPECT_EQ(*hub_->acked_seq("B01"), 4);
  EXPECT_EQ(hub_->head_offset(), 5);  // 4 entries + 1 overdraw report
  EXPECT_EQ(hub_->overdraws(10)->size(), 1u);
  // Hub-made seqs continue after a restart.
  SessionCore s(*hub_, "B01");
  (void)s.on_text(hello("B01"), 1);
  (void)s.on_text(push("B01", 5, 1, -5), 2);
  auto reports = hub_->overdraws(10);
  ASSERT_EQ(reports->size(), 2u);
  EXPECT_EQ((*reports)[0].entry_id, "hub/overdraw/2");
}

TEST_F(HubCoreTest, AuthenticateChecksTheSha256OfTheToken) {
  ASSERT_TRUE(hub_->store_for_tests().put_token_hash("B01", sha256_hex("secret-1"), 1).ok());
  hub_->set_config_tokens({{"B02", sha256_hex("secret-2")}});
  EXPECT_TRUE(hub_->authenticate("B01", "secret-1"));
  EXPECT_FALSE(hub_->authenticate("B01", "secret-2"));
  EXPECT_TRUE(hub_->authenticate("B02", "secret-2"));
  EXPECT_FALSE(hub_->authenticate("B03", "secret-1"));
  EXPECT_FALSE(hub_->authenticate("B01", ""));
}

// Branch recovery: a branch gets its own stored entries back, and WELCOME names the entry at
// the acked seq (docs/sync.md "Branch recovery").
TEST_F(HubCoreTest, FetchOwnReturnsTheBranchsOwnEntriesAndWelcomeNamesTheAckedOne) {
  {
    SessionCore a(*hub_, "B01");
    (void)a.on_text(hello("B01"), 1);
    (void)a.on_text(push("B01", 1, 8), 2);
  }
  {
    SessionCore b(*hub_, "B02");
    (void)b.on_text(hello("B02"), 1);
    (void)b.on_text(push("B02", 1, 3), 2);
  }
  SessionCore a(*hub_, "B01");
  auto w = frames_of<Welcome>(a.on_text(hello("B01"), 3));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].acked_seq, 8);
  EXPECT_EQ(w[0].acked_entry_id, "B01/req-8/earn");
  auto own = frames_of<OwnEntries>(a.on_text(encode(FetchOwn{3, 10}), 4));
  ASSERT_EQ(own.size(), 1u);
  EXPECT_EQ(own[0].from_seq, 3);
  EXPECT_EQ(own[0].to_seq, 10);
  ASSERT_EQ(own[0].entries.size(), 6u);  // 3..8; nothing of B02
  for (size_t i = 0; i < own[0].entries.size(); ++i) {
    EXPECT_EQ(own[0].entries[i], entry("B01", 3 + static_cast<int64_t>(i)));
  }
  EXPECT_FALSE(a.closed());
}

// The cht-core#8093 scenario: the hub's database is an older copy (same hub epoch) and has
// since given the offsets a branch had applied to other entries; the branch's check entry
// shows it, and the branch must refetch. A matching history resumes where the branch was.
TEST_F(HubCoreTest, OffsetsGivenToOtherEntriesSinceMeanMustRefetch) {
  {
    SessionCore a(*hub_, "B01");
    (void)a.on_text(hello("B01"), 1);
    (void)a.on_text(push("B01", 1, 5), 2);  // offsets 1..5
  }
  {
    SessionCore c(*hub_, "B03");
    (void)c.on_text(hello("B03"), 1);
    (void)c.on_text(push("B03", 1, 2), 2);  // offsets 6..7
  }
  auto welcome_for = [&](int64_t applied, int64_t check_offset, const std::string& check_id) {
    SessionCore b(*hub_, "B02");
    Hello h{1, "B02", "ep-B02", 0, applied, hub_->hub_epoch(), "", 1000};
    h.check_offset = check_offset;
    h.check_entry_id = check_id;
    auto w = frames_of<Welcome>(b.on_text(encode(h), 3));
    EXPECT_EQ(w.size(), 1u);
    return w.empty() ? Welcome{} : w[0];
  };
  EXPECT_FALSE(welcome_for(5, 5, "B01/req-5/earn").must_refetch);
  EXPECT_FALSE(welcome_for(7, 7, "B03/req-2/earn").must_refetch);
  EXPECT_TRUE(welcome_for(5, 5, "B09/req-1/earn").must_refetch);  // offset 5 is another entry
  EXPECT_TRUE(welcome_for(7, 5, "B01/req-5/earn").must_refetch);  // 6..7 are not its own
  EXPECT_TRUE(welcome_for(3, 0, "").must_refetch);                // 1..3 are not its own
  EXPECT_FALSE(welcome_for(0, 0, "").must_refetch);
  EXPECT_FALSE(welcome_for(7, -1, "").must_refetch);  // an older branch: nothing to check
  {
    SessionCore b(*hub_, "B02");
    (void)b.on_text(hello("B02"), 1);
    (void)b.on_text(push("B02", 1, 2), 2);  // offsets 8..9: B02's own
  }
  EXPECT_FALSE(welcome_for(9, 7, "B03/req-2/earn").must_refetch);
}

}  // namespace
}  // namespace loyalty::sync::hub

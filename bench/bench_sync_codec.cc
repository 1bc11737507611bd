// bench_sync_codec: the sync protocol codec (sync/protocol/frames.h) on full frames of
// kMaxBatchEntries (500) entries shaped like the backlog's earn entries (a sale record with
// three lines in "data"), per entry:
//   - Decode/Push, Decode/Entries: decode_frame(), the SAX decoder the hub and branches run;
//   - DomDecode/Push, DomDecode/Entries: the DOM decoder it replaced (tests/sync/
//     frames_dom_reference.cc), for before/after figures on the same machine and load;
//   - Encode/Push.
//
//   bench_sync_codec                                  # all
//   bench_sync_codec --benchmark_min_time=0.05        # the ctest smoke
// The figure to read is per_1M_entries: CPU seconds per million entries, i.e. microseconds per
// entry. On the shared 2-core machine run it twice: it is noisy.
#include <benchmark/benchmark.h>

#include <string>

#include "frames_dom_reference.h"
#include "sync/protocol/frames.h"

namespace {

using loyalty::sync::Entries;
using loyalty::sync::Entry;
using loyalty::sync::Frame;
using loyalty::sync::kMaxBatchEntries;
using loyalty::sync::Push;

Entry backlog_entry(int64_t seq) {
  const std::string n = std::to_string(seq);
  Entry e;
  e.entry_id = "B01/req-" + n + "/earn";
  e.origin_branch = "B01";
  e.origin_seq = seq;
  e.node_epoch = "9f86d081884c7d65";
  e.account_id = "B01-01JD8Z3Q4" + n;
  e.kind = "earn";
  e.points = 45;
  e.request_id = "req-" + n;
  e.branch = "B01";
  e.ticket = "T" + n;
  e.business_at = "2026-11-22T10:15:00.000Z";
  e.recorded_at_ms = 1790000000000 + seq;
  e.expires_at = "2027-11-22T10:15:00.000Z";
  e.program_version = "v1";
  e.reason = "base 5%";
  e.body_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  e.data = R"({"sale":{"account_id":"B01-01JD8Z3Q4)" + n +
           R"(","at":"2026-11-22T10:15:00.000Z","branch":"B01","earn_entry_id":"B01/req-)" + n +
           R"(/earn","earned":45,"lines":[)"
           R"({"amount":"12.50","n":1,"percent":"5","qty":"1","refunded":"0"},)"
           R"({"amount":"3.20","n":2,"percent":"5","qty":"2","refunded":"0"},)"
           R"({"amount":"7.00","n":3,"percent":"5","qty":"1","refunded":"0"}],)"
           R"("redeemed":0,"request_id":"req-)" +
           n + R"(","ticket":"T)" + n + R"("}})";
  return e;
}

const std::string& push_text() {
  static const std::string text = [] {
    Push p{1, static_cast<int64_t>(kMaxBatchEntries), {}};
    for (size_t i = 1; i <= kMaxBatchEntries; ++i) p.entries.push_back(backlog_entry(i));
    return loyalty::sync::encode(Frame{p});
  }();
  return text;
}

const std::string& entries_text() {
  static const std::string text = [] {
    Entries f{1, static_cast<int64_t>(kMaxBatchEntries), {}};
    for (size_t i = 1; i <= kMaxBatchEntries; ++i) {
      f.entries.push_back({static_cast<int64_t>(i), backlog_entry(i)});
    }
    return loyalty::sync::encode(Frame{f});
  }();
  return text;
}

template <auto Decode>
void run_decode(benchmark::State& state, const std::string& text) {
  for (auto _ : state) {
    auto frame = Decode(text);
    if (!frame.ok()) {
      state.SkipWithError(frame.error().message.c_str());
      return;
    }
    benchmark::DoNotOptimize(frame);
  }
  const double entries = static_cast<double>(state.iterations() * kMaxBatchEntries);
  state.counters["per_1M_entries"] =
      benchmark::Counter(entries / 1e6, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["frame_bytes"] = static_cast<double>(text.size());
}

void BM_DecodePush(benchmark::State& s) { run_decode<loyalty::sync::decode_frame>(s, push_text()); }
void BM_DecodeEntries(benchmark::State& s) {
  run_decode<loyalty::sync::decode_frame>(s, entries_text());
}
void BM_DomDecodePush(benchmark::State& s) {
  run_decode<loyalty::sync::reference::decode_frame>(s, push_text());
}
void BM_DomDecodeEntries(benchmark::State& s) {
  run_decode<loyalty::sync::reference::decode_frame>(s, entries_text());
}

void BM_EncodePush(benchmark::State& state) {
  auto frame = loyalty::sync::decode_frame(push_text());
  for (auto _ : state) benchmark::DoNotOptimize(loyalty::sync::encode(*frame));
  const double entries = static_cast<double>(state.iterations() * kMaxBatchEntries);
  state.counters["per_1M_entries"] =
      benchmark::Counter(entries / 1e6, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

BENCHMARK(BM_DecodePush)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DomDecodePush)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeEntries)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DomDecodeEntries)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodePush)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

// Speed of the POS-format translators (adapters/), one core, no I/O in the timed loop.
//
// Target: the POSLog adapter translates >= 20,000 transactions per second on one core, measured
// on NCR's real 915 KB POSLog.xml (51 transactions: 42 sales with rewards, voids, signatures,
// and 9 control transactions). The figure is the `tx_per_s` counter of BM_PoslogNcr.
//
//   bench_adapters                                  # full run
//   bench_adapters --benchmark_min_time=0.05        # the ctest smoke
#include <benchmark/benchmark.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "adapters/adapter.h"
#include "adapters/poslog/poslog_adapter.h"

namespace {

constexpr int64_t kNcrTransactions = 51;

std::string read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

loyalty::adapters::Mapping ncr_mapping() {
  loyalty::adapters::Mapping m;
  m.branch = "B09";
  m.currency = "USD";
  m.utc_offset_minutes = -6 * 60;
  return m;
}

void BM_PoslogNcr(benchmark::State& state) {
  const std::string xml = read_file(LOYALTY_POSLOG_SAMPLE);
  const loyalty::adapters::Mapping mapping = ncr_mapping();
  const loyalty::adapters::Adapter& poslog = loyalty::adapters::poslog::adapter();
  {
    auto check = poslog.translate(xml, mapping);
    if (!check.ok() || check->events.size() + check->skipped.size() != kNcrTransactions) {
      state.SkipWithError("POSLog.xml did not translate into 51 transactions");
      return;
    }
  }
  for (auto _ : state) {
    auto r = poslog.translate(xml, mapping);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(xml.size()));
  state.counters["tx_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kNcrTransactions), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PoslogNcr)->Unit(benchmark::kMillisecond);

// The one-sale SMALL.xml: the fixed cost per call (document setup, allocation).
void BM_PoslogNcrSmall(benchmark::State& state) {
  const std::string xml = read_file(LOYALTY_POSLOG_SMALL);
  const loyalty::adapters::Mapping mapping = ncr_mapping();
  const loyalty::adapters::Adapter& poslog = loyalty::adapters::poslog::adapter();
  if (!poslog.translate(xml, mapping).ok()) {
    state.SkipWithError("SMALL.xml did not translate");
    return;
  }
  for (auto _ : state) {
    auto r = poslog.translate(xml, mapping);
    benchmark::DoNotOptimize(r);
  }
  state.counters["tx_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * 2), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PoslogNcrSmall)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();

#include "app/ingest.h"

#include <algorithm>

#include "protocol/codec.h"
#include "protocol/json_text.h"

namespace loyalty::app {

namespace {

constexpr std::string_view kJsonAdapter = "json";

void provenance(protocol::JsonWriter& w, const adapters::Provenance& p) {
  w.field("adapter", p.adapter).field("locator", p.locator).field("source_id", p.source_id);
}

}  // namespace

size_t IngestReport::failed() const {
  return static_cast<size_t>(std::count_if(events.begin(), events.end(),
                                           [](const IngestedEvent& e) { return e.code != 0; }));
}

domain::Result<IngestReport> ingest(Service& service, const adapters::Adapter& adapter,
                                    std::string_view bytes, const adapters::Mapping& mapping,
                                    std::string_view source) {
  auto translation = adapter.translate(bytes, mapping);
  if (!translation) {
    return service.quarantine_input(bytes, source, translation.error());
  }
  IngestReport report;
  report.source = std::string(source);
  report.adapter = std::string(adapter.name());
  report.skipped = std::move(translation->skipped);
  report.events.reserve(translation->events.size());
  for (adapters::Event& event : translation->events) {
    Outcome out = service.handle(protocol::encode_request(event.request), source);
    report.events.push_back({std::move(event.provenance), out.code, std::move(out.json)});
  }
  // Rule 12 for what the POS sent, not only for what we made of it: an event the service
  // refused as malformed is quarantined as its translated request, and the document it came
  // from is kept too (once), so that the POS's own bytes are not lost with the HTTP answer.
  // When the ledger cannot keep it now, the whole document is `unavailable`: sent again, the
  // events already recorded answer as before (rule 11) and the document is kept then.
  for (const IngestedEvent& e : report.events) {
    const auto code = static_cast<domain::ErrorCode>(e.code);
    if (code == domain::ErrorCode::kInvalidJson || code == domain::ErrorCode::kInvalidEvent ||
        code == domain::ErrorCode::kUnknownType) {
      const domain::Error refused =
          domain::make_error(code, e.provenance.locator,
                             "the document of an event refused at " + e.provenance.locator +
                                 " (its translated request is quarantined beside it with the error)");
      if (domain::Error kept = service.quarantine_input(bytes, source, refused); kept.code != code) return kept;
      break;
    }
  }
  return report;
}

IngestReport ingest_jsonl(Service& service, std::string_view bytes, std::string_view source,
                          JsonFraming framing) {
  IngestReport report;
  report.source = std::string(source);
  report.adapter = std::string(kJsonAdapter);
  auto send = [&](std::string_view text, std::string locator) {
    Outcome out = service.handle(text, source);
    report.events.push_back(
        {adapters::Provenance{std::string(kJsonAdapter), std::move(locator), ""}, out.code,
         std::move(out.json)});
  };
  if (framing == JsonFraming::kOneDocument) {
    send(bytes, "");
    return report;
  }
  size_t line_number = 0;
  size_t start = 0;
  while (start < bytes.size()) {
    size_t end = bytes.find('\n', start);
    if (end == std::string_view::npos) {
      end = bytes.size();
    }
    ++line_number;
    std::string_view line = bytes.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    // Only a line of spaces is blank: anything else, even one stray byte, is a request
    // the service must see (and quarantine when it is not one).
    if (line.find_first_not_of(" \t") != std::string_view::npos) {
      send(line, "line " + std::to_string(line_number));
    }
    start = end + 1;
  }
  if (report.events.empty()) {
    send(bytes, "");
  }
  return report;
}

std::string encode_report(const IngestReport& report) {
  std::string out;
  protocol::JsonWriter w(out);
  w.open_object()
      .field("ok", report.ok())
      .field("source", report.source)
      .field("adapter", report.adapter)
      .field("events", static_cast<int64_t>(report.events.size()))
      .field("failed", static_cast<int64_t>(report.failed()));
  w.key("results").open_array();
  for (const IngestedEvent& e : report.events) {
    w.open_object();
    provenance(w, e.provenance);
    w.field("code", static_cast<int64_t>(e.code)).key("response").raw(e.response_json);
    w.close_object();
  }
  w.close_array();
  w.key("skipped").open_array();
  for (const adapters::Skipped& s : report.skipped) {
    w.open_object();
    provenance(w, s.provenance);
    w.field("reason", s.reason).close_object();
  }
  w.close_array();
  w.close_object();
  return out;
}

std::string encode_responses(const IngestReport& report) {
  std::string out;
  protocol::JsonWriter w(out);
  w.open_array();
  for (const IngestedEvent& e : report.events) {
    w.raw(e.response_json);
  }
  w.close_array();
  return out;
}

}  // namespace loyalty::app

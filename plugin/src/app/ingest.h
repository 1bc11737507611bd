// Ingest: whole inputs (a POSLog file, a Square webhook, a JSON Lines batch) through the
// one request path, app::Service::handle.
//
// ingest() runs an adapter over foreign bytes and sends each event it yields, encoded with
// protocol::encode_request, through Service::handle: idempotency, quarantine and the rules
// are the service's own, so a file delivered twice changes nothing the second time.
// ingest_jsonl() takes the contract's own JSON and sends each document to Service::handle
// as the POS wrote it (never re-encoded), so the idempotency fingerprint is the POS's.
//
// Thread-safety: as Service::handle (any thread). Failure: never throws except
// std::bad_alloc; what went wrong with each event is in its response.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/adapter.h"
#include "app/service.h"
#include "domain/result.h"

namespace loyalty::app {

// One event that reached the service, and its answer.
struct IngestedEvent {
  adapters::Provenance provenance;
  int code = 0;               // the service's code (0 = ok), as Outcome::code
  std::string response_json;  // the service's response document
};

struct IngestReport {
  std::string source;   // as given to ingest (also the quarantine's source)
  std::string adapter;  // "poslog", ...; "json" for contract JSON
  std::vector<IngestedEvent> events;
  std::vector<adapters::Skipped> skipped;

  size_t failed() const;  // events whose code is not 0
  bool ok() const { return failed() == 0; }
};

// Translates `bytes` with `adapter` and `mapping`, then sends every event through
// service.handle(…, source) in input order. A translation error sends nothing: the raw
// bytes go to the quarantine with the error (Service::quarantine_input), and the error is
// returned. Events the service refuses are in the report with their error response.
domain::Result<IngestReport> ingest(Service& service, const adapters::Adapter& adapter,
                                    std::string_view bytes, const adapters::Mapping& mapping,
                                    std::string_view source);

// How contract JSON is cut into requests.
enum class JsonFraming {
  kOneDocument = 1,  // the whole input is one request (may span lines: pretty-printed)
  kLines = 2,        // JSON Lines: one request per line; blank lines are ignored
};

// Sends contract JSON to service.handle(…, source), each request's bytes as received
// (a trailing "\r" of a CRLF line is dropped). Provenance: adapter "json", locator
// "line <n>" (1-based) for JSON Lines, empty for one document. An input with no request
// at all (empty, or only blank lines) is one event: the service's answer to empty input.
IngestReport ingest_jsonl(Service& service, std::string_view bytes, std::string_view source,
                          JsonFraming framing = JsonFraming::kLines);

// The report as JSON:
// {"ok":true|false,"source":...,"adapter":...,"events":N,"failed":N,
//  "results":[{"adapter":...,"locator":...,"source_id":...,"code":0,"response":{...}}],
//  "skipped":[{"adapter":...,"locator":...,"source_id":...,"reason":...}]}
std::string encode_report(const IngestReport& report);

// The responses alone, as a JSON array in input order (POST /v1/events with JSON Lines).
std::string encode_responses(const IngestReport& report);

}  // namespace loyalty::app

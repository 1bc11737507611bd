// A complete wire Entry for the codec tests (every field set, `data` a sale's facts).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "sync/protocol/frames.h"

namespace loyalty::sync {

inline Entry sample_entry(int64_t seq,
                          std::string data = R"({"earned":45,"lines":[{"amount":"12.50","n":1}]})") {
  Entry e;
  e.entry_id = "B01/req-" + std::to_string(seq) + "/earn";
  e.origin_branch = "B01";
  e.origin_seq = seq;
  e.node_epoch = "ab12";
  e.account_id = "B01-01HXYZ";
  e.kind = "earn";
  e.points = 45;
  e.request_id = "req-" + std::to_string(seq);
  e.branch = "B01";
  e.ticket = "000123";
  e.business_at = "2026-11-22T10:15:00-06:00";
  e.recorded_at_ms = 1790000000000;
  e.expires_at = "2027-11-22T10:15:00-06:00";
  e.program_version = "v1";
  e.body_hash = "00ff";
  e.data = std::move(data);
  return e;
}

}  // namespace loyalty::sync

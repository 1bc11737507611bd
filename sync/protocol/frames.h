// Sync protocol v1 (docs/sync.md "Protocol"): one struct per frame, and the JSON text codec
// shared by the hub (sync/hub) and the branch-side client (sync/client).
//
// Every frame is one JSON object with "type". decode_frame() checks every field the frame
// needs (presence, JSON type, range) and names the first wrong one in Error::field, e.g.
// "entries[3].points"; fields it does not know are ignored (forward compatibility). It never
// throws. encode() never fails: it writes exactly what decode_frame() accepts back.
//
// Error codes of decode_frame(): kInvalidJson (not JSON, not an object, nested too deep, larger
// than kMaxFrameBytes), kUnknownType (a "type" this version does not know: answer with an error
// frame of code "version"), kInvalidEvent (a field is missing, has the wrong type or range).
// sync_error_code() gives the error frame's code word for each.
//
// Thread-safety: free functions on values; no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "domain/result.h"

namespace loyalty::sync {

inline constexpr int kProtoVersion = 1;
inline constexpr std::size_t kMaxFrameBytes = 1024 * 1024;  // websocket read_message_max
inline constexpr std::size_t kMaxBatchEntries = 500;        // per push and per entries frame
inline constexpr int kMaxPushInFlight = 4;
inline constexpr int kMaxJsonDepth = 64;  // nesting of objects/arrays in one frame (data too)
inline constexpr std::string_view kSyncPath = "/v1/sync";
inline constexpr std::string_view kSubprotocol = "loyalty-sync.1";
inline constexpr std::string_view kHubOrigin = "hub";  // origin_branch of hub-made entries

// The wire form of one ledger entry. Every field is present on the wire.
struct Entry {
  std::string entry_id;       // "B01/req-1/earn"; globally unique, non-empty
  std::string origin_branch;  // branch that created it, or "hub"
  int64_t origin_seq = 0;     // >= 1, contiguous per (origin_branch, node_epoch)
  std::string node_epoch;     // hex
  std::string account_id;
  std::string kind;    // earn, redeem, clawback, ..., overdraw_report; non-empty
  int64_t points = 0;  // signed
  std::string request_id;
  std::string branch;
  std::string ticket;
  std::string ref_entry_id;
  std::string business_at;  // RFC 3339
  int64_t recorded_at_ms = 0;
  std::optional<std::string> expires_at;  // RFC 3339, or null on the wire
  std::string program_version;
  std::string reason;
  std::string body_hash;  // hex
  // Kind-specific facts as raw JSON text: an object ("{...}") or "null". Opaque to the hub,
  // forwarded unchanged in meaning. decode_frame() gives compact JSON text; encode() writes
  // it as is, so a caller that builds an Entry must put valid JSON (or "" for null) here.
  std::string data = "null";

  bool operator==(const Entry&) const = default;
};

struct Hello {
  int proto = kProtoVersion;
  std::string branch;
  std::string node_epoch;
  int64_t local_max_seq = 0;
  int64_t applied_offset = 0;
  std::string hub_epoch_seen;  // "" when never connected
  std::string config_version;  // "" when none applied
  int64_t client_time_ms = 0;
  // The last remote entry applied: its hub offset and entry id (0, "" = none). The hub
  // checks them to notice that it was restored from an older copy (must_refetch). Optional
  // on the wire: -1 = not sent (a branch from before the check; the hub cannot check), and
  // encode() leaves both out then.
  int64_t check_offset = -1;
  std::string check_entry_id = {};
  bool operator==(const Hello&) const = default;
};

struct Welcome {
  std::string hub_epoch;
  int64_t acked_seq = 0;  // highest contiguous origin_seq stored for (branch, node_epoch)
  int64_t head_offset = 0;
  int64_t server_time_ms = 0;
  std::string config_version;
  bool must_refetch = false;
  // The entry_id the hub stores at (branch, acked_seq) ("" when acked_seq is 0): a branch
  // whose own entry at that seq differs was restored and wrote other entries since. Optional
  // on the wire (absent = "").
  std::string acked_entry_id = {};
  bool operator==(const Welcome&) const = default;
};

// Branch recovery (docs/sync.md "Branch recovery"): the branch asks for its own entries
// from_seq..to_seq (at most kMaxBatchEntries seqs) that the hub stores.
struct FetchOwn {
  int64_t from_seq = 0;  // >= 1
  int64_t to_seq = 0;    // >= from_seq, to_seq - from_seq < kMaxBatchEntries
  bool operator==(const FetchOwn&) const = default;
};

// The answer to FetchOwn: the requesting branch's own entries of seqs from_seq..to_seq that
// the hub holds, in strictly increasing origin_seq order within that range.
struct OwnEntries {
  int64_t from_seq = 0;
  int64_t to_seq = 0;
  std::vector<Entry> entries;
  bool operator==(const OwnEntries&) const = default;
};

// Contiguous seqs first_seq..last_seq of the sending branch; entries[i].origin_seq ==
// first_seq + i; 1..kMaxBatchEntries entries.
struct Push {
  int64_t first_seq = 0;
  int64_t last_seq = 0;
  std::vector<Entry> entries;
  bool operator==(const Push&) const = default;
};

struct Ack {
  int64_t acked_seq = 0;
  bool operator==(const Ack&) const = default;
};

struct Nack {
  int64_t expected = 0;
  bool operator==(const Nack&) const = default;
};

struct OffsetEntry {
  int64_t offset = 0;  // hub_offset, >= 1
  Entry entry;
  bool operator==(const OffsetEntry&) const = default;
};

// Hub entries covering hub offsets from_offset..to_offset (inclusive) for one branch: the
// listed entries, in strictly increasing offset order, are every entry of that range the
// branch must apply (its own entries are left out, so offsets may have gaps, and the list may
// be empty when the whole range was the branch's own). After applying, the branch answers
// Applied{to_offset}. At most kMaxBatchEntries entries; from_offset >= 1, from <= to.
struct Entries {
  int64_t from_offset = 0;
  int64_t to_offset = 0;
  std::vector<OffsetEntry> entries;
  bool operator==(const Entries&) const = default;
};

struct Applied {
  int64_t offset = 0;
  bool operator==(const Applied&) const = default;
};

struct Config {
  std::string version;   // non-empty
  std::string document;  // TOML text of the program document
  bool operator==(const Config&) const = default;
};

struct ConfigAck {
  std::string version;
  bool operator==(const ConfigAck&) const = default;
};

// Error codes of the "error" frame.
inline constexpr std::string_view kErrAuth = "auth";
inline constexpr std::string_view kErrNotYourEntry = "not_your_entry";
inline constexpr std::string_view kErrFork = "fork";
inline constexpr std::string_view kErrTooBig = "too_big";
inline constexpr std::string_view kErrRate = "rate";
inline constexpr std::string_view kErrMustRefetch = "must_refetch";
inline constexpr std::string_view kErrVersion = "version";
inline constexpr std::string_view kErrInvalid = "invalid";

struct ErrorFrame {
  std::string code;  // one of kErr*; decode accepts any non-empty word
  std::string message;
  bool fatal = false;  // the sender closes the stream after it
  bool operator==(const ErrorFrame&) const = default;
};

using Frame = std::variant<Hello, Welcome, Push, Ack, Nack, Entries, Applied, Config, ConfigAck,
                           ErrorFrame, FetchOwn, OwnEntries>;

// The "type" word of a frame ("hello", "push", ...).
std::string_view frame_type(const Frame& frame);

// Text of one JSON frame -> Frame, or an Error naming the offending field.
domain::Result<Frame> decode_frame(std::string_view text);

// Frame -> JSON text (compact).
std::string encode(const Frame& frame);

// One entry as a JSON object (what a push or entries frame carries per entry).
std::string encode_entry(const Entry& entry);
// One entry from JSON object text; field names in errors are relative to the entry ("points").
domain::Result<Entry> decode_entry(std::string_view text);

// The error frame's code word for a decode error: "version" for kUnknownType, "too_big" for a
// frame over kMaxFrameBytes, "invalid" otherwise.
std::string_view sync_error_code(const domain::Error& error);

// An ErrorFrame describing a decode error (message includes the field), fatal or not.
ErrorFrame error_frame_for(const domain::Error& error, bool fatal);

}  // namespace loyalty::sync

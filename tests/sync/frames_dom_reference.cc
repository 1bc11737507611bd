// The sync frame decoder as it was before the SAX decoder (a nlohmann DOM, then field checks),
// kept verbatim for tests only: tests/sync/protocol_sax_test.cc checks that the production
// decoder (sync/protocol/frames.cc) gives the same Frame or the same Error for every input.
#include "frames_dom_reference.h"

#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

namespace loyalty::sync::reference {
namespace {

using domain::ErrorCode;
using domain::make_error;
using json = nlohmann::json;

// Field-checking failure inside a decoder; caught at decode_frame()'s edge.
struct FieldError {
  std::string field;
  std::string message;
};

std::string join(std::string_view prefix, std::string_view name) {
  if (prefix.empty()) return std::string(name);
  std::string out(prefix);
  out += '.';
  out += name;
  return out;
}

const json& member(const json& obj, std::string_view prefix, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end()) throw FieldError{join(prefix, name), "is missing"};
  return *it;
}

std::string get_string(const json& obj, std::string_view prefix, const char* name,
                       bool non_empty = false) {
  const json& v = member(obj, prefix, name);
  if (!v.is_string()) throw FieldError{join(prefix, name), "must be a string"};
  const auto& s = v.get_ref<const std::string&>();
  if (non_empty && s.empty()) throw FieldError{join(prefix, name), "must not be empty"};
  return s;
}

int64_t get_int(const json& obj, std::string_view prefix, const char* name, int64_t min_value) {
  const json& v = member(obj, prefix, name);
  if (!v.is_number_integer()) throw FieldError{join(prefix, name), "must be an integer"};
  if (v.is_number_unsigned() &&
      v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    throw FieldError{join(prefix, name), "is larger than a signed 64-bit integer"};
  }
  const int64_t n = v.get<int64_t>();
  if (n < min_value) {
    throw FieldError{join(prefix, name), "must be at least " + std::to_string(min_value)};
  }
  return n;
}

// An optional field added after v1 shipped: absent gives `fallback`, present must be right.
int64_t opt_int(const json& obj, const char* name, int64_t min_value, int64_t fallback) {
  if (!obj.contains(name)) return fallback;
  return get_int(obj, "", name, min_value);
}

std::string opt_string(const json& obj, const char* name) {
  if (!obj.contains(name)) return {};
  return get_string(obj, "", name);
}

bool get_bool(const json& obj, std::string_view prefix, const char* name) {
  const json& v = member(obj, prefix, name);
  if (!v.is_boolean()) throw FieldError{join(prefix, name), "must be true or false"};
  return v.get<bool>();
}

constexpr int64_t kMinInt = std::numeric_limits<int64_t>::min();

Entry entry_from(const json& j, std::string_view p) {
  if (!j.is_object()) throw FieldError{std::string(p), "must be an object"};
  Entry e;
  e.entry_id = get_string(j, p, "entry_id", true);
  e.origin_branch = get_string(j, p, "origin_branch", true);
  e.origin_seq = get_int(j, p, "origin_seq", 1);
  e.node_epoch = get_string(j, p, "node_epoch");
  e.account_id = get_string(j, p, "account_id");
  e.kind = get_string(j, p, "kind", true);
  e.points = get_int(j, p, "points", kMinInt);
  e.request_id = get_string(j, p, "request_id");
  e.branch = get_string(j, p, "branch");
  e.ticket = get_string(j, p, "ticket");
  e.ref_entry_id = get_string(j, p, "ref_entry_id");
  e.business_at = get_string(j, p, "business_at");
  e.recorded_at_ms = get_int(j, p, "recorded_at_ms", 0);
  const json& exp = member(j, p, "expires_at");
  if (exp.is_null()) {
    e.expires_at.reset();
  } else if (exp.is_string()) {
    e.expires_at = exp.get<std::string>();
  } else {
    throw FieldError{join(p, "expires_at"), "must be a string or null"};
  }
  e.program_version = get_string(j, p, "program_version");
  e.reason = get_string(j, p, "reason");
  e.body_hash = get_string(j, p, "body_hash");
  const json& data = member(j, p, "data");
  if (!data.is_null() && !data.is_object()) {
    throw FieldError{join(p, "data"), "must be an object or null"};
  }
  e.data = data.dump();
  return e;
}

std::string index_path(const char* array, size_t i) {
  return std::string(array) + "[" + std::to_string(i) + "]";
}

const json& get_array(const json& obj, const char* name) {
  const json& v = member(obj, "", name);
  if (!v.is_array()) throw FieldError{name, "must be an array"};
  if (v.size() > kMaxBatchEntries) {
    throw FieldError{name, "has " + std::to_string(v.size()) + " entries; at most " +
                               std::to_string(kMaxBatchEntries) + " per frame"};
  }
  return v;
}

Push push_from(const json& j) {
  Push p;
  p.first_seq = get_int(j, "", "first_seq", 1);
  p.last_seq = get_int(j, "", "last_seq", 1);
  const json& arr = get_array(j, "entries");
  if (arr.empty()) throw FieldError{"entries", "must hold at least one entry"};
  if (p.last_seq < p.first_seq) throw FieldError{"last_seq", "is smaller than first_seq"};
  if (static_cast<uint64_t>(p.last_seq - p.first_seq) + 1 != arr.size()) {
    throw FieldError{"last_seq", "first_seq..last_seq covers " +
                                     std::to_string(p.last_seq - p.first_seq + 1) +
                                     " seqs but entries holds " + std::to_string(arr.size())};
  }
  p.entries.reserve(arr.size());
  for (size_t i = 0; i < arr.size(); ++i) {
    const std::string path = index_path("entries", i);
    p.entries.push_back(entry_from(arr[i], path));
    if (p.entries.back().origin_seq != p.first_seq + static_cast<int64_t>(i)) {
      throw FieldError{path + ".origin_seq", "is " + std::to_string(p.entries.back().origin_seq) +
                                                 " but the batch's seq there is " +
                                                 std::to_string(p.first_seq + i)};
    }
  }
  return p;
}

Entries entries_from(const json& j) {
  Entries f;
  f.from_offset = get_int(j, "", "from_offset", 1);
  f.to_offset = get_int(j, "", "to_offset", 1);
  if (f.to_offset < f.from_offset) throw FieldError{"to_offset", "is smaller than from_offset"};
  const json& arr = get_array(j, "entries");
  f.entries.reserve(arr.size());
  int64_t previous = f.from_offset - 1;
  for (size_t i = 0; i < arr.size(); ++i) {
    const std::string path = index_path("entries", i);
    const json& item = arr[i];
    if (!item.is_object()) throw FieldError{path, "must be an object"};
    OffsetEntry oe;
    oe.offset = get_int(item, path, "offset", 1);
    if (oe.offset <= previous) {
      throw FieldError{path + ".offset", "must be greater than " + std::to_string(previous) +
                                             " (offsets increase from from_offset)"};
    }
    if (oe.offset > f.to_offset) throw FieldError{path + ".offset", "is beyond to_offset"};
    previous = oe.offset;
    oe.entry = entry_from(member(item, path, "entry"), path + ".entry");
    f.entries.push_back(std::move(oe));
  }
  return f;
}

FetchOwn fetch_own_from(const json& j) {
  FetchOwn f;
  f.from_seq = get_int(j, "", "from_seq", 1);
  f.to_seq = get_int(j, "", "to_seq", 1);
  if (f.to_seq < f.from_seq) throw FieldError{"to_seq", "is smaller than from_seq"};
  if (static_cast<uint64_t>(f.to_seq - f.from_seq) >= kMaxBatchEntries) {
    throw FieldError{"to_seq", "asks for " + std::to_string(f.to_seq - f.from_seq + 1) +
                                   " seqs; at most " + std::to_string(kMaxBatchEntries) +
                                   " per fetch_own"};
  }
  return f;
}

OwnEntries own_entries_from(const json& j) {
  OwnEntries f;
  f.from_seq = get_int(j, "", "from_seq", 1);
  f.to_seq = get_int(j, "", "to_seq", 1);
  if (f.to_seq < f.from_seq) throw FieldError{"to_seq", "is smaller than from_seq"};
  const json& arr = get_array(j, "entries");
  f.entries.reserve(arr.size());
  int64_t previous = f.from_seq - 1;
  for (size_t i = 0; i < arr.size(); ++i) {
    const std::string path = index_path("entries", i);
    f.entries.push_back(entry_from(arr[i], path));
    const int64_t seq = f.entries.back().origin_seq;
    if (seq <= previous) {
      throw FieldError{path + ".origin_seq", "must be greater than " + std::to_string(previous) +
                                                 " (seqs increase from from_seq)"};
    }
    if (seq > f.to_seq) throw FieldError{path + ".origin_seq", "is beyond to_seq"};
    previous = seq;
  }
  return f;
}

Frame frame_from(const json& j, std::string_view type) {
  if (type == "hello") {
    Hello h;
    const int64_t proto = get_int(j, "", "proto", 1);
    if (proto != kProtoVersion) throw FieldError{"proto", "must be 1 (this hub speaks v1)"};
    h.proto = static_cast<int>(proto);
    h.branch = get_string(j, "", "branch", true);
    h.node_epoch = get_string(j, "", "node_epoch", true);
    h.local_max_seq = get_int(j, "", "local_max_seq", 0);
    h.applied_offset = get_int(j, "", "applied_offset", 0);
    h.hub_epoch_seen = get_string(j, "", "hub_epoch_seen");
    h.config_version = get_string(j, "", "config_version");
    h.client_time_ms = get_int(j, "", "client_time_ms", 0);
    h.check_offset = opt_int(j, "check_offset", 0, -1);
    h.check_entry_id = opt_string(j, "check_entry_id");
    return h;
  }
  if (type == "welcome") {
    Welcome w;
    w.hub_epoch = get_string(j, "", "hub_epoch", true);
    w.acked_seq = get_int(j, "", "acked_seq", 0);
    w.head_offset = get_int(j, "", "head_offset", 0);
    w.server_time_ms = get_int(j, "", "server_time_ms", 0);
    w.config_version = get_string(j, "", "config_version");
    w.must_refetch = get_bool(j, "", "must_refetch");
    w.acked_entry_id = opt_string(j, "acked_entry_id");
    return w;
  }
  if (type == "fetch_own") return fetch_own_from(j);
  if (type == "own_entries") return own_entries_from(j);
  if (type == "push") return push_from(j);
  if (type == "ack") return Ack{get_int(j, "", "acked_seq", 0)};
  if (type == "nack") return Nack{get_int(j, "", "expected", 1)};
  if (type == "entries") return entries_from(j);
  if (type == "applied") return Applied{get_int(j, "", "offset", 0)};
  if (type == "config") {
    Config c;
    c.version = get_string(j, "", "version", true);
    c.document = get_string(j, "", "document");
    return c;
  }
  if (type == "config_ack") return ConfigAck{get_string(j, "", "version", true)};
  if (type == "error") {
    ErrorFrame e;
    e.code = get_string(j, "", "code", true);
    e.message = get_string(j, "", "message");
    e.fatal = get_bool(j, "", "fatal");
    return e;
  }
  throw std::invalid_argument(std::string(type));  // unknown type; mapped by the caller
}

// True when objects and arrays nest deeper than kMaxJsonDepth (brackets inside strings do not
// count). One pass over the bytes before parsing: cheaper than a parser callback, which costs
// about a fifth of the parse on every token (measured on a 500-entry push).
bool nests_too_deep(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth) return true;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return false;
}

domain::Result<json> parse_limited(std::string_view text) {
  if (text.size() > kMaxFrameBytes) {
    return make_error(ErrorCode::kInvalidArgument, "",
                      "frame is " + std::to_string(text.size()) + " bytes; at most " +
                          std::to_string(kMaxFrameBytes));
  }
  if (nests_too_deep(text)) {
    return make_error(ErrorCode::kInvalidJson, "",
                      "JSON nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kInvalidJson, "", std::string("not valid JSON: ") + e.what());
  }
}

}  // namespace

domain::Result<Frame> decode_frame(std::string_view text) {
  auto parsed = parse_limited(text);
  if (!parsed.ok()) return parsed.error();
  const json& j = *parsed;
  if (!j.is_object())
    return make_error(ErrorCode::kInvalidJson, "", "a frame must be a JSON object");
  auto it = j.find("type");
  if (it == j.end()) return make_error(ErrorCode::kInvalidEvent, "type", "type is missing");
  if (!it->is_string())
    return make_error(ErrorCode::kInvalidEvent, "type", "type must be a string");
  const auto& type = it->get_ref<const std::string&>();
  try {
    return frame_from(j, type);
  } catch (const FieldError& e) {
    return make_error(ErrorCode::kInvalidEvent, e.field, e.field + " " + e.message);
  } catch (const std::invalid_argument&) {
    std::string shown = type.size() > 40 ? type.substr(0, 40) + "..." : type;
    return make_error(ErrorCode::kUnknownType, "type",
                      "unknown frame type \"" + shown + "\" (protocol v1)");
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInvalidEvent, "", std::string("bad frame: ") + e.what());
  }
}

domain::Result<Entry> decode_entry(std::string_view text) {
  auto parsed = parse_limited(text);
  if (!parsed.ok()) return parsed.error();
  try {
    return entry_from(*parsed, "");
  } catch (const FieldError& e) {
    const std::string name = e.field.empty() ? "entry" : e.field;
    return make_error(ErrorCode::kInvalidEvent, e.field, name + " " + e.message);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInvalidEvent, "", std::string("bad entry: ") + e.what());
  }
}

}  // namespace loyalty::sync::reference

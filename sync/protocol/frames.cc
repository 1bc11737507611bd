#include "sync/protocol/frames.h"

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <utility>

#include "protocol/json_text.h"

namespace loyalty::sync {
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

std::string index_path(const char* array, size_t i) {
  return std::string(array) + "[" + std::to_string(i) + "]";
}

// ---- SAX decoding of entries ------------------------------------------------------------
//
// push, entries and own_entries frames carry up to kMaxBatchEntries entries each. A nlohmann DOM
// of them, then a copy of every string out of it, cost about 8 µs an entry; FrameSax fills Entry
// fields as the parser reports them. A field of the wrong kind is recorded, not thrown, and an
// entry's fields are checked when its object ends, in the order the DOM decoder checked them,
// so the error named is the same as before for every input (tests/sync/protocol_sax_test.cc
// compares with that decoder). Frame-level members (type, first_seq, ...) still go into a small
// DOM, `top`, with empty placeholders for nested values, so every other frame decodes as before.

// The JSON type of one value, as the checks need it.
enum class Kind : uint8_t {
  kMissing,
  kNull,
  kBool,
  kInt,     // fits int64_t
  kTooBig,  // an unsigned integer above INT64_MAX
  kFloat,
  kString,
  kObject,
  kArray
};

// One scalar as the parser reported it.
struct Value {
  Kind kind = Kind::kNull;
  bool is_unsigned = false;  // kInt or kTooBig from number_unsigned
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  bool b = false;
  const std::string* s = nullptr;  // kString: the parser's buffer; copy from it
};

json to_json(const Value& v) {
  switch (v.kind) {
    case Kind::kBool:
      return v.b;
    case Kind::kInt:
      return v.is_unsigned ? json(v.u) : json(v.i);
    case Kind::kTooBig:
      return v.u;
    case Kind::kFloat:
      return v.d;
    case Kind::kString:
      return *v.s;
    default:
      return nullptr;
  }
}

// Entry's wire fields, in the order they are checked (and encoded).
enum EntryField : uint8_t {
  kEntryId,
  kOriginBranch,
  kOriginSeq,
  kNodeEpoch,
  kAccountId,
  kKindField,
  kPoints,
  kRequestId,
  kBranch,
  kTicket,
  kRefEntryId,
  kBusinessAt,
  kRecordedAtMs,
  kExpiresAt,
  kProgramVersion,
  kReason,
  kBodyHash,
  kData,
  kEntryFieldCount,
  kUnknownField = kEntryFieldCount
};

constexpr std::string_view kEntryFieldNames[kEntryFieldCount] = {
    "entry_id",       "origin_branch", "origin_seq",      "node_epoch",
    "account_id",     "kind",          "points",          "request_id",
    "branch",         "ticket",        "ref_entry_id",    "business_at",
    "recorded_at_ms", "expires_at",    "program_version", "reason",
    "body_hash",      "data"};

// How each field is checked: a string (non-empty or not), an integer with a minimum, or special.
enum class Rule : uint8_t { kString, kNonEmpty, kInt, kExpires, kData };
struct FieldRule {
  Rule rule;
  int64_t min_value;
};
constexpr FieldRule kEntryRules[kEntryFieldCount] = {
    {Rule::kNonEmpty, 0}, {Rule::kNonEmpty, 0}, {Rule::kInt, 1},       {Rule::kString, 0},
    {Rule::kString, 0},   {Rule::kNonEmpty, 0}, {Rule::kInt, kMinInt}, {Rule::kString, 0},
    {Rule::kString, 0},   {Rule::kString, 0},   {Rule::kString, 0},    {Rule::kString, 0},
    {Rule::kInt, 0},      {Rule::kExpires, 0},  {Rule::kString, 0},    {Rule::kString, 0},
    {Rule::kString, 0},   {Rule::kData, 0}};

// The field named `key`; `after` is the field before it, as the encoder orders them (tried
// first, since entries arrive in that order).
EntryField entry_field(std::string_view key, EntryField after) {
  const int next = after == kUnknownField ? 0 : after + 1;
  if (next < kEntryFieldCount && key == kEntryFieldNames[next]) {
    return static_cast<EntryField>(next);
  }
  for (uint8_t f = 0; f < kEntryFieldCount; ++f) {
    if (key == kEntryFieldNames[f]) return static_cast<EntryField>(f);
  }
  return kUnknownField;
}

std::string* string_slot(Entry& e, EntryField f) {
  switch (f) {
    case kEntryId:
      return &e.entry_id;
    case kOriginBranch:
      return &e.origin_branch;
    case kNodeEpoch:
      return &e.node_epoch;
    case kAccountId:
      return &e.account_id;
    case kKindField:
      return &e.kind;
    case kRequestId:
      return &e.request_id;
    case kBranch:
      return &e.branch;
    case kTicket:
      return &e.ticket;
    case kRefEntryId:
      return &e.ref_entry_id;
    case kBusinessAt:
      return &e.business_at;
    case kProgramVersion:
      return &e.program_version;
    case kReason:
      return &e.reason;
    case kBodyHash:
      return &e.body_hash;
    default:
      return nullptr;
  }
}

int64_t* int_slot(Entry& e, EntryField f) {
  switch (f) {
    case kOriginSeq:
      return &e.origin_seq;
    case kPoints:
      return &e.points;
    case kRecordedAtMs:
      return &e.recorded_at_ms;
    default:
      return nullptr;
  }
}

using Check = std::optional<FieldError>;

// The checks of get_string() and get_int() on a recorded kind; `name` is the field's name.
Check check_string(Kind kind, const std::string& value, std::string name, bool non_empty) {
  if (kind == Kind::kMissing) return FieldError{std::move(name), "is missing"};
  if (kind != Kind::kString) return FieldError{std::move(name), "must be a string"};
  if (non_empty && value.empty()) return FieldError{std::move(name), "must not be empty"};
  return std::nullopt;
}

Check check_int(Kind kind, int64_t value, std::string name, int64_t min_value) {
  if (kind == Kind::kMissing) return FieldError{std::move(name), "is missing"};
  if (kind != Kind::kInt && kind != Kind::kTooBig) {
    return FieldError{std::move(name), "must be an integer"};
  }
  if (kind == Kind::kTooBig) {
    return FieldError{std::move(name), "is larger than a signed 64-bit integer"};
  }
  if (value < min_value) {
    return FieldError{std::move(name), "must be at least " + std::to_string(min_value)};
  }
  return std::nullopt;
}

// One entry object being filled: the values so far and the kind each field had (the last of
// duplicate keys wins, as in a DOM).
struct EntryState {
  Entry entry;
  std::array<Kind, kEntryFieldCount> kinds{};

  void reset() {
    entry = Entry{};
    kinds.fill(Kind::kMissing);
  }
};

// entry_from()'s checks, in its order; field names relative to the entry.
Check check_entry(EntryState& s) {
  for (uint8_t i = 0; i < kEntryFieldCount; ++i) {
    const auto f = static_cast<EntryField>(i);
    const Kind kind = s.kinds[f];
    const std::string name(kEntryFieldNames[f]);
    Check c;
    switch (kEntryRules[f].rule) {
      case Rule::kString:
      case Rule::kNonEmpty:
        c = check_string(kind, *string_slot(s.entry, f), name,
                         kEntryRules[f].rule == Rule::kNonEmpty);
        break;
      case Rule::kInt:
        c = check_int(kind, *int_slot(s.entry, f), name, kEntryRules[f].min_value);
        break;
      case Rule::kExpires:
        if (kind == Kind::kMissing) return FieldError{name, "is missing"};
        if (kind != Kind::kNull && kind != Kind::kString) {
          return FieldError{name, "must be a string or null"};
        }
        break;
      case Rule::kData:
        if (kind == Kind::kMissing) return FieldError{name, "is missing"};
        if (kind != Kind::kNull && kind != Kind::kObject) {
          return FieldError{name, "must be an object or null"};
        }
        break;
    }
    if (c) return c;
  }
  return std::nullopt;
}

// Appends an integer as dump() prints it.
template <class Int>
void put_number(std::string& out, Int n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  static_cast<void>(ec);
  out.append(buf, end);
}

// Writes the SAX events of one JSON object as the text nlohmann's dump() gives for its DOM:
// compact, keys in std::map order, the last of duplicate keys, strings and numbers as dump()
// prints them. An object whose keys arrive strictly ascending (every object a dump() wrote,
// which is what encode() sends) is written as it streams; any other object is put through a
// DOM when it closes.
class DumpWriter {
 public:
  void reset() {
    out_.clear();
    depth_ = 0;
  }
  const std::string& text() const { return out_; }

  void start(bool is_object) {
    before_value();
    if (depth_ == levels_.size()) levels_.emplace_back();
    Level& l = levels_[depth_++];
    l.is_object = is_object;
    l.first = true;
    l.unsorted = false;
    l.open_pos = out_.size();
    out_ += is_object ? '{' : '[';
  }

  // True when the outermost container closed.
  bool end() {
    Level& l = levels_[--depth_];
    out_ += l.is_object ? '}' : ']';
    if (l.is_object && l.unsorted) {
      // Our own text of that object, valid JSON: the DOM sorts it and keeps the last duplicate.
      const json sorted =
          json::parse(out_.begin() + static_cast<std::ptrdiff_t>(l.open_pos), out_.end());
      out_.resize(l.open_pos);
      out_ += sorted.dump();
    }
    return depth_ == 0;
  }

  void key(const std::string& k) {
    Level& l = levels_[depth_ - 1];
    if (!l.first) {
      out_ += ',';
      if (!(l.last_key < k)) l.unsorted = true;
    }
    l.first = false;
    l.last_key.assign(k);
    loyalty::protocol::append_json_string(out_, k);
    out_ += ':';
  }

  void scalar(const Value& v) {
    before_value();
    switch (v.kind) {
      case Kind::kNull:
        out_ += "null";
        break;
      case Kind::kBool:
        out_ += v.b ? "true" : "false";
        break;
      case Kind::kInt:
      case Kind::kTooBig:
        if (v.is_unsigned) {
          put_number(out_, v.u);
        } else {
          put_number(out_, v.i);
        }
        break;
      case Kind::kFloat:
        out_ += json(v.d).dump();  // dump()'s own float format; rare in entry data
        break;
      case Kind::kString:
        loyalty::protocol::append_json_string(out_, *v.s);
        break;
      default:
        break;
    }
  }

 private:
  struct Level {
    bool is_object = false;
    bool first = true;
    bool unsorted = false;
    size_t open_pos = 0;
    std::string last_key;
  };

  // A comma before every array element but the first (object members get theirs in key()).
  void before_value() {
    if (depth_ == 0) return;
    Level& l = levels_[depth_ - 1];
    if (l.is_object) return;
    if (!l.first) out_ += ',';
    l.first = false;
  }

  std::string out_;
  std::vector<Level> levels_;  // levels_[0..depth_) are open; kept to reuse their buffers
  size_t depth_ = 0;
};

// How the items of an "entries" array are read: entries (push, own_entries) or
// {"offset", "entry"} objects (entries).
enum class ItemsMode : uint8_t { kNone, kEntries, kOffsetEntries };

ItemsMode items_mode_for(std::string_view type) {
  if (type == "push" || type == "own_entries") return ItemsMode::kEntries;
  if (type == "entries") return ItemsMode::kOffsetEntries;
  return ItemsMode::kNone;
}

// The streamed "entries" array of a push, own_entries or entries frame.
struct Items {
  ItemsMode mode = ItemsMode::kNone;
  size_t count = 0;                         // items in the array, kept or not
  std::vector<Entry> entries;               // kEntries: the items before the first bad one
  std::vector<OffsetEntry> offset_entries;  // kOffsetEntries: likewise
  Check error;                              // the first item with a wrong field of its own
  // kOffsetEntries: the bad item's offset was right and its error is in "entry", which comes
  // after the offset ordering checks (made once from_offset and to_offset are known).
  bool error_after_offset = false;
  int64_t failed_offset = 0;
};

// nlohmann SAX handler for one frame (or, with Root::kEntry, one entry). Never throws on input
// (std::bad_alloc aside); what is wrong is recorded and reported by the caller after the parse,
// so that invalid JSON anywhere wins over field errors, as with a DOM.
class FrameSax {
 public:
  enum class Root : uint8_t { kFrame, kEntry };

  // `forced`: read any "entries" array in this mode; kNone = by the "type" seen before it.
  FrameSax(Root root, ItemsMode forced) : root_(root), forced_(forced) { stack_.reserve(16); }

  bool root_is_object() const { return root_is_object_; }
  const json& top() const { return top_; }
  Items& items() { return items_; }
  const std::string& parse_error_message() const { return parse_error_; }
  // The parse stopped at a container nested deeper than kMaxJsonDepth.
  bool too_deep() const { return too_deep_; }
  // Root::kEntry: the entry and its first wrong field.
  Entry& root_entry() { return entry_.entry; }
  const Check& root_entry_error() const { return root_check_; }

  // True when the frame's "entries" member is an array that was not streamed in `mode` (the
  // "type" came after it, or a later "type" replaced the first): parse again with `forced`.
  bool needs_reparse(ItemsMode mode) const {
    auto it = top_.find("entries");
    if (it == top_.end() || !it->is_array()) return false;
    return !(entries_streamed_ && items_.mode == mode);
  }

  // ---- the nlohmann SAX interface
  bool null() { return on_value(Value{}); }
  bool boolean(bool b) {
    Value v;
    v.kind = Kind::kBool;
    v.b = b;
    return on_value(v);
  }
  bool number_integer(json::number_integer_t n) {
    Value v;
    v.kind = Kind::kInt;
    v.i = n;
    return on_value(v);
  }
  bool number_unsigned(json::number_unsigned_t n) {
    Value v;
    v.is_unsigned = true;
    v.u = n;
    if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      v.kind = Kind::kTooBig;
    } else {
      v.kind = Kind::kInt;
      v.i = static_cast<int64_t>(n);
    }
    return on_value(v);
  }
  bool number_float(json::number_float_t d, const std::string& /*text*/) {
    Value v;
    v.kind = Kind::kFloat;
    v.d = d;
    return on_value(v);
  }
  bool string(std::string& s) {
    Value v;
    v.kind = Kind::kString;
    v.s = &s;
    return on_value(v);
  }
  bool binary(json::binary_t& /*bytes*/) { return on_value(Value{}); }  // not in JSON text
  bool start_object(std::size_t /*elements*/) { return on_start(true); }
  bool end_object() { return on_end(); }
  bool start_array(std::size_t /*elements*/) { return on_start(false); }
  bool end_array() { return on_end(); }
  bool key(std::string& k) {
    switch (stack_.back()) {
      case Ctx::kTop:
        top_key_.assign(k);
        break;
      case Ctx::kItem:
        item_key_ =
            k == "offset" ? ItemKey::kOffset : (k == "entry" ? ItemKey::kEntry : ItemKey::kOther);
        break;
      case Ctx::kEntry:
        entry_field_ = entry_field(k, entry_field_);
        break;
      case Ctx::kData:
        writer_.key(k);
        break;
      default:
        break;
    }
    return true;
  }
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const json::exception& e) {
    parse_error_ = e.what();
    return false;
  }

 private:
  // What the innermost open container is.
  enum class Ctx : uint8_t {
    kTop,    // the frame object
    kItems,  // the streamed "entries" array
    kItem,   // one {"offset", "entry"} item of an entries frame
    kEntry,  // an entry object
    kData,   // inside an entry's "data" object (DumpWriter)
    kSkip    // anything else: parsed, not kept
  };
  enum class ItemKey : uint8_t { kOther, kOffset, kEntry };
  enum class EntryParent : uint8_t { kRoot, kItems, kItem };

  // The {"offset", "entry"} item being read.
  struct ItemState {
    Kind offset_kind = Kind::kMissing;
    int64_t offset = 0;
    Kind entry_kind = Kind::kMissing;
    Check entry_check;
    Entry entry;
  };

  bool on_value(const Value& v) {
    if (stack_.empty()) {
      root_is_object_ = false;
      if (root_ == Root::kEntry) root_check_ = FieldError{"", "must be an object"};
      return true;
    }
    switch (stack_.back()) {
      case Ctx::kTop:
        top_[top_key_] = to_json(v);
        if (top_key_ == "entries") entries_streamed_ = false;
        break;
      case Ctx::kItems:
        item_index_ = items_.count++;
        if (!items_.error)
          fail_item(index_path("entries", item_index_), "must be an object", false);
        break;
      case Ctx::kItem:
        if (item_key_ == ItemKey::kOffset) {
          item_.offset_kind = v.kind;
          item_.offset = v.i;
        } else if (item_key_ == ItemKey::kEntry) {
          item_.entry_kind = v.kind;
        }
        break;
      case Ctx::kEntry:
        entry_value(v);
        break;
      case Ctx::kData:
        writer_.scalar(v);
        break;
      case Ctx::kSkip:
        break;
    }
    return true;
  }

  bool on_start(bool is_object) {
    if (stack_.size() >= static_cast<size_t>(kMaxJsonDepth)) {
      too_deep_ = true;  // stop here; the caller reports it
      return false;
    }
    if (stack_.empty()) {
      root_is_object_ = is_object;
      if (!is_object) {
        if (root_ == Root::kEntry) root_check_ = FieldError{"", "must be an object"};
        stack_.push_back(Ctx::kSkip);
      } else if (root_ == Root::kFrame) {
        stack_.push_back(Ctx::kTop);
      } else {
        begin_entry(EntryParent::kRoot);
      }
      return true;
    }
    switch (stack_.back()) {
      case Ctx::kTop:
        if (top_key_ == "entries") {
          const ItemsMode mode = forced_ != ItemsMode::kNone ? forced_ : mode_of_type_seen();
          if (!is_object && mode != ItemsMode::kNone) {
            items_ = Items{};
            items_.mode = mode;
            entries_streamed_ = true;
            top_["entries"] = json::array();
            stack_.push_back(Ctx::kItems);
            return true;
          }
          entries_streamed_ = false;
        }
        top_[top_key_] = is_object ? json::object() : json::array();
        stack_.push_back(Ctx::kSkip);
        return true;
      case Ctx::kItems:
        item_index_ = items_.count++;
        if (items_.error) {
          stack_.push_back(Ctx::kSkip);
        } else if (!is_object) {
          fail_item(index_path("entries", item_index_), "must be an object", false);
          stack_.push_back(Ctx::kSkip);
        } else if (items_.mode == ItemsMode::kEntries) {
          begin_entry(EntryParent::kItems);
        } else {
          item_ = ItemState{};
          stack_.push_back(Ctx::kItem);
        }
        return true;
      case Ctx::kItem:
        if (item_key_ == ItemKey::kEntry && is_object) {
          item_.entry_kind = Kind::kObject;
          begin_entry(EntryParent::kItem);
          return true;
        }
        if (item_key_ == ItemKey::kEntry) item_.entry_kind = Kind::kArray;
        if (item_key_ == ItemKey::kOffset) {
          item_.offset_kind = is_object ? Kind::kObject : Kind::kArray;
        }
        stack_.push_back(Ctx::kSkip);
        return true;
      case Ctx::kEntry:
        if (entry_field_ != kUnknownField) {
          entry_.kinds[entry_field_] = is_object ? Kind::kObject : Kind::kArray;
        }
        if (entry_field_ == kData && is_object) {
          writer_.reset();
          writer_.start(true);
          stack_.push_back(Ctx::kData);
        } else {
          stack_.push_back(Ctx::kSkip);
        }
        return true;
      case Ctx::kData:
        writer_.start(is_object);
        stack_.push_back(Ctx::kData);
        return true;
      case Ctx::kSkip:
        stack_.push_back(Ctx::kSkip);
        return true;
    }
    return true;
  }

  bool on_end() {
    const Ctx ctx = stack_.back();
    stack_.pop_back();
    switch (ctx) {
      case Ctx::kEntry:
        end_entry();
        break;
      case Ctx::kItem:
        end_item();
        break;
      case Ctx::kData:
        if (writer_.end()) entry_.entry.data.assign(writer_.text());
        break;
      default:
        break;
    }
    return true;
  }

  ItemsMode mode_of_type_seen() const {
    auto it = top_.find("type");
    if (it == top_.end() || !it->is_string()) return ItemsMode::kNone;
    return items_mode_for(it->get_ref<const std::string&>());
  }

  void begin_entry(EntryParent parent) {
    entry_parent_ = parent;
    entry_.reset();
    entry_field_ = kUnknownField;
    stack_.push_back(Ctx::kEntry);
  }

  void entry_value(const Value& v) {
    const EntryField f = entry_field_;
    if (f == kUnknownField) return;
    entry_.kinds[f] = v.kind;
    Entry& e = entry_.entry;
    if (v.kind == Kind::kString) {
      if (std::string* slot = string_slot(e, f)) {
        slot->assign(*v.s);
      } else if (f == kExpiresAt) {
        e.expires_at = *v.s;
      }
    } else if (v.kind == Kind::kInt) {
      if (int64_t* slot = int_slot(e, f)) *slot = v.i;
    } else if (v.kind == Kind::kNull) {
      if (f == kExpiresAt) e.expires_at.reset();
      if (f == kData) e.data = "null";
    }
  }

  void end_entry() {
    Check c = check_entry(entry_);
    switch (entry_parent_) {
      case EntryParent::kRoot:
        root_check_ = std::move(c);
        break;
      case EntryParent::kItems:
        if (c) {
          fail_item(index_path("entries", item_index_) + "." + c->field, std::move(c->message),
                    false);
        } else {
          items_.entries.push_back(std::move(entry_.entry));
        }
        break;
      case EntryParent::kItem:
        item_.entry_check = std::move(c);
        if (!item_.entry_check) item_.entry = std::move(entry_.entry);
        break;
    }
  }

  // entries_from()'s checks of one item that need nothing outside it, in its order.
  void end_item() {
    const std::string path = index_path("entries", item_index_);
    if (Check c = check_int(item_.offset_kind, item_.offset, "offset", 1)) {
      fail_item(path + "." + c->field, std::move(c->message), false);
    } else if (item_.entry_kind == Kind::kMissing) {
      fail_item(path + ".entry", "is missing", true);
    } else if (item_.entry_kind != Kind::kObject) {
      fail_item(path + ".entry", "must be an object", true);
    } else if (item_.entry_check) {
      fail_item(path + ".entry." + item_.entry_check->field, std::move(item_.entry_check->message),
                true);
    } else {
      items_.offset_entries.push_back(OffsetEntry{item_.offset, std::move(item_.entry)});
    }
  }

  void fail_item(std::string field, std::string message, bool after_offset) {
    items_.error = FieldError{std::move(field), std::move(message)};
    items_.error_after_offset = after_offset;
    items_.failed_offset = item_.offset;
  }

  const Root root_;
  const ItemsMode forced_;
  std::vector<Ctx> stack_;
  bool root_is_object_ = false;
  bool too_deep_ = false;
  std::string parse_error_;

  json top_ = json::object();
  std::string top_key_;
  bool entries_streamed_ = false;  // the last "entries" member was read into items_
  Items items_;
  size_t item_index_ = 0;
  ItemKey item_key_ = ItemKey::kOther;
  ItemState item_;

  EntryState entry_;
  EntryParent entry_parent_ = EntryParent::kRoot;
  EntryField entry_field_ = kUnknownField;
  Check root_check_;
  DumpWriter writer_;
};

// get_array() of the DOM decoder for a streamed "entries" member: present, an array, not too
// long. Returns the number of items.
size_t check_items(const json& j, const Items& items) {
  const json& v = member(j, "", "entries");
  if (!v.is_array()) throw FieldError{"entries", "must be an array"};
  if (items.count > kMaxBatchEntries) {
    throw FieldError{"entries", "has " + std::to_string(items.count) + " entries; at most " +
                                    std::to_string(kMaxBatchEntries) + " per frame"};
  }
  return items.count;
}

Push push_from(const json& j, Items& items) {
  Push p;
  p.first_seq = get_int(j, "", "first_seq", 1);
  p.last_seq = get_int(j, "", "last_seq", 1);
  const size_t count = check_items(j, items);
  if (count == 0) throw FieldError{"entries", "must hold at least one entry"};
  if (p.last_seq < p.first_seq) throw FieldError{"last_seq", "is smaller than first_seq"};
  if (static_cast<uint64_t>(p.last_seq - p.first_seq) + 1 != count) {
    throw FieldError{"last_seq", "first_seq..last_seq covers " +
                                     std::to_string(p.last_seq - p.first_seq + 1) +
                                     " seqs but entries holds " + std::to_string(count)};
  }
  // Every item before items.error is in items.entries; its own fields were checked.
  for (size_t i = 0; i < items.entries.size(); ++i) {
    if (items.entries[i].origin_seq != p.first_seq + static_cast<int64_t>(i)) {
      throw FieldError{index_path("entries", i) + ".origin_seq",
                       "is " + std::to_string(items.entries[i].origin_seq) +
                           " but the batch's seq there is " + std::to_string(p.first_seq + i)};
    }
  }
  if (items.error) throw *items.error;
  p.entries = std::move(items.entries);
  return p;
}

Entries entries_from(const json& j, Items& items) {
  Entries f;
  f.from_offset = get_int(j, "", "from_offset", 1);
  f.to_offset = get_int(j, "", "to_offset", 1);
  if (f.to_offset < f.from_offset) throw FieldError{"to_offset", "is smaller than from_offset"};
  check_items(j, items);
  int64_t previous = f.from_offset - 1;
  auto check_offset = [&](size_t i, int64_t offset) {
    const std::string path = index_path("entries", i);
    if (offset <= previous) {
      throw FieldError{path + ".offset", "must be greater than " + std::to_string(previous) +
                                             " (offsets increase from from_offset)"};
    }
    if (offset > f.to_offset) throw FieldError{path + ".offset", "is beyond to_offset"};
    previous = offset;
  };
  for (size_t i = 0; i < items.offset_entries.size(); ++i) {
    check_offset(i, items.offset_entries[i].offset);
  }
  if (items.error) {
    if (items.error_after_offset) check_offset(items.offset_entries.size(), items.failed_offset);
    throw *items.error;
  }
  f.entries = std::move(items.offset_entries);
  return f;
}

OwnEntries own_entries_from(const json& j, Items& items) {
  OwnEntries f;
  f.from_seq = get_int(j, "", "from_seq", 1);
  f.to_seq = get_int(j, "", "to_seq", 1);
  if (f.to_seq < f.from_seq) throw FieldError{"to_seq", "is smaller than from_seq"};
  check_items(j, items);
  int64_t previous = f.from_seq - 1;
  for (size_t i = 0; i < items.entries.size(); ++i) {
    const int64_t seq = items.entries[i].origin_seq;
    const std::string_view name = ".origin_seq";
    if (seq <= previous) {
      throw FieldError{
          index_path("entries", i) + std::string(name),
          "must be greater than " + std::to_string(previous) + " (seqs increase from from_seq)"};
    }
    if (seq > f.to_seq) {
      throw FieldError{index_path("entries", i) + std::string(name), "is beyond to_seq"};
    }
    previous = seq;
  }
  if (items.error) throw *items.error;
  f.entries = std::move(items.entries);
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

Frame frame_from(const json& j, std::string_view type, Items& items) {
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
  if (type == "own_entries") return own_entries_from(j, items);
  if (type == "push") return push_from(j, items);
  if (type == "ack") return Ack{get_int(j, "", "acked_seq", 0)};
  if (type == "nack") return Nack{get_int(j, "", "expected", 1)};
  if (type == "entries") return entries_from(j, items);
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
// count). For valid JSON this is the depth FrameSax counts; run_sax() uses it only when the
// parse failed, so that "too deep" is reported wherever the syntax error is.
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

std::optional<domain::Error> check_size(std::string_view text) {
  if (text.size() > kMaxFrameBytes) {
    return make_error(ErrorCode::kInvalidArgument, "",
                      "frame is " + std::to_string(text.size()) + " bytes; at most " +
                          std::to_string(kMaxFrameBytes));
  }
  return std::nullopt;
}

domain::Error too_deep_error() {
  return make_error(ErrorCode::kInvalidJson, "",
                    "JSON nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
}

// Runs `sax` over `text`; the error for text that is not JSON or nests too deep. Too deep wins
// over a syntax error anywhere, as when the depth was checked by a pass before the parse: the
// handler counts the depth of what parsed, and a failed parse also runs that pass.
std::optional<domain::Error> run_sax(FrameSax& sax, std::string_view text) {
  if (json::sax_parse(text.data(), text.data() + text.size(), &sax)) {
    // nlohmann's lexer ends the input at a NUL byte; the depth pass reads past it, as before.
    if (std::memchr(text.data(), '\0', text.size()) != nullptr && nests_too_deep(text)) {
      return too_deep_error();
    }
    return std::nullopt;
  }
  if (sax.too_deep() || nests_too_deep(text)) return too_deep_error();
  return make_error(ErrorCode::kInvalidJson, "", "not valid JSON: " + sax.parse_error_message());
}

// ---- encoding ---------------------------------------------------------------------------

// Appends `s` as a JSON string (invalid UTF-8 becomes U+FFFD, so the output always parses):
// the contract's own encoder, so both protocols escape alike.
void put_string(std::string& out, std::string_view s) {
  loyalty::protocol::append_json_string(out, s);
}

void put_key(std::string& out, const char* key) {
  out += '"';
  out += key;
  out += "\":";
}

void field(std::string& out, const char* key, std::string_view value) {
  put_key(out, key);
  put_string(out, value);
  out += ',';
}

void field(std::string& out, const char* key, int64_t value) {
  put_key(out, key);
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  static_cast<void>(ec);
  out.append(buf, end);
  out += ',';
}

void field_bool(std::string& out, const char* key, bool value) {
  put_key(out, key);
  out += value ? "true," : "false,";
}

// Replaces the trailing ',' with '}'.
void close_object(std::string& out) {
  if (!out.empty() && out.back() == ',') {
    out.back() = '}';
  } else {
    out += '}';
  }
}

void put_entry(std::string& out, const Entry& e) {
  out += '{';
  field(out, "entry_id", e.entry_id);
  field(out, "origin_branch", e.origin_branch);
  field(out, "origin_seq", e.origin_seq);
  field(out, "node_epoch", e.node_epoch);
  field(out, "account_id", e.account_id);
  field(out, "kind", e.kind);
  field(out, "points", e.points);
  field(out, "request_id", e.request_id);
  field(out, "branch", e.branch);
  field(out, "ticket", e.ticket);
  field(out, "ref_entry_id", e.ref_entry_id);
  field(out, "business_at", e.business_at);
  field(out, "recorded_at_ms", e.recorded_at_ms);
  put_key(out, "expires_at");
  if (e.expires_at) {
    put_string(out, *e.expires_at);
  } else {
    out += "null";
  }
  out += ',';
  field(out, "program_version", e.program_version);
  field(out, "reason", e.reason);
  field(out, "body_hash", e.body_hash);
  put_key(out, "data");
  out += e.data.empty() ? std::string_view("null") : std::string_view(e.data);
  out += '}';
}

struct Encoder {
  std::string& out;
  void operator()(const Hello& h) {
    field(out, "type", "hello");
    field(out, "proto", int64_t{h.proto});
    field(out, "branch", h.branch);
    field(out, "node_epoch", h.node_epoch);
    field(out, "local_max_seq", h.local_max_seq);
    field(out, "applied_offset", h.applied_offset);
    field(out, "hub_epoch_seen", h.hub_epoch_seen);
    field(out, "config_version", h.config_version);
    field(out, "client_time_ms", h.client_time_ms);
    if (h.check_offset >= 0) {
      field(out, "check_offset", h.check_offset);
      field(out, "check_entry_id", h.check_entry_id);
    }
  }
  void operator()(const Welcome& w) {
    field(out, "type", "welcome");
    field(out, "hub_epoch", w.hub_epoch);
    field(out, "acked_seq", w.acked_seq);
    field(out, "head_offset", w.head_offset);
    field(out, "server_time_ms", w.server_time_ms);
    field(out, "config_version", w.config_version);
    field_bool(out, "must_refetch", w.must_refetch);
    field(out, "acked_entry_id", w.acked_entry_id);
  }
  void operator()(const FetchOwn& f) {
    field(out, "type", "fetch_own");
    field(out, "from_seq", f.from_seq);
    field(out, "to_seq", f.to_seq);
  }
  void operator()(const OwnEntries& f) {
    field(out, "type", "own_entries");
    field(out, "from_seq", f.from_seq);
    field(out, "to_seq", f.to_seq);
    put_key(out, "entries");
    out += '[';
    for (size_t i = 0; i < f.entries.size(); ++i) {
      if (i) out += ',';
      put_entry(out, f.entries[i]);
    }
    out += "],";
  }
  void operator()(const Push& p) {
    field(out, "type", "push");
    field(out, "first_seq", p.first_seq);
    field(out, "last_seq", p.last_seq);
    put_key(out, "entries");
    out += '[';
    for (size_t i = 0; i < p.entries.size(); ++i) {
      if (i) out += ',';
      put_entry(out, p.entries[i]);
    }
    out += "],";
  }
  void operator()(const Ack& a) {
    field(out, "type", "ack");
    field(out, "acked_seq", a.acked_seq);
  }
  void operator()(const Nack& n) {
    field(out, "type", "nack");
    field(out, "expected", n.expected);
  }
  void operator()(const Entries& f) {
    field(out, "type", "entries");
    field(out, "from_offset", f.from_offset);
    field(out, "to_offset", f.to_offset);
    put_key(out, "entries");
    out += '[';
    for (size_t i = 0; i < f.entries.size(); ++i) {
      if (i) out += ',';
      out += '{';
      field(out, "offset", f.entries[i].offset);
      put_key(out, "entry");
      put_entry(out, f.entries[i].entry);
      out += '}';
    }
    out += "],";
  }
  void operator()(const Applied& a) {
    field(out, "type", "applied");
    field(out, "offset", a.offset);
  }
  void operator()(const Config& c) {
    field(out, "type", "config");
    field(out, "version", c.version);
    field(out, "document", c.document);
  }
  void operator()(const ConfigAck& c) {
    field(out, "type", "config_ack");
    field(out, "version", c.version);
  }
  void operator()(const ErrorFrame& e) {
    field(out, "type", "error");
    field(out, "code", e.code);
    field(out, "message", e.message);
    field_bool(out, "fatal", e.fatal);
  }
};

}  // namespace

std::string_view frame_type(const Frame& frame) {
  static constexpr std::string_view kNames[] = {
      "hello",   "welcome", "push",       "ack",   "nack",      "entries",
      "applied", "config",  "config_ack", "error", "fetch_own", "own_entries"};
  static_assert(std::size(kNames) == std::variant_size_v<Frame>);
  return kNames[frame.index()];
}

domain::Result<Frame> decode_frame(std::string_view text) {
  if (auto bad = check_size(text)) return *bad;
  std::optional<FrameSax> sax(std::in_place, FrameSax::Root::kFrame, ItemsMode::kNone);
  if (auto bad = run_sax(*sax, text)) return *bad;
  if (!sax->root_is_object()) {
    return make_error(ErrorCode::kInvalidJson, "", "a frame must be a JSON object");
  }
  auto it = sax->top().find("type");
  if (it == sax->top().end()) {
    return make_error(ErrorCode::kInvalidEvent, "type", "type is missing");
  }
  if (!it->is_string()) {
    return make_error(ErrorCode::kInvalidEvent, "type", "type must be a string");
  }
  const std::string type = it->get_ref<const std::string&>();
  const ItemsMode mode = items_mode_for(type);
  if (mode != ItemsMode::kNone && sax->needs_reparse(mode)) {
    // "type" came after "entries" (or changed): read the text again knowing it. Never from
    // encode(), which writes "type" first.
    sax.emplace(FrameSax::Root::kFrame, mode);
    if (auto bad = run_sax(*sax, text)) return *bad;
  }
  try {
    return frame_from(sax->top(), type, sax->items());
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

std::string encode(const Frame& frame) {
  std::string out;
  out.reserve(128);
  out += '{';
  std::visit(Encoder{out}, frame);
  close_object(out);
  return out;
}

std::string encode_entry(const Entry& entry) {
  std::string out;
  out.reserve(512);
  put_entry(out, entry);
  return out;
}

domain::Result<Entry> decode_entry(std::string_view text) {
  if (auto bad = check_size(text)) return *bad;
  FrameSax sax(FrameSax::Root::kEntry, ItemsMode::kNone);
  if (auto bad = run_sax(sax, text)) return *bad;
  if (const Check& e = sax.root_entry_error()) {
    const std::string name = e->field.empty() ? "entry" : e->field;
    return make_error(ErrorCode::kInvalidEvent, e->field, name + " " + e->message);
  }
  return std::move(sax.root_entry());
}

std::string_view sync_error_code(const domain::Error& error) {
  switch (error.code) {
    case ErrorCode::kUnknownType:
      return kErrVersion;
    case ErrorCode::kInvalidArgument:
      return kErrTooBig;
    default:
      return kErrInvalid;
  }
}

ErrorFrame error_frame_for(const domain::Error& error, bool fatal) {
  return ErrorFrame{std::string(sync_error_code(error)), error.message, fatal};
}

}  // namespace loyalty::sync

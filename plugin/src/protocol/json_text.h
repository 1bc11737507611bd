// Byte-level helpers for the JSON wire format: input screening (NUL, UTF-8), string
// escaping, and a small append-only writer for responses.
//
// Internal to the protocol module. Nothing here allocates except into the caller's string,
// nothing throws except std::bad_alloc, and all functions are thread-safe (no state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace loyalty::protocol {

// The first byte of `text` that a request may not contain.
struct BadByte {
  enum class Kind { kNul = 1, kInvalidUtf8 = 2 };
  Kind kind = Kind::kInvalidUtf8;
  size_t offset = 0;
};

// Finds the first NUL byte or the first byte that does not start a well-formed UTF-8
// sequence (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
// ASCII is checked eight bytes at a time.
std::optional<BadByte> find_bad_byte(std::string_view text);

// Number of code points in valid UTF-8 (bytes that are not continuation bytes).
size_t count_chars(std::string_view utf8);

// True when the text contains a C0 control character, DEL, or a C1 control (U+0080..U+009F).
bool has_control_chars(std::string_view utf8);

// At most `max_bytes` of `text`, cut on a character boundary, with "..." when cut. For
// echoing hostile input in error messages.
std::string excerpt(std::string_view text, size_t max_bytes = 40);

// Appends `s` as a quoted JSON string. Escapes exactly what nlohmann::json::dump() escapes
// ('"', '\\', control characters below 0x20; "\u00xx" in lowercase hex), so for valid
// UTF-8 the bytes are identical to dump()'s. Invalid UTF-8 is replaced by U+FFFD, one per
// bad byte, so the output is always valid UTF-8 JSON.
void append_json_string(std::string& out, std::string_view s);

// Writes one JSON document left to right, without building a tree. Keys are trusted
// literals (not escaped); values are escaped. The caller balances open/close calls.
class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  JsonWriter& open_object();
  JsonWriter& close_object();
  JsonWriter& open_array();
  JsonWriter& close_array();
  JsonWriter& key(std::string_view k);  // next call writes its value

  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(int64_t v);
  JsonWriter& value(uint32_t v) { return value(static_cast<int64_t>(v)); }
  JsonWriter& value(bool v);
  JsonWriter& null();
  // Appends `json`, a complete JSON value the caller already encoded (a stored response),
  // as the next value, unchanged and unchecked.
  JsonWriter& raw(std::string_view json);

  // key + value in one call.
  template <class T>
  JsonWriter& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }

 private:
  void separate();

  std::string& out_;
  bool first_ = true;       // nothing written yet in the innermost container
  bool after_key_ = false;  // a key was written; its value needs no comma
};

}  // namespace loyalty::protocol

#include "protocol/canonical.h"

#include <openssl/evp.h>

#include <charconv>

#include "protocol/json_text.h"

namespace loyalty::protocol {
namespace {

template <class Int>
void append_integer(std::string& out, Int v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Fetched once: an implicit fetch on every EVP_Digest call costs more than hashing a
// request. EVP_MD objects are immutable and safe to share between threads.
const EVP_MD* sha256_md() {
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
  static const EVP_MD* md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched != nullptr ? fetched : EVP_sha256();
  }();
  return md;
#else
  return EVP_sha256();
#endif
}

}  // namespace

void append_canonical(const nlohmann::json& doc, std::string& out) {
  using value_t = nlohmann::json::value_t;
  switch (doc.type()) {
    case value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, v] : doc.get_ref<const nlohmann::json::object_t&>()) {
        if (!first) out += ',';
        first = false;
        append_json_string(out, k);
        out += ':';
        append_canonical(v, out);
      }
      out += '}';
      return;
    }
    case value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& v : doc.get_ref<const nlohmann::json::array_t&>()) {
        if (!first) out += ',';
        first = false;
        append_canonical(v, out);
      }
      out += ']';
      return;
    }
    case value_t::string:
      append_json_string(out, doc.get_ref<const std::string&>());
      return;
    case value_t::number_integer:
      append_integer(out, doc.get<int64_t>());
      return;
    case value_t::number_unsigned:
      append_integer(out, doc.get<uint64_t>());
      return;
    case value_t::boolean:
      out += doc.get<bool>() ? "true" : "false";
      return;
    case value_t::null:
      out += "null";
      return;
    default:
      out += doc.dump();
      return;  // floats (and binary, which JSON text never yields)
  }
}

std::string sha256_hex(std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, sha256_md(), nullptr) != 1) len = 0;
  std::string out(static_cast<size_t>(len) * 2, '0');
  for (unsigned int i = 0; i < len; ++i) {
    out[2 * i] = kHex[md[i] >> 4];
    out[2 * i + 1] = kHex[md[i] & 0xF];
  }
  return out;
}

}  // namespace loyalty::protocol

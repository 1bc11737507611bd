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

template <class Json>
void append_canonical_of(const Json& doc, std::string& out) {
  using value_t = typename Json::value_t;
  switch (doc.type()) {
    case value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, v] : doc.template get_ref<const typename Json::object_t&>()) {
        if (!first) out += ',';
        first = false;
        append_json_string(out, k);
        out += ':';
        append_canonical_of(v, out);
      }
      out += '}';
      return;
    }
    case value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& v : doc.template get_ref<const typename Json::array_t&>()) {
        if (!first) out += ',';
        first = false;
        append_canonical_of(v, out);
      }
      out += ']';
      return;
    }
    case value_t::string:
      append_json_string(out, doc.template get_ref<const std::string&>());
      return;
    case value_t::number_integer:
      append_integer(out, doc.template get<int64_t>());
      return;
    case value_t::number_unsigned:
      append_integer(out, doc.template get<uint64_t>());
      return;
    case value_t::boolean:
      out += doc.template get<bool>() ? "true" : "false";
      return;
    case value_t::null:
      out += "null";
      return;
    default:
      out += doc.dump();
      return;  // floats (and binary, which JSON text never yields)
  }
}

}  // namespace

void append_canonical(const nlohmann::json& doc, std::string& out) {
  append_canonical_of(doc, out);
}
void append_canonical(const RequestJson& doc, std::string& out) { append_canonical_of(doc, out); }

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

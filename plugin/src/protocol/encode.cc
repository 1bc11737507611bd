// encode_response / encode_error: domain answers -> JSON text (contract section 2).
//
// Written left to right with JsonWriter instead of building an nlohmann tree: a sale
// response is ~20 members and a receipt, and the tree costs several times the writing.
// Strings are escaped like nlohmann's dump() and invalid UTF-8 becomes U+FFFD, so the
// output is always valid UTF-8 JSON.
#include <string>
#include <variant>
#include <vector>

#include "protocol/codec.h"
#include "protocol/json_text.h"

namespace loyalty::protocol {
namespace {

constexpr const char* kResponseFailure =
    R"({"ok":false,"error":{"code":"internal","field":"","message":"could not encode the response"}})";
constexpr const char* kErrorFailure =
    R"({"ok":false,"error":{"code":"internal","field":"","message":"could not encode the error"}})";

const char* reason_word(domain::ZeroEarnReason r) {
  switch (r) {
    case domain::ZeroEarnReason::kNoCustomer:
      return "no_customer";
    case domain::ZeroEarnReason::kExcludedMethod:
      return "excluded_method";
    case domain::ZeroEarnReason::kExcludedProduct:
      return "excluded_product";
    case domain::ZeroEarnReason::kPaidWithPoints:
      return "paid_with_points";
    case domain::ZeroEarnReason::kRoundedToZero:
      return "rounded_to_zero";
    case domain::ZeroEarnReason::kZeroRate:
      return "zero_rate";
  }
  return "unknown";
}

// Decimal string with at least two places: "4.50", "104.50", "0.125".
std::string money(const domain::Money& m) { return m.str_trimmed(2); }

void strings(JsonWriter& w, std::string_view key, const std::vector<std::string>& xs) {
  w.key(key).open_array();
  for (const auto& x : xs) w.value(x);
  w.close_array();
}

// [{"points":45,"expires_at":"2027-11-22T10:15:00-06:00","date":"2027-11-22"}, ...]
void expiring(JsonWriter& w, const std::vector<domain::ExpiringPoints>& xs) {
  w.key("expiring").open_array();
  for (const auto& x : xs) {
    w.open_object()
        .field("points", x.points.value())
        .field("expires_at", domain::format_rfc3339(x.expires_at))
        .field("date", domain::format_date(x.expires_at))
        .close_object();
  }
  w.close_array();
}

// The members each response adds after ok/type/id/branch.
struct BodyWriter {
  JsonWriter& w;

  void operator()(const domain::SaleResponse& r) {
    w.field("customer", r.customer)
        .field("account", r.account)
        .field("earned", r.earned.value())
        .field("redeemed", r.redeemed.value())
        .field("balance", r.balance.value())
        .field("balance_value", money(r.balance_value))
        .field("available", r.available.value());
    expiring(w, r.expiring);
    w.key("notes").open_array();
    for (const auto& n : r.notes) {
      w.open_object()
          .field("reason", reason_word(n.reason))
          .field("detail", n.detail)
          .close_object();
    }
    w.close_array();
    strings(w, "warnings", r.warnings);
    strings(w, "receipt", r.receipt);
    w.field("program_version", r.program_version);
  }

  void operator()(const domain::AuthorizeResponse& r) {
    w.field("hold", r.hold)
        .field("points", r.points.value())
        .field("amount", money(r.amount))
        .field("expires_at", domain::format_rfc3339(r.expires_at))
        .field("available", r.available.value());
  }

  void operator()(const domain::ReleaseResponse& r) {
    strings(w, "released", r.released);
    w.field("points", r.points.value());
  }

  void operator()(const domain::VoidResponse& r) {
    w.field("ticket", r.ticket);
    strings(w, "released", r.released);
    w.field("reversed_sale", r.reversed_sale)
        .field("clawed_back", r.clawed_back.value())
        .field("restored", r.restored.value());
    if (r.balance) w.field("balance", r.balance->value());
  }

  void operator()(const domain::RefundResponse& r) {
    w.field("customer", r.customer)
        .field("account", r.account)
        .field("matched", r.matched)
        .field("clawed_back", r.clawed_back.value())
        .field("restored", r.restored.value())
        .field("balance", r.balance.value())
        .field("balance_value", money(r.balance_value))
        .field("available", r.available.value());
    expiring(w, r.expiring);
    strings(w, "warnings", r.warnings);
    strings(w, "receipt", r.receipt);
  }

  void operator()(const domain::CustomerResponse& r) {
    w.field("customer", r.customer).field("account", r.account).field("created", r.created);
    strings(w, "aliases", r.aliases);
    w.field("category", r.category).field("balance", r.balance.value());
    strings(w, "warnings", r.warnings);
  }

  void operator()(const domain::BalanceResponse& r) {
    w.field("customer", r.customer)
        .field("account", r.account)
        .field("balance", r.balance.value())
        .field("available", r.available.value())
        .field("balance_value", money(r.balance_value))
        .field("category", r.category);
    expiring(w, r.expiring);
  }

  void operator()(const domain::HistoryResponse& r) {
    w.field("customer", r.customer).field("account", r.account);
    w.key("entries").open_array();
    for (const auto& e : r.entries) {
      w.open_object()
          .field("id", e.entry_id)
          .field("kind", e.kind)
          .field("points", e.points.value())
          .field("branch", e.branch)
          .field("ticket", e.ticket)
          .field("at", domain::format_rfc3339(e.at));
      w.key("expires_at");
      if (e.expires_at) {
        w.value(domain::format_rfc3339(*e.expires_at));
      } else {
        w.null();
      }
      w.field("reason", e.reason).close_object();
    }
    w.close_array();
    w.field("truncated", r.truncated);
  }

  void operator()(const domain::AdjustResponse& r) {
    w.field("customer", r.customer)
        .field("points", r.points.value())
        .field("balance", r.balance.value());
  }

  void operator()(const domain::TransferResponse& r) {
    w.field("from", r.from)
        .field("to", r.to)
        .field("points", r.points.value())
        .field("from_balance", r.from_balance.value())
        .field("to_balance", r.to_balance.value());
  }

  // "branch" is written with the header (one key, one value): see encode_response.
  void operator()(const domain::InfoResponse& r) {
    w.field("abi_version", r.abi_version)
        .field("version", r.version)
        .field("program_version", r.program_version)
        .field("schema_version", r.schema_version)
        .field("currency", r.currency);
  }
};

}  // namespace

std::string encode_response(const domain::RequestHeader& header, const domain::Response& r) {
  try {
    std::string out;
    out.reserve(1024);
    JsonWriter w(out);
    // plugin.info reports the configured branch; every other response the request's.
    const auto* info = std::get_if<domain::InfoResponse>(&r);
    const std::string& branch =
        info != nullptr && !info->branch.empty() ? info->branch : header.branch;
    w.open_object()
        .field("ok", true)
        .field("type", header.type)
        .field("id", header.id)
        .field("branch", branch);
    std::visit(BodyWriter{w}, r);
    w.close_object();
    return out;
  } catch (...) {
    try {
      return kResponseFailure;
    } catch (...) {
      return {};  // out of memory even for the fallback: the ABI reports that itself
    }
  }
}

std::string encode_error(const domain::Error& error, std::string_view request_id) {
  try {
    std::string out;
    out.reserve(96 + request_id.size() + error.field.size() + error.message.size());
    JsonWriter w(out);
    w.open_object().field("ok", false);
    if (!request_id.empty()) w.field("id", request_id);
    w.key("error")
        .open_object()
        .field("code", domain::error_code_word(error.code))
        .field("field", error.field)
        .field("message", error.message)
        .close_object()
        .close_object();
    return out;
  } catch (...) {
    try {
      return kErrorFailure;
    } catch (...) {
      return {};  // out of memory even for the fallback: the ABI reports that itself
    }
  }
}

}  // namespace loyalty::protocol

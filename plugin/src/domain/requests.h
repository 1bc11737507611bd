// The requests of contract section 2, as plain domain values (already validated).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "domain/fixed.h"
#include "domain/time.h"

namespace loyalty::domain {

struct RequestHeader {
  std::string type;      // the contract's word, e.g. "sale.completed"
  std::string id;        // idempotency key
  BusinessTime at;       // business time
  std::string branch;    // defaults to the configured branch
  std::string terminal;  // optional
};

struct SaleLine {
  int64_t n = 0;  // line number on the ticket
  std::string sku;
  std::string category;
  Quantity qty;
  Money amount;  // charged for the line, after line discounts
};

struct Tender {
  std::string method;
  Money amount;
  Money change;
  std::string hold;  // points tenders: the hold being captured
};

struct SaleCompleted {
  RequestHeader h;
  std::string ticket;
  std::string currency;
  std::string customer;  // empty: anonymous sale
  std::vector<SaleLine> lines;
  std::vector<Tender> tenders;
};

struct PointsAuthorize {
  RequestHeader h;
  std::string customer;
  std::string ticket;
  Money amount;
};

struct PointsRelease {
  RequestHeader h;
  std::string hold;      // release this hold, or
  std::string ticket;    // every active hold of this ticket
  std::string customer;  // optional: when given, the holds must be this customer's
};

struct SaleVoided {
  RequestHeader h;
  std::string ticket;
  std::string customer;  // optional: when given, the ticket's sale and holds must be theirs
};

struct RefundLine {
  std::optional<int64_t> n;  // the original sale's line
  std::string sku;
  std::string category;
  std::optional<Quantity> qty;
  std::optional<Money> amount;
};

struct RefundCompleted {
  RequestHeader h;
  std::string ticket;
  std::string original_ticket;
  std::string original_branch;
  std::string customer;
  std::string currency;
  std::vector<RefundLine> lines;
  std::vector<Tender> tenders;
};

struct CustomerUpsert {
  RequestHeader h;
  std::string customer;
  std::optional<std::string> name, email, phone, birthday, category;
  std::vector<std::string> aliases;
};

struct BalanceQuery {
  RequestHeader h;
  std::string customer;
};

struct HistoryQuery {
  RequestHeader h;
  std::string customer;
  std::optional<BusinessTime> from, to;
  int64_t limit = 1000;
};

struct PointsAdjust {
  RequestHeader h;
  std::string customer;
  Points points;
  std::string reason;
  std::string operator_name;
};

struct PointsTransfer {
  RequestHeader h;
  std::string from;
  std::string to;
  Points points;
  std::string reason;
};

struct PluginInfo {
  RequestHeader h;
};

using Request = std::variant<SaleCompleted, PointsAuthorize, PointsRelease, SaleVoided,
                             RefundCompleted, CustomerUpsert, BalanceQuery, HistoryQuery,
                             PointsAdjust, PointsTransfer, PluginInfo>;

inline const RequestHeader& header_of(const Request& r) {
  return std::visit([](const auto& x) -> const RequestHeader& { return x.h; }, r);
}
inline RequestHeader& header_of(Request& r) {
  return std::visit([](auto& x) -> RequestHeader& { return x.h; }, r);
}

// Queries change nothing and are not recorded for idempotency.
inline bool is_query(const Request& r) {
  return std::holds_alternative<BalanceQuery>(r) || std::holds_alternative<HistoryQuery>(r) ||
         std::holds_alternative<PluginInfo>(r);
}

}  // namespace loyalty::domain

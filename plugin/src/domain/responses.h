// The answers of contract section 2, as plain domain values. The protocol layer turns them
// into JSON; nothing here knows about JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "domain/fixed.h"
#include "domain/time.h"

namespace loyalty::domain {

// Points that expire on one date (balance.query `expiring`, receipt `{expiring}`; built by
// add_expiring in domain/lots.h).
struct ExpiringPoints {
  Points points{0};
  BusinessTime expires_at;
};

// Why (part of) a sale earned nothing; the receipt says it in words.
enum class ZeroEarnReason {
  kNoCustomer = 1,         // anonymous sale
  kExcludedMethod = 2,     // (part) paid with an excluded payment method; `detail` = methods
  kExcludedProduct = 3,    // a line is excluded by SKU or category; `detail` = SKU/category
  kPaidWithPoints = 4,     // on_points_tender = "block" and a points tender
  kRoundedToZero = 5,      // earning floored to zero
  kZeroRate = 6,           // the customer's category (`detail`) or the program earns 0 %
};

struct ZeroEarnNote {
  ZeroEarnReason reason = ZeroEarnReason::kRoundedToZero;
  std::string detail;  // e.g. "credit_card" or "GIFT-100"
};

struct SaleResponse {
  std::string customer;  // the reference the POS sent (empty: anonymous)
  std::string account;   // our account id (empty: anonymous)
  Points earned{0};
  Points redeemed{0};
  Points balance{0};
  Money balance_value;
  Points available{0};
  std::vector<ExpiringPoints> expiring;
  std::vector<ZeroEarnNote> notes;    // what earned nothing and why
  std::vector<std::string> warnings;  // e.g. points tender over the balance
  std::vector<std::string> receipt;
  std::string program_version;
};

struct AuthorizeResponse {
  std::string hold;
  Points points{0};
  Money amount;
  BusinessTime expires_at;
  Points available{0};  // after this hold
};

struct ReleaseResponse {
  std::vector<std::string> released;  // hold ids now released
  Points points{0};                   // points they had reserved
};

struct VoidResponse {
  std::string ticket;
  std::vector<std::string> released;  // holds of the ticket released
  bool reversed_sale = false;         // the ticket was a completed sale: reversed
  Points clawed_back{0};
  Points restored{0};
  std::optional<Points> balance;      // when the ticket has a customer
};

struct RefundResponse {
  std::string customer;
  std::string account;
  bool matched = false;  // the original sale was found
  Points clawed_back{0};
  Points restored{0};
  Points balance{0};
  Money balance_value;
  Points available{0};
  std::vector<ExpiringPoints> expiring;
  std::vector<std::string> warnings;
  std::vector<std::string> receipt;
};

struct CustomerResponse {
  std::string customer;
  std::string account;
  bool created = false;
  std::vector<std::string> aliases;  // every reference of the account
  std::string category;
  Points balance{0};
  std::vector<std::string> warnings;
};

struct BalanceResponse {
  std::string customer;
  std::string account;
  Points balance{0};
  Points available{0};
  Money balance_value;
  std::string category;
  std::vector<ExpiringPoints> expiring;
};

struct HistoryEntry {
  std::string entry_id;
  std::string kind;  // earn, redeem, clawback, restore, expire, adjust, transfer_in, ...
  Points points{0};
  std::string branch;
  std::string ticket;
  BusinessTime at;
  std::optional<BusinessTime> expires_at;
  std::string reason;
};

struct HistoryResponse {
  std::string customer;
  std::string account;
  std::vector<HistoryEntry> entries;  // oldest first
  bool truncated = false;
};

struct AdjustResponse {
  std::string customer;
  Points points{0};
  Points balance{0};
};

struct TransferResponse {
  std::string from;
  std::string to;
  Points points{0};
  Points from_balance{0};
  Points to_balance{0};
};

struct InfoResponse {
  uint32_t abi_version = 0;
  std::string version;          // library version
  std::string branch;
  std::string program_version;  // content hash of the program in force
  int64_t schema_version = 0;
  std::string currency;
};

using Response = std::variant<SaleResponse, AuthorizeResponse, ReleaseResponse, VoidResponse,
                              RefundResponse, CustomerResponse, BalanceResponse,
                              HistoryResponse, AdjustResponse, TransferResponse, InfoResponse>;

}  // namespace loyalty::domain

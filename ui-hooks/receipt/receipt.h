// Receipt lines (contract section 5): what the plugin asks the POS to print.
//
// Pure text rendering from a template; no I/O. Templates are lists of lines with tokens
// {earned} {redeemed} {balance} {balance_value} {available} {expiring} {expiring_date}
// {customer} {clawed_back} {restored} {currency}. Output lines are never wider than
// `width` columns (UTF-8 code points).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "domain/fixed.h"
#include "domain/responses.h"
#include "domain/result.h"

namespace loyalty::receipt {

struct ReceiptConfig {
  std::string locale = "es";               // "es" or "en": default templates and reasons
  int width = 42;                          // columns, 16..200
  std::vector<std::string> sale_template;  // empty: the locale's default
  std::vector<std::string> refund_template;
  bool show_reasons = true;                // print what earned nothing and why
};

struct ReceiptFacts {
  enum class Kind { kSale = 1, kRefund = 2 };
  Kind kind = Kind::kSale;
  std::string customer;  // the reference as the POS sent it; empty: anonymous (no lines)
  std::string currency;
  domain::Points earned{0}, redeemed{0}, clawed_back{0}, restored{0};
  domain::Points balance{0}, available{0};
  domain::Money balance_value;
  std::optional<domain::ExpiringPoints> expiring;  // the next lot to expire
  std::vector<domain::ZeroEarnNote> notes;
};

// Checks a configuration: locale known, width in range, only known tokens, balanced braces.
// Errors are invalid_config naming the key ("receipt.sale_template[2]").
domain::Status validate(const ReceiptConfig& config);

// Renders the lines to print. Deterministic; never throws.
std::vector<std::string> render(const ReceiptConfig& config, const ReceiptFacts& facts);

}  // namespace loyalty::receipt

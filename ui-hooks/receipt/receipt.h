// Receipt lines (contract section 5): what the plugin asks the POS to print after a sale
// or a refund.
//
// Pure text rendering from a template: no I/O, no clock, no global state. Both functions
// are thread-safe (they only read their arguments) and never throw except std::bad_alloc.
//
// Templates are lists of lines. A line holds literal text and tokens:
//   {customer}       the reference the POS sent ("card:4000123")
//   {earned}         points earned by the sale        {redeemed}     points paid with
//   {clawed_back}    points a refund took back        {restored}     points a refund returned
//   {balance}        balance after the operation      {available}    balance minus holds
//   {balance_value}  money value of the balance: two decimals followed by the currency
//                    code, "14.50 MXN" (just "14.50" when the currency is empty). We print
//                    the ISO code rather than "$" because "$" is ambiguous between pesos
//                    and dollars on a receipt.
//   {currency}       the currency code alone
//   {expiring}       points of the next lot to expire
//   {expiring_date}  its expiry date, YYYY-MM-DD in the sale's UTC offset
// `{{` and `}}` print a literal brace. Any other `{...}` is rejected by validate().
//
// Rendering rules:
// - An anonymous sale or refund (empty `customer`) prints no lines at all.
// - A line with {redeemed}, {clawed_back} or {restored} whose value is 0 is left out.
// - A line with {expiring} or {expiring_date} is left out when nothing expires.
// - With `show_reasons`, one line per ZeroEarnNote follows, in the locale
//   ("Sin puntos: forma de pago excluida (credit_card)"); kNoCustomer never prints.
// - No output line is wider than `width` UTF-8 code points: long lines wrap at spaces and
//   words longer than the width are split between code points (never inside a UTF-8
//   sequence). Blank lines are not printed.
// - Control characters and invalid UTF-8 inside values (customer, currency, note details)
//   print as '?', so a POS value can never break the printer's layout.
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
  int width = 42;                          // columns (UTF-8 code points), 16..200
  std::vector<std::string> sale_template;  // empty: the locale's default
  std::vector<std::string> refund_template;
  bool show_reasons = true;  // print what earned nothing and why
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

// Checks a configuration: locale "es" or "en", width 16..200, template lines made of
// valid UTF-8 without control characters, only known tokens, braces balanced or escaped.
// Errors are invalid_config naming the key ("receipt.width", "receipt.sale_template[2]").
domain::Status validate(const ReceiptConfig& config);

// Renders the lines to print. Deterministic. A configuration that validate() would refuse
// still renders something sensible: the width is clamped to 16..200, an unknown locale
// falls back to "es" and invalid template lines are skipped.
std::vector<std::string> render(const ReceiptConfig& config, const ReceiptFacts& facts);

// The locale's default templates ("en", else Spanish), for documentation and tools.
const std::vector<std::string>& default_sale_template(const std::string& locale);
const std::vector<std::string>& default_refund_template(const std::string& locale);

// Columns UTF-8 text takes on a printer or a terminal, as receipts count them: a combining
// accent 0, a CJK character or an emoji 2, anything else 1 (a byte that is not UTF-8, 1).
size_t display_columns(std::string_view text);

}  // namespace loyalty::receipt

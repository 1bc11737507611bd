#include "receipt/receipt.h"

#include <array>
#include <string_view>

#include "domain/time.h"

namespace loyalty::receipt {

using domain::ErrorCode;
using domain::ZeroEarnReason;

namespace {

constexpr std::array<std::string_view, 11> kTokens = {
    "earned", "redeemed", "balance", "balance_value", "available", "expiring",
    "expiring_date", "customer", "clawed_back", "restored", "currency"};

const std::vector<std::string>& default_sale(const std::string& locale) {
  static const std::vector<std::string> es = {
      "Cliente: {customer}", "Puntos ganados: {earned}", "Puntos canjeados: {redeemed}",
      "Saldo: {balance} pts ({balance_value} {currency})", "Vencen {expiring} pts el {expiring_date}"};
  static const std::vector<std::string> en = {
      "Customer: {customer}", "Points earned: {earned}", "Points redeemed: {redeemed}",
      "Balance: {balance} pts ({balance_value} {currency})", "{expiring} pts expire on {expiring_date}"};
  return locale == "en" ? en : es;
}

const std::vector<std::string>& default_refund(const std::string& locale) {
  static const std::vector<std::string> es = {
      "Cliente: {customer}", "Puntos descontados: {clawed_back}", "Puntos devueltos: {restored}",
      "Saldo: {balance} pts ({balance_value} {currency})"};
  static const std::vector<std::string> en = {
      "Customer: {customer}", "Points taken back: {clawed_back}", "Points returned: {restored}",
      "Balance: {balance} pts ({balance_value} {currency})"};
  return locale == "en" ? en : es;
}

std::string reason_text(const std::string& locale, const domain::ZeroEarnNote& n) {
  const bool en = locale == "en";
  switch (n.reason) {
    case ZeroEarnReason::kExcludedMethod:
      return (en ? "No points: excluded payment method (" : "Sin puntos: forma de pago excluida (") + n.detail + ")";
    case ZeroEarnReason::kExcludedProduct:
      return (en ? "No points: excluded product (" : "Sin puntos: producto excluido (") + n.detail + ")";
    case ZeroEarnReason::kPaidWithPoints:
      return en ? "No points: sale paid with points" : "Sin puntos: venta pagada con puntos";
    case ZeroEarnReason::kRoundedToZero:
      return en ? "No points: amount below one point" : "Sin puntos: el monto no alcanza un punto";
    case ZeroEarnReason::kNoCustomer:
      return {};
  }
  return {};
}

// Splits a template line into literal text and tokens. Returns false on a syntax error.
template <class OnText, class OnToken>
bool scan(std::string_view line, OnText on_text, OnToken on_token, std::string* error) {
  size_t i = 0;
  while (i < line.size()) {
    const char c = line[i];
    if (c == '{' && i + 1 < line.size() && line[i + 1] == '{') {
      on_text("{");
      i += 2;
    } else if (c == '}' && i + 1 < line.size() && line[i + 1] == '}') {
      on_text("}");
      i += 2;
    } else if (c == '{') {
      const size_t end = line.find('}', i + 1);
      if (end == std::string_view::npos) {
        if (error) *error = "unclosed '{'";
        return false;
      }
      const std::string_view name = line.substr(i + 1, end - i - 1);
      bool known = false;
      for (auto t : kTokens) known = known || t == name;
      if (!known) {
        if (error) *error = "unknown token {" + std::string(name) + "}";
        return false;
      }
      on_token(name);
      i = end + 1;
    } else if (c == '}') {
      if (error) *error = "unmatched '}' (write '}}' for a brace)";
      return false;
    } else {
      on_text(std::string_view(&line[i], 1));
      ++i;
    }
  }
  return true;
}

// Length of a UTF-8 sequence starting with byte b (1 for stray continuation bytes).
size_t seq_len(unsigned char b) {
  if (b >= 0xF0) return 4;
  if (b >= 0xE0) return 3;
  if (b >= 0xC0) return 2;
  return 1;
}

// Code points of s.
size_t columns(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); i += seq_len(static_cast<unsigned char>(s[i]))) ++n;
  return n;
}

// Byte offset after `cols` code points of s.
size_t prefix_bytes(std::string_view s, size_t cols) {
  size_t i = 0;
  while (i < s.size() && cols > 0) {
    i += seq_len(static_cast<unsigned char>(s[i]));
    --cols;
  }
  return std::min(i, s.size());
}

// Wraps at spaces; words longer than the width are split between code points.
void wrap(const std::string& text, size_t width, std::vector<std::string>& out) {
  std::string_view rest = text;
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (rest.empty()) return;
  while (columns(rest) > width) {
    const size_t cut = prefix_bytes(rest, width);
    size_t space = rest.substr(0, cut + 1).rfind(' ');
    size_t take, skip;
    if (space == std::string_view::npos || space == 0) {
      take = cut;
      skip = cut;
    } else {
      take = space;
      skip = space + 1;
    }
    std::string_view piece = rest.substr(0, take);
    while (!piece.empty() && piece.back() == ' ') piece.remove_suffix(1);
    out.emplace_back(piece);
    rest.remove_prefix(skip);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  }
  if (!rest.empty()) out.emplace_back(rest);
}

}  // namespace

domain::Status validate(const ReceiptConfig& config) {
  if (config.locale != "es" && config.locale != "en") {
    return domain::make_error(ErrorCode::kInvalidConfig, "receipt.locale",
                              "locale must be \"es\" or \"en\", not \"" + config.locale + "\"");
  }
  if (config.width < 16 || config.width > 200) {
    return domain::make_error(ErrorCode::kInvalidConfig, "receipt.width",
                              "width must be between 16 and 200 columns, not " + std::to_string(config.width));
  }
  auto check = [](const std::vector<std::string>& lines, const std::string& key) -> domain::Status {
    for (size_t i = 0; i < lines.size(); ++i) {
      std::string error;
      if (!scan(lines[i], [](std::string_view) {}, [](std::string_view) {}, &error)) {
        return domain::make_error(ErrorCode::kInvalidConfig, key + "[" + std::to_string(i) + "]",
                                  error + " in \"" + lines[i] + "\"");
      }
    }
    return domain::ok_status();
  };
  if (auto s = check(config.sale_template, "receipt.sale_template"); !s) return s;
  return check(config.refund_template, "receipt.refund_template");
}

std::vector<std::string> render(const ReceiptConfig& config, const ReceiptFacts& f) {
  std::vector<std::string> out;
  if (f.customer.empty()) return out;
  const bool sale = f.kind == ReceiptFacts::Kind::kSale;
  const auto& lines = sale ? (config.sale_template.empty() ? default_sale(config.locale) : config.sale_template)
                           : (config.refund_template.empty() ? default_refund(config.locale)
                                                             : config.refund_template);
  const size_t width = static_cast<size_t>(std::max(16, config.width));
  for (const std::string& line : lines) {
    std::string text;
    bool omit = false;
    auto token = [&](std::string_view t) {
      auto pts = [&](domain::Points p, bool omit_zero) {
        if (omit_zero && p.value() == 0) omit = true;
        text += std::to_string(p.value());
      };
      if (t == "earned") pts(f.earned, false);
      else if (t == "redeemed") pts(f.redeemed, true);
      else if (t == "clawed_back") pts(f.clawed_back, true);
      else if (t == "restored") pts(f.restored, true);
      else if (t == "balance") pts(f.balance, false);
      else if (t == "available") pts(f.available, false);
      else if (t == "balance_value") text += f.balance_value.str(2);
      else if (t == "currency") text += f.currency;
      else if (t == "customer") text += f.customer;
      else if (t == "expiring" || t == "expiring_date") {
        if (!f.expiring) {
          omit = true;
        } else if (t == "expiring") {
          text += std::to_string(f.expiring->points.value());
        } else {
          text += domain::format_date(f.expiring->expires_at);
        }
      }
    };
    if (!scan(line, [&](std::string_view s) { text += s; }, token, nullptr)) continue;
    if (!omit) wrap(text, width, out);
  }
  if (config.show_reasons) {
    for (const auto& n : f.notes) {
      const std::string r = reason_text(config.locale, n);
      if (!r.empty()) wrap(r, width, out);
    }
  }
  return out;
}

}  // namespace loyalty::receipt

#include "receipt/receipt.h"

#include <algorithm>
#include <array>
#include <optional>
#include <utility>
#include <string_view>

#include "domain/time.h"

namespace loyalty::receipt {

using domain::ErrorCode;
using domain::ZeroEarnReason;

namespace {

constexpr int kMinWidth = 16;
constexpr int kMaxWidth = 200;

enum class Token {
  kCustomer = 1,
  kEarned,
  kRedeemed,
  kClawedBack,
  kRestored,
  kBalance,
  kAvailable,
  kBalanceValue,
  kCurrency,
  kExpiring,
  kExpiringDate,
};

struct TokenName {
  std::string_view name;
  Token token;
};

constexpr std::array<TokenName, 11> kTokens = {{
    {"customer", Token::kCustomer},
    {"earned", Token::kEarned},
    {"redeemed", Token::kRedeemed},
    {"clawed_back", Token::kClawedBack},
    {"restored", Token::kRestored},
    {"balance", Token::kBalance},
    {"available", Token::kAvailable},
    {"balance_value", Token::kBalanceValue},
    {"currency", Token::kCurrency},
    {"expiring", Token::kExpiring},
    {"expiring_date", Token::kExpiringDate},
}};

std::optional<Token> find_token(std::string_view name) {
  for (const auto& t : kTokens) {
    if (t.name == name) return t.token;
  }
  return std::nullopt;
}

std::string known_tokens() {
  std::string out;
  for (const auto& t : kTokens) {
    if (!out.empty()) out += ' ';
    out += '{';
    out += t.name;
    out += '}';
  }
  return out;
}

// ---- UTF-8 ------------------------------------------------------------------------------

bool is_continuation(unsigned char b) { return (b & 0xC0) == 0x80; }

// Length of the well-formed UTF-8 sequence starting at s[i] (RFC 3629: no overlong forms,
// no surrogates, at most U+10FFFF), or 0 when the bytes there are not one.
size_t utf8_sequence(std::string_view s, size_t i, char32_t* code_point) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t len = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if (b0 < 0x80) {
    if (code_point) *code_point = b0;
    return 1;
  } else if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if (!is_continuation(b)) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  if (code_point) *code_point = cp;
  return len;
}

// C0 and C1 controls and DEL: they would move the printer's head, not print.
bool is_control(char32_t cp) { return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0); }

// Bytes of the code point at s[i]; a byte that starts no valid sequence counts alone, so
// a cut made with this never falls inside a valid sequence.
size_t step(std::string_view s, size_t i) {
  const size_t n = utf8_sequence(s, i, nullptr);
  return n == 0 ? 1 : n;
}

// Printer columns of one code point: 0 for combining marks and other zero-width code points
// (they print on the character before them), 2 for East Asian wide and fullwidth characters
// and emoji (CJK printers print them double), 1 for the rest. The ranges of Markus Kuhn's
// wcwidth, which glibc's follows; glibc's own needs a UTF-8 locale that a POS host may not set.
int cp_columns(char32_t cp) {
  struct Range {
    char32_t first, last;
  };
  static constexpr Range kZero[] = {
      {0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x0610, 0x061A}, {0x064B, 0x065F},
      {0x0E31, 0x0E31}, {0x0E34, 0x0E3A}, {0x0E47, 0x0E4E}, {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF},
      {0x200B, 0x200F}, {0x2028, 0x202E}, {0x2060, 0x2064}, {0x20D0, 0x20FF}, {0xFE00, 0xFE0F},
      {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF}, {0xE0100, 0xE01EF}};
  static constexpr Range kWide[] = {
      {0x1100, 0x115F},   {0x2E80, 0x303E},   {0x3041, 0x33FF},   {0x3400, 0x4DBF},
      {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},
      {0xFE30, 0xFE4F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x1F300, 0x1F64F},
      {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD}};
  if (cp < 0x300) return 1;
  for (const Range& r : kZero) {
    if (cp >= r.first && cp <= r.last) return 0;
  }
  for (const Range& r : kWide) {
    if (cp >= r.first && cp <= r.last) return 2;
  }
  return 1;
}

// Columns of the code point at s[i] (a byte that starts no valid sequence prints as one).
int columns_at(std::string_view s, size_t i) {
  char32_t cp = 0;
  return utf8_sequence(s, i, &cp) == 0 ? 1 : cp_columns(cp);
}

size_t columns(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); i += step(s, i)) n += static_cast<size_t>(columns_at(s, i));
  return n;
}

// The longest prefix of s that fits in `cols` columns, never leaving a zero-width code point
// (a combining accent) apart from the character before it: {bytes, columns}. Takes at least
// one code point when s is not empty.
std::pair<size_t, size_t> fitting_prefix(std::string_view s, size_t cols) {
  size_t i = 0, used = 0;
  while (i < s.size()) {
    const auto c = static_cast<size_t>(columns_at(s, i));
    if (i > 0 && c > 0 && used + c > cols) break;
    used += c;
    i += step(s, i);
  }
  return {i, used};
}

// A value from the POS or the program, made printable: control characters and bytes that
// are not UTF-8 become '?'.
std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const size_t n = utf8_sequence(s, i, &cp);
    if (n == 0 || is_control(cp)) {
      out += '?';
      i += n == 0 ? 1 : n;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

// ---- templates --------------------------------------------------------------------------

struct Segment {
  std::string text;  // literal text, when token is empty
  std::optional<Token> token;
};

// Splits a template line into literal text and tokens. On a syntax error returns false and
// says what is wrong in `error`.
bool parse_line(std::string_view line, std::vector<Segment>& out, std::string& error) {
  out.clear();
  auto literal = [&out](std::string_view s) {
    if (out.empty() || out.back().token) out.push_back(Segment{});
    out.back().text.append(s);
  };
  size_t column = 1;  // in code points, for messages
  for (size_t i = 0; i < line.size();) {
    // A run of printable ASCII other than braces is literal text, taken in one piece (one
    // code point and one column a byte): templates are parsed at every receipt.
    size_t run = i;
    while (run < line.size() && line[run] >= 0x20 && line[run] < 0x7F && line[run] != '{' &&
           line[run] != '}') {
      ++run;
    }
    if (run > i) {
      literal(line.substr(i, run - i));
      column += run - i;
      i = run;
      continue;
    }
    char32_t cp = 0;
    const size_t n = utf8_sequence(line, i, &cp);
    if (n == 0) {
      error = "invalid UTF-8 at column " + std::to_string(column);
      return false;
    }
    if (is_control(cp)) {
      error = "control character at column " + std::to_string(column) +
              " (a template line is one printed line; use another array item)";
      return false;
    }
    if (cp == '{' && i + 1 < line.size() && line[i + 1] == '{') {
      literal("{");
      i += 2, column += 2;
    } else if (cp == '}' && i + 1 < line.size() && line[i + 1] == '}') {
      literal("}");
      i += 2, column += 2;
    } else if (cp == '{') {
      const size_t end = line.find_first_of("{}", i + 1);
      if (end == std::string_view::npos || line[end] != '}') {
        error = "unclosed '{' at column " + std::to_string(column) + " (write '{{' for a brace)";
        return false;
      }
      const std::string_view name = line.substr(i + 1, end - i - 1);
      const auto token = find_token(name);
      if (!token) {
        error = "unknown token {" + printable(name) + "} at column " + std::to_string(column) +
                "; known tokens: " + known_tokens();
        return false;
      }
      out.push_back(Segment{{}, token});
      column += columns(line.substr(i, end + 1 - i));
      i = end + 1;
    } else if (cp == '}') {
      error = "unmatched '}' at column " + std::to_string(column) + " (write '}}' for a brace)";
      return false;
    } else {
      literal(line.substr(i, n));
      i += n, ++column;
    }
  }
  return true;
}

const std::vector<std::string>& sale_defaults(bool english) {
  static const std::vector<std::string> es = {
      "Cliente: {customer}",
      "Puntos ganados: {earned}",
      "Puntos canjeados: {redeemed}",
      "Saldo: {balance} pts ({balance_value})",
      "Vencen {expiring} pts el {expiring_date}",
  };
  static const std::vector<std::string> en = {
      "Customer: {customer}",
      "Points earned: {earned}",
      "Points redeemed: {redeemed}",
      "Balance: {balance} pts ({balance_value})",
      "{expiring} pts expire on {expiring_date}",
  };
  return english ? en : es;
}

const std::vector<std::string>& refund_defaults(bool english) {
  static const std::vector<std::string> es = {
      "Cliente: {customer}",
      "Puntos descontados: {clawed_back}",
      "Puntos devueltos: {restored}",
      "Saldo: {balance} pts ({balance_value})",
  };
  static const std::vector<std::string> en = {
      "Customer: {customer}",
      "Points taken back: {clawed_back}",
      "Points returned: {restored}",
      "Balance: {balance} pts ({balance_value})",
  };
  return english ? en : es;
}

// The note in words; empty for notes that never print. `partial`: the rest of the sale did
// earn, so a payment note speaks of its part, not of the sale.
std::string reason_text(bool english, bool partial, const domain::ZeroEarnNote& note) {
  auto with_detail = [&note](std::string text) {
    if (!note.detail.empty()) text += " (" + printable(note.detail) + ")";
    return text;
  };
  switch (note.reason) {
    case ZeroEarnReason::kExcludedMethod:
      if (partial) {
        return with_detail(english ? "No points on the excluded payment"
                                   : "Sin puntos por el pago excluido");
      }
      return with_detail(english ? "No points: excluded payment method"
                                 : "Sin puntos: forma de pago excluida");
    case ZeroEarnReason::kExcludedProduct:
      return with_detail(english ? "No points: excluded product" : "Sin puntos: producto excluido");
    case ZeroEarnReason::kPaidWithPoints:
      if (partial) {
        return english ? "No points on the part paid with points"
                       : "Sin puntos por lo pagado con puntos";
      }
      return english ? "No points: sale paid with points" : "Sin puntos: venta pagada con puntos";
    case ZeroEarnReason::kRoundedToZero:
      return english ? "No points: amount below one point"
                     : "Sin puntos: el monto no alcanza un punto";
    case ZeroEarnReason::kZeroRate:
      if (note.detail.empty()) return english ? "No points: the program earns none" : "Sin puntos: el programa no acumula";
      return english ? "No points: category " + printable(note.detail) + " earns none"
                     : "Sin puntos: la categoría " + printable(note.detail) + " no acumula";
    case ZeroEarnReason::kNoCustomer:
      return {};  // an anonymous sale prints nothing at all
  }
  return {};
}

// ---- width ------------------------------------------------------------------------------

// Greedy word wrap. Runs of spaces inside a line are kept; at a break they are dropped.
// Leading spaces (indentation) are kept when the first word still fits after them.
class Wrapper {
 public:
  Wrapper(size_t width, std::vector<std::string>& out) : width_(width), out_(out) {}

  void add(std::string_view text) {
    size_t i = 0;
    while (i < text.size()) {
      const size_t space_begin = i;
      while (i < text.size() && text[i] == ' ') ++i;
      const size_t word_begin = i;
      while (i < text.size() && text[i] != ' ') ++i;
      if (word_begin == i) break;  // trailing spaces
      place(text.substr(space_begin, word_begin - space_begin),
            text.substr(word_begin, i - word_begin));
    }
    flush();
  }

 private:
  void place(std::string_view spaces, std::string_view word) {
    size_t word_cols = columns(word);
    const size_t space_cols = spaces.size();  // ASCII spaces: one byte, one column
    if (cur_cols_ + space_cols + word_cols <= width_) {
      cur_.append(spaces);
      cur_.append(word);
      cur_cols_ += space_cols + word_cols;
      return;
    }
    flush();
    while (word_cols > width_) {  // a word longer than a line: split between characters
      const auto [cut, cut_cols] = fitting_prefix(word, width_);
      out_.emplace_back(word.substr(0, cut));
      word.remove_prefix(cut);
      word_cols -= cut_cols;
    }
    cur_.assign(word);
    cur_cols_ = word_cols;
  }

  void flush() {
    if (!cur_.empty()) out_.push_back(std::move(cur_));
    cur_.clear();
    cur_cols_ = 0;
  }

  size_t width_;
  std::vector<std::string>& out_;
  std::string cur_;
  size_t cur_cols_ = 0;
};

domain::Status check_template(const std::vector<std::string>& lines, const std::string& key) {
  std::vector<Segment> segments;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string error;
    if (!parse_line(lines[i], segments, error)) {
      return domain::make_error(ErrorCode::kInvalidConfig, key + "[" + std::to_string(i) + "]",
                                "\"" + printable(lines[i]) + "\": " + error);
    }
  }
  return domain::ok_status();
}

}  // namespace

const std::vector<std::string>& default_sale_template(const std::string& locale) {
  return sale_defaults(locale == "en");
}

const std::vector<std::string>& default_refund_template(const std::string& locale) {
  return refund_defaults(locale == "en");
}

domain::Status validate(const ReceiptConfig& config) {
  if (config.locale != "es" && config.locale != "en") {
    return domain::make_error(ErrorCode::kInvalidConfig, "receipt.locale",
                              "must be \"es\" or \"en\", not \"" + printable(config.locale) + "\"");
  }
  if (config.width < kMinWidth || config.width > kMaxWidth) {
    return domain::make_error(ErrorCode::kInvalidConfig, "receipt.width",
                              "must be between " + std::to_string(kMinWidth) + " and " +
                                  std::to_string(kMaxWidth) + " columns, not " +
                                  std::to_string(config.width));
  }
  if (auto s = check_template(config.sale_template, "receipt.sale_template"); !s) return s;
  return check_template(config.refund_template, "receipt.refund_template");
}

size_t display_columns(std::string_view text) { return columns(text); }

std::vector<std::string> render(const ReceiptConfig& config, const ReceiptFacts& f) {
  std::vector<std::string> out;
  if (f.customer.empty()) return out;

  const bool english = config.locale == "en";
  const bool sale = f.kind != ReceiptFacts::Kind::kRefund;
  const std::vector<std::string>& custom = sale ? config.sale_template : config.refund_template;
  const std::vector<std::string>& lines =
      !custom.empty() ? custom : (sale ? sale_defaults(english) : refund_defaults(english));
  Wrapper wrap(static_cast<size_t>(std::clamp(config.width, kMinWidth, kMaxWidth)), out);

  const bool expires = f.expiring.has_value() && f.expiring->points.value() != 0;
  const std::string customer = printable(f.customer);
  const std::string currency = printable(f.currency);
  std::string balance_value = f.balance_value.str(2);
  if (!currency.empty()) balance_value += " " + currency;

  std::vector<Segment> segments;
  std::string error;
  for (const std::string& line : lines) {
    if (!parse_line(line, segments, error)) continue;  // validate() refuses these
    std::string text;
    bool omit = false;
    auto points = [&](domain::Points p, bool omit_when_zero) {
      omit = omit || (omit_when_zero && p.value() == 0);
      text += std::to_string(p.value());
    };
    for (const Segment& s : segments) {
      if (!s.token) {
        text += s.text;
        continue;
      }
      switch (*s.token) {
        case Token::kCustomer:
          text += customer;
          break;
        case Token::kEarned:
          points(f.earned, false);
          break;
        case Token::kRedeemed:
          points(f.redeemed, true);
          break;
        case Token::kClawedBack:
          points(f.clawed_back, true);
          break;
        case Token::kRestored:
          points(f.restored, true);
          break;
        case Token::kBalance:
          points(f.balance, false);
          break;
        case Token::kAvailable:
          points(f.available, false);
          break;
        case Token::kBalanceValue:
          text += balance_value;
          break;
        case Token::kCurrency:
          text += currency;
          break;
        case Token::kExpiring:
          if (expires) text += std::to_string(f.expiring->points.value());
          omit = omit || !expires;
          break;
        case Token::kExpiringDate:
          if (expires) text += domain::format_date(f.expiring->expires_at);
          omit = omit || !expires;
          break;
      }
    }
    if (!omit) wrap.add(text);
  }
  if (config.show_reasons) {
    for (const auto& note : f.notes) {
      const std::string text = reason_text(english, f.earned > domain::Points(0), note);
      if (!text.empty()) wrap.add(text);
    }
  }
  return out;
}

}  // namespace loyalty::receipt

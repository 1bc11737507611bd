#include "protocol/sync_data.h"

#include <nlohmann/json.hpp>

#include "protocol/json_text.h"

namespace loyalty::protocol {

using nlohmann::json;

namespace {

std::string dec(int64_t micros) { return domain::format_micros_trimmed(micros, 0); }

template <class T>
T fixed(const json& j, const char* what) {
  if (!j.is_string()) throw std::invalid_argument(std::string(what) + " must be a decimal string");
  auto v = T::parse(j.get<std::string>());
  if (!v) throw std::invalid_argument(std::string(what) + ": " + v.error().message);
  return *v;
}

}  // namespace

// Written left to right with JsonWriter, not through a json tree (a tree cost ~85,000
// instructions a sale, 12 % of a replay; docs/performance.md). The bytes are those of the
// tree's dump(), which tests/protocol/sync_data_test.cc checks against it: members in
// nlohmann's std::map order (byte order of the keys), no spaces, the same escapes.
std::string encode_facts(const EntryFacts& f) {
  const bool has_ref = !f.ref.empty();
  if (!f.sale && !f.is_refund && !f.is_void && !has_ref && !f.category) return {};
  std::string out;
  out.reserve(f.sale ? 256 + 96 * f.sale->lines.size() : 128);
  JsonWriter w(out);
  w.open_object();
  // Top-level keys in byte order: category, ref, refund, sale, void.
  if (f.category) w.field("category", *f.category);
  if (has_ref) w.field("ref", f.ref);
  if (f.is_refund) {
    w.key("refund").open_object();
    w.key("lines").open_array();
    for (const auto& l : f.refund_lines) {
      w.open_object();
      if (l.amount) w.field("amount", dec(l.amount->micros()));
      if (l.n) w.field("n", *l.n);
      if (l.qty) w.field("qty", dec(l.qty->micros()));
      w.close_object();
    }
    w.close_array();
    w.field("matched", f.matched);
    w.key("refunded").open_array();
    for (const auto& [n, amount] : f.refunded) {
      w.open_object().field("amount", dec(amount.micros())).field("n", n).close_object();
    }
    w.close_array();
    if (f.restored != 0) w.field("restored", f.restored);
    w.field("sale_branch", f.sale_branch).field("sale_ticket", f.sale_ticket);
    w.field("target", f.target);
    w.close_object();
  }
  if (f.sale) {
    const domain::SaleRecord& s = *f.sale;
    w.key("sale").open_object();
    w.field("account_id", s.account_id).field("at", domain::format_rfc3339(s.at));
    w.field("branch", s.branch).field("earn_entry_id", s.earn_entry_id);
    w.field("earned", s.earned.value());
    w.key("lines").open_array();
    for (const auto& l : s.lines) {
      w.open_object();
      w.field("amount", dec(l.amount.micros())).field("n", l.n);
      w.field("percent", dec(l.percent.micros())).field("qty", dec(l.qty.micros()));
      w.field("refunded", dec(l.refunded.micros()));
      w.close_object();
    }
    w.close_array();
    w.field("redeemed", s.redeemed.value()).field("request_id", s.request_id);
    w.field("ticket", s.ticket);
    w.close_object();
  }
  if (f.is_void) {
    w.key("void").open_object();
    w.field("sale_branch", f.sale_branch).field("sale_ticket", f.sale_ticket);
    w.close_object();
  }
  w.close_object();
  return out;
}

domain::Result<EntryFacts> decode_facts(std::string_view text) {
  EntryFacts f;
  if (text.empty()) return f;
  try {
    const json j = json::parse(text);
    if (!j.is_object()) throw std::invalid_argument("must be an object");
    if (auto it = j.find("sale"); it != j.end()) {
      const json& s = *it;
      domain::SaleRecord r;
      r.branch = s.at("branch").get<std::string>();
      r.ticket = s.at("ticket").get<std::string>();
      r.request_id = s.at("request_id").get<std::string>();
      r.account_id = s.at("account_id").get<std::string>();
      r.earn_entry_id = s.at("earn_entry_id").get<std::string>();
      r.earned = domain::Points(s.at("earned").get<int64_t>());
      r.redeemed = domain::Points(s.at("redeemed").get<int64_t>());
      auto at = domain::parse_rfc3339(s.at("at").get<std::string>());
      if (!at) throw std::invalid_argument("sale.at: " + at.error().message);
      r.at = *at;
      for (const json& l : s.at("lines")) {
        r.lines.push_back(domain::SaleLineRecord{
            l.at("n").get<int64_t>(), fixed<domain::Money>(l.at("amount"), "amount"),
            fixed<domain::Quantity>(l.at("qty"), "qty"), fixed<domain::Percent>(l.at("percent"), "percent"),
            fixed<domain::Money>(l.at("refunded"), "refunded")});
      }
      f.sale = std::move(r);
    }
    if (auto it = j.find("refund"); it != j.end()) {
      const json& r = *it;
      f.is_refund = true;
      f.sale_branch = r.at("sale_branch").get<std::string>();
      f.sale_ticket = r.at("sale_ticket").get<std::string>();
      f.matched = r.at("matched").get<bool>();
      f.target = r.at("target").get<int64_t>();
      if (auto restored = r.find("restored"); restored != r.end()) f.restored = restored->get<int64_t>();
      for (const json& x : r.at("refunded")) {
        f.refunded.emplace_back(x.at("n").get<int64_t>(), fixed<domain::Money>(x.at("amount"), "amount"));
      }
      for (const json& x : r.at("lines")) {
        domain::RefundLine l;
        if (x.contains("n")) l.n = x.at("n").get<int64_t>();
        if (x.contains("qty")) l.qty = fixed<domain::Quantity>(x.at("qty"), "qty");
        if (x.contains("amount")) l.amount = fixed<domain::Money>(x.at("amount"), "amount");
        f.refund_lines.push_back(std::move(l));
      }
    }
    if (auto it = j.find("void"); it != j.end()) {
      f.is_void = true;
      f.sale_branch = it->at("sale_branch").get<std::string>();
      f.sale_ticket = it->at("sale_ticket").get<std::string>();
    }
    if (auto it = j.find("ref"); it != j.end()) f.ref = it->get<std::string>();
    if (auto it = j.find("category"); it != j.end()) f.category = it->get<std::string>();
  } catch (const std::exception& e) {
    return domain::make_error(domain::ErrorCode::kInvalidEvent, "data", std::string("entry data: ") + e.what());
  }
  return f;
}

}  // namespace loyalty::protocol

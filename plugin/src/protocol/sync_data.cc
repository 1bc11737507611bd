#include "protocol/sync_data.h"

#include <nlohmann/json.hpp>

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

std::string encode_facts(const EntryFacts& f) {
  json j = json::object();
  if (f.sale) {
    const domain::SaleRecord& s = *f.sale;
    json lines = json::array();
    for (const auto& l : s.lines) {
      lines.push_back({{"n", l.n}, {"amount", dec(l.amount.micros())}, {"qty", dec(l.qty.micros())},
                       {"percent", dec(l.percent.micros())}, {"refunded", dec(l.refunded.micros())}});
    }
    j["sale"] = {{"branch", s.branch},       {"ticket", s.ticket},
                 {"request_id", s.request_id}, {"account_id", s.account_id},
                 {"earn_entry_id", s.earn_entry_id}, {"earned", s.earned.value()},
                 {"redeemed", s.redeemed.value()},   {"at", domain::format_rfc3339(s.at)},
                 {"lines", lines}};
  }
  if (f.is_refund) {
    json r = {{"sale_branch", f.sale_branch}, {"sale_ticket", f.sale_ticket}, {"matched", f.matched}};
    json refunded = json::array();
    for (const auto& [n, amount] : f.refunded) refunded.push_back({{"n", n}, {"amount", dec(amount.micros())}});
    r["refunded"] = refunded;
    json lines = json::array();
    for (const auto& l : f.refund_lines) {
      json x = json::object();
      if (l.n) x["n"] = *l.n;
      if (l.qty) x["qty"] = dec(l.qty->micros());
      if (l.amount) x["amount"] = dec(l.amount->micros());
      lines.push_back(x);
    }
    r["lines"] = lines;
    r["target"] = f.target;
    j["refund"] = r;
  }
  if (f.is_void) j["void"] = {{"sale_branch", f.sale_branch}, {"sale_ticket", f.sale_ticket}};
  if (!f.ref.empty()) j["ref"] = f.ref;
  if (f.category) j["category"] = *f.category;
  return j.empty() ? std::string() : j.dump();
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

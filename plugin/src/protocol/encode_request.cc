// encode_request: domain::Request -> the contract JSON of section 2, the inverse of
// parse_request for every value parse_request accepts.
//
// Adapters produce domain requests; the daemon and the drop folder send them through
// app::Service::handle as JSON, so that idempotency, quarantine and the rules stay the
// service's own. Written left to right with JsonWriter like the responses.
#include <string>
#include <variant>
#include <vector>

#include "protocol/codec.h"
#include "protocol/json_text.h"

namespace loyalty::protocol {
namespace {

// Decimal strings as the contract writes them: money with at least two places ("90.00",
// "0.125"), quantities as short as exact ("2", "0.35").
std::string money(const domain::Money& m) { return m.str_trimmed(2); }
std::string quantity(const domain::Quantity& q) { return q.str_trimmed(0); }

// Optional members: an empty string is the same request as an absent member (the parser
// leaves the domain value empty either way), so only non-empty ones are written.
void text(JsonWriter& w, std::string_view key, const std::string& v) {
  if (!v.empty()) {
    w.field(key, v);
  }
}
void text(JsonWriter& w, std::string_view key, const std::optional<std::string>& v) {
  if (v) {
    w.field(key, *v);
  }
}

void header(JsonWriter& w, std::string_view type, const domain::RequestHeader& h) {
  w.field("type", type).field("id", h.id).field("at", domain::format_rfc3339(h.at));
  text(w, "branch", h.branch);
  text(w, "terminal", h.terminal);
}

void tenders(JsonWriter& w, const std::vector<domain::Tender>& xs) {
  if (xs.empty()) {
    return;
  }
  w.key("tenders").open_array();
  for (const auto& t : xs) {
    w.open_object().field("method", t.method).field("amount", money(t.amount));
    if (!t.change.is_zero()) {
      w.field("change", money(t.change));
    }
    text(w, "hold", t.hold);
    w.close_object();
  }
  w.close_array();
}

struct BodyWriter {
  JsonWriter& w;

  void operator()(const domain::SaleCompleted& r) {
    header(w, "sale.completed", r.h);
    w.field("ticket", r.ticket);
    text(w, "currency", r.currency);
    text(w, "customer", r.customer);
    w.key("lines").open_array();
    for (const auto& l : r.lines) {
      w.open_object().field("n", l.n);
      text(w, "sku", l.sku);
      text(w, "category", l.category);
      w.field("qty", quantity(l.qty)).field("amount", money(l.amount)).close_object();
    }
    w.close_array();
    tenders(w, r.tenders);
  }
  void operator()(const domain::PointsAuthorize& r) {
    header(w, "points.authorize", r.h);
    w.field("customer", r.customer);
    text(w, "ticket", r.ticket);
    w.field("amount", money(r.amount));
  }
  void operator()(const domain::PointsRelease& r) {
    header(w, "points.release", r.h);
    text(w, "hold", r.hold);
    text(w, "ticket", r.ticket);
    text(w, "customer", r.customer);
  }
  void operator()(const domain::SaleVoided& r) {
    header(w, "sale.voided", r.h);
    w.field("ticket", r.ticket);
    text(w, "customer", r.customer);
  }
  void operator()(const domain::RefundCompleted& r) {
    header(w, "refund.completed", r.h);
    w.field("ticket", r.ticket);
    text(w, "original_ticket", r.original_ticket);
    text(w, "original_branch", r.original_branch);
    text(w, "customer", r.customer);
    text(w, "currency", r.currency);
    w.key("lines").open_array();
    for (const auto& l : r.lines) {
      w.open_object();
      if (l.n) {
        w.field("n", *l.n);
      }
      text(w, "sku", l.sku);
      text(w, "category", l.category);
      if (l.qty) {
        w.field("qty", quantity(*l.qty));
      }
      if (l.amount) {
        w.field("amount", money(*l.amount));
      }
      w.close_object();
    }
    w.close_array();
    tenders(w, r.tenders);
  }
  void operator()(const domain::CustomerUpsert& r) {
    header(w, "customer.upsert", r.h);
    w.field("customer", r.customer);
    text(w, "name", r.name);
    text(w, "email", r.email);
    text(w, "phone", r.phone);
    text(w, "birthday", r.birthday);
    text(w, "category", r.category);
    if (!r.aliases.empty()) {
      w.key("aliases").open_array();
      for (const auto& a : r.aliases) {
        w.value(a);
      }
      w.close_array();
    }
  }
  void operator()(const domain::BalanceQuery& r) {
    header(w, "balance.query", r.h);
    w.field("customer", r.customer);
  }
  void operator()(const domain::HistoryQuery& r) {
    header(w, "history.query", r.h);
    w.field("customer", r.customer);
    if (r.from) {
      w.field("from", domain::format_rfc3339(*r.from));
    }
    if (r.to) {
      w.field("to", domain::format_rfc3339(*r.to));
    }
    w.field("limit", r.limit);
  }
  void operator()(const domain::PointsAdjust& r) {
    header(w, "points.adjust", r.h);
    w.field("customer", r.customer).field("points", r.points.value()).field("reason", r.reason);
    text(w, "operator", r.operator_name);
  }
  void operator()(const domain::PointsTransfer& r) {
    header(w, "points.transfer", r.h);
    w.field("from", r.from).field("to", r.to).field("points", r.points.value());
    text(w, "reason", r.reason);
  }
  void operator()(const domain::PluginInfo& r) { header(w, "plugin.info", r.h); }
};

}  // namespace

std::string encode_request(const domain::Request& request) {
  std::string out;
  out.reserve(512);
  JsonWriter w(out);
  w.open_object();
  std::visit(BodyWriter{w}, request);
  w.close_object();
  return out;
}

}  // namespace loyalty::protocol

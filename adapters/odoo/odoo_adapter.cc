// The Odoo POS order translator. The input shapes, the field mapping and every decision
// (floats, refunds, exchanges, discount lines, change) are documented in README.md next to
// this file; comments here give the reasons where the code alone would not.
#include "adapters/odoo/odoo_adapter.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "adapters/json_util.h"

namespace loyalty::adapters::odoo {
namespace {

using domain::ErrorCode;
using domain::Money;
using domain::Quantity;
using json_util::identifier_problem;
using json_util::join;
using json_util::json;
using json_util::Need;
using json_util::Node;
using json_util::Reader;

// Products of two amounts need more than 64 bits (as in domain/earning.cc).
__extension__ typedef __int128 i128;

constexpr std::string_view kName = "odoo";
constexpr std::string_view kIdPrefix = "odoo-";
constexpr std::string_view kReturnSuffix = "-return";
constexpr int kQtyDecimals = domain::kMaxDecimals;
// The contract's largest line number (protocol/codec.cc): refunds name original lines.
constexpr int64_t kMaxLineNumber = 1'000'000'000;
constexpr uint64_t kMaxId = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// A payment line of the order, signed as Odoo sent it.
struct Payment {
  std::string method;
  int64_t micros = 0;
  bool is_change = false;
};

// A sale line before discount lines are spread over the others (amount may be negative).
struct PendingLine {
  domain::SaleLine line;
  int64_t micros = 0;
};

// Spreads `discount` (positive micros, at most the sum of `amounts`) over the positive
// `amounts` in proportion, in whole minor units of `unit` micros: each line loses the floor
// of its share, and the minor units left go one each to the lines with the largest
// remainders (earliest line first on ties). Exact and deterministic; the total taken is
// exactly `discount` when it is a multiple of `unit`, as every rounded amount here is.
void apportion(std::vector<int64_t>& amounts, int64_t discount, int64_t unit) {
  i128 total = 0;
  for (int64_t a : amounts) total += a;
  if (total <= 0 || discount <= 0) return;
  const int64_t discount_units = discount / unit;
  std::vector<std::pair<i128, size_t>> remainders;
  int64_t taken_units = 0;
  for (size_t i = 0; i < amounts.size(); ++i) {
    const i128 share = static_cast<i128>(discount_units) * amounts[i];
    const auto units = static_cast<int64_t>(share / total);
    remainders.emplace_back(share % total, i);
    amounts[i] -= units * unit;
    taken_units += units;
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t k = 0; taken_units < discount_units && k < remainders.size(); ++k) {
    const size_t i = remainders[k].second;
    if (amounts[i] >= unit) {
      amounts[i] -= unit;
      ++taken_units;
    }
  }
}

class Translator {
 public:
  explicit Translator(const Mapping& mapping)
      : mapping_(mapping), decimals_(json_util::currency_decimals(mapping.currency)) {}

  domain::Result<Translation> run(std::string_view bytes) {
    auto doc = json_util::parse(bytes);
    if (!doc) return doc.error();
    if (!orders(Node{&*doc, ""})) return r_.error();
    return std::move(out_);
  }

 private:
  // The accepted top-level shapes: one order; one create_from_ui entry {"id", "data"}; an
  // array of either (create_from_ui, sync_from_ui); the JSON-RPC call the POS posts
  // ({"params": {"args": [[orders...], ...]}}).
  bool orders(const Node& root) {
    if (root.v->is_array()) return each_order(root);
    if (!root.v->is_object()) {
      return r_.fail_type("", *root.v, "an Odoo POS order (an object) or an array of orders");
    }
    std::optional<Node> params, args;
    if (!r_.object(root, "params", Need::kOptional, params)) return false;
    if (params) {
      if (!r_.array(*params, "args", Need::kRequired, args)) return false;
      if (args->v->empty()) return r_.fail(args->path, "must hold the array of orders");
      const Node first = r_.element(*args, 0);
      if (!first.v->is_array()) return r_.fail_type(first.path, *first.v, "an array of orders");
      return each_order(first);
    }
    return entry(root);
  }

  bool each_order(const Node& array) {
    for (size_t i = 0; i < array.v->size(); ++i) {
      const Node e = r_.element(array, i);
      if (!e.v->is_object()) return r_.fail_type(e.path, *e.v, "an object (an order)");
      if (!entry(e)) return false;
    }
    return true;
  }

  // A create_from_ui entry ({"id": uid, "data": order}) or an order itself.
  bool entry(const Node& e) {
    std::optional<Node> data;
    if (!r_.object(e, "data", Need::kOptional, data)) return false;
    if (data) {
      std::string wrapper_id;
      if (!r_.id_text(e, "id", Need::kOptional, wrapper_id)) return false;
      return order(*data, wrapper_id);
    }
    return order(e, "");
  }

  // An Odoo many2one: an integer id, [id, "display name"], or false/null for none.
  bool many2one(const Node& obj, std::string_view key, std::optional<int64_t>& out) {
    const json* v = Reader::get(obj, key);
    if (v == nullptr || (v->is_boolean() && !v->get<bool>())) return true;
    const json* id = v;
    if (v->is_array() && !v->empty()) id = &(*v)[0];
    if (!id->is_number_integer() || (id->is_number_unsigned() && id->get<uint64_t>() > kMaxId)) {
      return r_.fail_type(join(obj.path, key), *v, "an integer id, [id, name] or false");
    }
    out = id->get<int64_t>();
    return true;
  }

  bool many2one(const Node& obj, std::string_view key, std::string& out) {
    std::optional<int64_t> id;
    if (!many2one(obj, key, id)) return false;
    if (id) out = std::to_string(*id);
    return true;
  }

  // Odoo's "command triples": [0, 0, {values}] creates a record; a bare object is taken
  // as the values too.
  bool values(const Node& element, Node& out) {
    if (element.v->is_object()) {
      out = element;
      return true;
    }
    if (element.v->is_array() && element.v->size() == 3 && (*element.v)[2].is_object()) {
      out = Node{&(*element.v)[2], json_util::index(element.path, 2)};
      return true;
    }
    return r_.fail_type(element.path, *element.v, "a [0, 0, {...}] triple or an object");
  }

  bool decimal(const Node& obj, std::string_view key, Need need, int decimals, int64_t& out) {
    std::optional<int64_t> micros;
    if (!r_.decimal(obj, key, need, decimals, micros)) return false;
    if (micros) out = *micros;
    return true;
  }

  // The order's identity: uid (create_from_ui), uuid (sync_from_ui), the create_from_ui
  // entry's id, or the order name. Without one no deterministic id exists, and a content
  // hash would merge two identical purchases, so the order is refused.
  bool identity(const Node& o, const std::string& wrapper_id, std::string& uid) {
    for (const char* key : {"uid", "uuid"}) {
      if (!r_.id_text(o, key, Need::kOptional, uid)) return false;
      if (!uid.empty()) return true;
    }
    if (!wrapper_id.empty()) {
      uid = wrapper_id;
      return true;
    }
    if (!r_.id_text(o, "name", Need::kOptional, uid)) return false;
    if (uid.empty()) {
      return r_.fail(join(o.path, "uid"),
                     "missing: an order needs a uid, uuid or name to give it a stable id");
    }
    return true;
  }

  bool order(const Node& o, const std::string& wrapper_id) {
    std::string uid;
    if (!identity(o, wrapper_id, uid)) return false;
    Provenance provenance{std::string(kName), o.path.empty() ? "order" : o.path, uid};
    std::string state;
    if (!r_.string(o, "state", Need::kOptional, state)) return false;
    if (!state.empty() && state != "paid" && state != "done" && state != "invoiced") {
      out_.skipped.push_back(
          Skipped{std::move(provenance), "order state is " + state + ": only paid orders earn"});
      return true;
    }
    const std::string id = std::string(kIdPrefix) + uid;
    if (const char* problem = identifier_problem(id + std::string(kReturnSuffix))) {
      return r_.fail(join(o.path, "uid"), "the event id " + std::string(problem));
    }

    domain::RequestHeader h;
    std::string date, customer_id, config_id;
    if (!r_.string(o, "date_order", Need::kOptional, date)) return false;
    std::string date_key = "date_order";
    if (date.empty()) {
      date_key = "creation_date";
      if (!r_.string(o, date_key, Need::kOptional, date)) return false;
    }
    if (date.empty()) return r_.fail(join(o.path, "date_order"), "missing");
    auto at = json_util::parse_time(date, mapping_.utc_offset_minutes);
    if (!at) return r_.fail(join(o.path, date_key), at.error().message);
    h.at = *at;
    if (!many2one(o, "partner_id", customer_id) || !many2one(o, "config_id", config_id)) {
      return false;
    }
    const std::string* store = config_id.empty() ? nullptr : lookup(mapping_.stores, config_id);
    h.branch = store != nullptr ? *store : mapping_.branch;
    std::string customer;
    if (!customer_id.empty()) {
      customer = mapping_.customer_prefix + customer_id;
      if (const char* problem = identifier_problem(customer)) {
        return r_.fail(join(o.path, "partner_id"),
                       "the customer reference " + std::string(problem));
      }
    }

    std::vector<PendingLine> sold;
    std::vector<domain::RefundLine> returned;
    std::optional<Node> lines;
    if (!r_.array(o, "lines", Need::kRequired, lines)) return false;
    for (size_t i = 0; i < lines->v->size(); ++i) {
      if (!line(r_.element(*lines, i), static_cast<int64_t>(i) + 1, sold, returned)) {
        return false;
      }
    }
    std::vector<Payment> payments;
    int64_t change_micros = 0;
    if (!payment_lines(o, payments) ||
        !decimal(o, "amount_return", Need::kOptional, decimals_, change_micros)) {
      return false;
    }
    if (change_micros < 0)
      return r_.fail(join(o.path, "amount_return"), "must be zero or positive");
    if (sold.empty() && returned.empty()) {
      out_.skipped.push_back(Skipped{std::move(provenance), "order has no lines"});
      return true;
    }

    if (!sold.empty()) {
      domain::SaleCompleted sale;
      sale.h = h;
      sale.h.type = "sale.completed";
      sale.h.id = id;
      sale.ticket = uid;
      sale.currency = mapping_.currency;
      sale.customer = customer;
      if (!sale_lines(*lines, sold, sale.lines)) return false;
      // Positive payments paid the goods; negative ones are change given back (Odoo 17+
      // writes change as a negative payment marked is_change; older versions use
      // amount_return), except in an exchange, where the non-change ones paid out the
      // returned goods.
      for (const Payment& p : payments) {
        if (p.micros > 0) {
          sale.tenders.push_back(domain::Tender{p.method, Money::from_micros(p.micros), {}, {}});
        } else if (p.is_change || returned.empty()) {
          change_micros -= p.micros;
        }
      }
      if (!give_change(o, change_micros, sale.tenders)) return false;
      out_.events.push_back(Event{std::move(sale), provenance});
    }
    if (!returned.empty()) {
      domain::RefundCompleted refund;
      refund.h = h;
      refund.h.type = "refund.completed";
      refund.h.id = sold.empty() ? id : id + std::string(kReturnSuffix);
      refund.ticket = sold.empty() ? uid : uid + std::string(kReturnSuffix);
      refund.currency = mapping_.currency;
      refund.customer = customer;
      refund.lines = std::move(returned);
      // A pure refund pays back through every payment line (whatever sign Odoo wrote:
      // normally negative); in an exchange only the negative, non-change ones do.
      for (const Payment& p : payments) {
        if (p.is_change || p.micros == 0 || (!sold.empty() && p.micros > 0)) continue;
        const int64_t m = p.micros < 0 ? -p.micros : p.micros;
        refund.tenders.push_back(domain::Tender{p.method, Money::from_micros(m), {}, {}});
      }
      out_.events.push_back(Event{std::move(refund), std::move(provenance)});
    }
    return true;
  }

  // One order line: qty >= 0 is sold (its amount may be negative: a discount or reward
  // line); qty < 0 came back. A returned line's amount is taken as a magnitude because
  // Odoo writes it negative but some payloads (the pos_stock test fixture) write it
  // positive; the direction is the quantity's sign.
  bool line(const Node& element, int64_t n, std::vector<PendingLine>& sold,
            std::vector<domain::RefundLine>& returned) {
    Node v;
    if (!values(element, v)) return false;
    std::string product;
    int64_t qty = 0, amount = 0;
    if (!many2one(v, "product_id", product) ||
        !decimal(v, "qty", Need::kRequired, kQtyDecimals, qty) ||
        !decimal(v, "price_subtotal_incl", Need::kRequired, decimals_, amount)) {
      return false;
    }
    const std::string* category = product.empty() ? nullptr : lookup(mapping_.categories, product);
    if (qty >= 0) {
      PendingLine& p = sold.emplace_back();
      p.line.n = n;
      p.line.sku = product;
      p.line.category = category != nullptr ? *category : "";
      p.line.qty = Quantity::from_micros(qty);
      p.micros = amount;
      return true;
    }
    domain::RefundLine& r = returned.emplace_back();
    std::optional<int64_t> original;
    if (!many2one(v, "refunded_orderline_id", original)) return false;
    if (original) {
      if (*original <= 0 || *original > kMaxLineNumber) {
        return r_.fail(join(v.path, "refunded_orderline_id"),
                       "must be between 1 and " + std::to_string(kMaxLineNumber));
      }
      r.n = *original;
    }
    r.sku = product;
    r.category = category != nullptr ? *category : "";
    r.qty = Quantity::from_micros(-qty);
    r.amount = Money::from_micros(amount < 0 ? -amount : amount);
    return true;
  }

  // Sold lines with negative amounts (discount, reward, rounding lines) are spread over the
  // positive lines in proportion (apportion()), since a contract sale line is never
  // negative and the customer was charged the net.
  bool sale_lines(const Node& lines, std::vector<PendingLine>& sold,
                  std::vector<domain::SaleLine>& out) {
    std::vector<int64_t> positive;
    std::vector<size_t> positive_index;
    int64_t discount = 0, goods = 0;
    for (size_t i = 0; i < sold.size(); ++i) {
      if (sold[i].micros < 0) {
        discount -= sold[i].micros;
      } else {
        positive.push_back(sold[i].micros);
        positive_index.push_back(i);
        goods += sold[i].micros;
      }
    }
    if (discount > goods) {
      return r_.fail(lines.path, "the negative lines (" +
                                     Money::from_micros(discount).str(decimals_) +
                                     ") exceed the goods sold (" +
                                     Money::from_micros(goods).str(decimals_) + ")");
    }
    apportion(positive, discount, json_util::minor_units_to_micros(1, decimals_).value());
    for (size_t k = 0; k < positive.size(); ++k) {
      domain::SaleLine l = std::move(sold[positive_index[k]].line);
      l.amount = Money::from_micros(positive[k]);
      out.push_back(std::move(l));
    }
    return true;
  }

  bool payment_lines(const Node& o, std::vector<Payment>& out) {
    std::optional<Node> list;
    std::string key = "payment_ids";
    if (!r_.array(o, key, Need::kOptional, list)) return false;
    if (!list) {
      key = "statement_ids";
      if (!r_.array(o, key, Need::kOptional, list)) return false;
    }
    if (!list) return true;
    for (size_t i = 0; i < list->v->size(); ++i) {
      Node v;
      if (!values(r_.element(*list, i), v)) return false;
      Payment& p = out.emplace_back();
      std::string method_id;
      if (!decimal(v, "amount", Need::kRequired, decimals_, p.micros) ||
          !many2one(v, "payment_method_id", method_id)) {
        return false;
      }
      if (method_id.empty()) return r_.fail(join(v.path, "payment_method_id"), "missing");
      const std::string* mapped = lookup(mapping_.tenders, method_id);
      p.method = mapped != nullptr ? *mapped : "method-" + method_id;
      if (const json* c = Reader::get(v, "is_change"); c != nullptr && c->is_boolean()) {
        p.is_change = c->get<bool>();
      }
    }
    return true;
  }

  // Puts the order's change on one tender: the first whose method is "cash" and covers it,
  // else the last that covers it (Odoo gives change from the cash method, usually last).
  bool give_change(const Node& o, int64_t change, std::vector<domain::Tender>& tenders) {
    if (change == 0) return true;
    const Money c = Money::from_micros(change);
    domain::Tender* chosen = nullptr;
    for (domain::Tender& t : tenders) {
      if (t.method == "cash" && t.amount >= c) {
        chosen = &t;
        break;
      }
    }
    for (auto it = tenders.rbegin(); chosen == nullptr && it != tenders.rend(); ++it) {
      if (it->amount >= c) chosen = &*it;
    }
    if (chosen == nullptr) {
      return r_.fail(join(o.path, "amount_return"),
                     "the change (" + c.str(decimals_) + ") exceeds every payment");
    }
    chosen->change = c;
    return true;
  }

  const Mapping& mapping_;
  const int decimals_;  // of mapping_.currency (Odoo's payload does not name it); 2 if unset
  Reader r_;
  Translation out_;
};

class OdooAdapter final : public Adapter {
 public:
  std::string_view name() const override { return kName; }
  std::string_view description() const override {
    return "Odoo POS orders: create_from_ui / sync_from_ui payloads (sales, refunds, exchanges)";
  }
  domain::Result<Translation> translate(std::string_view bytes,
                                        const Mapping& mapping) const override {
    try {
      return Translator(mapping).run(bytes);
    } catch (const std::bad_alloc&) {
      return domain::make_error(ErrorCode::kUnavailable, "", "out of memory");
    } catch (const std::exception& e) {
      return domain::make_error(ErrorCode::kInternal, "", std::string("odoo adapter: ") + e.what());
    }
  }
};

}  // namespace

const Adapter& adapter() {
  static const OdooAdapter a;
  return a;
}

}  // namespace loyalty::adapters::odoo

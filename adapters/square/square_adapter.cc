// The Square webhook translator. The input shapes, the field mapping and every decision
// (payment states, split tenders, refunds, times) are documented in README.md next to
// this file; comments here give the reasons where the code alone would not.
#include "adapters/square/square_adapter.h"

#include <new>
#include <optional>
#include <string>
#include <utility>

#include "adapters/json_util.h"

namespace loyalty::adapters::square {
namespace {

using domain::ErrorCode;
using domain::Money;
using domain::Quantity;
using json_util::identifier_problem;
using json_util::join;
using json_util::Need;
using json_util::Node;
using json_util::Reader;

constexpr std::string_view kName = "square";
constexpr std::string_view kPaymentIdPrefix = "square-payment-";
constexpr std::string_view kRefundIdPrefix = "square-refund-";

// A Square Money object, {"amount": <integer minor units>, "currency": "USD"}, read exactly.
struct SquareMoney {
  Money amount;
  std::string currency;
};

// Contract tender method for a Square tender type or payment source type when the mapping
// does not name one: "SQUARE_GIFT_CARD" -> "gift_card", anything else lower-cased
// ("CARD" -> "card", "CASH" -> "cash", "WALLET" -> "wallet").
std::string default_method(std::string_view type) {
  if (type == "SQUARE_GIFT_CARD") return "gift_card";
  std::string out(type);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string payment_skip_reason(const std::string& status) {
  if (status == "APPROVED" || status == "PENDING") {
    return "payment is " + status +
           " (not captured yet): it earns when a payment.updated says COMPLETED";
  }
  if (status == "CANCELED" || status == "FAILED") {
    return "payment is " + status + ": no money was taken, so there is no sale";
  }
  return "payment status " + status + " is not COMPLETED: only completed payments earn";
}

std::string refund_skip_reason(const std::string& status) {
  if (status == "PENDING") {
    return "refund is PENDING: it counts when a refund.updated says COMPLETED";
  }
  return "refund status " + status + " is not COMPLETED: no money went back";
}

std::string event_skip_reason(const std::string& type) {
  if (type.starts_with("order.")) {
    return "event type " + type +
           " carries no payment: a sale is taken from the payment.created/payment.updated "
           "webhook whose payment is COMPLETED";
  }
  if (type.starts_with("loyalty.")) {
    return "event type " + type +
           " belongs to Square's own loyalty program: this plugin keeps its own ledger and "
           "earns from payments";
  }
  return "event type " + type + " is not a payment or a refund";
}

// One translate() call: reads the envelope, appends events or skips, or fails with the
// first error found.
class Translator {
 public:
  explicit Translator(const Mapping& mapping) : mapping_(mapping) {}

  domain::Result<Translation> run(std::string_view bytes) {
    auto doc = json_util::parse(bytes);
    if (!doc) return doc.error();
    const Node root{&*doc, ""};
    if (!root.v->is_object()) {
      return domain::make_error(
          ErrorCode::kInvalidEvent, "",
          "a Square webhook is a JSON object, not " + json_util::type_word(*root.v));
    }
    if (!envelope(root)) return r_.error();
    return std::move(out_);
  }

 private:
  bool envelope(const Node& root) {
    std::string type;
    if (!r_.string(root, "type", Need::kRequired, type)) return false;
    const bool is_payment = type == "payment.created" || type == "payment.updated";
    const bool is_refund = type == "refund.created" || type == "refund.updated";
    if (!is_payment && !is_refund) {
      std::string source_id;
      if (const json_util::json* d = Reader::get(root, "data"); d != nullptr) {
        if (const json_util::json* id = Reader::get(Node{d, "data"}, "id");
            id != nullptr && id->is_string()) {
          source_id = id->get<std::string>();
        }
      }
      if (source_id.empty()) {
        if (const json_util::json* e = Reader::get(root, "event_id");
            e != nullptr && e->is_string()) {
          source_id = e->get<std::string>();
        }
      }
      out_.skipped.push_back(Skipped{Provenance{std::string(kName), "data.object", source_id},
                                     event_skip_reason(type)});
      return true;
    }
    std::optional<Node> data, object;
    if (!r_.object(root, "data", Need::kRequired, data) ||
        !r_.object(*data, "object", Need::kRequired, object)) {
      return false;
    }
    return is_payment ? payment(*object) : refund(*object);
  }

  // A Money object at parent.key in the event's currency. Amounts are integers of minor
  // units and never negative in what we read (fees, which can be, are not read).
  bool money(const Node& parent, std::string_view key, Need need, std::optional<SquareMoney>& out) {
    std::optional<Node> m;
    if (!r_.object(parent, key, need, m)) return false;
    if (!m) return true;
    std::optional<int64_t> minor;
    std::string currency;
    if (!r_.integer(*m, "amount", Need::kRequired, minor) ||
        !r_.string(*m, "currency", Need::kOptional, currency)) {
      return false;
    }
    if (currency.empty()) currency = mapping_.currency;
    if (currency.empty()) {
      return r_.fail(join(m->path, "currency"), "missing, and [adapters.square] names no currency");
    }
    if (currency_.empty()) {
      currency_ = currency;
    } else if (currency != currency_) {
      return r_.fail(join(m->path, "currency"),
                     "is " + currency + " but the event is in " + currency_);
    }
    if (*minor < 0) return r_.fail(join(m->path, "amount"), "must be zero or positive");
    auto micros = json_util::minor_units_to_micros(*minor, json_util::currency_decimals(currency));
    if (!micros) return r_.fail(join(m->path, "amount"), micros.error().message);
    out = SquareMoney{Money::from_micros(*micros), currency};
    return true;
  }

  // `at`: created_at, else updated_at. created_at is preferred because it does not change
  // when Square updates the object again (a later refund, a fee), so a redelivered or
  // repeated COMPLETED webhook yields the same request body and idempotency holds.
  bool time(const Node& obj, domain::BusinessTime& out) {
    std::string text;
    std::string key = "created_at";
    if (!r_.string(obj, key, Need::kOptional, text)) return false;
    if (text.empty()) {
      key = "updated_at";
      if (!r_.string(obj, key, Need::kOptional, text)) return false;
    }
    if (text.empty()) return r_.fail(join(obj.path, "created_at"), "missing");
    auto t = json_util::parse_time(text, mapping_.utc_offset_minutes);
    if (!t) return r_.fail(join(obj.path, key), t.error().message);
    out = *t;
    return true;
  }

  bool branch(const Node& obj, std::string& out) {
    std::string location;
    if (!r_.string(obj, "location_id", Need::kOptional, location)) return false;
    const std::string* mapped = location.empty() ? nullptr : lookup(mapping_.stores, location);
    out = mapped != nullptr ? *mapped : mapping_.branch;
    return true;
  }

  std::string method(std::string_view type) const {
    const std::string* mapped = lookup(mapping_.tenders, type);
    return mapped != nullptr ? *mapped : default_method(type);
  }

  // "SQUARE_GIFT_CARD" when a CARD source or tender is a Square gift card, else `type`.
  bool tender_type(const Node& obj, std::string type, std::string& out) {
    if (type == "CARD") {
      std::optional<Node> details, card;
      std::string brand;
      if (!r_.object(obj, "card_details", Need::kOptional, details)) return false;
      if (details && !r_.object(*details, "card", Need::kOptional, card)) return false;
      if (card && !r_.string(*card, "card_brand", Need::kOptional, brand)) return false;
      if (brand == "SQUARE_GIFT_CARD") type = brand;
    }
    out = std::move(type);
    return true;
  }

  // cash_details.change_back_money, or zero.
  bool change(const Node& obj, Money& out) {
    std::optional<Node> cash;
    std::optional<SquareMoney> back;
    if (!r_.object(obj, "cash_details", Need::kOptional, cash)) return false;
    if (cash && !money(*cash, "change_back_money", Need::kOptional, back)) return false;
    out = back ? back->amount : Money{};
    return true;
  }

  bool customer(const std::string& id, const std::string& path, std::string& out) {
    if (id.empty()) return true;
    out = mapping_.customer_prefix + id;
    if (const char* problem = identifier_problem(out)) {
      return r_.fail(path, "the customer reference " + std::string(problem));
    }
    return true;
  }

  // The payment as the sale's only tender: what the customer handed over (total_money,
  // which includes any tip, plus cash change) with the change.
  bool payment_tender(const Node& p, const SquareMoney& amount,
                      const std::optional<SquareMoney>& total, domain::Tender& out) {
    std::string source_type = "OTHER";
    if (!r_.string(p, "source_type", Need::kOptional, source_type)) return false;
    std::string type;
    Money change_back;
    if (!tender_type(p, source_type, type) || !change(p, change_back)) return false;
    out.method = method(type);
    out.amount = (total ? total->amount : amount.amount) + change_back;
    out.change = change_back;
    return true;
  }

  bool order_tender(const Node& t, domain::Tender& out) {
    std::string type = "OTHER";
    std::optional<SquareMoney> amount;
    Money change_back;
    if (!r_.string(t, "type", Need::kOptional, type) ||
        !money(t, "amount_money", Need::kRequired, amount) || !tender_type(t, type, type) ||
        !change(t, change_back)) {
      return false;
    }
    out.method = method(type);
    out.amount = amount->amount + change_back;
    out.change = change_back;
    return true;
  }

  bool order_line(const Node& item, int64_t n, domain::SaleLine& out) {
    std::string quantity, catalog_id, name, item_type;
    std::optional<SquareMoney> total;
    if (!r_.string(item, "quantity", Need::kRequired, quantity) ||
        !money(item, "total_money", Need::kRequired, total) ||
        !r_.string(item, "catalog_object_id", Need::kOptional, catalog_id) ||
        !r_.string(item, "name", Need::kOptional, name) ||
        !r_.string(item, "item_type", Need::kOptional, item_type)) {
      return false;
    }
    auto qty = Quantity::parse(quantity);
    if (!qty) return r_.fail(join(item.path, "quantity"), qty.error().message);
    if (qty->is_negative()) return r_.fail(join(item.path, "quantity"), "must be zero or positive");
    out.n = n;
    out.sku = catalog_id;
    out.qty = *qty;
    out.amount = total->amount;
    // Square's order line carries no category: the mapping may name one per catalog
    // object id, per line name, or per item type ("GIFT_CARD").
    for (const std::string* key : {&catalog_id, &name, &item_type}) {
      if (key->empty()) continue;
      if (const std::string* c = lookup(mapping_.categories, *key)) {
        out.category = *c;
        break;
      }
    }
    return true;
  }

  bool payment(const Node& object) {
    std::optional<Node> p;
    std::string id, status;
    if (!r_.object(object, "payment", Need::kRequired, p) ||
        !r_.string(*p, "id", Need::kRequired, id) ||
        !r_.string(*p, "status", Need::kRequired, status)) {
      return false;
    }
    Provenance provenance{std::string(kName), p->path, id};
    if (status != "COMPLETED") {
      out_.skipped.push_back(Skipped{std::move(provenance), payment_skip_reason(status)});
      return true;
    }
    domain::SaleCompleted sale;
    sale.h.type = "sale.completed";
    sale.h.id = std::string(kPaymentIdPrefix) + id;
    sale.ticket = id;
    if (const char* problem = identifier_problem(sale.h.id)) {
      return r_.fail(join(p->path, "id"), "the event id " + std::string(problem));
    }
    std::optional<SquareMoney> amount, total;
    std::string order_id, customer_id;
    std::optional<Node> order;
    if (!money(*p, "amount_money", Need::kRequired, amount) ||
        !money(*p, "total_money", Need::kOptional, total) || !time(*p, sale.h.at) ||
        !branch(*p, sale.h.branch) || !r_.string(*p, "order_id", Need::kOptional, order_id) ||
        !r_.string(*p, "customer_id", Need::kOptional, customer_id) ||
        !r_.object(object, "order", Need::kOptional, order)) {
      return false;
    }
    std::string customer_path = join(p->path, "customer_id");
    if (order) {
      std::string order_customer;
      bool first_tender = true;
      if (!order_lines_and_tenders(*order, id, order_id, sale, first_tender) ||
          !r_.string(*order, "customer_id", Need::kOptional, order_customer)) {
        return false;
      }
      if (!first_tender) {
        out_.skipped.push_back(
            Skipped{std::move(provenance),
                    "order " + order_id +
                        " was paid by several payments: it earns once, through the payment of its "
                        "first tender"});
        return true;
      }
      if (customer_id.empty() && !order_customer.empty()) {
        customer_id = order_customer;
        customer_path = join(order->path, "customer_id");
      }
    }
    if (sale.lines.empty()) {
      // No order (the bare webhook) or an order without line items: one line of what the
      // payment charged for goods (amount_money, without the tip).
      sale.lines.push_back(domain::SaleLine{1, "", "", Quantity::from_units(1), amount->amount});
    }
    if (sale.tenders.empty()) {
      if (!payment_tender(*p, *amount, total, sale.tenders.emplace_back())) return false;
    }
    if (!customer(customer_id, customer_path, sale.customer)) return false;
    sale.currency = currency_;
    out_.events.push_back(Event{std::move(sale), std::move(provenance)});
    return true;
  }

  // Fills the sale's lines and tenders from the order the daemon attached. Sets
  // `first_tender` false when the order lists several tenders and this payment is not the
  // first one: a split-tender order is earned once, and every payment of it arrives with
  // the same order.
  bool order_lines_and_tenders(const Node& order, const std::string& payment_id,
                               std::string& order_id, domain::SaleCompleted& sale,
                               bool& first_tender) {
    std::string id;
    std::optional<Node> items, tenders;
    std::optional<SquareMoney> order_total;
    if (!r_.string(order, "id", Need::kRequired, id) ||
        !r_.array(order, "line_items", Need::kOptional, items) ||
        !r_.array(order, "tenders", Need::kOptional, tenders) ||
        !money(order, "total_money", Need::kOptional, order_total)) {
      return false;
    }
    if (!order_id.empty() && id != order_id) {
      return r_.fail(join(order.path, "id"),
                     "is " + id + " but the payment belongs to order " + order_id);
    }
    order_id = id;
    if (tenders && !tenders->v->empty()) {
      std::optional<size_t> mine;
      for (size_t i = 0; i < tenders->v->size() && !mine; ++i) {
        const Node t = r_.element(*tenders, i);
        if (!t.v->is_object()) return r_.fail_type(t.path, *t.v, "an object");
        for (const char* key : {"payment_id", "id"}) {
          const json_util::json* v = Reader::get(t, key);
          if (v != nullptr && v->is_string() && v->get_ref<const std::string&>() == payment_id) {
            mine = i;
            break;
          }
        }
      }
      if (!mine) {
        return r_.fail(tenders->path,
                       "payment " + payment_id + " is not one of order " + id + "'s tenders");
      }
      if (*mine != 0) {
        first_tender = false;
        return true;
      }
      for (size_t i = 0; i < tenders->v->size(); ++i) {
        if (!order_tender(r_.element(*tenders, i), sale.tenders.emplace_back())) return false;
      }
    }
    if (items) {
      for (size_t i = 0; i < items->v->size(); ++i) {
        const Node item = r_.element(*items, i);
        if (!item.v->is_object()) return r_.fail_type(item.path, *item.v, "an object");
        if (!order_line(item, static_cast<int64_t>(i) + 1, sale.lines.emplace_back())) {
          return false;
        }
      }
    }
    if (sale.lines.empty() && order_total) {
      sale.lines.push_back(
          domain::SaleLine{1, "", "", Quantity::from_units(1), order_total->amount});
    }
    return true;
  }

  bool refund(const Node& object) {
    std::optional<Node> r;
    std::string id, status;
    if (!r_.object(object, "refund", Need::kRequired, r) ||
        !r_.string(*r, "id", Need::kRequired, id) ||
        !r_.string(*r, "status", Need::kRequired, status)) {
      return false;
    }
    Provenance provenance{std::string(kName), r->path, id};
    if (status != "COMPLETED") {
      out_.skipped.push_back(Skipped{std::move(provenance), refund_skip_reason(status)});
      return true;
    }
    domain::RefundCompleted refund;
    refund.h.type = "refund.completed";
    refund.h.id = std::string(kRefundIdPrefix) + id;
    refund.ticket = id;
    if (const char* problem = identifier_problem(refund.h.id)) {
      return r_.fail(join(r->path, "id"), "the event id " + std::string(problem));
    }
    std::optional<SquareMoney> amount;
    std::string destination_type;
    if (!money(*r, "amount_money", Need::kRequired, amount) || !time(*r, refund.h.at) ||
        !branch(*r, refund.h.branch) ||
        !r_.string(*r, "payment_id", Need::kOptional, refund.original_ticket) ||
        !r_.string(*r, "destination_type", Need::kOptional, destination_type)) {
      return false;
    }
    // The sale's ticket is the payment id, so the payment id links the refund to it.
    if (!refund.original_ticket.empty()) {
      if (const char* problem = identifier_problem(refund.original_ticket)) {
        return r_.fail(join(r->path, "payment_id"), problem);
      }
    }
    // Square does not say which line came back: one line with the refunded amount.
    domain::RefundLine line;
    line.amount = amount->amount;
    refund.lines.push_back(std::move(line));
    if (!destination_type.empty()) {
      refund.tenders.push_back(domain::Tender{method(destination_type), amount->amount, {}, {}});
    }
    refund.currency = currency_;
    out_.events.push_back(Event{std::move(refund), std::move(provenance)});
    return true;
  }

  const Mapping& mapping_;
  Reader r_;
  Translation out_;
  std::string currency_;  // of the first Money read; every other must match
};

class SquareAdapter final : public Adapter {
 public:
  std::string_view name() const override { return kName; }
  std::string_view description() const override {
    return "Square webhooks: payment.created/updated (with the order attached) and "
           "refund.created/updated";
  }
  domain::Result<Translation> translate(std::string_view bytes,
                                        const Mapping& mapping) const override {
    try {
      return Translator(mapping).run(bytes);
    } catch (const std::bad_alloc&) {
      return domain::make_error(ErrorCode::kUnavailable, "", "out of memory");
    } catch (const std::exception& e) {
      return domain::make_error(ErrorCode::kInternal, "",
                                std::string("square adapter: ") + e.what());
    }
  }
};

}  // namespace

const Adapter& adapter() {
  static const SquareAdapter a;
  return a;
}

}  // namespace loyalty::adapters::square

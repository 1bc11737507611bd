// ARTS / NRF POSLog XML -> contract events. The mapping table, the defaults and what is
// skipped are in adapters/poslog/README.md; this file follows it rule by rule.
//
// Structure: parse the whole document with pugixml first (a truncated or malformed file is an
// error before any event exists), then translate each Transaction into zero or more events, or
// a Skipped entry. Any Error fails the whole input: an adapter never returns half a file.
// Elements are matched on their local names, so `acs:LoyaltyMembership`, `fu:SalesMode` and
// un-prefixed ARTS elements all work whatever prefix or default namespace a vendor uses.
#include "adapters/poslog/poslog_adapter.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <new>
#include <optional>
#include <pugixml.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/ascii.h"
#include "protocol/json_text.h"

namespace loyalty::adapters::poslog {
namespace {

using domain::Error;
using domain::ErrorCode;
using domain::Money;
using domain::Quantity;
using domain::Result;

constexpr std::string_view kName = "poslog";
constexpr std::string_view kSaleSuffix = "-S";
constexpr std::string_view kRefundSuffix = "-R";
constexpr std::string_view kVoidSuffix = "-V";
// Transaction-level credits are spread over the lines in whole cents when they are a whole
// number of cents, so that the lines' amounts stay printable; otherwise in micro-units.
constexpr int64_t kCentMicros = domain::kMicrosPerUnit / 100;

// Products of two amounts need 128 bits (fixed.h: |x| < 10^12 units of 10^6 micros each).
__extension__ typedef __int128 i128;

// ---- small XML helpers -----------------------------------------------------------------------

// "acs:LoyaltyMembership" -> "LoyaltyMembership".
std::string_view local_name(const char* qualified) {
  std::string_view s(qualified);
  const size_t colon = s.rfind(':');
  return colon == std::string_view::npos ? s : s.substr(colon + 1);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

// The first child element called `name` (local name), or an empty node.
pugi::xml_node child(pugi::xml_node node, std::string_view name) {
  for (pugi::xml_node c = node.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element && local_name(c.name()) == name) {
      return c;
    }
  }
  return {};
}

// The first child element whose local name is one of `names`, in document order.
pugi::xml_node child_any(pugi::xml_node node, std::initializer_list<std::string_view> names) {
  for (pugi::xml_node c = node.first_child(); c; c = c.next_sibling()) {
    if (c.type() != pugi::node_element) {
      continue;
    }
    const std::string_view n = local_name(c.name());
    for (std::string_view want : names) {
      if (n == want) {
        return c;
      }
    }
  }
  return {};
}

// An element's own text, trimmed ("" for an empty node).
std::string_view text(pugi::xml_node node) { return trim(node.child_value()); }

std::string_view child_text(pugi::xml_node node, std::string_view name) {
  return text(child(node, name));
}

// The attribute called `name` (local name), or an empty attribute.
pugi::xml_attribute attr(pugi::xml_node node, std::string_view name) {
  for (pugi::xml_attribute a = node.first_attribute(); a; a = a.next_attribute()) {
    if (local_name(a.name()) == name) {
      return a;
    }
  }
  return {};
}

std::string_view attr_text(pugi::xml_node node, std::string_view name) {
  return trim(attr(node, name).value());
}

// xs:boolean: "true" or "1".
bool is_true(std::string_view v) { return domain::ascii_iequals(v, "true") || v == "1"; }

bool attr_true(pugi::xml_node node, std::string_view name) {
  return is_true(attr_text(node, name));
}

// A path into the input for Error::field: "Transaction[3]/RetailTransaction/LineItem[2]/Sale".
// Transaction and LineItem are always indexed (1-based among same-named siblings); other
// elements only when they have a same-named sibling. The POSLog root itself is left out.
std::string path_of(pugi::xml_node node) {
  std::vector<std::string> parts;
  for (pugi::xml_node n = node; n && n.type() == pugi::node_element; n = n.parent()) {
    const std::string_view name = local_name(n.name());
    const bool is_root = n.parent().type() == pugi::node_document;
    if (is_root && name == "POSLog") {
      break;
    }
    size_t index = 0;
    size_t count = 0;
    for (pugi::xml_node s = n.parent().first_child(); s; s = s.next_sibling()) {
      if (s.type() == pugi::node_element && local_name(s.name()) == name) {
        ++count;
        if (s == n) {
          index = count;
        }
      }
    }
    std::string part(name);
    if (count > 1 || name == "Transaction" || name == "LineItem") {
      part += "[" + std::to_string(index) + "]";
    }
    parts.push_back(std::move(part));
  }
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (!out.empty()) {
      out += '/';
    }
    out += *it;
  }
  return out;
}

std::string path_of(pugi::xml_node parent, std::string_view missing_child) {
  std::string p = path_of(parent);
  return p.empty() ? std::string(missing_child) : p + "/" + std::string(missing_child);
}

Error invalid(std::string field, std::string message) {
  return domain::make_error(ErrorCode::kInvalidEvent, std::move(field), std::move(message));
}

// ---- values ----------------------------------------------------------------------------------

// xs:decimal allows a leading '+', the domain parser does not.
std::string_view decimal_text(std::string_view v) {
  v = trim(v);
  if (!v.empty() && v.front() == '+') {
    v.remove_prefix(1);
  }
  return v;
}

Result<Money> money_of(pugi::xml_node node) {
  auto m = Money::parse(decimal_text(node.child_value()));
  if (!m) {
    return invalid(path_of(node), "not a decimal amount: " + m.error().message);
  }
  return *m;
}

// The amount in child `name` of `parent`, which must be present.
Result<Money> required_money(pugi::xml_node parent, std::string_view name) {
  pugi::xml_node n = child(parent, name);
  if (!n) {
    return invalid(path_of(parent, name), "missing " + std::string(name));
  }
  return money_of(n);
}

Money abs(Money m) { return m.is_negative() ? Money::from_micros(-m.micros()) : m; }
Quantity abs(Quantity q) { return q.is_negative() ? Quantity::from_micros(-q.micros()) : q; }

// Adds without wrapping; the sum of many amounts near the 10^12 limit is an input error.
bool add_checked(int64_t& into, int64_t value) {
  return !__builtin_add_overflow(into, value, &into);
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = domain::ascii_lower(c);
  }
  return out;
}

std::string digits_only(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c >= '0' && c <= '9') {
      out += c;
    }
  }
  return out;
}

// A date element is either text ("2017-09-30") or holds a <Date> child (POSLog V6 links).
std::string_view date_text(pugi::xml_node node) {
  pugi::xml_node d = child(node, "Date");
  return d ? text(d) : text(node);
}

// True when the time part of "YYYY-MM-DDThh:mm:ss[.fff]" is followed by Z or +hh:mm/-hh:mm.
bool has_utc_offset(std::string_view t) {
  if (t.size() <= 19) {
    return false;
  }
  const std::string_view tail = t.substr(19);
  return tail.find_first_of("Zz+-") != std::string_view::npos;
}

std::string offset_suffix(int32_t minutes) {
  const char sign = minutes < 0 ? '-' : '+';
  const int32_t m = minutes < 0 ? -minutes : minutes;
  std::string out(1, sign);
  const int32_t h = m / 60;
  const int32_t r = m % 60;
  out += static_cast<char>('0' + h / 10 % 10);
  out += static_cast<char>('0' + h % 10);
  out += ':';
  out += static_cast<char>('0' + r / 10);
  out += static_cast<char>('0' + r % 10);
  return out;
}

// ---- the translation of one Transaction ------------------------------------------------------

struct Link {
  std::string ticket;
  std::string branch;
  std::optional<int64_t> line;
  pugi::xml_node node;
};

struct Line {
  pugi::xml_node item;  // the LineItem
  pugi::xml_node body;  // its Sale or Return
  int64_t n = 0;
  std::string sku;
  std::string category;
  Quantity qty;
  Money extended;  // ExtendedAmount as written, before any discount
  Money amount;    // charged for the line after discounts (a return: refunded), never negative
  std::string operator_sequence;  // NCR acs:OperatorSequence, what LoyaltyReward refers to
  bool is_return = false;
  bool cancelled = false;  // reversed by a later void record
  std::optional<Link> link;
};

struct VoidRecord {
  pugi::xml_node item;
  size_t lines_before = 0;  // how many lines precede it: a void reverses an earlier line
  std::string sku;
  Money amount;  // positive: the amount of the line it reverses
};

struct Credit {
  pugi::xml_node node;
  Money amount;                   // positive: taken off the sale
  std::string operator_sequence;  // the line it belongs to, if any
};

struct ParsedTender {
  pugi::xml_node node;
  domain::Tender tender;
  bool refund_direction = false;  // TypeCode="Refund"
};

class TransactionTranslator {
 public:
  TransactionTranslator(pugi::xml_node tx, int index, const Mapping& mapping, Translation& out)
      : tx_(tx), mapping_(mapping), out_(out) {
    locator_ = "Transaction[" + std::to_string(index) + "]";
  }

  domain::Status run();

 private:
  void identify();
  Result<domain::BusinessTime> business_time() const;
  domain::RequestHeader header(std::string_view type, std::string_view suffix,
                               const domain::BusinessTime& at) const;
  std::string branch_of_store(std::string_view store) const;
  std::string ticket_of(std::string_view workstation, std::string_view sequence,
                        std::string_view transaction_id) const;
  void skip(std::string reason);
  void emit(domain::Request request);

  domain::Status read_line_item(pugi::xml_node item);
  domain::Status read_sale_or_return(pugi::xml_node item, pugi::xml_node body, bool voided);
  domain::Status read_tender(pugi::xml_node tender);
  domain::Status read_reward(pugi::xml_node reward);
  void read_customer_ids(pugi::xml_node holder);
  Result<Link> read_link(pugi::xml_node link) const;
  domain::Status apply_voids();
  domain::Status apply_credits(pugi::xml_node rt);
  std::string method_of(pugi::xml_node tender) const;

  pugi::xml_node tx_;
  const Mapping& mapping_;
  Translation& out_;
  std::string locator_;

  std::string store_, workstation_, sequence_, transaction_id_, business_day_;
  std::string id_base_, ticket_, branch_;

  std::vector<Line> lines_;
  std::vector<VoidRecord> voids_;
  std::vector<Credit> rewards_;
  bool any_detailed_reward_ = false;
  std::vector<Credit> credits_;
  std::vector<ParsedTender> tenders_;
  std::string customer_id_;
  int customer_rank_ = 0;  // 0: none yet; lower wins (README "Customer")
};

// Reads the transaction's identity; an unidentifiable transaction is only an error once it
// would become an event (a sign-on without a sequence number is still skipped).
void TransactionTranslator::identify() {
  store_ = std::string(child_text(tx_, "RetailStoreID"));
  if (store_.empty()) {
    store_ = std::string(child_text(child(tx_, "BusinessUnit"), "UnitID"));
  }
  workstation_ = std::string(child_text(tx_, "WorkstationID"));
  sequence_ = std::string(child_text(tx_, "SequenceNumber"));
  transaction_id_ = std::string(child_text(tx_, "TransactionID"));
  business_day_ = digits_only(date_text(child(tx_, "BusinessDayDate")));
  for (std::string_view part :
       {std::string_view(store_), std::string_view(workstation_), std::string_view(business_day_),
        std::string_view(sequence_.empty() ? transaction_id_ : sequence_)}) {
    if (part.empty()) {
      continue;
    }
    if (!id_base_.empty()) {
      id_base_ += '-';
    }
    id_base_ += part;
  }
  ticket_ = ticket_of(workstation_, sequence_, transaction_id_);
  branch_ = branch_of_store(store_);
}

std::string TransactionTranslator::branch_of_store(std::string_view store) const {
  if (!store.empty()) {
    if (const std::string* b = lookup(mapping_.stores, store)) {
      return *b;
    }
  }
  return mapping_.branch;
}

// Sequence numbers restart per workstation, so the ticket carries the workstation: two lanes'
// "114" are two tickets of the branch (the plugin keys sales and holds by branch and ticket).
std::string TransactionTranslator::ticket_of(std::string_view workstation,
                                             std::string_view sequence,
                                             std::string_view transaction_id) const {
  if (!sequence.empty()) {
    return workstation.empty() ? std::string(sequence)
                               : std::string(workstation) + "-" + std::string(sequence);
  }
  return std::string(transaction_id);
}

Result<domain::BusinessTime> TransactionTranslator::business_time() const {
  pugi::xml_node node = child(tx_, "EndDateTime");
  if (!node) {
    node = child(tx_, "ReceiptDateTime");
  }
  if (!node) {
    node = child(child(tx_, "RetailTransaction"), "ReceiptDateTime");
  }
  if (!node) {
    node = child(tx_, "BeginDateTime");
  }
  if (!node) {
    return invalid(path_of(tx_, "EndDateTime"),
                   "missing EndDateTime (also looked for ReceiptDateTime and BeginDateTime)");
  }
  const std::string_view written = text(node);
  std::string full(written);
  if (!has_utc_offset(written)) {
    full += offset_suffix(mapping_.utc_offset_minutes);
  }
  auto t = domain::parse_rfc3339(full);
  if (!t) {
    return invalid(path_of(node), t.error().message);
  }
  return *t;
}

domain::RequestHeader TransactionTranslator::header(std::string_view type, std::string_view suffix,
                                                    const domain::BusinessTime& at) const {
  domain::RequestHeader h;
  h.type = std::string(type);
  h.id = id_base_ + std::string(suffix);
  h.at = at;
  h.branch = branch_;
  h.terminal = workstation_;
  return h;
}

void TransactionTranslator::skip(std::string reason) {
  out_.skipped.push_back(
      Skipped{Provenance{std::string(kName), locator_, id_base_}, std::move(reason)});
}

void TransactionTranslator::emit(domain::Request request) {
  out_.events.push_back(
      Event{std::move(request), Provenance{std::string(kName), locator_, id_base_}});
}

domain::Status TransactionTranslator::run() {
  identify();
  if (attr_true(tx_, "TrainingModeFlag") || is_true(child_text(tx_, "TrainingModeFlag"))) {
    skip("training-mode transaction: not a real sale");
    return domain::ok_status();
  }
  pugi::xml_node rt = child(tx_, "RetailTransaction");
  if (!rt) {
    // ControlTransaction (sign-on, drawer open), TenderControlTransaction, ...: no goods.
    for (pugi::xml_node c = tx_.first_child(); c; c = c.next_sibling()) {
      const std::string_view n = local_name(c.name());
      if (c.type() == pugi::node_element && n.size() > 11 &&
          n.substr(n.size() - 11) == "Transaction") {
        std::string what(n);
        if (n == "ControlTransaction") {
          pugi::xml_node kind = c.first_child();
          while (kind &&
                 (kind.type() != pugi::node_element || local_name(kind.name()) == "ReasonCode")) {
            kind = kind.next_sibling();
          }
          if (kind) {
            what += " (" + std::string(local_name(kind.name())) + ")";
          }
        }
        skip(what + ": not a sale or a return");
        return domain::ok_status();
      }
    }
    skip("no RetailTransaction: nothing to translate");
    return domain::ok_status();
  }

  if (sequence_.empty() && transaction_id_.empty()) {
    return invalid(path_of(tx_, "SequenceNumber"),
                   "a Transaction needs a SequenceNumber or a TransactionID to be identified");
  }
  auto at = business_time();
  if (!at) {
    return at.error();
  }

  const std::string status = lowercase(attr_text(rt, "TransactionStatus"));
  if (status == "suspended") {
    skip("suspended transaction: it may still be resumed, nothing was paid");
    return domain::ok_status();
  }
  const bool cancelled = attr_true(tx_, "CancelFlag") || attr_true(tx_, "VoidFlag") ||
                         attr_true(rt, "CancelFlag") || attr_true(rt, "VoidFlag") ||
                         status == "cancelled" || status == "canceled" || status == "voided" ||
                         status == "postvoided" || status == "suspendeddeleted";
  if (cancelled) {
    // Nothing is earned, but a points hold the POS took for this ticket must be released, and
    // a post-voided sale that was already recorded must give its points back: sale.voided.
    domain::SaleVoided v;
    v.h = header("sale.voided", kVoidSuffix, *at);
    v.ticket = ticket_;
    emit(std::move(v));
    return domain::ok_status();
  }

  read_customer_ids(rt);
  int index = 0;
  for (pugi::xml_node item = rt.first_child(); item; item = item.next_sibling()) {
    if (item.type() != pugi::node_element || local_name(item.name()) != "LineItem") {
      continue;
    }
    ++index;
    if (auto s = read_line_item(item); !s) {
      return s;
    }
  }
  if (auto s = apply_voids(); !s) {
    return s;
  }
  if (auto s = apply_credits(rt); !s) {
    return s;
  }

  std::vector<const Line*> sales;
  std::vector<const Line*> returns;
  for (const Line& l : lines_) {
    if (l.cancelled) {
      continue;
    }
    (l.is_return ? returns : sales).push_back(&l);
  }
  if (sales.empty() && returns.empty()) {
    skip("no sale or return lines (every line voided, or only tenders and loyalty records)");
    return domain::ok_status();
  }

  std::string currency(child_text(tx_, "CurrencyCode"));
  if (currency.empty()) {
    // POSLog V6 writes the currency on the amounts (Currency="EUR"); "XXX" means none.
    struct Finder : pugi::xml_tree_walker {
      std::string found;
      bool for_each(pugi::xml_node& n) override {
        for (pugi::xml_attribute a = n.first_attribute(); a; a = a.next_attribute()) {
          const std::string_view an = local_name(a.name());
          const std::string_view v = trim(a.value());
          if ((an == "Currency" || an == "CurrencyCode") && !v.empty() && v != "XXX") {
            found = std::string(v);
            return false;
          }
        }
        return true;
      }
    } finder;
    rt.traverse(finder);
    currency = finder.found;
  }
  if (currency.empty()) {
    currency = mapping_.currency;
  }
  const std::string customer =
      customer_id_.empty() ? std::string() : mapping_.customer_prefix + customer_id_;
  const bool exchange = !sales.empty() && !returns.empty();

  if (!sales.empty()) {
    domain::SaleCompleted sale;
    sale.h = header("sale.completed", kSaleSuffix, *at);
    sale.ticket = ticket_;
    sale.currency = currency;
    sale.customer = customer;
    for (const Line* l : sales) {
      sale.lines.push_back(domain::SaleLine{l->n, l->sku, l->category, l->qty, l->amount});
    }
    for (const ParsedTender& t : tenders_) {
      if (exchange && t.refund_direction) {
        continue;
      }
      if (t.tender.amount.is_negative() || t.tender.amount < t.tender.change) {
        return invalid(path_of(t.node, "Amount"), "a sale's tender is negative (amount " +
                                                      t.tender.amount.str(2) + ", change " +
                                                      t.tender.change.str(2) + ")");
      }
      sale.tenders.push_back(t.tender);
    }
    emit(std::move(sale));
  }

  if (!returns.empty()) {
    domain::RefundCompleted refund;
    refund.h = header("refund.completed", kRefundSuffix, *at);
    refund.ticket = ticket_;
    refund.currency = currency;
    refund.customer = customer;
    std::optional<Link> original;
    for (const Line* l : returns) {
      if (!l->link) {
        continue;
      }
      if (original &&
          (original->ticket != l->link->ticket || original->branch != l->link->branch)) {
        return invalid(path_of(l->link->node),
                       "return lines link to more than one original sale (" + original->ticket +
                           " and " + l->link->ticket + "); one refund names one sale");
      }
      original = l->link;
    }
    if (!original) {
      // A link on the transaction itself, unless it only says the ticket was resumed.
      for (pugi::xml_node c = rt.first_child(); c; c = c.next_sibling()) {
        if (c.type() != pugi::node_element || local_name(c.name()) != "TransactionLink") {
          continue;
        }
        const std::string reason = lowercase(attr_text(c, "ReasonCode"));
        if (reason == "resume" || reason == "suspend" || reason == "suspended") {
          continue;
        }
        auto link = read_link(c);
        if (!link) {
          return link.error();
        }
        original = std::move(*link);
        break;
      }
    }
    if (original) {
      refund.original_ticket = original->ticket;
      refund.original_branch = original->branch;
    }
    for (const Line* l : returns) {
      domain::RefundLine rl;
      rl.n = l->link ? l->link->line : std::nullopt;
      rl.sku = l->sku;
      rl.category = l->category;
      rl.qty = l->qty;
      rl.amount = l->amount;
      refund.lines.push_back(std::move(rl));
    }
    for (const ParsedTender& t : tenders_) {
      if (exchange && !t.refund_direction) {
        continue;
      }
      domain::Tender paid_back = t.tender;
      paid_back.amount = abs(paid_back.amount);
      refund.tenders.push_back(std::move(paid_back));
    }
    emit(std::move(refund));
  }
  return domain::ok_status();
}

// Customer ids by precedence (README "Customer"): the loyalty card first, the POS's own
// customer number last. An all-zero id is a placeholder for "none" in NCR files.
void TransactionTranslator::read_customer_ids(pugi::xml_node holder) {
  auto offer = [this](pugi::xml_node n, int rank) {
    const std::string_view id = text(n);
    if (id.empty() || id.find_first_not_of('0') == std::string_view::npos) {
      return;
    }
    if (customer_rank_ == 0 || rank < customer_rank_) {
      customer_rank_ = rank;
      customer_id_ = std::string(id);
    }
  };
  for (pugi::xml_node c = holder.first_child(); c; c = c.next_sibling()) {
    if (c.type() != pugi::node_element) {
      continue;
    }
    const std::string_view n = local_name(c.name());
    if (n == "LoyaltyAccount") {
      offer(child(child(c, "LoyaltyCard"), "PrimaryAccountNumber"), 1);
      offer(child(c, "LoyaltyAccountID"), 3);
      offer(child(c, "CustomerID"), 4);
    } else if (n == "LoyaltyMembership") {
      offer(child(c, "LoyaltyID"), 2);
      offer(child(c, "MembershipID"), 3);
    } else if (n == "Customer") {
      offer(child(c, "CustomerID"), 5);
    }
  }
}

domain::Status TransactionTranslator::read_line_item(pugi::xml_node item) {
  const bool voided = attr_true(item, "VoidFlag") || attr_true(item, "CancelFlag");
  read_customer_ids(item);
  pugi::xml_node body = child_any(item, {"Sale", "Return", "Tender", "LoyaltyReward", "Discount"});
  if (!body) {
    return domain::ok_status();  // Tax, loyalty membership, CRM variables, signatures, ...
  }
  const std::string_view kind = local_name(body.name());
  if (kind == "Sale" || kind == "Return") {
    return read_sale_or_return(item, body, voided);
  }
  if (voided) {
    return domain::ok_status();
  }
  if (kind == "Tender") {
    return read_tender(body);
  }
  if (kind == "LoyaltyReward") {
    return read_reward(body);
  }
  // A transaction-level Discount line: taken off the sale lines in proportion.
  auto amount = required_money(body, "Amount");
  if (!amount) {
    return amount.error();
  }
  credits_.push_back(Credit{body, abs(*amount), {}});
  return domain::ok_status();
}

domain::Status TransactionTranslator::read_sale_or_return(pugi::xml_node item, pugi::xml_node body,
                                                          bool voided) {
  Line line;
  line.item = item;
  line.body = body;
  line.sku = std::string(child_text(body, "ItemID"));
  if (line.sku.empty()) {
    line.sku = std::string(child_text(child(body, "POSIdentity"), "POSItemID"));
  }
  auto extended = required_money(body, "ExtendedAmount");
  if (!extended) {
    return extended.error();
  }
  line.extended = *extended;

  if (voided) {
    // ARTS marks a voided line with VoidFlag and it is simply not part of the sale. NCR ACS
    // instead keeps the original line and adds a VoidFlag'ed copy with the amount negated:
    // that copy must also cancel the original (README "Voided lines").
    if (local_name(body.name()) == "Sale" && extended->is_negative()) {
      voids_.push_back(VoidRecord{item, lines_.size(), line.sku, abs(*extended)});
    }
    return domain::ok_status();
  }

  pugi::xml_node seq = child(item, "SequenceNumber");
  if (!seq) {
    return invalid(path_of(item, "SequenceNumber"), "a Sale or Return line needs a SequenceNumber");
  }
  auto n = domain::parse_micros(text(seq));
  if (!n || *n < 0 || *n % domain::kMicrosPerUnit != 0) {
    return invalid(path_of(seq),
                   "SequenceNumber is not a whole number: '" + std::string(text(seq)) + "'");
  }
  line.n = *n / domain::kMicrosPerUnit;

  line.qty = Quantity::from_units(1);
  if (pugi::xml_node q = child(body, "Quantity")) {
    auto parsed = Quantity::parse(decimal_text(q.child_value()));
    if (!parsed) {
      return invalid(path_of(q), "not a decimal quantity: " + parsed.error().message);
    }
    line.qty = *parsed;
  }

  pugi::xml_node hierarchy;
  for (pugi::xml_node c = body.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element && local_name(c.name()) == "MerchandiseHierarchy") {
      if (!hierarchy || domain::ascii_iequals(attr_text(c, "Level"), "Department")) {
        hierarchy = c;
      }
      if (domain::ascii_iequals(attr_text(c, "Level"), "Department")) {
        break;
      }
    }
  }
  if (const std::string_view raw = text(hierarchy); !raw.empty()) {
    const std::string* mapped = lookup(mapping_.categories, raw);
    line.category = mapped ? *mapped : std::string(raw);
  }
  line.operator_sequence = std::string(child_text(body, "OperatorSequence"));

  // Line discount: ExtendedDiscountAmount, else DiscountAmount, else the RetailPriceModifiers.
  // The real files write 0 in the first two when nothing was discounted, so they hold the
  // discount, not the discounted amount (README "Line amount").
  Money discount;
  pugi::xml_node discount_node;
  for (std::string_view name : {"ExtendedDiscountAmount", "DiscountAmount"}) {
    if (pugi::xml_node d = child(body, name)) {
      auto m = money_of(d);
      if (!m) {
        return m.error();
      }
      if (!m->is_zero()) {
        discount = abs(*m);
        discount_node = d;
        break;
      }
    }
  }
  if (!discount_node) {
    for (pugi::xml_node c = body.first_child(); c; c = c.next_sibling()) {
      if (c.type() != pugi::node_element || local_name(c.name()) != "RetailPriceModifier") {
        continue;
      }
      pugi::xml_node a = child(c, "Amount");
      if (!a) {
        continue;  // a percentage or a price override without an amount changes nothing here
      }
      auto m = money_of(a);
      if (!m) {
        return m.error();
      }
      int64_t sum = discount.micros();
      const int64_t delta =
          domain::ascii_iequals(attr_text(a, "Action"), "Add") ? -abs(*m).micros() : abs(*m).micros();
      if (!add_checked(sum, delta)) {
        return invalid(path_of(a), "discount amounts overflow");
      }
      discount = Money::from_micros(sum);
      discount_node = a;
    }
  }

  const bool negative_item = local_name(attr(body, "ItemType").value()) == "NegativeItem";
  if (local_name(body.name()) == "Return" || line.qty.is_negative()) {
    // ARTS Return lines, and POSLog V6 vendors (roqqio) that write a return as a Sale with a
    // negative Quantity. Signs vary by vendor; the refund carries magnitudes.
    line.is_return = true;
    line.qty = abs(line.qty);
    line.amount = abs(*extended) - discount;
    if (line.amount.is_negative()) {
      return invalid(path_of(discount_node), "discount exceeds the returned line's amount");
    }
    if (pugi::xml_node l = child_any(body, {"TransactionLink"})) {
      auto link = read_link(l);
      if (!link) {
        return link.error();
      }
      line.link = std::move(*link);
    } else if (pugi::xml_node l2 = child(item, "TransactionLink")) {
      auto link = read_link(l2);
      if (!link) {
        return link.error();
      }
      line.link = std::move(*link);
    }
    lines_.push_back(std::move(line));
    return domain::ok_status();
  }
  if (extended->is_negative()) {
    if (negative_item) {
      // A credit inside the sale (NCR acs:NegativeItem: bottle deposit refunds, coupons).
      credits_.push_back(Credit{body, abs(*extended), {}});
      return domain::ok_status();
    }
    return invalid(path_of(child(body, "ExtendedAmount")),
                   "negative amount " + extended->str(2) +
                       " on a sale line; goods coming back are a Return line or a negative "
                       "Quantity");
  }
  line.amount = *extended - discount;
  if (line.amount.is_negative()) {
    return invalid(path_of(discount_node),
                   "discount " + discount.str(2) + " exceeds the line amount " + extended->str(2));
  }
  lines_.push_back(std::move(line));
  return domain::ok_status();
}

Result<Link> TransactionTranslator::read_link(pugi::xml_node link) const {
  Link out;
  out.node = link;
  std::string_view store = child_text(link, "RetailStoreID");
  if (store.empty()) {
    store = child_text(link, "BusinessUnit");
    if (store.empty()) {
      store = child_text(child(link, "BusinessUnit"), "UnitID");
    }
  }
  out.ticket = ticket_of(child_text(link, "WorkstationID"), child_text(link, "SequenceNumber"),
                         child_text(link, "TransactionID"));
  if (out.ticket.empty()) {
    return invalid(path_of(link, "SequenceNumber"),
                   "a TransactionLink needs a SequenceNumber or a TransactionID");
  }
  out.branch = branch_of_store(store);
  if (pugi::xml_node n = child(link, "LineItemSequenceNumber")) {
    auto v = domain::parse_micros(text(n));
    if (!v || *v < 0 || *v % domain::kMicrosPerUnit != 0) {
      return invalid(path_of(n), "LineItemSequenceNumber is not a whole number: '" +
                                     std::string(text(n)) + "'");
    }
    out.line = *v / domain::kMicrosPerUnit;
  }
  return out;
}

domain::Status TransactionTranslator::read_tender(pugi::xml_node tender) {
  pugi::xml_node amount_node = child(tender, "Amount");
  if (!amount_node) {
    if (child(tender, "Rounding")) {
      return domain::ok_status();  // a cash-rounding record (Visma), not a payment
    }
    return invalid(path_of(tender, "Amount"), "missing Amount");
  }
  auto amount = money_of(amount_node);
  if (!amount) {
    return amount.error();
  }
  Money change;
  if (pugi::xml_node c = child(tender, "TenderChange")) {
    auto m = required_money(c, "Amount");
    if (!m) {
      return m.error();
    }
    change = abs(*m);
  }
  const bool refund_direction = domain::ascii_iequals(attr_text(tender, "TypeCode"), "Refund");
  if (amount->is_negative() && !change.is_zero() && abs(*amount) == change) {
    // NCR writes change as its own Tender line (Amount = TenderChange = -2.62) after the
    // tender it was given from (cash, or a debit card's cash back): fold it in there.
    if (tenders_.empty()) {
      return invalid(path_of(amount_node), "change given before any tender");
    }
    tenders_.back().tender.change += change;
    return domain::ok_status();
  }
  ParsedTender t;
  t.node = tender;
  t.tender.method = method_of(tender);
  if (t.tender.method.empty()) {
    return invalid(path_of(tender), "a Tender needs a TenderType or a TenderID");
  }
  t.tender.amount = *amount;
  t.tender.change = change;
  t.refund_direction = refund_direction;
  if (amount->is_negative() && !refund_direction) {
    // Only refunds may carry negative tenders (the sign convention of money paid back).
    t.refund_direction = true;
  }
  tenders_.push_back(std::move(t));
  return domain::ok_status();
}

// Mapping.tenders by TenderID, then by TenderType; else the built-in defaults; else the
// lowercased code itself (README "Tenders").
std::string TransactionTranslator::method_of(pugi::xml_node tender) const {
  const std::string_view id = child_text(tender, "TenderID");
  const std::string_view type = attr_text(tender, "TenderType");
  if (!id.empty()) {
    if (const std::string* m = lookup(mapping_.tenders, id)) {
      return *m;
    }
  }
  if (!type.empty()) {
    if (const std::string* m = lookup(mapping_.tenders, type)) {
      return *m;
    }
    const std::string t = lowercase(type);
    if (t == "cash") {
      return "cash";
    }
    if (t == "creditdebit") {
      const std::string card = lowercase(attr_text(child(tender, "CreditDebit"), "CardType"));
      if (card == "debit") {
        return "debit_card";
      }
      return "credit_card";
    }
    if (t == "credit") {
      return "credit_card";
    }
    if (t == "debit") {
      return "debit_card";
    }
    if (t == "check" || t == "cheque") {
      return "check";
    }
    if (t == "giftcard" || t == "giftcertificate" || t == "storedvalue") {
      return "gift_card";
    }
    if (t == "voucher") {
      return "voucher";
    }
    if (t == "coupon") {
      return "coupon";
    }
    if (t == "loyalty" || t == "loyaltyredemption" || t == "points") {
      return "points";
    }
    if (t == "customeraccount") {
      return "account";
    }
    return t;
  }
  return lowercase(id);
}

domain::Status TransactionTranslator::read_reward(pugi::xml_node reward) {
  if (attr_true(reward, "detailedData")) {
    any_detailed_reward_ = true;
  }
  if (!domain::ascii_iequals(child_text(reward, "RewardCategory"), "Monetary")) {
    return domain::ok_status();  // messages, custom offers, points: no money taken off
  }
  pugi::xml_node a = child(reward, "ExtendedRewardAmount");
  if (!a) {
    return invalid(path_of(reward, "ExtendedRewardAmount"), "a Monetary reward needs an amount");
  }
  auto m = money_of(a);
  if (!m) {
    return m.error();
  }
  if (!m->is_negative()) {
    return domain::ok_status();
  }
  rewards_.push_back(
      Credit{reward, abs(*m), std::string(child_text(reward, "OperatorSequenceReference"))});
  return domain::ok_status();
}

domain::Status TransactionTranslator::apply_voids() {
  for (const VoidRecord& v : voids_) {
    Line* target = nullptr;
    for (size_t i = v.lines_before; i > 0; --i) {
      Line& l = lines_[i - 1];
      if (!l.cancelled && !l.is_return && l.sku == v.sku && l.extended == v.amount) {
        target = &l;
        break;
      }
    }
    if (!target) {
      return invalid(path_of(v.item), "voided line " + v.sku + " (" + v.amount.str(2) +
                                          ") reverses no earlier line of the same item");
    }
    target->cancelled = true;
  }
  return domain::ok_status();
}

// Monetary rewards go to the line they name (NCR OperatorSequenceReference); unnamed rewards,
// Discount lines and negative items are spread over the sale lines in proportion to their
// amounts (largest remainder, whole cents), so the lines add up to what was paid for goods.
domain::Status TransactionTranslator::apply_credits(pugi::xml_node rt) {
  for (const Credit& r : rewards_) {
    // NCR writes each reward twice: a detailed record and a summary; count each once.
    if (any_detailed_reward_ && !attr_true(r.node, "detailedData")) {
      continue;
    }
    Line* target = nullptr;
    if (!r.operator_sequence.empty()) {
      for (Line& l : lines_) {
        if (!l.cancelled && !l.is_return && l.operator_sequence == r.operator_sequence) {
          target = &l;
          break;
        }
      }
    }
    if (!target) {
      credits_.push_back(r);
      continue;
    }
    target->amount -= r.amount;
    if (target->amount.is_negative()) {
      return invalid(path_of(r.node, "ExtendedRewardAmount"),
                     "reward " + r.amount.str(2) + " exceeds the line it applies to");
    }
  }
  if (credits_.empty()) {
    return domain::ok_status();
  }
  int64_t credit = 0;
  for (const Credit& c : credits_) {
    if (!add_checked(credit, c.amount.micros())) {
      return invalid(path_of(c.node), "credits overflow");
    }
  }
  std::vector<Line*> targets;
  int64_t base = 0;
  for (Line& l : lines_) {
    if (!l.cancelled && !l.is_return) {
      targets.push_back(&l);
      if (!add_checked(base, l.amount.micros())) {
        return invalid(path_of(l.body), "line amounts overflow");
      }
    }
  }
  if (credit > base) {
    return invalid(path_of(rt), "transaction-level discounts and negative items (" +
                                    Money::from_micros(credit).str(2) +
                                    ") exceed the sale lines (" + Money::from_micros(base).str(2) +
                                    ")");
  }
  if (credit == 0) {
    return domain::ok_status();
  }
  const int64_t quantum = credit % kCentMicros == 0 ? kCentMicros : 1;
  const int64_t units = credit / quantum;
  std::vector<int64_t> share(targets.size());
  std::vector<std::pair<i128, size_t>> remainders;
  int64_t given = 0;
  for (size_t i = 0; i < targets.size(); ++i) {
    const i128 exact = static_cast<i128>(units) * targets[i]->amount.micros();
    share[i] = static_cast<int64_t>(exact / base);
    given += share[i];
    remainders.emplace_back(exact % base, i);
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t k = 0; given < units && k < remainders.size(); ++k, ++given) {
    ++share[remainders[k].second];
  }
  for (size_t i = 0; i < targets.size(); ++i) {
    targets[i]->amount -= Money::from_micros(share[i] * quantum);
    if (targets[i]->amount.is_negative()) {
      // Only possible when a line is smaller than one quantum of its share.
      targets[i]->amount = Money();
    }
  }
  return domain::ok_status();
}

class PoslogAdapter final : public Adapter {
 public:
  std::string_view name() const override { return kName; }
  std::string_view description() const override {
    return "ARTS / NRF POSLog XML (NCR ACS, roqqio, Visma and other ARTS 2.x-6.x writers)";
  }

  domain::Result<Translation> translate(std::string_view bytes,
                                        const Mapping& mapping) const override {
    try {
      return translate_document(bytes, mapping);
    } catch (const std::bad_alloc&) {
      return domain::make_error(ErrorCode::kUnavailable, "", "out of memory translating POSLog");
    } catch (const std::exception& e) {
      return domain::make_error(ErrorCode::kInternal, "",
                                std::string("poslog adapter failed: ") + e.what());
    } catch (...) {
      return domain::make_error(ErrorCode::kInternal, "", "poslog adapter failed");
    }
  }

 private:
  static domain::Result<Translation> translate_document(std::string_view bytes,
                                                        const Mapping& mapping) {
    pugi::xml_document doc;
    const pugi::xml_parse_result parsed =
        doc.load_buffer(bytes.data(), bytes.size(), pugi::parse_default, pugi::encoding_auto);
    if (!parsed) {
      // kInvalidJson is the project's "input not well-formed" class (README "Errors").
      return domain::make_error(ErrorCode::kInvalidJson, "",
                                std::string("input is not well-formed XML at byte ") +
                                    std::to_string(parsed.offset) + ": " + parsed.description());
    }
    // pugixml takes a UTF-8 document's bytes as they are: an invalid byte in a card number
    // became U+FFFD in the request, so different cards were one account. (Other encodings
    // were decoded by pugixml into valid UTF-8.)
    if (parsed.encoding == pugi::encoding_utf8) {
      if (const auto bad = protocol::find_bad_byte(bytes)) {
        return domain::make_error(ErrorCode::kInvalidJson, "",
                                  (bad->kind == protocol::BadByte::Kind::kNul ? "input has a NUL byte at byte "
                                                                              : "input is not valid UTF-8 at byte ") +
                                      std::to_string(bad->offset));
      }
    }
    pugi::xml_node root = doc.document_element();
    Translation out;
    const std::string_view root_name = local_name(root.name());
    if (root_name == "Transaction") {
      if (auto s = TransactionTranslator(root, 1, mapping, out).run(); !s) {
        return s.error();
      }
      return out;
    }
    if (root_name != "POSLog") {
      return domain::make_error(
          ErrorCode::kInvalidEvent, std::string(root_name),
          "the root element is " + std::string(root_name) + ", not POSLog or Transaction");
    }
    int index = 0;
    for (pugi::xml_node tx = root.first_child(); tx; tx = tx.next_sibling()) {
      if (tx.type() != pugi::node_element || local_name(tx.name()) != "Transaction") {
        continue;
      }
      ++index;
      if (auto s = TransactionTranslator(tx, index, mapping, out).run(); !s) {
        return s.error();
      }
    }
    return out;
  }
};

}  // namespace

const Adapter& adapter() {
  static const PoslogAdapter a;
  return a;
}

}  // namespace loyalty::adapters::poslog

#include "app/service.h"
#include "app/sync_apply.h"

#include <string.h>

#include <algorithm>
#include <optional>
#include <random>
#include <utility>

#include "domain/ascii.h"
#include "domain/earning.h"
#include "domain/lots.h"
#include "domain/refunds.h"
#include "loyalty/loyalty.h"
#include "protocol/codec.h"
#include "protocol/sync_data.h"
#include "receipt/receipt.h"

namespace loyalty::app {

using domain::BusinessTime;
using domain::Error;
using domain::ErrorCode;
using domain::Money;
using domain::Points;
using domain::Result;

namespace {

constexpr size_t kQuarantineHeadBytes = 64 * 1024;

// Business outcomes that are answers, not malformed input: they are stored with the request
// id so that a retry gets the same answer.
bool is_business_error(ErrorCode c) {
  return c == ErrorCode::kInsufficientPoints || c == ErrorCode::kNotFound || c == ErrorCode::kConflict;
}

Error not_found(const std::string& field, const std::string& ref) {
  return domain::make_error(ErrorCode::kNotFound, field, "no customer with reference '" + ref + "'");
}

// MM-DD of a YYYY-MM-DD birthday, for promotions.
std::string month_day(const std::string& birthday) {
  return birthday.size() == 10 ? birthday.substr(5) : std::string();
}

}  // namespace

// ---------------------------------------------------------------------------------------
// One request inside one write (or read) transaction.
class Service::Run {
 public:
  // `now_ms` and `seed` (hold ids) are the request's: a re-run of its record
  // (LedgerTx::log_request) passes the same, and so writes the same rows.
  Run(LedgerTx& tx, const config::Settings& s, int64_t now_ms, uint64_t seed,
      const protocol::ParsedRequest& parsed, int64_t schema_version, const SyncStatus* sync)
      : tx_(tx), s_(s), p_(s.program), now_ms_(now_ms), seed_(seed), schema_version_(schema_version),
        parsed_(parsed), h_(domain::header_of(parsed.request)), sync_(sync) {}

  Result<domain::Response> execute() {
    // A write dates lots (expiry_days) and holds (hold_minutes) from `at`; a date after the
    // year 9999 could not be written as RFC 3339, nor read back.
    if (!domain::is_query(parsed_.request) &&
        !domain::within_rfc3339_years(std::max(h_.at.plus_days(p_.expiry_days), h_.at.plus_minutes(p_.hold_minutes)))) {
      return domain::make_error(ErrorCode::kInvalidEvent, "at",
                                "'" + domain::format_rfc3339(h_.at) + "' is too late: points earned or held then " +
                                    "would expire after the year 9999 (expiry_days = " + std::to_string(p_.expiry_days) +
                                    ", hold_minutes = " + std::to_string(p_.hold_minutes) + ")");
    }
    return std::visit([this](const auto& r) -> Result<domain::Response> { return on(r); },
                      parsed_.request);
  }

 private:
  // ---- requests --------------------------------------------------------------------

  Result<domain::Response> on(const domain::SaleCompleted& sale) {
    if (auto e = foreign_currency(sale.currency)) return *e;
    domain::SaleResponse out;
    out.customer = sale.customer;
    out.program_version = p_.version;
    std::optional<Account> acct;
    if (!sale.customer.empty()) {
      acct = tx_.find_account_by_ref(sale.customer);
      if (!acct && p_.auto_enroll) {
        acct = enroll(sale.customer, "");
      } else if (!acct) {
        out.warnings.push_back("customer '" + sale.customer +
                               "' is not enrolled and auto_enroll is off: nothing earned");
      }
    }
    Points expired_elsewhere{0};
    if (acct) {
      out.account = acct->account_id;
      expired_elsewhere = touch(*acct);
    }

    if (auto prev = tx_.find_sale(h_.branch, sale.ticket)) {
      out.warnings.push_back("ticket " + sale.ticket + " was already recorded by request " +
                             prev->request_id + "; refunds of it now refer to this sale");
    }

    // Points tenders: capture holds, redeem (rule 5). A completed sale is a fact. The cost is
    // rounded up once per hold, and once for the tenders without one: a payment split over
    // two tenders of one hold costs what the hold reserved (it cost a point more per tender,
    // and the second tender was told its hold was already captured).
    Points redeem{0};
    std::vector<std::string> captured;
    std::vector<std::pair<std::string, Money>> by_hold;  // hold id ("" for none) -> amount, in tender order
    for (size_t i = 0; i < sale.tenders.size(); ++i) {
      const domain::Tender& t = sale.tenders[i];
      if (!p_.is_points_method(t.method)) continue;
      const Money net = domain::net_of(t);
      if (net <= Money{}) continue;
      if (!acct) {
        out.warnings.push_back("tenders[" + std::to_string(i) +
                               "] pays with points but the sale has no enrolled customer");
        continue;
      }
      auto same = std::find_if(by_hold.begin(), by_hold.end(), [&t](const auto& g) { return g.first == t.hold; });
      if (same == by_hold.end()) {
        by_hold.emplace_back(t.hold, net);
      } else {
        same->second += net;
      }
    }
    for (const auto& [hold_id, amount] : by_hold) {
      redeem += domain::redeem_cost(p_, amount);
      if (hold_id.empty()) continue;
      auto hold = tx_.find_hold(hold_id);
      if (hold && hold->status == "active" && hold->account_id == acct->account_id) {
        tx_.resolve_hold(hold->hold_id, "captured", now_ms_);
        captured.push_back(hold->hold_id);
      } else {
        const std::string why = !hold                                   ? " is unknown"
                                : hold->account_id != acct->account_id ? " is another customer's"
                                                                        : " is " + hold->status;
        out.warnings.push_back("hold " + hold_id + why + "; the points were redeemed without it");
      }
    }
    // Any other hold of this ticket ends with the sale, whoever it was for (the customer
    // changed at the register, or the sale went to no one): the ticket is closed.
    for (const Hold& h : tx_.active_holds_of_ticket(h_.branch, sale.ticket)) {
      tx_.resolve_hold(h.hold_id, "released", now_ms_);
    }
    if (redeem > Points(0)) {
      const Points available = acct->balance - active_held(acct->account_id) - expired_elsewhere;
      if (redeem > available) {
        // Beyond the balance it overdraws; within it, it spends points other tickets' holds
        // reserved (those sales will overdraw when they complete).
        const bool overdraws = redeem > acct->balance - expired_elsewhere;
        out.warnings.push_back("points tender of " + std::to_string(redeem.value()) +
                               " points exceeds the available " + std::to_string(available.value()) +
                               (expired_elsewhere > Points(0)
                                    ? " (" + std::to_string(expired_elsewhere.value()) +
                                          " more have expired at the branch that granted them)"
                                    : std::string()) +
                               (overdraws ? "; balance goes negative" : "; it spends points held for other tickets"));
      }
      debit(*acct, redeem, "redeem", sale.ticket, "", {});
    }

    // Earning (rules 1-4, promotions).
    domain::CustomerFacts facts;
    if (acct) {
      facts.category = acct->category;
      facts.first_visit = acct->sales_count == 0;
      facts.birthday = month_day(acct->birthday);
    }
    auto earning = domain::compute_earning(p_, sale, facts);
    if (!earning) return earning.error();
    const Points earned = acct ? earning->earned : Points(0);
    domain::SaleRecord rec;
    rec.branch = h_.branch;
    rec.ticket = sale.ticket;
    rec.request_id = h_.id;
    rec.account_id = acct ? acct->account_id : "";
    rec.earned = earned;
    rec.redeemed = redeem;
    rec.at = h_.at;
    for (size_t i = 0; i < sale.lines.size(); ++i) {
      const auto& l = sale.lines[i];
      rec.lines.push_back(domain::SaleLineRecord{l.n, l.amount, l.qty, earning->lines[i].percent, Money{}});
    }
    if (acct) {
      // The sale record travels with the earn entry (or a 0-point "sale" entry) so that a
      // refund in another branch claws back exactly (docs/sync.md).
      protocol::EntryFacts facts;
      if (earned > Points(0)) {
        std::string reason;
        for (const auto& promo : earning->promotions) {
          reason += (reason.empty() ? "" : "; ") + promo.reason;
        }
        rec.earn_entry_id = entry_id_of("earn");
        facts.sale = rec;
        EntryRow e = credit_entry(*acct, earned, "earn", sale.ticket, "", reason, protocol::encode_facts(facts));
        e.counts_sale = true;
        append_credit(*acct, e);
      } else {
        facts.sale = rec;
        EntryRow e = entry(*acct, "sale", Points(0), sale.ticket, "", "");
        e.data = protocol::encode_facts(facts);
        e.counts_sale = true;
        tx_.append_entry(e, {}, std::nullopt);
      }
    }
    explain_zero_earn(*earning, acct.has_value(), earned, sale, acct ? acct->category : std::string(), out.notes);
    tx_.put_sale(rec);
    // Refunds of this ticket recorded before it, at the customer's rate (rule 9), now know
    // their sale: corrected to rule 7, so the sale is never clawed back twice.
    if (correct_refunds_of_arrived_sale(tx_, s_, now_ms_, rec) > 0 && acct) {
      if (auto fresh = tx_.find_account(acct->account_id)) acct->balance = fresh->balance;
      // A correction's points come back expiring with the refund's time: past it already,
      // they leave now (rule 6), as balance.query at this `at` says (the answer showed them).
      touch(*acct);
    }

    out.earned = earned;
    out.redeemed = redeem;
    if (acct) fill_balance(*acct, out.balance, out.available, out.balance_value, out.expiring);
    out.receipt = receipt(receipt::ReceiptFacts::Kind::kSale, sale.customer, earned, redeem,
                          Points(0), Points(0), out.balance, out.available, out.balance_value,
                          out.expiring, out.notes);
    return domain::Response{std::move(out)};
  }

  Result<domain::Response> on(const domain::RefundCompleted& refund) {
    if (auto e = foreign_currency(refund.currency)) return *e;
    domain::RefundResponse out;
    out.customer = refund.customer;
    std::optional<domain::SaleRecord> sale;
    if (!refund.original_ticket.empty()) {
      const std::string& branch = refund.original_branch.empty() ? h_.branch : refund.original_branch;
      sale = tx_.find_sale(branch, refund.original_ticket);
    }
    std::optional<Account> acct;
    const std::string sale_acct_id = sale ? sale->account_id : std::string();
    if (!sale_acct_id.empty()) acct = tx_.find_account(sale_acct_id);
    if (!acct && !refund.customer.empty()) acct = tx_.find_account_by_ref(refund.customer);
    // A refund of a sale this branch has not seen, for a customer it has not seen either
    // (they bought at a branch cut off from this one): the account is the card's (its id is
    // derived from the reference, the same at every branch), so it is enrolled here and the
    // refund kept, to claw back exactly when the sale arrives. It clawed back nothing, ever.
    // So is a refund paid back in points to a customer not enrolled here: the POS gave the
    // customer points instead of money, and they were lost ("no customer is known").
    bool enrolled_for_refund = false;
    const Points payout = domain::restored_by_refund(p_, refund);  // rule 8, before the limits below
    if (!acct && !sale && !refund.customer.empty() && (!refund.original_ticket.empty() || payout > Points(0))) {
      acct = enroll(refund.customer, "", /*welcome=*/false);
      enrolled_for_refund = true;
      out.warnings.push_back("customer " + refund.customer + " is new here" +
                             (refund.original_ticket.empty()
                                  ? std::string(": enrolled for the points the refund pays back")
                                  : std::string(": the refund claws back what the sale earned once the sale arrives")));
    }
    if (acct) touch(*acct);
    out.matched = sale.has_value();

    Points clawback{0};
    std::optional<Money> refunded_now;  // the amount the refund's lines took back, when known
    protocol::EntryFacts facts;  // what other branches need to converge (docs/sync.md)
    facts.is_refund = true;
    facts.sale_branch = refund.original_branch.empty() ? h_.branch : refund.original_branch;
    facts.sale_ticket = refund.original_ticket;
    facts.matched = sale.has_value();
    if (sale) {
      auto d = domain::clawback_for_refund(*sale, refund);
      if (!d) return d.error();
      if (sale->voided) {
        // Recorded as the POS reports it, but the void already reversed the sale's points
        // (its earning, and its redemption: a points tender restores no more, below).
        out.warnings.push_back("ticket " + sale->ticket + " was voided: the void already reversed its points");
      }
      out.warnings.insert(out.warnings.end(), d->warnings.begin(), d->warnings.end());
      // Rule 7, within what is left of the earning: a voided sale has nothing left (its void
      // took it), and what expired from the sale's lot left the balance already (rule 6);
      // taking it again made a customer pay for those points twice.
      const Points left_of_earning = max(Points(0), sale->earned - sale->clawed_back - expired_from_lot(tx_, *sale));
      clawback = acct && !sale->voided ? std::min(d->clawback, left_of_earning) : Points(0);
      refunded_now = Money{};
      for (size_t i = 0; i < d->lines_after.size() && i < sale->lines.size(); ++i) {
        const Money added = d->lines_after[i].refunded - sale->lines[i].refunded;
        if (added > Money{}) facts.refunded.emplace_back(sale->lines[i].n, added);
        *refunded_now += added;
      }
      facts.target = clawback.value();
      sale->lines = std::move(d->lines_after);
      sale->clawed_back += clawback;
    } else {
      facts.refund_lines = refund.lines;
      if (!refund.original_ticket.empty()) {
        out.warnings.push_back("original sale " + refund.original_ticket + " is unknown here");
      }
      if (acct && !enrolled_for_refund && p_.unmatched_refund == domain::UnmatchedRefundPolicy::kClawbackAtRate) {
        domain::CustomerFacts facts{acct->category, false, month_day(acct->birthday)};
        auto c = domain::clawback_at_rate(p_, refund, facts);
        if (!c) return c.error();
        clawback = *c;
      }
    }
    // Rule 8. A voided sale's void gave back its redemption (what points refunds had not
    // already): the same points again would be a gift, in either order (docs/contract.md,
    // Void). What a matched refund restores travels in its facts, so that the sale's branch
    // counts it too before a void there.
    Points restored = acct ? payout : Points(0);
    if (sale && sale->voided) restored = std::min(restored, max(Points(0), sale->redeemed - sale->restored));
    // Points paid out for goods the sale no longer had to give back (its lines capped, or a
    // payout above what the lines took back) would be points from nothing.
    const bool lines_priced = !refund.lines.empty() && std::all_of(refund.lines.begin(), refund.lines.end(),
                                                                   [](const domain::RefundLine& l) { return l.amount.has_value(); });
    if (!sale && lines_priced) {
      // An unmatched refund's lines carry the amounts given back: the payout is worth at most
      // that, as for a known sale. One of 1.00 of goods paid back 500.00 in points restored
      // 5,000.
      refunded_now = Money{};
      for (const auto& l : refund.lines) {
        if (l.amount) *refunded_now += *l.amount;
      }
    }
    if (refunded_now && restored > domain::points_for_value(p_, *refunded_now)) {
      restored = domain::points_for_value(p_, *refunded_now);
      out.warnings.push_back("the points tender is worth more than the " + refunded_now->str(2) +
                             " its lines took back: " + std::to_string(restored.value()) + " points restored");
    }
    if (sale) facts.restored = restored.value();
    // A refund that names a sale is recorded even when it claws back 0, so that the sale's
    // refunded amounts converge everywhere and an unmatched one can be corrected later.
    const bool names_sale = sale.has_value() || !refund.original_ticket.empty();
    if (acct && (clawback > Points(0) || names_sale)) {
      const std::string id = debit(*acct, clawback, "clawback", refund.ticket,
                                   sale ? sale->earn_entry_id : std::string(),
                                   sale ? sale->earn_entry_id : std::string(), {},
                                   protocol::encode_facts(facts));
      if (!sale && !refund.original_ticket.empty()) {
        tx_.add_unmatched_refund(facts.sale_branch, facts.sale_ticket, id);
      }
    }
    if (sale) {
      sale->restored += restored;  // a later void gives back only the rest of the redemption
      tx_.put_sale(*sale);         // once, with its lines, clawback and restoration
    }
    if (acct) {
      if (restored > Points(0)) credit(*acct, restored, "restore", refund.ticket, "", "refund to points");
    } else if (payout > Points(0)) {
      out.warnings.push_back("refund paid in points but it names no customer: nothing restored");
    }
    out.clawed_back = clawback;
    out.restored = restored;
    if (acct) {
      out.account = acct->account_id;
      fill_balance(*acct, out.balance, out.available, out.balance_value, out.expiring);
    }
    // Whose points moved: the sale's customer. A refund that names nobody, or another
    // customer, answers (and prints) with the reference of the account it changed.
    std::string who;
    if (acct) {
      // Without a sale's account, the account is the named customer's own.
      bool named_is_acct = !refund.customer.empty() && sale_acct_id.empty();
      if (!refund.customer.empty() && !sale_acct_id.empty()) {
        auto named = tx_.find_account_by_ref(refund.customer);
        named_is_acct = named && named->account_id == acct->account_id;
      }
      who = named_is_acct ? refund.customer : first_alias(*acct);
      if (!refund.customer.empty() && !named_is_acct) {
        out.warnings.push_back("ticket " + refund.original_ticket + " was " + who + "'s sale, not " +
                               refund.customer + "'s: its points were taken back from " + who);
      }
      out.customer = who;
    }
    out.receipt = receipt(receipt::ReceiptFacts::Kind::kRefund, who,
                          Points(0), Points(0), clawback, restored, out.balance, out.available,
                          out.balance_value, out.expiring, {});
    return domain::Response{std::move(out)};
  }

  Result<domain::Response> on(const domain::PointsAuthorize& r) {
    auto acct = tx_.find_account_by_ref(r.customer);
    if (!acct) return not_found("customer", r.customer);
    const Points expired_elsewhere = touch(*acct);
    const Points cost = domain::redeem_cost(p_, r.amount);
    const Points available = acct->balance - active_held(acct->account_id);
    if (acct->balance < Points(0) || available - expired_elsewhere < cost) {
      return insufficient("amount", "paying " + r.amount.str_trimmed(2) + " needs " +
                                        std::to_string(cost.value()) + " points",
                          acct->balance, available, expired_elsewhere);
    }
    if (sync_ && s_.sync.enabled && s_.sync.offline_redeem_allowance &&
        now_ms_ - sync_->last_contact_ms.load(std::memory_order_relaxed) >
            s_.sync.stale_after_seconds * 1000) {
      // Offline redemption policy (docs/sync.md): the hub has not been heard from for
      // stale_after_seconds, so other branches may be spending the same points.
      const std::string day = domain::format_date(h_.at);
      const int64_t used = tx_.offline_redeemed(acct->account_id, day);
      const int64_t allowance = *s_.sync.offline_redeem_allowance;
      const int64_t left = std::max<int64_t>(0, allowance - used);
      if (cost.value() > left) {
        return domain::make_error(
            ErrorCode::kInsufficientPoints, "amount",
            "the loyalty hub is out of reach, so redemption is limited to " +
                std::to_string(allowance) +
                " points per customer per day (" + std::to_string(left) + " left today); paying " +
                r.amount.str_trimmed(2) + " needs " + std::to_string(cost.value()));
      }
      tx_.add_offline_redeemed(acct->account_id, day, cost.value());
    }
    Hold h;
    h.hold_id = new_hold_id();
    h.account_id = acct->account_id;
    h.branch = h_.branch;
    h.request_id = h_.id;
    h.ticket = r.ticket;
    h.points = cost;
    h.amount = r.amount;
    h.status = "active";
    h.created_at = h_.at;
    h.business_deadline = h_.at.plus_minutes(p_.hold_minutes);
    h.wall_deadline_ms = now_ms_ + p_.hold_minutes * 60'000;
    tx_.insert_hold(h);
    domain::AuthorizeResponse out;
    out.hold = h.hold_id;
    out.points = cost;
    out.amount = r.amount;
    out.expires_at = h.business_deadline;
    out.available = available - cost;
    return domain::Response{std::move(out)};
  }

  Result<domain::Response> on(const domain::PointsRelease& r) {
    domain::ReleaseResponse out;
    std::vector<Hold> holds;
    if (!r.hold.empty()) {
      auto h = tx_.find_hold(r.hold);
      if (!h) return domain::make_error(ErrorCode::kNotFound, "hold", "no hold '" + r.hold + "'");
      if (auto owner = check_owner(r.customer, {h->account_id}, "hold " + r.hold); !owner) return owner.error();
      if (h->status == "active") holds.push_back(*h);
    } else {
      holds = tx_.active_holds_of_ticket(h_.branch, r.ticket);
      if (auto owner = check_owner(r.customer, accounts_of(holds), "ticket " + r.ticket); !owner) {
        return owner.error();
      }
    }
    for (const Hold& h : holds) {
      if (!release(h)) continue;
      out.released.push_back(h.hold_id);
      out.points += h.points;
    }
    return domain::Response{std::move(out)};
  }

  Result<domain::Response> on(const domain::SaleVoided& v) {
    domain::VoidResponse out;
    out.ticket = v.ticket;
    const auto holds = tx_.active_holds_of_ticket(h_.branch, v.ticket);
    auto sale = tx_.find_sale(h_.branch, v.ticket);
    auto touched = accounts_of(holds);
    if (sale && !sale->voided) touched.push_back(sale->account_id);
    if (auto owner = check_owner(v.customer, touched, "ticket " + v.ticket); !owner) return owner.error();
    for (const Hold& h : holds) {
      if (release(h)) out.released.push_back(h.hold_id);
    }
    if (sale && !sale->voided) {
      out.reversed_sale = true;
      sale->voided = true;
      if (!sale->account_id.empty()) {
        if (auto acct = tx_.find_account(sale->account_id)) {
          touch(*acct);
          // What is left of its earning: not what expired from its lot meanwhile (rule 6
          // already took those points; taking them again drove balances negative).
          const Points left = sale->earned - sale->clawed_back - expired_from_lot(tx_, *sale);
          if (left > Points(0)) {
            debit(*acct, left, "void_clawback", v.ticket, sale->earn_entry_id, sale->earn_entry_id,
                  {}, void_facts(*sale));
            sale->clawed_back += left;
            out.clawed_back = left;
          }
          const Points back = sale->redeemed - sale->restored;
          if (back > Points(0)) {
            credit(*acct, back, "void_restore", v.ticket, "", "sale voided", void_facts(*sale));
            sale->restored += back;
            out.restored = back;
          }
          out.balance = acct->balance;
        }
      }
      tx_.put_sale(*sale);
    }
    return domain::Response{std::move(out)};
  }

  Result<domain::Response> on(const domain::CustomerUpsert& c) {
    domain::CustomerResponse out;
    out.customer = c.customer;
    if (c.category && !c.category->empty() && !p_.customer_categories.contains(*c.category)) {
      // Kept (the admin may add the category later), but a typo must not pass unnoticed.
      out.warnings.push_back("category '" + *c.category +
                             "' is not in [program.categories]: the program's earn_percent applies");
    }
    auto acct = tx_.find_account_by_ref(c.customer);
    if (!acct) {
      acct = enroll(c.customer, c.category.value_or(""));
      out.created = true;
    } else {
      touch(*acct);
      if (c.category && *c.category != acct->category) {
        tx_.set_category(acct->account_id, *c.category);
        acct->category = *c.category;
        protocol::EntryFacts f;
        f.category = *c.category;
        EntryRow e = entry(*acct, "category", Points(0), "", "", "");
        e.data = protocol::encode_facts(f);
        tx_.append_entry(e, {}, std::nullopt);
      }
    }
    for (size_t i = 0; i < c.aliases.size(); ++i) {
      auto other = tx_.find_account_by_ref(c.aliases[i]);
      if (other && other->account_id != acct->account_id) {
        return domain::make_error(ErrorCode::kConflict, "aliases[" + std::to_string(i) + "]",
                                  "reference '" + c.aliases[i] + "' already belongs to another account");
      }
      if (!other) {
        tx_.add_alias(acct->account_id, c.aliases[i]);
        protocol::EntryFacts f;
        f.ref = c.aliases[i];
        EntryRow e = entry(*acct, "alias", Points(0), "", "", "");
        e.entry_id += "/" + std::to_string(i);
        e.data = protocol::encode_facts(f);
        tx_.append_entry(e, {}, std::nullopt);
      }
    }
    if (c.name || c.email || c.phone || c.birthday) {
      tx_.upsert_pii(acct->account_id, Pii{c.name, c.email, c.phone, c.birthday});
    }
    out.account = acct->account_id;
    out.aliases = tx_.aliases(acct->account_id);
    out.category = acct->category;
    out.balance = acct->balance;
    return domain::Response{std::move(out)};
  }

  Result<domain::Response> on(const domain::BalanceQuery& q) {
    // The POS's most frequent call: answered from balance_view(), which a store may keep in
    // memory.
    auto view = tx_.balance_view(q.customer);
    if (!view) return not_found("customer", q.customer);
    domain::BalanceResponse out;
    out.customer = q.customer;
    out.account = view->account_id;
    out.category = view->category;
    // Read-only: what expiry and lapsed holds will do at `at`, without writing it. As in
    // touch(), only this branch's own lots: another branch's lot is expired by its owner, by
    // the points its own ledger has left in it (docs/sync.md, "Expiry authority"), which
    // this ledger cannot know. Whose a lot is, the view does not say: for the rare answer
    // with a lot past its expiry, the ledger's lots do.
    Points expired{0};
    if (!view->lots.empty() && view->lots.front().expires_at <= h_.at) {
      for (const auto& lot : tx_.open_lots(view->account_id)) {
        if (lot.expires_at <= h_.at && !foreign(lot)) expired += lot.remaining;
      }
    }
    list_expiring(view->lots, out.expiring);
    out.balance = view->balance - expired;
    Points held{0};
    for (const auto& h : view->holds) {
      if (!lapsed(h.business_deadline, h.wall_deadline_ms)) held += h.points;
    }
    out.available = out.balance - held;
    out.balance_value = domain::value_of(p_, out.balance);
    return domain::Response{std::move(out)};
  }

  Result<domain::Response> on(const domain::HistoryQuery& q) {
    auto acct = tx_.find_account_by_ref(q.customer);
    if (!acct) return not_found("customer", q.customer);
    domain::HistoryResponse out;
    out.customer = q.customer;
    out.account = acct->account_id;
    std::optional<int64_t> from, to;
    if (q.from) from = q.from->unix_ms;
    if (q.to) to = q.to->unix_ms;
    auto rows = tx_.entries_of_account(acct->account_id, from, to, q.limit + 1);
    for (auto& e : rows) {
      out.entries.push_back(domain::HistoryEntry{e.entry_id, e.kind, e.points, e.branch, e.ticket,
                                                 e.business_at, e.expires_at, e.reason});
    }
    // Read-only, like balance.query: this branch's own lots expired by `at` that no write
    // has expired yet appear as the expiry entries touch() will write (rule 6), in
    // business-time order. Another branch's lot shows its expiry once that branch wrote it.
    for (const auto& lot : tx_.expired_lots(acct->account_id, h_.at)) {
      if ((from && lot.expires_at.unix_ms < *from) || (to && lot.expires_at.unix_ms > *to)) continue;
      if (foreign(lot)) continue;
      domain::HistoryEntry e{domain::expiry_entry_id(lot.lot_id), "expire", -lot.remaining, h_.branch, "",
                             lot.expires_at, std::nullopt, ""};
      auto pos = std::upper_bound(out.entries.begin(), out.entries.end(), e,
                                  [](const auto& a, const auto& b) { return a.at < b.at; });
      out.entries.insert(pos, std::move(e));
    }
    if (static_cast<int64_t>(out.entries.size()) > q.limit) {
      out.entries.resize(static_cast<size_t>(q.limit));
      out.truncated = true;
    }
    return domain::Response{std::move(out)};
  }

  Result<domain::Response> on(const domain::PointsAdjust& a) {
    auto acct = tx_.find_account_by_ref(a.customer);
    if (!acct) return not_found("customer", a.customer);
    touch(*acct);
    const std::string reason = a.reason + " (by " + a.operator_name + ")";  // both required
    if (a.points > Points(0)) {
      credit(*acct, a.points, "adjust", "", "", reason);
    } else if (a.points < Points(0)) {
      debit(*acct, -a.points, "adjust", "", "", {}, reason);
    }
    domain::AdjustResponse out;
    out.customer = a.customer;
    out.points = a.points;
    out.balance = acct->balance;
    return domain::Response{std::move(out)};
  }

  Result<domain::Response> on(const domain::PointsTransfer& t) {
    if (!p_.allow_transfers) {
      // A request this program does not take: invalid_event, one of the contract's codes
      // (kept in the quarantine like any refused input, and not recorded under its id, so a
      // retry after the admin allows transfers goes through).
      return domain::make_error(ErrorCode::kInvalidEvent, "type",
                                "points.transfer is disabled in this program (program.allow_transfers = false)");
    }
    auto from = tx_.find_account_by_ref(t.from);
    if (!from) return not_found("from", t.from);
    auto to = tx_.find_account_by_ref(t.to);
    if (!to) return not_found("to", t.to);
    if (from->account_id == to->account_id) {
      return domain::make_error(ErrorCode::kInvalidEvent, "to", "cannot transfer to the same account");
    }
    const Points expired_elsewhere = touch(*from);
    touch(*to);
    const Points available = from->balance - active_held(from->account_id);
    if (from->balance < Points(0) || available - expired_elsewhere < t.points) {
      return insufficient("points", "a transfer of " + std::to_string(t.points.value()) + " points",
                          from->balance, available, expired_elsewhere);
    }
    // Points keep their expiry: the received lot expires when the earliest lot the points
    // come from would have (debits take lots oldest expiry first), so that a transfer, or
    // two, cannot make points live longer.
    const auto sources = tx_.open_lots(from->account_id);
    std::optional<domain::BusinessTime> expires;
    if (!sources.empty()) expires = sources.front().expires_at;
    debit(*from, t.points, "transfer_out", "", "", {}, t.reason);
    credit(*to, t.points, "transfer_in", "", "", t.reason, {}, expires);
    domain::TransferResponse out{t.from, t.to, t.points, from->balance, to->balance};
    return domain::Response{std::move(out)};
  }

  Result<domain::Response> on(const domain::PluginInfo&) {
    domain::InfoResponse out;
    out.abi_version = LOYALTY_ABI_VERSION;
    out.version = LOYALTY_VERSION_STRING;
    out.branch = s_.branch;
    out.program_version = p_.version;
    out.currency = p_.currency;
    out.schema_version = schema_version_;
    return domain::Response{std::move(out)};
  }

  // ---- ledger helpers --------------------------------------------------------------

  // Amounts are in the sale's currency (contract section 2) and the program prices one
  // currency: a sale or refund in another cannot be priced, so it is malformed input.
  std::optional<Error> foreign_currency(const std::string& currency) const {
    // ISO 4217 codes are upper case; a POS that writes "mxn" still means pesos.
    if (currency.empty() || domain::ascii_iequals(currency, p_.currency)) return std::nullopt;
    return domain::make_error(ErrorCode::kInvalidEvent, "currency",
                              "'" + currency + "' is not the program's currency (" + p_.currency + ")");
  }

  // A new account for `ref`. `welcome`: the program's welcome bonus (not for an account a
  // refund finds missing: the customer signed up where they bought).
  Account enroll(const std::string& ref, const std::string& category, bool welcome = true) {
    Account a = tx_.create_account(h_.branch, ref, category, h_.at);
    protocol::EntryFacts f;  // the enrollment travels: the reference and category
    f.ref = ref;
    f.category = category;
    EntryRow e = entry(a, "enroll", Points(0), "", "", "");
    e.data = protocol::encode_facts(f);
    tx_.append_entry(e, {}, std::nullopt);
    if (welcome && p_.welcome_bonus > Points(0)) credit(a, p_.welcome_bonus, "welcome", "", "", "welcome bonus");
    return a;
  }

  // Applies what time did to the account before the request: expired lots (rule 6) and
  // lapsed holds. Returns the points of other branches' lots that are past their expiry
  // here: still in the balance until their branch's expiry entry arrives, but not to be spent.
  Points touch(Account& a) {
    Points foreign_expired{0};
    for (const domain::Lot& lot : tx_.expired_lots(a.account_id, h_.at)) {
      // Expiry authority (docs/sync.md): only the branch that wrote the credit expires its
      // lot; the others apply that entry when it arrives.
      if (foreign(lot)) {
        foreign_expired += lot.remaining;
        continue;
      }
      EntryRow e = entry(a, "expire", -lot.remaining, "", lot.lot_id, "");
      e.entry_id = domain::expiry_entry_id(lot.lot_id);
      e.business_at = lot.expires_at;
      tx_.append_entry(e, {domain::take_from(lot, lot.remaining)}, std::nullopt);
      a.balance -= lot.remaining;
    }
    for (const Hold& h : tx_.active_holds_of_account(a.account_id)) {
      if (lapsed(h)) tx_.resolve_hold(h.hold_id, "expired", now_ms_);
    }
    return foreign_expired;
  }

  // A release or void that names its customer: every account it would touch (a hold's, a
  // ticket's holds' and sale's) must be that customer's. No customer named: nothing to check.
  domain::Status check_owner(const std::string& customer, const std::vector<std::string>& account_ids,
                             const std::string& what) {
    if (customer.empty()) return domain::ok_status();
    auto acct = tx_.find_account_by_ref(customer);
    if (!acct) return not_found("customer", customer);
    for (const std::string& id : account_ids) {
      if (id != acct->account_id) {
        return domain::make_error(ErrorCode::kInvalidEvent, "customer", what + " is not this customer's");
      }
    }
    return domain::ok_status();
  }

  static std::vector<std::string> accounts_of(const std::vector<Hold>& holds) {
    std::vector<std::string> out;
    out.reserve(holds.size());
    for (const Hold& h : holds) out.push_back(h.account_id);
    return out;
  }

  // insufficient_points for `what` (rule 10: a negative balance cannot be redeemed).
  // `expired_elsewhere`: points of available that lie in other branches' expired lots.
  static domain::Error insufficient(const std::string& field, const std::string& what, Points balance,
                                    Points available, Points expired_elsewhere) {
    if (balance < Points(0)) {
      return domain::make_error(ErrorCode::kInsufficientPoints, field,
                                what + ", but the balance is " + std::to_string(balance.value()) +
                                    " points: a negative balance cannot be redeemed");
    }
    std::string message =
        what + "; " + std::to_string(std::max<int64_t>(0, (available - expired_elsewhere).value())) + " available";
    if (expired_elsewhere > Points(0)) {
      message += " (" + std::to_string(expired_elsewhere.value()) +
                 " more have expired; the branch that granted them has yet to record it)";
    }
    return domain::make_error(ErrorCode::kInsufficientPoints, field, message);
  }

  // Another branch wrote the lot's credit: that branch expires it (expiry authority).
  bool foreign(const domain::Lot& lot) {
    auto credit_entry = tx_.find_entry(lot.lot_id);
    return credit_entry && credit_entry->origin_branch != s_.branch;
  }

  // Ends an active hold for a release or a void. One that has lapsed already (hold_minutes)
  // ends as expired and frees nothing now: false, so the answer does not report its points.
  bool release(const Hold& h) {
    if (lapsed(h)) {
      tx_.resolve_hold(h.hold_id, "expired", now_ms_);
      return false;
    }
    tx_.resolve_hold(h.hold_id, "released", now_ms_);
    return true;
  }

  bool lapsed(const Hold& h) const { return lapsed(h.business_deadline, h.wall_deadline_ms); }
  bool lapsed(const BusinessTime& business_deadline, int64_t wall_deadline_ms) const {
    return business_deadline <= h_.at || wall_deadline_ms <= now_ms_;
  }

  Points active_held(const std::string& account_id) {
    Points held{0};
    for (const Hold& h : tx_.active_holds_of_account(account_id)) held += h.points;
    return held;
  }

  std::string entry_id_of(const std::string& kind) const { return h_.branch + "/" + h_.id + "/" + kind; }

  EntryRow entry(const Account& a, const std::string& kind, Points points, const std::string& ticket,
                 const std::string& ref_entry, const std::string& reason) {
    EntryRow e;
    e.entry_id = entry_id_of(kind);
    e.origin_branch = s_.branch;
    e.account_id = a.account_id;
    e.kind = kind;
    e.points = points;
    e.request_id = h_.id;
    e.branch = h_.branch;
    e.ticket = ticket;
    e.ref_entry_id = ref_entry;
    e.business_at = h_.at;
    e.recorded_at_ms = now_ms_;
    e.program_version = p_.version;
    e.reason = reason;
    e.body_hash = parsed_.body_hash;
    return e;
  }

  // A credit is a new lot: it first repays a negative balance (lot invariant).
  // The new lot expires `expiry_days` after the request's `at`, or at `expires` when given.
  std::string credit(Account& a, Points points, const std::string& kind, const std::string& ticket,
                     const std::string& ref_entry, const std::string& reason,
                     const std::string& data = {}, std::optional<domain::BusinessTime> expires = std::nullopt) {
    EntryRow e = credit_entry(a, points, kind, ticket, ref_entry, reason, data, expires);
    append_credit(a, e);
    return e.entry_id;
  }

  EntryRow credit_entry(const Account& a, Points points, const std::string& kind, const std::string& ticket,
                        const std::string& ref_entry, const std::string& reason, const std::string& data,
                        std::optional<domain::BusinessTime> expires = std::nullopt) {
    EntryRow e = entry(a, kind, points, ticket, ref_entry, reason);
    e.data = data;
    e.expires_at = expires ? *expires : h_.at.plus_days(p_.expiry_days);
    return e;
  }

  void append_credit(Account& a, EntryRow& e) {
    domain::Lot lot{e.entry_id, a.account_id, h_.at, *e.expires_at, e.points,
                    domain::lot_remaining_for_credit(a.balance, e.points)};
    std::optional<domain::Lot> new_lot;
    if (lot.remaining > Points(0)) new_lot = lot;
    tx_.append_entry(e, {}, new_lot);
    a.balance += e.points;
  }

  // A debit consumes lots oldest expiry first (a clawback its own sale's lot first).
  std::string debit(Account& a, Points points, const std::string& kind, const std::string& ticket,
                    const std::string& ref_entry, const std::string& preferred_lot,
                    const std::string& reason = {}, const std::string& data = {}) {
    EntryRow e = entry(a, kind, -points, ticket, ref_entry, reason);
    e.data = data;
    std::vector<domain::Allocation> alloc;
    if (points > Points(0)) alloc = domain::allocate_debit(tx_.open_lots(a.account_id), points, preferred_lot);
    tx_.append_entry(e, alloc, std::nullopt);
    a.balance -= points;
    return e.entry_id;
  }

  static std::string void_facts(const domain::SaleRecord& sale) {
    protocol::EntryFacts f;
    f.is_void = true;
    f.sale_branch = sale.branch;
    f.sale_ticket = sale.ticket;
    return protocol::encode_facts(f);
  }

  void fill_balance(const Account& a, Points& balance, Points& available, Money& value,
                    std::vector<domain::ExpiringPoints>& expiring) {
    balance = a.balance;
    available = a.balance - active_held(a.account_id);
    value = domain::value_of(p_, a.balance);
    list_expiring(tx_.view_lots(a.account_id), expiring);
  }

  // The next expiry dates of `lots` (in consumption order) after `at`. A lot past its expiry
  // and still open is expired by the answer's balance already, or is another branch's lot,
  // which that branch expires.
  template <class Lots>
  void list_expiring(const Lots& lots, std::vector<domain::ExpiringPoints>& expiring) const {
    for (const auto& lot : lots) {
      if (lot.expires_at <= h_.at) continue;
      if (!domain::add_expiring(expiring, lot.expires_at, lot.remaining, h_.at.offset_minutes)) break;
    }
  }

  std::string first_alias(const Account& a) {
    auto refs = tx_.aliases(a.account_id);
    return refs.empty() ? a.account_id : refs.front();
  }

  // splitmix64 over the request's seed: random across requests, the same in a re-run.
  uint64_t next_random() {
    uint64_t z = (seed_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  std::string new_hold_id() {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string id = "H-";
    uint64_t x = next_random(), y = next_random();
    for (int i = 0; i < 16; ++i) id += kHex[(x >> (i * 4)) & 0xF];
    for (int i = 0; i < 4; ++i) id += kHex[(y >> (i * 4)) & 0xF];
    return id;
  }

  // What earned nothing and why (the receipt says it in words).
  static void explain_zero_earn(const domain::EarnBreakdown& b, bool has_account, Points earned,
                                const domain::SaleCompleted& sale, const std::string& customer_category,
                                std::vector<domain::ZeroEarnNote>& notes) {
    using domain::ZeroEarnReason;
    if (!has_account) {
      notes.push_back({ZeroEarnReason::kNoCustomer, ""});
      return;
    }
    if (b.blocked_by_points) {
      notes.push_back({ZeroEarnReason::kPaidWithPoints, ""});
      return;
    }
    if (b.excluded_method_amount > Money{}) {
      for (const auto& m : b.excluded_methods) notes.push_back({ZeroEarnReason::kExcludedMethod, m});
    }
    // "earn_on_remainder": what points paid counts as excluded (rule 4).
    if (b.points_amount > Money{}) notes.push_back({ZeroEarnReason::kPaidWithPoints, ""});
    for (size_t i = 0; i < b.lines.size(); ++i) {
      const auto& l = b.lines[i];
      if (l.excluded == domain::LineExclusion::kNone || l.amount.is_zero()) continue;
      ZeroEarnReason reason = ZeroEarnReason::kExcludedProduct;
      std::string what;
      switch (l.excluded) {
        case domain::LineExclusion::kSku: what = sale.lines[i].sku; break;
        case domain::LineExclusion::kCategory: what = sale.lines[i].category; break;
        case domain::LineExclusion::kCustomerCategory: reason = ZeroEarnReason::kZeroRate; what = customer_category; break;
        case domain::LineExclusion::kProgram: reason = ZeroEarnReason::kZeroRate; break;
        case domain::LineExclusion::kNone: break;
      }
      const bool seen = std::any_of(notes.begin(), notes.end(), [&](const domain::ZeroEarnNote& n) {
        return n.reason == reason && n.detail == what;
      });
      if (!seen) notes.push_back({reason, what});
    }
    if (earned == Points(0) && notes.empty()) {
      const bool paid_something = std::any_of(b.lines.begin(), b.lines.end(),
                                              [](const domain::LineEarning& l) { return l.amount > Money{}; });
      if (paid_something) notes.push_back({ZeroEarnReason::kRoundedToZero, ""});
    }
  }

  std::vector<std::string> receipt(receipt::ReceiptFacts::Kind kind, const std::string& customer,
                                   Points earned, Points redeemed, Points clawed, Points restored,
                                   Points balance, Points available, Money value,
                                   const std::vector<domain::ExpiringPoints>& expiring,
                                   const std::vector<domain::ZeroEarnNote>& notes) {
    receipt::ReceiptFacts f;
    f.kind = kind;
    f.customer = customer;
    f.currency = p_.currency;
    f.earned = earned;
    f.redeemed = redeemed;
    f.clawed_back = clawed;
    f.restored = restored;
    f.balance = balance;
    f.available = available;
    f.balance_value = value;
    if (!expiring.empty()) f.expiring = expiring.front();
    f.notes = notes;
    return receipt::render(s_.receipt, f);
  }

  LedgerTx& tx_;
  const config::Settings& s_;
  const domain::ProgramConfig& p_;
  const int64_t now_ms_;
  uint64_t seed_;
  const int64_t schema_version_;
  const protocol::ParsedRequest& parsed_;
  const domain::RequestHeader& h_;
  const SyncStatus* sync_;
};

// ---------------------------------------------------------------------------------------

Service::Service(std::shared_ptr<LedgerStore> store, std::shared_ptr<const config::Settings> settings,
                 std::shared_ptr<const Clock> clock)
    : store_(std::move(store)), clock_(std::move(clock)), settings_(std::move(settings)) {}

Service::~Service() = default;

void Service::replace_settings(std::shared_ptr<const config::Settings> settings) {
  std::lock_guard lock(settings_mu_);
  settings_ = std::move(settings);
}

std::shared_ptr<const config::Settings> Service::settings() const {
  std::lock_guard lock(settings_mu_);
  return settings_;
}

QuarantineRow Service::quarantine_row(int64_t at_ms, std::string_view raw, std::string_view source, const Error& e) {
  QuarantineRow row;
  row.received_at_ms = at_ms;
  row.source = std::string(source);
  row.raw = std::string(raw.substr(0, std::min(raw.size(), kQuarantineHeadBytes)));
  row.error_code = std::string(domain::error_code_word(e.code));
  row.field = e.field;
  row.message = e.message;
  return row;
}

// Rule 12: nothing a POS sent is lost. Answered "malformed", the POS would drop the bytes we
// could not keep; "unavailable" has it send them again, when they are kept.
std::string Service::unkept_message(const Error& e, const StoreFailure& f) {
  return e.message + "; the ledger cannot keep the request in quarantine now (" + f.what() + "): send it again";
}

Error Service::quarantine(std::string_view raw, std::string_view source, const Error& e) {
  try {
    store_->quarantine(quarantine_row(clock_->now_ms(), raw, source, e));
    return e;
  } catch (const StoreFailure& f) {
    return domain::make_error(ErrorCode::kUnavailable, e.field, unkept_message(e, f));
  }
}

// ---- request records (LedgerTx::log_request) ------------------------------------------

// What a request needs to run again exactly as it first ran: its clock, the seed of its
// random ids, what the sync client knew, the program it ran under, where it came from, and
// its bytes. Little-endian binary: "v1" below is its first byte.
struct Service::RecordContext {
  int64_t now_ms = 0;
  uint64_t seed = 0;
  bool has_sync = false;
  int64_t last_contact_ms = 0;
  std::string program_version;
};

namespace {

constexpr char kRecordVersion = 1;

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void put_text(std::string& out, std::string_view t) {
  const auto n = static_cast<uint32_t>(t.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(n >> (8 * i)));
  out.append(t);
}

class RecordReader {
 public:
  explicit RecordReader(std::string_view in) : in_(in) {}
  uint64_t u64() {
    need(8, "a number");
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(in_[at_ + i])) << (8 * i);
    at_ += 8;
    return v;
  }
  uint8_t u8() {
    need(1, "a flag");
    return static_cast<uint8_t>(in_[at_++]);
  }
  std::string_view text() {
    need(4, "a length");
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i) n |= static_cast<uint32_t>(static_cast<unsigned char>(in_[at_ + i])) << (8 * i);
    at_ += 4;
    need(n, "a text");
    const std::string_view t = in_.substr(at_, n);
    at_ += n;
    return t;
  }
  std::string_view rest() { return in_.substr(at_); }

 private:
  void need(size_t n, const char* what) const {
    if (in_.size() - at_ < n) {
      throw StoreFailure(ErrorCode::kInternal, std::string("request record truncated where ") + what + " belongs");
    }
  }
  std::string_view in_;
  size_t at_ = 0;
};

}  // namespace

Service::RecordContext Service::context_now(const config::Settings& settings) const {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  RecordContext c;
  c.now_ms = clock_->now_ms();
  c.seed = rng();
  c.has_sync = sync_status_ != nullptr;
  if (c.has_sync) c.last_contact_ms = sync_status_->last_contact_ms.load(std::memory_order_relaxed);
  c.program_version = settings.program.version;
  return c;
}

std::string Service::encode_record(const RecordContext& c, std::string_view source, std::string_view raw) {
  std::string out;
  out.reserve(64 + c.program_version.size() + source.size() + raw.size());
  out.push_back(kRecordVersion);
  put_u64(out, static_cast<uint64_t>(c.now_ms));
  put_u64(out, c.seed);
  out.push_back(c.has_sync ? 1 : 0);
  put_u64(out, static_cast<uint64_t>(c.last_contact_ms));
  put_text(out, c.program_version);
  put_text(out, source);
  out.append(raw);
  return out;
}

void Service::reexecute(LedgerTx& tx, std::string_view record) {
  RecordReader in(record);
  if (in.u8() != kRecordVersion) throw StoreFailure(ErrorCode::kInternal, "request record of an unknown version");
  RecordContext c;
  c.now_ms = static_cast<int64_t>(in.u64());
  c.seed = in.u64();
  c.has_sync = in.u8() != 0;
  c.last_contact_ms = static_cast<int64_t>(in.u64());
  c.program_version = std::string(in.text());
  const std::string_view source = in.text();
  const std::string_view raw = in.rest();

  auto settings = this->settings();
  if (settings->program.version != c.program_version && program_lookup_) {
    // The program changed between the record and now (an admin's change raced the request).
    if (auto then = program_lookup_(c.program_version)) settings = std::move(then);
  }
  Kept kept = Kept::kNothing;
  std::string id;
  run_request(tx, *settings, c, raw, source, nullptr, kept, id);
  tx.commit();
}

Outcome Service::run_request(LedgerTx& tx, const config::Settings& settings, const RecordContext& c,
                             std::string_view raw, std::string_view source, const protocol::ParsedRequest* parsed,
                             Kept& kept, std::string& id) {
  std::optional<domain::Result<protocol::ParsedRequest>> own;
  if (parsed == nullptr) {
    own.emplace(protocol::parse_request(raw, settings.branch, &id));
    if (!*own) {
      keep_in_quarantine(tx, c.now_ms, raw, source, own->error());
      kept = Kept::kQuarantine;
      return Outcome{static_cast<int>(own->error().code), protocol::encode_error(own->error(), id)};
    }
    parsed = &**own;
  }
  const domain::RequestHeader& h = domain::header_of(parsed->request);
  id = h.id;
  auto fail = [&](const Error& e) { return Outcome{static_cast<int>(e.code), protocol::encode_error(e, h.id)}; };
  SyncStatus sync;
  sync.last_contact_ms.store(c.last_contact_ms, std::memory_order_relaxed);
  auto run = [&] {
    return Run(tx, settings, c.now_ms, c.seed, *parsed, store_->schema_version(), c.has_sync ? &sync : nullptr)
        .execute();
  };
  if (domain::is_query(parsed->request)) {
    // A query that looked like a write (looks_like_query): answered inside the write.
    auto r = run();
    return r ? Outcome{0, protocol::encode_response(h, *r)} : fail(r.error());
  }
  // Rule 11: an id seen before gets its first answer, or `conflict` for another body.
  if (auto stored = tx.find_request(h.branch, h.id)) {
    if (stored->body_hash == parsed->body_hash) return Outcome{stored->code, stored->response_json};
    return fail(domain::make_error(ErrorCode::kConflict, "id",
                                   "request id '" + h.id + "' was already used with a different body"));
  }
  auto r = run();
  Outcome out;
  if (r) {
    out = Outcome{0, protocol::encode_response(h, *r)};
  } else if (is_business_error(r.error().code)) {
    // A refusal changes nothing but the record of its answer: what the run wrote before it
    // refused (an upsert's new account before a conflicting alias, say) is undone.
    out = fail(r.error());
    tx.rollback_work();
  } else {
    // Malformed input changes nothing and is kept in the quarantine, in this transaction.
    tx.rollback_work();
    keep_in_quarantine(tx, c.now_ms, raw, source, r.error());
    kept = Kept::kQuarantine;
    return fail(r.error());
  }
  tx.put_request(h.branch, h.id, StoredRequest{parsed->body_hash, out.code, out.json}, c.now_ms);
  kept = Kept::kAnswer;
  return out;
}

void Service::keep_in_quarantine(LedgerTx& tx, int64_t at_ms, std::string_view raw, std::string_view source,
                                 const Error& e) {
  try {
    tx.put_quarantine(quarantine_row(at_ms, raw, source, e));
  } catch (const StoreFailure& f) {
    throw StoreFailure(ErrorCode::kUnavailable, unkept_message(e, f));
  }
}

// Only a guess, which errs towards "a write": a query taken for a write is answered inside
// a write transaction (a little slower), a write taken for a query takes handle()'s
// other path, which records its statements instead. memmem, not string_view::find, which
// stops at every '"' of the JSON to compare (1.6 % of a replayed sale; memmem 0.18 µs a
// request for the three names).
bool Service::looks_like_query(std::string_view raw) {
  for (std::string_view type : {std::string_view("\"balance.query\""), std::string_view("\"history.query\""),
                                std::string_view("\"plugin.info\"")}) {
    if (memmem(raw.data(), raw.size(), type.data(), type.size()) != nullptr) return true;
  }
  return false;
}

Outcome Service::write(std::string_view raw, std::string_view source, const config::Settings& settings,
                       const protocol::ParsedRequest* parsed) {
  std::string id = parsed != nullptr ? domain::header_of(parsed->request).id : std::string();
  auto fail = [&](const Error& e) { return Outcome{static_cast<int>(e.code), protocol::encode_error(e, id)}; };
  std::unique_ptr<LedgerTx> tx;
  RecordContext c;
  try {
    tx = store_->begin_write();
    c = context_now(settings);
    // Not parsed yet: the store keeps the request itself (log_request), which reaches the disk
    // while it is parsed and run. Else (or if the store declines) it keeps the rows.
    if (parsed == nullptr) tx->log_request(encode_record(c, source, raw));
  } catch (const StoreFailure& f) {
    // Refused before any work (a full disk, a busy ledger): the answer names the request.
    if (parsed == nullptr) {
      auto p = protocol::parse_request(raw, settings.branch, &id);
      if (!p) {
        return fail(domain::make_error(ErrorCode::kUnavailable, p.error().field, unkept_message(p.error(), f)));
      }
      id = domain::header_of(p->request).id;
    }
    return fail(domain::make_error(f.code(), "", f.what()));
  }
  Kept kept = Kept::kNothing;
  Outcome out;
  try {
    out = run_request(*tx, settings, c, raw, source, parsed, kept, id);
    // Nothing kept (an id seen before, a conflict, a query): rolled back; a record it
    // logged runs again to the same answer.
    if (kept == Kept::kNothing) return out;
    tx->commit();
    if (on_commit_) on_commit_();
  } catch (const StoreFailure& f) {
    return fail(domain::make_error(f.code(), "", f.what()));
  }
  if (kept == Kept::kQuarantine) {
    // Whoever looks at the quarantine sees it at once. Kept already (the record is on
    // disk, or the row is committed): if this COMMIT fails, the row shows after the re-run.
    try {
      store_->flush();
    } catch (const StoreFailure&) {
    }
  }
  return out;
}

Outcome Service::handle(std::string_view raw, std::string_view source) {
  const auto settings = this->settings();
  auto fail = [&](const Error& e, std::string_view id = {}) {
    return Outcome{static_cast<int>(e.code), protocol::encode_error(e, id)};
  };

  if (static_cast<int64_t>(raw.size()) > settings->max_request_bytes) {
    Error e = domain::make_error(ErrorCode::kInvalidEvent, "",
                                 "request of " + std::to_string(raw.size()) + " bytes exceeds the limit of " +
                                     std::to_string(settings->max_request_bytes));
    return fail(quarantine(raw, source, e));
  }
  if (store_->logs_requests() && !looks_like_query(raw)) {
    // The store keeps the request itself, durable by the time its transaction commits, and
    // re-runs it after a crash (reexecute): recorded first, it reaches the disk while it is
    // parsed and run, and everything it does happens in that one transaction, as a re-run
    // would do it.
    return write(raw, source, *settings, nullptr);
  }
  std::string request_id;
  auto parsed = protocol::parse_request(raw, settings->branch, &request_id);
  if (!parsed) return fail(quarantine(raw, source, parsed.error()), request_id);
  if (!domain::is_query(parsed->request)) return write(raw, source, *settings, &*parsed);
  const domain::RequestHeader& h = domain::header_of(parsed->request);
  try {
    auto tx = store_->begin_read();
    Run run(*tx, *settings, clock_->now_ms(), 0, *parsed, store_->schema_version(), sync_status_.get());
    auto r = run.execute();
    tx->commit();
    if (!r) return fail(r.error(), h.id);
    return Outcome{0, protocol::encode_response(h, *r)};
  } catch (const StoreFailure& f) {
    return fail(domain::make_error(f.code(), "", f.what()), h.id);
  }
}

}  // namespace loyalty::app

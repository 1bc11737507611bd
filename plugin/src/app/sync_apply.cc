#include "app/sync_apply.h"

#include <algorithm>

#include "domain/lots.h"
#include "domain/refunds.h"
#include "protocol/canonical.h"
#include "protocol/sync_data.h"

namespace loyalty::app {

using domain::Points;

namespace {

class Applier {
 public:
  Applier(LedgerTx& tx, const config::Settings& s, int64_t now_ms, bool own = false)
      : tx_(tx), s_(s), now_ms_(now_ms), own_(own) {}

  // A sale this branch just recorded: its refunds recorded here before it are corrected.
  int64_t correct_refunds_of(const domain::SaleRecord& sale) {
    ApplyCounts counts;
    correct_unmatched_refunds(sale, counts);
    return counts.corrections;
  }

  void apply(const EntryRow& e, ApplyCounts& counts) {
    if (own_) {
      // A recovered own entry: another entry already at its seq means this ledger wrote
      // something else there after it was restored (it cannot take both).
      if (e.origin_branch != s_.branch) {
        ++counts.conflicts;
        return;
      }
      auto at = tx_.entries_of_origin(s_.branch, e.origin_seq - 1, 1);
      if (!at.empty() && at.front().origin_seq == e.origin_seq) {
        if (at.front().entry_id == e.entry_id && at.front().body_hash == e.body_hash) {
          ++counts.duplicates;
        } else {
          ++counts.conflicts;
        }
        return;
      }
    } else if (e.origin_branch == s_.branch) {
      ++counts.duplicates;  // our own entry coming back: already here by construction
      return;
    }
    if (auto have = tx_.find_entry(e.entry_id)) {
      if (have->body_hash == e.body_hash && have->points == e.points) {
        ++counts.duplicates;
      } else {
        ++counts.conflicts;
      }
      return;
    }
    Account acct = tx_.ensure_account(e.account_id, e.origin_branch, e.business_at);
    auto facts_r = protocol::decode_facts(e.data);
    protocol::EntryFacts facts;
    if (facts_r) facts = std::move(*facts_r);  // unreadable facts: the points still count

    std::vector<domain::Allocation> alloc;
    std::optional<domain::Lot> lot;
    // The earliest expiry of the lots other than its own sale's that a debit took points
    // from here (a clawback whose sale's lot had expired: what a cap gives back came from them).
    std::optional<domain::BusinessTime> taken_expiry;
    if (e.points > Points(0)) {
      const domain::BusinessTime expires =
          e.expires_at ? *e.expires_at : e.business_at.plus_days(s_.program.expiry_days);
      domain::Lot l{e.entry_id, acct.account_id, e.business_at, expires, e.points,
                    domain::lot_remaining_for_credit(acct.balance, e.points)};
      if (l.remaining > Points(0)) lot = l;
    } else if (e.points < Points(0)) {
      // Remote debits take this node's lots oldest expiry first (an expiry or clawback its
      // own lot first): lots are derived per node, balances are what converge.
      alloc = domain::allocate_debit(tx_.open_lots(acct.account_id), -e.points, e.ref_entry_id);
      for (const domain::Allocation& a : alloc) {
        if (a.lot_id == e.ref_entry_id) continue;
        if (!taken_expiry || a.place.expires_at < *taken_expiry) taken_expiry = a.place.expires_at;
      }
    }
    EntryRow row = e;
    row.counts_sale = facts.sale.has_value();  // a sale's entry counts the sale on its account, as at its branch
    tx_.insert_remote_entry(row, alloc, lot);
    ++counts.applied;

    if ((e.kind == "enroll" || e.kind == "alias") && !facts.ref.empty()) {
      auto owner = tx_.find_account_by_ref(facts.ref);
      if (!owner) {
        tx_.add_alias(acct.account_id, facts.ref);
      } else if (owner->account_id != acct.account_id) {
        tx_.record_alias_conflict(facts.ref, acct.account_id, owner->account_id, e.entry_id);
      }
    }
    if ((e.kind == "enroll" || e.kind == "category") && facts.category && !facts.category->empty()) {
      tx_.set_category(acct.account_id, *facts.category);
    }
    if (e.kind == "welcome") settle_welcome(acct.account_id, counts);
    if (facts.sale) {
      tx_.put_sale(*facts.sale);
      correct_unmatched_refunds(*facts.sale, counts);
    }
    if (facts.is_refund && facts.matched) {
      // A matched refund (or a correction): the sale's lines and clawed_back move as they did
      // where it was recorded.
      if (auto sale = tx_.find_sale(facts.sale_branch, facts.sale_ticket)) {
        for (const auto& [n, amount] : facts.refunded) {
          for (auto& l : sale->lines) {
            if (l.n == n) l.refunded += amount;
          }
        }
        const Points restored_before = sale->restored;
        sale->clawed_back += Points(facts.target);
        sale->restored += Points(facts.restored);  // a void here gives back only the rest
        cap_clawbacks(*sale, e, taken_expiry, counts);
        if (sale->voided && facts.restored > 0) cap_restore(*sale, e, restored_before, Points(facts.restored), counts);
        tx_.put_sale(*sale);
      }
    }
    if (facts.is_void) {
      if (auto sale = tx_.find_sale(facts.sale_branch, facts.sale_ticket)) {
        sale->voided = true;
        if (e.kind == "void_clawback") sale->clawed_back += -e.points;
        if (e.kind == "void_restore") sale->restored += e.points;
        cap_clawbacks(*sale, e, taken_expiry, counts);
        tx_.put_sale(*sale);
      }
    }
  }

 private:
  // Two branches that enrolled the same card while offline from each other both granted the
  // welcome bonus (the account id is derived from the card, so it is one account). The
  // welcome with the earliest business time (then the smallest entry id) stands; every
  // other branch reverses its own, once, with `welcome_reversal:<its welcome id>` (only the
  // branch that granted a welcome reverses it, like refund corrections). docs/sync.md.
  void settle_welcome(const std::string& account_id, ApplyCounts& counts) {
    std::vector<EntryRow> welcomes;
    std::vector<std::string> reversed;
    for (EntryRow& x : tx_.entries_of_account(account_id, std::nullopt, std::nullopt, -1)) {
      if (x.kind == "welcome") welcomes.push_back(std::move(x));
      if (x.kind == "welcome_reversal") reversed.push_back(x.ref_entry_id);
    }
    if (welcomes.size() < 2) return;
    const auto first = std::min_element(welcomes.begin(), welcomes.end(),
                                        [](const EntryRow& a, const EntryRow& b) {
                                          if (a.business_at != b.business_at) {
                                            return a.business_at < b.business_at;
                                          }
                                          return a.entry_id < b.entry_id;
                                        });
    for (const EntryRow& w : welcomes) {
      if (w.entry_id == first->entry_id || w.origin_branch != s_.branch) continue;
      if (std::find(reversed.begin(), reversed.end(), w.entry_id) != reversed.end()) continue;
      auto acct = tx_.find_account(account_id);
      if (!acct) return;
      EntryRow r;
      r.entry_id = "welcome_reversal:" + w.entry_id;
      r.kind = "welcome_reversal";
      r.points = -w.points;
      r.request_id = w.request_id;
      r.branch = w.branch;
      r.ref_entry_id = w.entry_id;
      r.business_at = w.business_at;
      r.reason =
          "welcome bonus already granted by " + first->origin_branch + " (" + first->entry_id + ")";
      r.body_hash = w.body_hash;
      append_correction(r, *acct, w.entry_id, counts);
    }
  }

  // Rule 7 across branches: refunds of one sale recorded at branches cut off from each other
  // can claw back more, together, than is left of what the sale earned (each branch kept
  // within what it knew of). Left is the earning less what expired from the sale's lot:
  // the expiry is written by the sale's branch alone (the lot's), so a branch that had not
  // seen it yet claws back points that had already left the balance (rule 6), as a void
  // or refund at the sale's branch never does (service.cc). The sale's own branch, and only
  // it, gives the excess back when the entry that crossed arrives: `cap:<that entry's id>`, a
  // refund_correction whose target is minus the excess, so that every node's sales row ends
  // at clawed_back == earned - expired. Like the welcome reversal and the unmatched-refund
  // correction, one branch writes it: no double correction.
  void cap_clawbacks(domain::SaleRecord& sale, const EntryRow& crossed,
                     const std::optional<domain::BusinessTime>& taken_expiry, ApplyCounts& counts) {
    if (sale.branch != s_.branch || sale.account_id.empty()) return;
    const Points expired = app::expired_from_lot(tx_, sale);
    const Points limit = max(Points(0), sale.earned - expired);
    if (sale.clawed_back <= limit) return;
    auto acct = tx_.find_account(sale.account_id);
    if (!acct) return;
    const Points excess = sale.clawed_back - limit;
    EntryRow c = sale_correction(sale, crossed, "cap:", excess, /*target=*/-excess.value(), /*restored=*/0);
    if (sale.clawed_back > sale.earned) {
      // Refunds that together took more than the sale earned: the points given back are
      // the sale's own, which the refunds should have left in its lot; they expire with it
      // (rule 6), possibly at once, rather than live longer.
      c.expires_at = sale.at.plus_days(s_.program.expiry_days);
    } else {
      // Points the sale's lot no longer had (they expired): the clawback took them from the
      // customer's other lots here, so they go back expiring with the earliest of those
      // (none: the balance was negative, and the credit only fills it).
      c.expires_at = taken_expiry;
    }
    c.reason = "refunds of " + sale.branch + "/" + sale.ticket + " at several branches clawed back " +
               std::to_string(excess.value()) + " more than was left of the sale's earning (rule 7" +
               (expired > Points(0) ? ", " + std::to_string(expired.value()) + " of it expired: rule 6)" : ")");
    append_correction(c, *acct, sale.earn_entry_id, counts);
    sale.clawed_back = limit;
  }

  // A refund_correction the sale's branch writes about `sale` when `crossed` arrives:
  // `<prefix><crossed's id>`, moving `points` and the sales row's clawed_back by `target` and
  // restored by `restored` wherever it is applied. No request of ours wrote it (like the
  // expiry sweep's): no request id. The caller sets reason (and expires_at for a credit).
  EntryRow sale_correction(const domain::SaleRecord& sale, const EntryRow& crossed, const char* prefix,
                           Points points, int64_t target, int64_t restored) {
    protocol::EntryFacts out;
    out.is_refund = true;
    out.matched = true;
    out.sale_branch = sale.branch;
    out.sale_ticket = sale.ticket;
    out.target = target;
    out.restored = restored;
    EntryRow c;
    c.entry_id = prefix + crossed.entry_id;
    c.kind = "refund_correction";
    c.points = points;
    c.branch = s_.branch;
    c.ticket = sale.ticket;
    c.ref_entry_id = crossed.entry_id;
    c.business_at = crossed.business_at;
    c.body_hash = protocol::sha256_hex(c.entry_id);
    c.data = protocol::encode_facts(out);
    return c;
  }

  // Rule 8 across branches: a refund back to points recorded at another branch that had not
  // yet seen the sale's void restored the redemption the void had already given back. The
  // sale's branch (the void's) takes back what it would not have restored there:
  // `restore_cap:<that entry's id>`, so the redemption comes back once, as in service.cc.
  void cap_restore(domain::SaleRecord& sale, const EntryRow& crossed, Points restored_before, Points restored,
                   ApplyCounts& counts) {
    if (sale.branch != s_.branch || sale.account_id.empty()) return;
    const Points allowed = min(restored, max(Points(0), sale.redeemed - restored_before));
    const Points excess = restored - allowed;
    if (excess <= Points(0)) return;
    auto acct = tx_.find_account(sale.account_id);
    if (!acct) return;
    EntryRow c = sale_correction(sale, crossed, "restore_cap:", -excess, /*target=*/0, /*restored=*/-excess.value());
    c.reason = "refund to points of " + sale.branch + "/" + sale.ticket + " at another branch restored " +
               std::to_string(excess.value()) + " points its void had already given back (rule 8)";
    append_correction(c, *acct, "", counts);
    sale.restored -= excess;
  }

  // Refunds recorded here before their sale arrived: append the correction so that, in total,
  // the refund claws back exactly what the refunded part earned (only this branch does).
  void correct_unmatched_refunds(const domain::SaleRecord& arrived, ApplyCounts& counts) {
    for (const std::string& refund_id : tx_.take_unmatched_refunds(arrived.branch, arrived.ticket)) {
      auto refund_entry = tx_.find_entry(refund_id);
      if (!refund_entry) continue;
      auto facts = protocol::decode_facts(refund_entry->data);
      if (!facts) continue;
      auto sale = tx_.find_sale(arrived.branch, arrived.ticket);
      if (!sale) continue;
      domain::RefundCompleted refund;
      refund.original_ticket = arrived.ticket;
      refund.original_branch = arrived.branch;
      refund.lines = facts->refund_lines;
      auto d = domain::clawback_for_refund(*sale, refund);
      if (!d) continue;  // lines that do not fit the sale: the clawback at rate stands
      const Points target = sale->account_id.empty() ? Points(0) : d->clawback;
      const Points already = -refund_entry->points;  // what the unmatched refund took
      protocol::EntryFacts out;
      out.is_refund = true;
      out.matched = true;
      out.sale_branch = arrived.branch;
      out.sale_ticket = arrived.ticket;
      out.target = target.value();
      for (size_t i = 0; i < d->lines_after.size() && i < sale->lines.size(); ++i) {
        const domain::Money added = d->lines_after[i].refunded - sale->lines[i].refunded;
        if (added > domain::Money{}) out.refunded.emplace_back(sale->lines[i].n, added);
      }
      sale->lines = d->lines_after;
      sale->clawed_back += target;
      tx_.put_sale(*sale);

      auto acct = tx_.find_account(refund_entry->account_id);
      if (!acct) continue;
      // The refund may have named another customer than the sale's (or one enrolled for it
      // here): as a matched refund does, the sale's customer gives back what the refunded
      // part earned, and the named one gets back what the rate took from them.
      std::optional<Account> owner;
      if (!sale->account_id.empty() && sale->account_id != acct->account_id) owner = tx_.find_account(sale->account_id);
      EntryRow c;
      c.entry_id = "correction:" + refund_id;
      c.kind = "refund_correction";
      c.points = owner ? already : already - target;  // positive: gives back what the rate took too much
      c.request_id = refund_entry->request_id;
      c.branch = refund_entry->branch;
      c.ticket = refund_entry->ticket;
      c.ref_entry_id = refund_id;
      c.business_at = refund_entry->business_at;
      c.reason = "refund of " + arrived.branch + "/" + arrived.ticket + " matched its sale";
      c.body_hash = refund_entry->body_hash;
      c.data = protocol::encode_facts(out);
      append_correction(c, *acct, sale->earn_entry_id, counts);
      if (owner && target > Points(0)) {
        EntryRow t = c;
        t.entry_id = "correction-sale:" + refund_id;
        t.points = -target;
        t.reason = "refund of " + arrived.branch + "/" + arrived.ticket + " named another customer; the sale's gives back what it earned";
        t.data.clear();  // the sales row moved with the correction above, once
        append_correction(t, *owner, sale->earn_entry_id, counts);
      }
    }
  }

  // Appends an entry this branch writes to settle what it applied (a welcome reversal, a
  // refund correction or cap) on `acct`: a credit is a new lot, expiring at `c.expires_at`
  // when set, else `expiry_days` after its business time; a debit takes the account's lots,
  // `preferred_lot` first.
  void append_correction(EntryRow& c, const Account& acct, const std::string& preferred_lot, ApplyCounts& counts) {
    c.origin_branch = s_.branch;
    c.account_id = acct.account_id;
    c.recorded_at_ms = now_ms_;
    c.program_version = s_.program.version;
    std::vector<domain::Allocation> alloc;
    std::optional<domain::Lot> lot;
    if (c.points > Points(0)) {
      if (!c.expires_at) c.expires_at = c.business_at.plus_days(s_.program.expiry_days);
      domain::Lot l{c.entry_id, acct.account_id, c.business_at, *c.expires_at, c.points,
                    domain::lot_remaining_for_credit(acct.balance, c.points)};
      if (l.remaining > Points(0)) lot = l;
    } else if (c.points < Points(0)) {
      alloc = domain::allocate_debit(tx_.open_lots(acct.account_id), -c.points, preferred_lot);
    }
    tx_.append_entry(c, alloc, lot);
    ++counts.corrections;
  }

  LedgerTx& tx_;
  const config::Settings& s_;
  int64_t now_ms_;
  bool own_;
};

// sync_state after remote entries: applied_offset, the check pair hello reports (so that a
// hub restored from an older copy is noticed) and the last contact.
void note_applied(LedgerTx& tx, const Clock& clock, const std::vector<EntryRow>& entries,
                  const std::vector<int64_t>& offsets, int64_t to_offset) {
  SyncState st = tx.sync_state(kHubPeer);
  if (to_offset > st.applied_offset) st.applied_offset = to_offset;
  if (!entries.empty() && !offsets.empty() && offsets.back() > st.check_offset) {
    st.check_offset = offsets.back();
    st.check_entry_id = entries.back().entry_id;
  }
  st.last_contact_ms = clock.now_ms();
  tx.put_sync_state(kHubPeer, st);
}

}  // namespace

ApplyCounts apply_remote_batch(LedgerStore& store, const config::Settings& settings,
                               const Clock& clock, const std::vector<EntryRow>& entries,
                               int64_t to_offset, const std::vector<int64_t>& offsets) {
  return apply_remote_frames(store, settings, clock, {RemoteFrame{entries, offsets, to_offset}});
}

ApplyCounts apply_remote_frames(LedgerStore& store, const config::Settings& settings,
                                const Clock& clock, const std::vector<RemoteFrame>& frames) {
  ApplyCounts counts;
  auto tx = store.begin_bulk_write();
  Applier a(*tx, settings, clock.now_ms());
  int64_t to_offset = 0;
  const RemoteFrame* last = nullptr;  // the last frame with entries
  for (const RemoteFrame& f : frames) {
    for (const EntryRow& e : f.entries) a.apply(e, counts);
    to_offset = std::max(to_offset, f.to_offset);
    if (!f.entries.empty()) last = &f;
  }
  static const std::vector<EntryRow> kNoEntries;
  static const std::vector<int64_t> kNoOffsets;
  note_applied(*tx, clock, last ? last->entries : kNoEntries, last ? last->offsets : kNoOffsets,
               to_offset);
  tx->commit();
  return counts;
}

ApplyCounts apply_own_recovered(LedgerStore& store, const config::Settings& settings,
                                const Clock& clock, const std::vector<EntryRow>& entries,
                                int64_t next_seq) {
  ApplyCounts counts;
  auto tx = store.begin_bulk_write();
  Applier a(*tx, settings, clock.now_ms(), /*own=*/true);
  for (const EntryRow& e : entries) a.apply(e, counts);
  SyncState st = tx->sync_state(kHubPeer);
  st.recover_next = next_seq;
  if (st.recover_next > st.recover_to) st.recover_next = st.recover_to = 0;
  tx->put_sync_state(kHubPeer, st);
  tx->commit();
  return counts;
}

Points expired_from_lot(LedgerTx& tx, const domain::SaleRecord& sale) {
  if (sale.earn_entry_id.empty()) return Points(0);
  auto e = tx.find_entry(domain::expiry_entry_id(sale.earn_entry_id));
  return e ? -e->points : Points(0);
}

int64_t correct_refunds_of_arrived_sale(LedgerTx& tx, const config::Settings& settings, int64_t now_ms,
                                        const domain::SaleRecord& sale) {
  return Applier(tx, settings, now_ms).correct_refunds_of(sale);
}

int64_t expire_due_lots(LedgerStore& store, const config::Settings& settings, const Clock& clock,
                        int64_t limit) {
  const int64_t now = clock.now_ms();
  auto tx = store.begin_bulk_write();
  int64_t expired = 0;
  for (const domain::Lot& lot : tx->due_lots(now, settings.branch, limit)) {
    const std::string id = domain::expiry_entry_id(lot.lot_id);
    if (tx->entry_exists(id)) continue;  // cannot happen with remaining > 0; never twice
    EntryRow e;
    e.entry_id = id;
    e.origin_branch = settings.branch;
    e.account_id = lot.account_id;
    e.kind = "expire";
    e.points = -lot.remaining;
    e.branch = settings.branch;
    e.ref_entry_id = lot.lot_id;
    e.business_at = lot.expires_at;
    e.recorded_at_ms = now;
    e.program_version = settings.program.version;
    e.reason = "expiry sweep";
    e.body_hash = protocol::sha256_hex(id);
    tx->append_entry(e, {domain::take_from(lot, lot.remaining)}, std::nullopt);
    ++expired;
  }
  tx->commit();
  return expired;
}

std::vector<EntryRow> outbox(LedgerStore& store, const std::string& self, int64_t after_seq,
                             int64_t limit) {
  auto tx = store.begin_read();
  auto rows = tx->entries_of_origin(self, after_seq, limit);
  tx->commit();
  return rows;
}

}  // namespace loyalty::app

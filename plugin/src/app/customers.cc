#include "app/customers.h"

#include <nlohmann/json.hpp>

#include <utility>

namespace loyalty::app {

namespace {

using domain::ErrorCode;

domain::Error not_found(const std::string& ref) {
  return domain::make_error(ErrorCode::kNotFound, "customer",
                            "no account has the reference '" + ref + "'");
}

bool personal(const std::string& ref) {
  for (const char* scheme : {"phone:", "email:", "name:", "tel:", "mail:"}) {
    if (ref.rfind(scheme, 0) == 0) return true;
  }
  return false;
}

}  // namespace

domain::Result<CustomerView> find_customer(LedgerStore& store, const std::string& ref,
                                           int64_t max_entries) {
  try {
    auto tx = store.begin_read();
    auto account = tx->find_account_by_ref(ref);
    if (!account) return not_found(ref);
    CustomerView v;
    v.account = *account;
    v.refs = tx->aliases(account->account_id);
    if (auto pii = tx->find_pii(account->account_id)) v.pii = *pii;
    if (max_entries > 0) {
      v.entries =
          tx->entries_of_account(account->account_id, std::nullopt, std::nullopt, max_entries);
    }
    tx->commit();
    return v;
  } catch (const StoreFailure& f) {
    return domain::make_error(f.code(), "", f.what());
  }
}

domain::Result<MergeReport> merge_customers(LedgerStore& store, const Clock& clock,
                                            const std::string& branch, const std::string& from_ref,
                                            const std::string& to_ref,
                                            const std::string& request_id,
                                            const std::string& program_version) {
  try {
    auto tx = store.begin_write();
    if (auto done = tx->find_request(branch, request_id)) {
      // A retry (the admin lost the output): the same merge answers what it did. Both
      // references now name the account that stayed.
      const auto first = nlohmann::json::parse(done->response_json, nullptr, false);
      auto to_now = tx->find_account_by_ref(to_ref);
      auto from_now = tx->find_account_by_ref(from_ref);
      if (first.is_object() && first.value("type", "") == "customer.merge" && to_now && from_now &&
          from_now->account_id == to_now->account_id && first.value("to", "") == to_now->account_id) {
        MergeReport again;
        again.from_account = first.value("from", "");
        again.to_account = to_now->account_id;
        again.points_moved = first.value("points", int64_t{0});
        again.lots_moved = first.value("lots", int64_t{0});
        again.refs_moved = first.value("refs", int64_t{0});
        again.to_balance = to_now->balance.value();
        again.replayed = true;
        return again;
      }
      return domain::make_error(ErrorCode::kConflict, "id",
                                "request id '" + request_id + "' was already used");
    }
    auto from = tx->find_account_by_ref(from_ref);
    if (!from) return not_found(from_ref);
    auto to = tx->find_account_by_ref(to_ref);
    if (!to) return not_found(to_ref);
    if (from->account_id == to->account_id) {
      return domain::make_error(ErrorCode::kInvalidArgument, "to",
                                "both references already name account " + to->account_id);
    }
    if (from->balance.value() < 0) {
      return domain::make_error(ErrorCode::kInvalidArgument, "from",
                                "account " + from->account_id + " has a negative balance (" +
                                    std::to_string(from->balance.value()) +
                                    "); settle it with an adjust first");
    }
    if (!tx->active_holds_of_account(from->account_id).empty()) {
      return domain::make_error(
          ErrorCode::kInvalidArgument, "from",
          "account " + from->account_id + " has active holds; wait for the sale or release them");
    }
    const int64_t now = clock.now_ms();
    const domain::BusinessTime at{now, 0};
    MergeReport report;
    report.from_account = from->account_id;
    report.to_account = to->account_id;
    auto entry = [&](const std::string& kind, const std::string& account, int64_t points,
                     const std::string& lot, const std::string& ref_entry) {
      EntryRow e;
      e.entry_id = branch + "/" + request_id + "/" + kind + "/" + lot;
      e.origin_branch = branch;
      e.account_id = account;
      e.kind = kind;
      e.points = domain::Points(points);
      e.request_id = request_id;
      e.branch = branch;
      e.ref_entry_id = ref_entry;
      e.business_at = at;
      e.recorded_at_ms = now;
      e.program_version = program_version;
      e.reason = "merge " + from->account_id + " -> " + to->account_id;
      e.body_hash = std::string(64, '0');
      return e;
    };
    // The moved points first repay a negative balance of the target, as any credit does
    // (lots hold the positive part of the balance; the debt came back when they expired).
    domain::Points to_balance = to->balance;
    for (const domain::Lot& lot : tx->open_lots(from->account_id)) {
      const int64_t r = lot.remaining.value();
      EntryRow out = entry("merge_out", from->account_id, -r, lot.lot_id, lot.lot_id);
      tx->append_entry(out, {domain::take_from(lot, lot.remaining)}, std::nullopt);
      EntryRow in = entry("merge_in", to->account_id, r, lot.lot_id, out.entry_id);
      in.expires_at = lot.expires_at;
      domain::Lot moved;
      moved.lot_id = in.entry_id;
      moved.account_id = to->account_id;
      moved.earned_at = lot.earned_at;
      moved.expires_at = lot.expires_at;
      moved.original = lot.remaining;
      moved.remaining = domain::lot_remaining_for_credit(to_balance, lot.remaining);
      to_balance += lot.remaining;
      tx->append_entry(in, {}, moved.remaining > domain::Points(0) ? std::optional<domain::Lot>(moved) : std::nullopt);
      report.points_moved += r;
      ++report.lots_moved;
    }
    report.refs_moved = static_cast<int64_t>(tx->aliases(from->account_id).size());
    tx->move_customer(from->account_id, to->account_id);
    // The source's personal data: no reference reaches it after the move (export and erase
    // went to the target's, and erase left it behind). Fields the target lacks take the
    // source's; the rest is erased with the source's row: the two accounts are one customer.
    if (auto source_pii = tx->find_pii(from->account_id)) {
      const auto target_pii = tx->find_pii(to->account_id);
      app::Pii fill;
      auto take = [&](auto member) {
        if (!(target_pii && (*target_pii).*member) && (*source_pii).*member) fill.*member = (*source_pii).*member;
      };
      take(&app::Pii::name);
      take(&app::Pii::email);
      take(&app::Pii::phone);
      take(&app::Pii::birthday);
      if (fill.name || fill.email || fill.phone || fill.birthday) tx->upsert_pii(to->account_id, fill);
      tx->erase_personal_data(from->account_id, {});
    }
    auto after = tx->find_account(to->account_id);
    report.to_balance = after ? after->balance.value() : 0;
    // Read back by a retry (above): written and read with the same JSON type.
    const std::string response = nlohmann::json{{"ok", true},
                                                {"type", "customer.merge"},
                                                {"from", from->account_id},
                                                {"to", to->account_id},
                                                {"points", report.points_moved},
                                                {"lots", report.lots_moved},
                                                {"refs", report.refs_moved}}
                                     .dump();
    tx->put_request(branch, request_id, StoredRequest{std::string(64, '0'), 0, response}, now);
    tx->commit();
    return report;
  } catch (const StoreFailure& f) {
    return domain::make_error(f.code(), "", f.what());
  }
}

domain::Result<EraseReport> erase_customer(LedgerStore& store, const std::string& ref,
                                           const std::string& random_hex32) {
  try {
    auto tx = store.begin_write();
    auto account = tx->find_account_by_ref(ref);
    if (!account) return not_found(ref);
    EraseReport report;
    report.account_id = account->account_id;
    std::vector<std::pair<std::string, std::string>> tokens;
    int i = 0;
    for (const auto& r : tx->aliases(account->account_id)) {
      if (!personal(r)) continue;
      const std::string token = "erased:" + random_hex32 + "-" + std::to_string(i++);
      tokens.emplace_back(r, token);
      report.tokens.push_back(token);
    }
    tx->erase_personal_data(account->account_id, tokens);
    tx->commit();
    return report;
  } catch (const StoreFailure& f) {
    return domain::make_error(f.code(), "", f.what());
  }
}

}  // namespace loyalty::app

#include "balance_projection.h"

#include <utility>

namespace loyalty::ledger {

std::optional<app::BalanceView> BalanceProjection::find(const std::string& ref) const {
  std::lock_guard lock(mu_);
  const auto r = refs_.find(ref);
  if (r == refs_.end()) return std::nullopt;
  const auto a = accounts_.find(r->second);
  if (a == accounts_.end()) return std::nullopt;
  return a->second;
}

void BalanceProjection::put(const std::string& ref, const app::BalanceView& view) {
  std::lock_guard lock(mu_);
  accounts_.insert_or_assign(view.account_id, view);
  refs_.insert_or_assign(ref, view.account_id);
}

size_t BalanceProjection::forget(const std::vector<std::string>& accounts, const std::vector<std::string>& refs,
                                 bool uncommitted) {
  std::lock_guard lock(mu_);
  for (const auto& id : accounts) accounts_.erase(id);
  for (const auto& r : refs) refs_.erase(r);
  if (bulk_loads_ > 0) {
    forgotten_.insert(forgotten_.end(), accounts.begin(), accounts.end());
    forgotten_refs_.insert(forgotten_refs_.end(), refs.begin(), refs.end());
  }
  if (uncommitted) {
    uncommitted_.insert(accounts.begin(), accounts.end());
    uncommitted_refs_.insert(refs.begin(), refs.end());
  }
  forgotten_since_load_ += accounts.size();
  return forgotten_since_load_;
}

void BalanceProjection::release_uncommitted() {
  std::lock_guard lock(mu_);
  for (const auto& id : uncommitted_) {
    accounts_.erase(id);
    if (bulk_loads_ > 0) forgotten_.push_back(id);
  }
  for (const auto& r : uncommitted_refs_) {
    refs_.erase(r);
    if (bulk_loads_ > 0) forgotten_refs_.push_back(r);
  }
  uncommitted_.clear();
  uncommitted_refs_.clear();
}

void BalanceProjection::clear() {
  std::unordered_map<std::string, app::BalanceView> accounts;
  std::unordered_map<std::string, std::string> refs;
  {
    std::lock_guard lock(mu_);
    accounts.swap(accounts_);
    refs.swap(refs_);
    ++clears_;
  }
  // The maps are freed here, outside the lock: a million lots take milliseconds.
}

BalanceProjection::BulkTicket BalanceProjection::begin_bulk(bool full) {
  std::lock_guard lock(mu_);
  ++bulk_loads_;
  if (full) forgotten_since_load_ = 0;  // the load reads those again
  return BulkTicket{clears_, forgotten_.size(), forgotten_refs_.size()};
}

std::optional<size_t> BalanceProjection::install(const BulkTicket& ticket, std::vector<app::BalanceView>& accounts,
                                                 Refs& refs) {
  // The maps' nodes are made here, before the lock, and only linked in under it: making
  // them (their memory touched for the first time) held the lock 1.3-2 ms a chunk, up to
  // 46 ms, and a POS read that wanted it waited as long (docs/performance.md, stop 21).
  AccountMap staged_accounts;
  RefMap staged_refs;
  staged_accounts.reserve(accounts.size());
  staged_refs.reserve(refs.size());
  for (auto& view : accounts) {
    std::string id = view.account_id;
    staged_accounts.insert_or_assign(std::move(id), std::move(view));
  }
  for (auto& [r, id] : refs) staged_refs.insert_or_assign(std::move(r), std::move(id));

  std::lock_guard lock(mu_);
  if (clears_ != ticket.clears) return std::nullopt;
  // Forgotten since the load's ticket: possibly changed after its snapshot. Left for the
  // reads (or the next load) to fill.
  std::unordered_set<std::string_view> changed, changed_refs;
  for (size_t i = ticket.forgotten_mark; i < forgotten_.size(); ++i) changed.insert(forgotten_[i]);
  for (size_t i = ticket.forgotten_refs_mark; i < forgotten_refs_.size(); ++i) changed_refs.insert(forgotten_refs_[i]);
  const bool keep_all = changed.empty() && changed_refs.empty() && uncommitted_.empty() && uncommitted_refs_.empty();
  for (auto it = staged_refs.begin(); it != staged_refs.end();) {
    const auto& [r, id] = *it;
    if (!keep_all && (changed_refs.count(r) != 0 || changed.count(id) != 0 || uncommitted_refs_.count(r) != 0 ||
                      uncommitted_.count(id) != 0)) {
      ++it;
      continue;
    }
    link(refs_, staged_refs.extract(it++));
  }
  size_t installed = 0;
  for (auto it = staged_accounts.begin(); it != staged_accounts.end();) {
    const std::string& id = it->first;
    if (!keep_all && (changed.count(id) != 0 || uncommitted_.count(id) != 0)) {
      ++it;
      continue;
    }
    link(accounts_, staged_accounts.extract(it++));
    ++installed;
  }
  return installed;
  // What was left staged (and any node replaced) is freed after the lock.
}

void BalanceProjection::reserve(size_t accounts, size_t refs) {
  std::lock_guard lock(mu_);
  accounts_.reserve(accounts);
  refs_.reserve(refs);
}

void BalanceProjection::end_bulk() {
  std::lock_guard lock(mu_);
  if (--bulk_loads_ == 0) {
    forgotten_.clear();
    forgotten_refs_.clear();
  }
}

}  // namespace loyalty::ledger

#include "sync/hub/hub_core.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

namespace loyalty::sync::hub {
namespace {

std::string short_text(std::string_view s) {
  return s.size() > 80 ? std::string(s.substr(0, 80)) + "..." : std::string(s);
}

}  // namespace

HubCore::HubCore(std::unique_ptr<HubStore> store, HubLimits limits)
    : store_(std::move(store)), limits_(limits), epoch_(store_->hub_epoch()) {
  auto cfg = store_->current_config();
  if (cfg.ok()) config_ = *cfg;
}

int64_t HubCore::head_offset() {
  std::lock_guard lock(mu_);
  return store_->head_offset();
}

void HubCore::set_config_tokens(std::map<std::string, std::string> name_to_sha256) {
  std::lock_guard lock(mu_);
  config_tokens_ = std::move(name_to_sha256);
}

bool HubCore::authenticate(const std::string& name, std::string_view token) {
  if (token.empty() || name.empty()) return false;
  const std::string presented = sha256_hex(token);
  std::vector<std::string> candidates;
  {
    std::lock_guard lock(mu_);
    auto it = config_tokens_.find(name);
    if (it != config_tokens_.end()) candidates.push_back(it->second);
    auto stored = store_->token_hash(name);
    if (stored.ok() && stored->has_value()) candidates.push_back(**stored);
  }
  bool ok = false;
  for (const auto& c : candidates) {
    if (c.size() == presented.size() &&
        CRYPTO_memcmp(c.data(), presented.data(), presented.size()) == 0) {
      ok = true;
    }
  }
  return ok;
}

uint64_t HubCore::register_session(const std::string& branch) {
  std::lock_guard lock(mu_);
  const uint64_t id = next_session_id_++;
  live_[branch].sessions[id] = 0;
  return id;
}

void HubCore::unregister_session(const std::string& branch, uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = live_.find(branch);
  if (it != live_.end()) it->second.sessions.erase(id);
}

int HubCore::connections(const std::string& branch) {
  std::lock_guard lock(mu_);
  auto it = live_.find(branch);
  return it == live_.end() ? 0 : static_cast<int>(it->second.sessions.size());
}

domain::Result<int64_t> HubCore::acked_seq(const std::string& branch) {
  std::lock_guard lock(mu_);
  return store_->acked_seq(branch);
}

domain::Result<std::string> HubCore::entry_id_at_seq(const std::string& branch, int64_t seq) {
  std::lock_guard lock(mu_);
  return store_->entry_id_at_seq(branch, seq);
}

domain::Result<std::vector<std::pair<int64_t, std::string>>> HubCore::own_entries(
    const std::string& branch, int64_t from_seq, int64_t to_seq) {
  std::lock_guard lock(mu_);
  return store_->own_entries(branch, from_seq, to_seq);
}

domain::Result<bool> HubCore::history_matches(const std::string& branch, int64_t check_offset,
                                              const std::string& check_entry_id,
                                              int64_t applied_offset) {
  std::lock_guard lock(mu_);
  return store_->history_matches(branch, check_offset, check_entry_id, applied_offset);
}

domain::Result<PushOutcome> HubCore::store_push(const std::string& branch,
                                                const std::string& node_epoch, const Push& push,
                                                int64_t now_ms) {
  std::lock_guard lock(mu_);
  auto out = store_->store_push(branch, node_epoch, push, now_ms);
  if (out.ok()) {
    entries_stored_ += out->stored;
    duplicates_ += out->duplicates;
    for (auto& e : out->new_entries) cache_.push_back(e);
    while (cache_.size() > limits_.cache_entries) cache_.pop_front();
    live_[branch].last_seen_ms = now_ms;
  }
  return out;
}

domain::Result<std::vector<StoredEntry>> HubCore::read_after(int64_t after,
                                                             const std::string& exclude,
                                                             size_t limit, int64_t* scanned_to) {
  std::lock_guard lock(mu_);
  *scanned_to = after;
  if (after >= store_->head_offset()) return std::vector<StoredEntry>{};
  if (!cache_.empty() && after + 1 >= cache_.front().offset) {
    std::vector<StoredEntry> out;
    auto it = std::upper_bound(cache_.begin(), cache_.end(), after,
                               [](int64_t v, const StoredEntry& e) { return v < e.offset; });
    for (; it != cache_.end(); ++it) {
      *scanned_to = it->offset;
      if (it->origin_branch != exclude) {
        out.push_back(*it);
        if (out.size() >= limit) break;
      }
    }
    return out;
  }
  return store_->read_after(after, exclude, limit, scanned_to);
}

void HubCore::record_applied(const std::string& branch, int64_t offset, int64_t now_ms) {
  std::lock_guard lock(mu_);
  Live& l = live_[branch];
  l.applied_offset = offset;
  l.dirty = true;
  l.last_seen_ms = now_ms;
}

void HubCore::record_config_ack(const std::string& branch, const std::string& version) {
  std::lock_guard lock(mu_);
  static_cast<void>(store_->save_config_ack(branch, version));
}

void HubCore::touch(const std::string& branch, const std::string& node_epoch, int64_t now_ms) {
  std::lock_guard lock(mu_);
  live_[branch].last_seen_ms = now_ms;
  static_cast<void>(store_->touch_position(branch, node_epoch, now_ms));
}

void HubCore::quarantine(const std::string& branch, std::string_view raw,
                         const domain::Error& error, int64_t now_ms) {
  std::lock_guard lock(mu_);
  static_cast<void>(store_->quarantine(branch, raw, error, now_ms));
}

domain::Status HubCore::flush_positions(int64_t now_ms) {
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, int64_t>> dirty;
  for (auto& [branch, l] : live_) {
    if (l.dirty) {
      dirty.emplace_back(branch, l.applied_offset);
      l.dirty = false;
    }
  }
  return store_->save_applied(dirty, now_ms);
}

std::optional<ConfigVersion> HubCore::config() {
  std::lock_guard lock(mu_);
  return config_;
}

domain::Result<ConfigVersion> HubCore::set_config(const std::string& document, int64_t now_ms) {
  if (validator_) {
    auto st = validator_(document);
    if (!st.ok()) return st.error();
  }
  std::lock_guard lock(mu_);
  auto v = store_->add_config(document, now_ms);
  if (v.ok()) config_ = *v;
  return v;
}

bool HubCore::reload_config() {
  std::lock_guard lock(mu_);
  auto cfg = store_->current_config();
  if (!cfg.ok() || !cfg->has_value()) return false;
  if (config_ && config_->version == (*cfg)->version) return false;
  config_ = *cfg;
  return true;
}

domain::Result<std::vector<OverdrawReport>> HubCore::overdraws(size_t limit) {
  std::lock_guard lock(mu_);
  return store_->overdraws(limit);
}

int64_t HubCore::received_at(int64_t offset) {
  if (!cache_.empty() && offset >= cache_.front().offset && offset <= cache_.back().offset) {
    auto it = std::lower_bound(cache_.begin(), cache_.end(), offset,
                               [](const StoredEntry& e, int64_t v) { return e.offset < v; });
    if (it != cache_.end()) return it->received_at_ms;
  }
  int64_t scanned = 0;
  auto r = store_->read_after(offset - 1, "", 1, &scanned);
  if (r.ok() && !r->empty()) return r->front().received_at_ms;
  return 0;
}

std::vector<BranchStatus> HubCore::branch_status(int64_t now_ms) {
  std::lock_guard lock(mu_);
  std::vector<BranchStatus> out;
  const int64_t head = store_->head_offset();
  auto positions = store_->positions();
  std::map<std::string, Position> by_branch;
  if (positions.ok()) {
    for (auto& p : *positions) by_branch[p.branch] = p;
  }
  for (auto& [branch, l] : live_) {
    if (l.sessions.empty()) continue;
    BranchStatus s;
    s.branch = branch;
    s.connections = static_cast<int>(l.sessions.size());
    s.applied_offset = l.applied_offset;
    s.lag_entries = std::max<int64_t>(0, head - l.applied_offset);
    if (s.lag_entries > 0) {
      const int64_t at = received_at(l.applied_offset + 1);
      if (at > 0) s.lag_seconds = std::max<double>(0, static_cast<double>(now_ms - at) / 1000.0);
    }
    s.acked_seq = by_branch[branch].acked_seq;
    s.last_seen_ms = l.last_seen_ms;
    out.push_back(std::move(s));
  }
  return out;
}

std::string HubCore::metrics_json(int64_t now_ms, int64_t rss_bytes) {
  const auto branches = branch_status(now_ms);
  nlohmann::json j;
  {
    std::lock_guard lock(mu_);
    const int64_t stored = entries_stored_.load();
    if (rate_sample_ms_ != 0 && now_ms > rate_sample_ms_) {
      entries_per_s_ = static_cast<double>(stored - rate_sample_count_) * 1000.0 /
                       static_cast<double>(now_ms - rate_sample_ms_);
    }
    rate_sample_ms_ = now_ms;
    rate_sample_count_ = stored;
    j["hub_epoch"] = epoch_;
    j["head_offset"] = store_->head_offset();
    j["entries_stored"] = stored;
    j["entries_per_s"] = entries_per_s_;
    j["duplicates"] = duplicates_.load();
    j["quarantined_frames"] = store_->quarantined();
    j["overdraw_reports"] = store_->overdraw_count();
    j["rate_limited"] = rate_limited_.load();
    j["frames_in"] = frames_in_.load();
    j["frames_out"] = frames_out_.load();
    j["config_version"] = config_ ? config_->version : "";
  }
  j["rss_bytes"] = rss_bytes;
  j["connected_branches"] = branches.size();
  nlohmann::json lag = nlohmann::json::object();
  int64_t max_lag = 0;
  double max_lag_s = 0;
  for (const auto& b : branches) {
    lag[b.branch] = {{"entries", b.lag_entries},
                     {"seconds", b.lag_seconds},
                     {"applied_offset", b.applied_offset},
                     {"acked_seq", b.acked_seq},
                     {"connections", b.connections}};
    max_lag = std::max(max_lag, b.lag_entries);
    max_lag_s = std::max(max_lag_s, b.lag_seconds);
  }
  j["max_lag_entries"] = max_lag;
  j["max_lag_seconds"] = max_lag_s;
  j["branches"] = lag;
  return j.dump();
}

std::string HubCore::metrics_prometheus(int64_t now_ms, int64_t rss_bytes) {
  const auto j = nlohmann::json::parse(metrics_json(now_ms, rss_bytes));
  std::ostringstream out;
  auto gauge = [&out](const char* name, const char* help, double v) {
    out << "# HELP loyalty_hub_" << name << ' ' << help << "\n# TYPE loyalty_hub_" << name
        << " gauge\nloyalty_hub_" << name << ' ' << v << '\n';
  };
  gauge("connected_branches", "Branches with a live sync connection.",
        j["connected_branches"].get<double>());
  gauge("head_offset", "Highest hub offset stored.", j["head_offset"].get<double>());
  gauge("entries_stored_total", "Entries stored since start.", j["entries_stored"].get<double>());
  gauge("entries_per_second", "Entries stored per second since the previous scrape.",
        j["entries_per_s"].get<double>());
  gauge("duplicates_total", "Pushed entries already stored.", j["duplicates"].get<double>());
  gauge("quarantined_frames_total", "Malformed frames kept in quarantine.",
        j["quarantined_frames"].get<double>());
  gauge("overdraw_reports_total", "Overdraw reports made.", j["overdraw_reports"].get<double>());
  gauge("rss_bytes", "Resident set size.", j["rss_bytes"].get<double>());
  out << "# HELP loyalty_hub_lag_entries Hub entries a branch has not applied.\n"
         "# TYPE loyalty_hub_lag_entries gauge\n";
  for (auto& [b, v] : j["branches"].items()) {
    out << "loyalty_hub_lag_entries{branch=\"" << b << "\"} " << v["entries"].get<int64_t>()
        << '\n';
  }
  out << "# HELP loyalty_hub_lag_seconds Age of the oldest entry a branch has not applied.\n"
         "# TYPE loyalty_hub_lag_seconds gauge\n";
  for (auto& [b, v] : j["branches"].items()) {
    out << "loyalty_hub_lag_seconds{branch=\"" << b << "\"} " << v["seconds"].get<double>() << '\n';
  }
  return out.str();
}

// ---- SessionCore --------------------------------------------------------------------------

SessionCore::SessionCore(HubCore& hub, std::string branch) : hub_(hub), branch_(std::move(branch)) {
  tokens_ = 2 * hub_.limits().push_rate_per_s;
}

SessionCore::~SessionCore() {
  if (session_id_ != 0) hub_.unregister_session(branch_, session_id_);
}

void SessionCore::fatal(SessionOutput& out, std::string_view code, std::string message) {
  out.frames.push_back(encode(ErrorFrame{std::string(code), std::move(message), true}));
  out.close = SessionOutput::Close::kPolicy;
  closed_ = true;
}

SessionOutput SessionCore::on_binary() {
  SessionOutput out;
  out.close = SessionOutput::Close::kUnsupportedData;
  closed_ = true;
  return out;
}

bool SessionCore::take_rate_token(int64_t now_ms) {
  const double rate = hub_.limits().push_rate_per_s;
  if (rate <= 0) return true;
  if (tokens_at_ms_ != 0 && now_ms > tokens_at_ms_) {
    tokens_ =
        std::min(2 * rate, tokens_ + rate * static_cast<double>(now_ms - tokens_at_ms_) / 1000);
  }
  tokens_at_ms_ = now_ms;
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

SessionOutput SessionCore::on_text(std::string_view text, int64_t now_ms) {
  SessionOutput out;
  if (closed_) return out;
  hub_.count_frame_in();
  auto frame = decode_frame(text);
  if (!frame.ok()) {
    const domain::Error& e = frame.error();
    if (e.code == domain::ErrorCode::kUnknownType) {
      out.frames.push_back(encode(error_frame_for(e, false)));  // forward compatible
      return out;
    }
    hub_.quarantine(branch_, text, e, now_ms);
    fatal(out, sync_error_code(e), e.message);
    return out;
  }
  if (auto* hello = std::get_if<Hello>(&*frame)) return on_hello(*hello, now_ms);
  if (!welcomed_) {
    fatal(out, kErrInvalid,
          std::string("expected hello first, got ") + std::string(frame_type(*frame)));
    return out;
  }
  if (auto* push = std::get_if<Push>(&*frame)) return on_push(*push, now_ms);
  if (auto* fetch = std::get_if<FetchOwn>(&*frame)) return on_fetch_own(*fetch);
  if (auto* applied = std::get_if<Applied>(&*frame)) {
    if (applied->offset > sent_) {
      fatal(out, kErrInvalid,
            "applied offset " + std::to_string(applied->offset) + " is beyond what was sent (" +
                std::to_string(sent_) + ")");
      return out;
    }
    if (applied->offset > applied_) {
      applied_ = applied->offset;
      hub_.record_applied(branch_, applied_, now_ms);
    }
    while (!unapplied_.empty() && unapplied_.front() <= applied_) unapplied_.pop_front();
    fill(out, now_ms);
    return out;
  }
  if (auto* ack = std::get_if<ConfigAck>(&*frame)) {
    config_sent_ = ack->version;
    hub_.record_config_ack(branch_, ack->version);
    return out;
  }
  if (std::holds_alternative<ErrorFrame>(*frame)) {
    const auto& e = std::get<ErrorFrame>(*frame);
    if (e.fatal) {
      out.close = SessionOutput::Close::kNormal;
      closed_ = true;
    }
    return out;
  }
  fatal(out, kErrInvalid,
        std::string("a branch does not send ") + std::string(frame_type(*frame)) + " frames");
  return out;
}

SessionOutput SessionCore::on_hello(const Hello& hello, int64_t now_ms) {
  SessionOutput out;
  if (welcomed_) {
    fatal(out, kErrInvalid, "hello sent twice");
    return out;
  }
  if (hello.branch != branch_) {
    fatal(out, kErrAuth,
          "hello.branch \"" + short_text(hello.branch) + "\" is not the authenticated branch \"" +
              branch_ + "\"");
    return out;
  }
  auto acked = hub_.acked_seq(branch_);
  if (!acked.ok()) {
    fatal(out, kErrInvalid, acked.error().message);
    return out;
  }
  node_epoch_ = hello.node_epoch;
  const int64_t head = hub_.head_offset();
  Welcome w;
  w.hub_epoch = hub_.hub_epoch();
  w.acked_seq = *acked;
  w.head_offset = head;
  w.server_time_ms = now_ms;
  const auto cfg = hub_.config();
  w.config_version = cfg ? cfg->version : "";
  w.must_refetch = (!hello.hub_epoch_seen.empty() && hello.hub_epoch_seen != w.hub_epoch) ||
                   hello.applied_offset > head;
  if (!w.must_refetch && hello.applied_offset > 0 && hello.check_offset >= 0) {
    // A hub restored from an older copy keeps its epoch; offsets it gave out again to other
    // entries since then show that the branch's position means something else now.
    auto same = hub_.history_matches(branch_, hello.check_offset, hello.check_entry_id,
                                     hello.applied_offset);
    if (!same.ok()) {
      fatal(out, kErrInvalid, same.error().message);
      return out;
    }
    w.must_refetch = !*same;
  }
  if (*acked > 0) {
    auto id = hub_.entry_id_at_seq(branch_, *acked);
    if (!id.ok()) {
      fatal(out, kErrInvalid, id.error().message);
      return out;
    }
    w.acked_entry_id = *id;
  }
  sent_ = applied_ = w.must_refetch ? 0 : hello.applied_offset;
  config_sent_ = hello.config_version;
  welcomed_ = true;
  session_id_ = hub_.register_session(branch_);
  hub_.touch(branch_, node_epoch_, now_ms);
  hub_.record_applied(branch_, applied_, now_ms);
  out.frames.push_back(encode(w));
  fill(out, now_ms);
  return out;
}

SessionOutput SessionCore::on_push(const Push& push, int64_t now_ms) {
  SessionOutput out;
  for (size_t i = 0; i < push.entries.size(); ++i) {
    if (push.entries[i].origin_branch != branch_) {
      fatal(out, kErrNotYourEntry,
            "entries[" + std::to_string(i) + "].origin_branch is \"" +
                short_text(push.entries[i].origin_branch) + "\", but this connection is branch \"" +
                branch_ + "\"; nothing of the batch was stored");
      return out;
    }
  }
  if (!take_rate_token(now_ms)) {
    hub_.count_rate_limited();
    out.frames.push_back(encode(
        ErrorFrame{std::string(kErrRate),
                   "more than " + std::to_string(hub_.limits().push_rate_per_s) +
                       " pushes per second; batch " + std::to_string(push.first_seq) + ".." +
                       std::to_string(push.last_seq) + " was not stored, send it again later",
                   false}));
    return out;
  }
  auto result = hub_.store_push(branch_, node_epoch_, push, now_ms);
  if (!result.ok()) {
    fatal(out, kErrInvalid, result.error().message);
    return out;
  }
  switch (result->kind) {
    case PushOutcome::Kind::kNack:
      out.frames.push_back(encode(Nack{result->acked_seq + 1}));
      return out;
    case PushOutcome::Kind::kFork:
      fatal(out, kErrFork, result->fork_detail);
      return out;
    case PushOutcome::Kind::kAcked:
      break;
  }
  out.frames.push_back(encode(Ack{result->acked_seq}));
  out.notify_all = !result->new_entries.empty();
  fill(out, now_ms);
  return out;
}

// Branch recovery: the branch's own entries from_seq..to_seq, as stored (pre-encoded JSON).
SessionOutput SessionCore::on_fetch_own(const FetchOwn& fetch) {
  SessionOutput out;
  auto rows = hub_.own_entries(branch_, fetch.from_seq, fetch.to_seq);
  if (!rows.ok()) {
    fatal(out, kErrInvalid, rows.error().message);
    return out;
  }
  std::string text = "{\"type\":\"own_entries\",\"from_seq\":" + std::to_string(fetch.from_seq) +
                     ",\"to_seq\":" + std::to_string(fetch.to_seq) + ",\"entries\":[";
  for (size_t i = 0; i < rows->size(); ++i) {
    if (i) text += ',';
    text += (*rows)[i].second;
  }
  text += "]}";
  out.frames.push_back(std::move(text));
  hub_.count_frame_out();
  return out;
}

SessionOutput SessionCore::pump(int64_t now_ms) {
  SessionOutput out;
  if (!closed_ && welcomed_) fill(out, now_ms);
  return out;
}

void SessionCore::fill(SessionOutput& out, int64_t now_ms) {
  const auto cfg = hub_.config();
  if (cfg && cfg->version != config_sent_) {
    out.frames.push_back(encode(Config{cfg->version, cfg->document}));
    config_sent_ = cfg->version;
  }
  while (static_cast<int>(unapplied_.size()) < hub_.limits().max_unapplied_frames) {
    int64_t scanned_to = sent_;
    auto batch = hub_.read_after(sent_, branch_, kMaxBatchEntries, &scanned_to);
    if (!batch.ok()) {
      fatal(out, kErrInvalid, batch.error().message);
      return;
    }
    if (scanned_to <= sent_) return;  // nothing new
    // Coalescing: while a frame is in flight, a partial batch waits for the branch's APPLIED
    // (which calls fill again) so that entries arriving meanwhile share one frame. Full
    // batches (a backlog) keep up to max_unapplied_frames in flight.
    if (!unapplied_.empty() && batch->size() < kMaxBatchEntries) return;
    if (batch->empty() && unapplied_.empty()) {
      // Only this branch's own entries: nothing to apply, nothing in flight.
      sent_ = applied_ = scanned_to;
      hub_.record_applied(branch_, applied_, now_ms);
      continue;
    }
    Entries frame;
    frame.from_offset = sent_ + 1;
    frame.to_offset = scanned_to;
    frame.entries.reserve(batch->size());
    // Build the frame text from the pre-encoded entries (no re-encoding per branch).
    std::string text =
        "{\"type\":\"entries\",\"from_offset\":" + std::to_string(frame.from_offset) +
        ",\"to_offset\":" + std::to_string(frame.to_offset) + ",\"entries\":[";
    for (size_t i = 0; i < batch->size(); ++i) {
      if (i) text += ',';
      text += "{\"offset\":";
      text += std::to_string((*batch)[i].offset);
      text += ",\"entry\":";
      text += (*batch)[i].json;
      text += '}';
    }
    text += "]}";
    out.frames.push_back(std::move(text));
    hub_.count_frame_out();
    sent_ = scanned_to;
    unapplied_.push_back(scanned_to);
  }
}

}  // namespace loyalty::sync::hub

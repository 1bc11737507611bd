// The hub's logic without the network (docs/sync.md "Hub"): HubCore holds the store, a cache
// of recent entries, the current program configuration, connected branches and metrics;
// SessionCore is the protocol state machine of one branch connection. The Beast server
// (server.h) only moves frames between sockets and these classes, so both are unit-tested
// and fuzzed without sockets.
//
// Thread-safety: HubCore is thread-safe (one mutex). A SessionCore belongs to one connection
// and is used from one strand at a time. Failure: storage errors become a fatal "invalid"
// error frame for the session (the branch retries); nothing is ever half-stored.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sync/hub/store.h"
#include "sync/protocol/frames.h"

namespace loyalty::sync::hub {

struct HubLimits {
  int64_t max_frame_bytes = static_cast<int64_t>(kMaxFrameBytes);
  int max_connections_per_branch = 1;  // a newer connection replaces the oldest
  double push_rate_per_s = 100;        // push frames per second per connection (burst 2x)
  size_t cache_entries = 50'000;       // recent entries kept in memory for fan-out
  int max_unapplied_frames = 4;        // entries frames sent but not yet applied
};

// Validates a program document before it is stored (links the branch's config loader).
using DocumentValidator = std::function<domain::Status(const std::string& document)>;

struct BranchStatus {
  std::string branch;
  int connections = 0;
  int64_t applied_offset = 0;
  int64_t lag_entries = 0;
  double lag_seconds = 0;
  int64_t acked_seq = 0;
  int64_t last_seen_ms = 0;
};

class HubCore {
 public:
  HubCore(std::unique_ptr<HubStore> store, HubLimits limits);

  const HubLimits& limits() const { return limits_; }
  const std::string& hub_epoch() const { return epoch_; }
  int64_t head_offset();

  // Checks `token` for the branch (or "admin"): SHA-256 against the hash stored in the DB or
  // given in the hub config (set_config_tokens). Constant-time comparison.
  bool authenticate(const std::string& name, std::string_view token);
  void set_config_tokens(std::map<std::string, std::string> name_to_sha256);

  // Registers / unregisters a live session of `branch`; register returns an id.
  uint64_t register_session(const std::string& branch);
  void unregister_session(const std::string& branch, uint64_t id);
  int connections(const std::string& branch);

  // Store operations (locked).
  domain::Result<int64_t> acked_seq(const std::string& branch);
  domain::Result<PushOutcome> store_push(const std::string& branch, const std::string& node_epoch,
                                         const Push& push, int64_t now_ms);
  domain::Result<std::string> entry_id_at_seq(const std::string& branch, int64_t seq);
  domain::Result<std::vector<std::pair<int64_t, std::string>>> own_entries(
      const std::string& branch, int64_t from_seq, int64_t to_seq);
  domain::Result<bool> history_matches(const std::string& branch, int64_t check_offset,
                                       const std::string& check_entry_id, int64_t applied_offset);
  domain::Result<std::vector<StoredEntry>> read_after(int64_t after, const std::string& exclude,
                                                      size_t limit, int64_t* scanned_to);
  void record_applied(const std::string& branch, int64_t offset, int64_t now_ms);
  void record_config_ack(const std::string& branch, const std::string& version);
  void touch(const std::string& branch, const std::string& node_epoch, int64_t now_ms);
  void quarantine(const std::string& branch, std::string_view raw, const domain::Error& error,
                  int64_t now_ms);
  // Saves applied offsets recorded since the last flush, in one transaction.
  domain::Status flush_positions(int64_t now_ms);

  // Central program configuration.
  std::optional<ConfigVersion> config();
  domain::Result<ConfigVersion> set_config(const std::string& document, int64_t now_ms);
  void set_validator(DocumentValidator validator) { validator_ = std::move(validator); }
  // Re-reads the current version from the database (another process, e.g. `loyalty-hub
  // config set`, may have stored one); true when it changed.
  bool reload_config();

  domain::Result<std::vector<OverdrawReport>> overdraws(size_t limit);

  // Metrics.
  void count_duplicates(int64_t n) { duplicates_ += n; }
  void count_rate_limited() { ++rate_limited_; }
  void count_frame_in() { ++frames_in_; }
  void count_frame_out() { ++frames_out_; }
  std::vector<BranchStatus> branch_status(int64_t now_ms);
  // JSON object of every metric (docs/sync.md lists them); rss_bytes given by the caller.
  std::string metrics_json(int64_t now_ms, int64_t rss_bytes);
  std::string metrics_prometheus(int64_t now_ms, int64_t rss_bytes);

  HubStore& store_for_tests() { return *store_; }

 private:
  int64_t received_at(int64_t offset);  // mu_ held; 0 when unknown

  std::mutex mu_;
  std::unique_ptr<HubStore> store_;
  HubLimits limits_;
  std::string epoch_;
  std::deque<StoredEntry> cache_;
  std::optional<ConfigVersion> config_;
  DocumentValidator validator_;
  std::map<std::string, std::string> config_tokens_;
  struct Live {
    std::map<uint64_t, int64_t> sessions;  // id -> unused
    int64_t applied_offset = 0;
    bool dirty = false;
    int64_t last_seen_ms = 0;
  };
  std::map<std::string, Live> live_;
  uint64_t next_session_id_ = 1;
  // Entries/s: stored count sampled at the previous metrics call.
  int64_t rate_sample_ms_ = 0;
  int64_t rate_sample_count_ = 0;
  double entries_per_s_ = 0;

  std::atomic<int64_t> entries_stored_{0};
  std::atomic<int64_t> duplicates_{0};
  std::atomic<int64_t> rate_limited_{0};
  std::atomic<int64_t> frames_in_{0};
  std::atomic<int64_t> frames_out_{0};
};

// What a SessionCore asks the transport to do.
struct SessionOutput {
  std::vector<std::string> frames;  // text frames to send, in order
  enum class Close { kNo = 0, kNormal, kPolicy, kUnsupportedData } close = Close::kNo;
  bool notify_all = false;  // new entries were stored: every session should pump()
};

class SessionCore {
 public:
  // `branch` is the authenticated branch (X-Branch checked against its token).
  SessionCore(HubCore& hub, std::string branch);
  ~SessionCore();
  SessionCore(const SessionCore&) = delete;
  SessionCore& operator=(const SessionCore&) = delete;

  // One received text frame.
  SessionOutput on_text(std::string_view text, int64_t now_ms);
  // A binary frame: close 1003.
  SessionOutput on_binary();
  // New entries or a new config may be available: ENTRIES and CONFIG frames to send.
  SessionOutput pump(int64_t now_ms);

  bool welcomed() const { return welcomed_; }
  bool closed() const { return closed_; }
  int64_t sent_offset() const { return sent_; }
  int64_t applied_offset() const { return applied_; }
  const std::string& branch() const { return branch_; }

 private:
  SessionOutput on_hello(const Hello& hello, int64_t now_ms);
  SessionOutput on_push(const Push& push, int64_t now_ms);
  SessionOutput on_fetch_own(const FetchOwn& fetch);
  void fatal(SessionOutput& out, std::string_view code, std::string message);
  void fill(SessionOutput& out, int64_t now_ms);
  bool take_rate_token(int64_t now_ms);

  HubCore& hub_;
  std::string branch_;
  std::string node_epoch_;
  uint64_t session_id_ = 0;
  bool welcomed_ = false;
  bool closed_ = false;
  int64_t sent_ = 0;               // highest hub offset sent (or skipped as own)
  int64_t applied_ = 0;            // highest offset the branch reported applied
  std::deque<int64_t> unapplied_;  // to_offset of each entries frame not yet applied
  std::string config_sent_;        // version last sent or reported by the branch
  double tokens_ = 0;
  int64_t tokens_at_ms_ = 0;
};

}  // namespace loyalty::sync::hub

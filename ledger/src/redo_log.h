// The redo log: how a write transaction is durable with one small fsync.
//
// With synchronous = "full" the ledger's connection commits with SQLite's NORMAL setting
// (no fsync: a commit is in the WAL, in the OS page cache). Before that COMMIT, the
// transaction's write statements (SQL text and bound values, in the order they ran) are
// appended to `<ledger>-redo` as one record and fdatasync'd. A power cut can lose a suffix
// of the NORMAL commits (WAL mode never loses a commit in the middle and never corrupts),
// and the next open re-runs the records the database lacks, in order, each against exactly
// the state it first ran on. The position of the next record (`meta.redo_next`: sequence
// number and file offset) is written by the same transaction, so the database itself says
// which records it already has.
//
// A record: a 24-byte header (magic, payload size, sequence number, checksum over the rest)
// and the payload. The checksum is seeded with the log's id (`meta.redo_next`, random, made
// durable before the first record), so the log of an earlier database at the same path is
// never taken for this one's. The file is reused from offset 0 once it passes a size limit, after the
// WAL was fsync'd (so every committed transaction is durable and no earlier record is
// needed): a stale record left behind has an older sequence number and ends a scan.
//
// The payload's statement encoding is RedoWriter/RedoReader; this file knows only records.
// Not thread-safe: the ledger calls it holding its connection's lock.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace loyalty::ledger {

class RedoLog {
 public:
  // Opens (creates) the file. Throws StoreFailure kUnavailable when it cannot.
  explicit RedoLog(std::string path);
  ~RedoLog();
  RedoLog(const RedoLog&) = delete;
  RedoLog& operator=(const RedoLog&) = delete;

  static constexpr int64_t kHeaderBytes = 24;

  const std::string& path() const { return path_; }
  // Writes a record at `offset` and, with `sync`, fdatasyncs it. Throws StoreFailure
  // kUnavailable. A synced record never grows the file: the file is extended with zeros a
  // MiB ahead (synced once), so the record's fdatasync writes data only, not the file's
  // size (measured here: 135 us against 200 us for an append that grows it).
  void append(int64_t offset, int64_t seq, uint64_t log_id, std::string_view payload, bool sync = true);
  // Writes a record without syncing it; `reserved`: in space extended ahead (as a synced
  // append), so that a later sync() writes data only. Throws StoreFailure kUnavailable.
  void write(int64_t offset, int64_t seq, uint64_t log_id, std::string_view payload, bool reserved);
  // fdatasync of everything written so far. Throws StoreFailure kUnavailable. Safe to call
  // from another thread while records are written (RedoSyncer).
  void sync();
  // Overwrites the header of the record at `offset` (a record whose COMMIT failed), so a
  // later scan cannot take it for a committed one. Best effort; fdatasync'd.
  void invalidate(int64_t offset) noexcept;
  // The payload of the record `seq` at `offset`, or nothing when there is none (end of the
  // log, a torn or stale record).
  std::optional<std::string> read(int64_t offset, int64_t seq, uint64_t log_id) const;
  // The first record a scan from meta.redo_next re-runs: record `seq` at `offset`, or at 0
  // when the log started over with it (then `offset` becomes 0).
  std::optional<std::string> read_first(int64_t& offset, int64_t seq, uint64_t log_id) const;

 private:
  void reserve(int64_t end);  // the file holds at least `end` bytes (zeros past the old end)

  std::string path_;
  int fd_ = -1;
  int64_t size_ = 0;  // the file's size, as far as this object wrote it
};

// Syncs a RedoLog on a thread of its own, so that a request's work runs while its record
// reaches the disk (request records, SqliteLedger: with synchronous = full the record of a
// request is written before its work). Thread-safe.
class RedoSyncer {
 public:
  explicit RedoSyncer(RedoLog& log);
  ~RedoSyncer();  // joins the thread (a sync in progress finishes)
  RedoSyncer(const RedoSyncer&) = delete;
  RedoSyncer& operator=(const RedoSyncer&) = delete;

  // Asks for a sync of what was written so far; returns its ticket.
  uint64_t ask();
  // Blocks until the sync of `ticket` (or a later one) has ended; throws StoreFailure
  // kUnavailable, naming the log, when that sync failed. 0: returns at once.
  void wait(uint64_t ticket);

  // Whether a sync ever failed: its records' bytes may be lost whatever later syncs say
  // (Linux reports a failed writeback once), so the caller stops relying on the log.
  bool failed() const { return ever_failed_.load(std::memory_order_relaxed); }

  static constexpr int kSpinUs = 400;      // wait() spins this long before it sleeps
  static constexpr int kIdleSpinUs = 200;  // the thread spins this long for the next ask()

 private:
  void loop();

  RedoLog& log_;
  // Spinning only pays with a second core: on one, the spinner keeps the CPU from the
  // thread it waits for.
  const bool spin_ = std::thread::hardware_concurrency() > 1;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> asked_{0};   // tickets handed out
  std::atomic<bool> sleeping_{false};  // the thread waits on cv_ (ask() must notify)
  std::atomic<uint64_t> done_{0};    // written under mu_; every ticket <= done_ has ended
  uint64_t failed_from_ = 0, failed_to_ = 0;  // tickets in (from, to] failed: failure_
  std::string failure_;
  std::atomic<bool> ever_failed_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;  // last: started once the members above exist
};

// A request record (SqliteLedger::log_request): its payload starts with this tag, which no
// statement payload can (a statement's SQL text is never 4 GiB long).
inline constexpr std::string_view kRequestRecordTag{"\xff\xff\xff\xffREQ1", 8};
inline bool is_request_record(std::string_view payload) { return payload.substr(0, kRequestRecordTag.size()) == kRequestRecordTag; }

// meta.redo_next: where a scan after the last COMMIT starts, as "<next seq> <next offset>
// <log id, 16 hex digits>".
struct RedoNext {
  int64_t seq = 1;
  int64_t offset = 0;
  uint64_t log_id = 0;
};
std::string format_redo_next(const RedoNext& next);
std::optional<RedoNext> parse_redo_next(std::string_view text);  // nothing: malformed

// The statements of one transaction, as RedoLog payload: per statement its SQL text and
// its bound parameters (index, type, value).
class RedoWriter {
 public:
  explicit RedoWriter(std::string& out) : out_(out) {}
  void begin_statement(std::string_view sql, const std::string& binds, uint32_t count);
  // Encoded parameters (kept by a Query until its statement ran).
  static void put_int(std::string& binds, int index, int64_t v);
  static void put_text(std::string& binds, int index, std::string_view v);
  static void put_blob(std::string& binds, int index, std::string_view v);
  static void put_null(std::string& binds, int index);

 private:
  std::string& out_;
};

struct RedoParam {
  enum class Type : uint8_t { kInt = 1, kText = 2, kBlob = 3, kNull = 4 };
  int index = 0;
  Type type = Type::kNull;
  int64_t i = 0;
  std::string_view bytes;
};

struct RedoStatement {
  std::string_view sql;
  std::vector<RedoParam> params;
};

// Decodes a payload; throws StoreFailure kInternal naming the record when it is malformed.
std::vector<RedoStatement> decode_redo(std::string_view payload, int64_t seq);

}  // namespace loyalty::ledger

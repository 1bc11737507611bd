#include "redo_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "app/ledger_port.h"

namespace loyalty::ledger {

using app::StoreFailure;
using domain::ErrorCode;

namespace {

constexpr uint32_t kMagic = 0x4C524431;             // "LRD1"
constexpr uint32_t kMaxPayload = 1u << 30;          // a sanity bound for a scan
constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

// FNV-1a over 8-byte words (then the tail), seeded with the sequence number and size: it
// tells a complete record from a torn one or from stale bytes, not an attacker's forgery.
uint64_t checksum(uint64_t log_id, int64_t seq, uint32_t size, std::string_view payload) {
  uint64_t h = kFnvOffset;
  auto mix = [&h](uint64_t w) { h = (h ^ w) * kFnvPrime; };
  mix(log_id);
  mix(static_cast<uint64_t>(seq));
  mix(size);
  size_t i = 0;
  for (; i + 8 <= payload.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, payload.data() + i, 8);
    mix(w);
  }
  for (; i < payload.size(); ++i) mix(static_cast<unsigned char>(payload[i]));
  return h;
}

void put_u32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }
void put_u64(char* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint32_t get_u32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t get_u64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

[[noreturn]] void io_failure(const std::string& path, const char* what, int err) {
  if (err == ENOSPC) throw StoreFailure(ErrorCode::kUnavailable, "disk full writing the redo log " + path);
  throw StoreFailure(ErrorCode::kUnavailable,
                     std::string("I/O error on the redo log ") + path + " (" + what + "): " + std::strerror(err));
}

}  // namespace

RedoLog::RedoLog(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd_ < 0) io_failure(path_, "open", errno);
  struct stat st {};
  if (::fstat(fd_, &st) == 0) size_ = st.st_size;
}

void RedoLog::reserve(int64_t end) {
  if (end <= size_) return;
  constexpr int64_t kStep = 1 << 20;
  const int64_t target = (end + kStep - 1) / kStep * kStep;
  static const std::string zeros(64 << 10, '\0');
  for (int64_t at = size_; at < target;) {
    const auto n = ::pwrite(fd_, zeros.data(), static_cast<size_t>(std::min<int64_t>(target - at, zeros.size())), at);
    if (n < 0) {
      if (errno == EINTR) continue;
      io_failure(path_, "write", errno);
    }
    at += n;
  }
  while (::fdatasync(fd_) != 0) {
    if (errno != EINTR) io_failure(path_, "fdatasync", errno);
  }
  size_ = target;
}

RedoLog::~RedoLog() {
  if (fd_ >= 0) ::close(fd_);
}

void RedoLog::append(int64_t offset, int64_t seq, uint64_t log_id, std::string_view payload, bool sync) {
  write(offset, seq, log_id, payload, /*reserved=*/sync);
  if (sync) this->sync();
}

void RedoLog::sync() {
  while (::fdatasync(fd_) != 0) {
    if (errno != EINTR) io_failure(path_, "fdatasync", errno);
  }
}

void RedoLog::write(int64_t offset, int64_t seq, uint64_t log_id, std::string_view payload, bool reserved) {
  if (payload.size() > kMaxPayload) {
    throw StoreFailure(ErrorCode::kUnavailable, "a transaction of " + std::to_string(payload.size()) +
                                                    " bytes is too large for the redo log");
  }
  const auto size = static_cast<uint32_t>(payload.size());
  char header[kHeaderBytes];
  put_u32(header, kMagic);
  put_u32(header + 4, size);
  put_u64(header + 8, static_cast<uint64_t>(seq));
  put_u64(header + 16, checksum(log_id, seq, size, payload));
  const int64_t end = offset + kHeaderBytes + static_cast<int64_t>(size);
  if (reserved) reserve(end);
  iovec io[2] = {{header, sizeof header}, {const_cast<char*>(payload.data()), payload.size()}};
  int n_io = 2;
  iovec* cur = io;
  off_t at = offset;
  while (n_io > 0) {
    const ssize_t n = ::pwritev(fd_, cur, n_io, at);
    if (n < 0) {
      if (errno == EINTR) continue;
      io_failure(path_, "write", errno);
    }
    at += n;
    size_t left = static_cast<size_t>(n);
    while (n_io > 0 && left >= cur->iov_len) {
      left -= cur->iov_len;
      ++cur;
      --n_io;
    }
    if (n_io > 0) {
      cur->iov_base = static_cast<char*>(cur->iov_base) + left;
      cur->iov_len -= left;
    }
  }
  size_ = std::max(size_, end);
}

void RedoLog::invalidate(int64_t offset) noexcept {
  const char zeros[kHeaderBytes] = {};
  if (::pwrite(fd_, zeros, sizeof zeros, offset) == static_cast<ssize_t>(sizeof zeros)) ::fdatasync(fd_);
}

std::optional<std::string> RedoLog::read(int64_t offset, int64_t seq, uint64_t log_id) const {
  char header[kHeaderBytes];
  if (::pread(fd_, header, sizeof header, offset) != static_cast<ssize_t>(sizeof header)) return std::nullopt;
  if (get_u32(header) != kMagic || get_u64(header + 8) != static_cast<uint64_t>(seq)) return std::nullopt;
  const uint32_t size = get_u32(header + 4);
  if (size > kMaxPayload) return std::nullopt;
  std::string payload(size, '\0');
  size_t got = 0;
  while (got < size) {
    const ssize_t n = ::pread(fd_, payload.data() + got, size - got, offset + kHeaderBytes + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;  // the file ends inside the record: it was torn
    got += static_cast<size_t>(n);
  }
  if (checksum(log_id, seq, size, payload) != get_u64(header + 16)) return std::nullopt;
  return payload;
}

std::optional<std::string> RedoLog::read_first(int64_t& offset, int64_t seq, uint64_t log_id) const {
  if (auto record = read(offset, seq, log_id)) return record;
  if (offset == 0) return std::nullopt;
  auto record = read(0, seq, log_id);  // the log started over with this record
  if (record) offset = 0;
  return record;
}

std::string format_redo_next(const RedoNext& next) {
  char buf[80];
  std::snprintf(buf, sizeof buf, "%lld %lld %016llx", static_cast<long long>(next.seq),
                static_cast<long long>(next.offset), static_cast<unsigned long long>(next.log_id));
  return buf;
}

std::optional<RedoNext> parse_redo_next(std::string_view text) {
  const std::string v(text);
  long long seq = 0, offset = -1;
  unsigned long long id = 0;
  int used = 0;
  if (std::sscanf(v.c_str(), "%lld %lld %16llx%n", &seq, &offset, &id, &used) != 3 ||
      used != static_cast<int>(v.size()) || seq < 1 || offset < 0) {
    return std::nullopt;
  }
  return RedoNext{seq, offset, id};
}

// ---- payload ----------------------------------------------------------------------------
// statement: u32 sql size, sql, u32 parameter count, parameters;
// parameter: u32 index, u8 type, then an i64 (kInt), u32 size + bytes (kText, kBlob) or nothing.

namespace {

void append_u32(std::string& out, uint32_t v) {
  char b[4];
  put_u32(b, v);
  out.append(b, 4);
}

void put_bytes(std::string& binds, int index, RedoParam::Type type, std::string_view v) {
  append_u32(binds, static_cast<uint32_t>(index));
  binds.push_back(static_cast<char>(type));
  append_u32(binds, static_cast<uint32_t>(v.size()));
  binds.append(v);
}

}  // namespace

void RedoWriter::begin_statement(std::string_view sql, const std::string& binds, uint32_t count) {
  append_u32(out_, static_cast<uint32_t>(sql.size()));
  out_.append(sql);
  append_u32(out_, count);
  out_.append(binds);
}

void RedoWriter::put_int(std::string& binds, int index, int64_t v) {
  append_u32(binds, static_cast<uint32_t>(index));
  binds.push_back(static_cast<char>(RedoParam::Type::kInt));
  char b[8];
  put_u64(b, static_cast<uint64_t>(v));
  binds.append(b, 8);
}

void RedoWriter::put_text(std::string& binds, int index, std::string_view v) {
  put_bytes(binds, index, RedoParam::Type::kText, v);
}

void RedoWriter::put_blob(std::string& binds, int index, std::string_view v) {
  put_bytes(binds, index, RedoParam::Type::kBlob, v);
}

void RedoWriter::put_null(std::string& binds, int index) {
  append_u32(binds, static_cast<uint32_t>(index));
  binds.push_back(static_cast<char>(RedoParam::Type::kNull));
}

std::vector<RedoStatement> decode_redo(std::string_view payload, int64_t seq) {
  size_t at = 0;
  auto bad = [&](const char* what) -> StoreFailure {
    return StoreFailure(ErrorCode::kInternal, "redo record " + std::to_string(seq) + " is malformed at byte " +
                                                  std::to_string(at) + ": " + what);
  };
  auto u32 = [&]() {
    if (payload.size() - at < 4) throw bad("truncated number");
    const uint32_t v = get_u32(payload.data() + at);
    at += 4;
    return v;
  };
  auto bytes = [&](uint32_t n) {
    if (payload.size() - at < n) throw bad("truncated text");
    const std::string_view v = payload.substr(at, n);
    at += n;
    return v;
  };
  std::vector<RedoStatement> out;
  while (at < payload.size()) {
    RedoStatement s;
    s.sql = bytes(u32());
    const uint32_t count = u32();
    if (count > 999) throw bad("too many parameters");
    s.params.reserve(count);
    for (uint32_t i = 0; i < count; ++i) {
      RedoParam p;
      p.index = static_cast<int>(u32());
      if (at >= payload.size()) throw bad("truncated parameter");
      p.type = static_cast<RedoParam::Type>(payload[at++]);
      switch (p.type) {
        case RedoParam::Type::kInt:
          p.i = static_cast<int64_t>(get_u64(bytes(8).data()));
          break;
        case RedoParam::Type::kText:
        case RedoParam::Type::kBlob:
          p.bytes = bytes(u32());
          break;
        case RedoParam::Type::kNull:
          break;
        default:
          throw bad("unknown parameter type");
      }
      s.params.push_back(p);
    }
    out.push_back(std::move(s));
  }
  return out;
}

// ---- RedoSyncer ------------------------------------------------------------------------

RedoSyncer::RedoSyncer(RedoLog& log) : log_(log), thread_([this] { loop(); }) {}

RedoSyncer::~RedoSyncer() {
  {
    std::lock_guard lock(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
  thread_.join();
}

namespace {

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

}  // namespace

uint64_t RedoSyncer::ask() {
  const uint64_t ticket = asked_.fetch_add(1) + 1;
  // A thread that is spinning sees the ticket by itself; one that sleeps is woken. (Either
  // the sleeper sees the new ticket before it sleeps, or we see that it sleeps: both are
  // sequentially consistent.)
  if (sleeping_.load()) {
    std::lock_guard lock(mu_);
    cv_.notify_all();
  }
  return ticket;
}

void RedoSyncer::wait(uint64_t ticket) {
  if (ticket == 0) return;
  // The work of the request usually takes less than the flush: spin a little (the flush
  // needs no CPU), then sleep. Waking from a condition variable costs tens of
  // microseconds on a paravirtualized kernel, a tenth of the flush.
  const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(spin_ ? kSpinUs : 0);
  while (done_.load(std::memory_order_acquire) < ticket && std::chrono::steady_clock::now() < spin_until) {
    cpu_relax();
  }
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return done_.load(std::memory_order_acquire) >= ticket; });
  if (ticket > failed_from_ && ticket <= failed_to_) throw StoreFailure(ErrorCode::kUnavailable, failure_);
}

void RedoSyncer::loop() {
  for (;;) {
    // Between the syncs of back-to-back requests the next one asks within tens of
    // microseconds: spin for it (measured: waking this thread took 16-17 us at p50, a
    // sixth of the flush it then starts), and sleep when none comes.
    const uint64_t before = done_.load(std::memory_order_relaxed);
    const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(spin_ ? kIdleSpinUs : 0);
    while (asked_.load() == before && !stop_.load(std::memory_order_relaxed) &&
           std::chrono::steady_clock::now() < spin_until) {
      cpu_relax();
    }
    if (asked_.load() == before) {
      std::unique_lock lock(mu_);
      sleeping_.store(true);
      cv_.wait(lock, [&] { return stop_.load(std::memory_order_relaxed) || asked_.load() != before; });
      sleeping_.store(false);
    }
    const uint64_t target = asked_.load();
    if (target == before) return;  // stopping, nothing asked
    std::string failure;
    try {
      log_.sync();  // covers every record written before ask() returned its ticket
    } catch (const std::exception& e) {
      failure = e.what();
    }
    std::lock_guard lock(mu_);
    if (!failure.empty()) {
      failed_from_ = before;
      failed_to_ = target;
      failure_ = std::move(failure);
      ever_failed_.store(true, std::memory_order_relaxed);
    }
    done_.store(target, std::memory_order_release);
    cv_.notify_all();
  }
}

}  // namespace loyalty::ledger

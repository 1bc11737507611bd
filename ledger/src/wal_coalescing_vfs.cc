#include "wal_coalescing_vfs.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

namespace loyalty::ledger {

namespace {

constexpr const char* kVfsName = "loyalty-wal-coalescing";
constexpr size_t kMaxBufferedBytes = 4 * 1024 * 1024;
constexpr size_t kMaxWriteBytes = 64 * 1024;
constexpr std::string_view kWalSuffix = "-wal";

// What the shim keeps about one open file (C++ members, so allocated apart from the
// sqlite3_file memory that SQLite owns).
struct FileState {
  bool is_wal = false;
  sqlite3_file* file = nullptr;  // the shim file this state belongs to
  std::string db_path;  // the database this file belongs to (WAL and main database files)
  std::mutex mu;        // guards everything below (WAL files only)
  std::vector<char> buffer;
  sqlite3_int64 buffer_offset = 0;
  sqlite3_int64 size_on_disk = 0;   // bytes the file has: writes below it are buffered
  int deferred_rc = SQLITE_OK;      // a failed flush from xShmBarrier, reported next
};

// SQLite allocates szOsFile bytes for a file: our header, then the real VFS's file.
struct ShimFile {
  sqlite3_file base;  // must be first: SQLite sees this
  sqlite3_file* real;
  FileState* state;
};

sqlite3_vfs* g_real_vfs = nullptr;
sqlite3_vfs g_vfs;

std::mutex g_registry_mu;  // guards g_wal_files; taken before any FileState::mu
// WAL buffers of this process that hold data. Read transactions also pass through
// xShmBarrier; with nothing buffered anywhere they skip the registry and its mutex.
std::atomic<int> g_buffers_in_use{0};
std::unordered_multimap<std::string, FileState*> g_wal_files;  // db path -> its open WAL files

ShimFile* shim(sqlite3_file* f) { return reinterpret_cast<ShimFile*>(f); }
sqlite3_file* real(sqlite3_file* f) { return shim(f)->real; }
const sqlite3_io_methods* real_methods(sqlite3_file* f) { return real(f)->pMethods; }

// Writes out the buffer of a WAL file. Caller holds st.mu.
int flush_locked(sqlite3_file* file, FileState& st) {
  if (st.buffer.empty()) {
    return SQLITE_OK;
  }
  // In pieces: the unix VFS writes at most 128 KiB - 1 bytes per call (it masks larger
  // sizes and then reports a short write as SQLITE_FULL).
  int rc = SQLITE_OK;
  for (size_t done = 0; done < st.buffer.size() && rc == SQLITE_OK; done += kMaxWriteBytes) {
    const size_t n = std::min(kMaxWriteBytes, st.buffer.size() - done);
    const sqlite3_int64 at = st.buffer_offset + static_cast<sqlite3_int64>(done);
    rc = real_methods(file)->xWrite(real(file), st.buffer.data() + done, static_cast<int>(n), at);
    if (rc == SQLITE_OK) {
      st.size_on_disk = std::max(st.size_on_disk, at + static_cast<sqlite3_int64>(n));
    }
  }
  st.buffer.clear();
  g_buffers_in_use.fetch_sub(1, std::memory_order_relaxed);
  return rc;
}

// Flushes, then reports a flush failure kept from xShmBarrier (once).
int settle_locked(sqlite3_file* file, FileState& st) {
  const int rc = flush_locked(file, st);
  if (st.deferred_rc != SQLITE_OK) {
    const int deferred = st.deferred_rc;
    st.deferred_rc = SQLITE_OK;
    return deferred;
  }
  return rc;
}

// Before an operation that must see a WAL file as SQLite wrote it: flushes its buffer and
// reports a failure kept from xShmBarrier. Other files have nothing to settle.
int settle(sqlite3_file* file) {
  FileState* st = shim(file)->state;
  if (!st->is_wal) {
    return SQLITE_OK;
  }
  std::lock_guard lock(st->mu);
  return settle_locked(file, *st);
}

// ---- io methods ---------------------------------------------------------------------------

int x_close(sqlite3_file* file) {
  FileState* st = shim(file)->state;
  int flush_rc = SQLITE_OK;
  if (st->is_wal) {
    {
      std::lock_guard reg(g_registry_mu);
      auto [first, last] = g_wal_files.equal_range(st->db_path);
      for (auto it = first; it != last; ++it) {
        if (it->second == st) {
          g_wal_files.erase(it);
          break;
        }
      }
    }
    std::lock_guard lock(st->mu);
    flush_rc = settle_locked(file, *st);
  }
  const int rc = real_methods(file)->xClose(real(file));
  delete st;
  shim(file)->state = nullptr;
  return flush_rc != SQLITE_OK ? flush_rc : rc;
}

int x_read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  if (const int rc = settle(file); rc != SQLITE_OK) {
    return rc;
  }
  return real_methods(file)->xRead(real(file), out, amount, offset);
}

int x_write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  FileState* st = shim(file)->state;
  if (!st->is_wal) {
    return real_methods(file)->xWrite(real(file), data, amount, offset);
  }
  std::lock_guard lock(st->mu);
  if (st->deferred_rc != SQLITE_OK) {
    return settle_locked(file, *st);
  }
  if (offset + amount > st->size_on_disk) {
    // Growing the file may fail for lack of space: write now, so the error has a caller.
    // (Only until the WAL reaches its working size: after a checkpoint it starts over
    // from the beginning of the same file.)
    if (const int rc = flush_locked(file, *st); rc != SQLITE_OK) {
      return rc;
    }
    const int rc = real_methods(file)->xWrite(real(file), data, amount, offset);
    if (rc == SQLITE_OK) {
      st->size_on_disk = std::max(st->size_on_disk, offset + amount);
    }
    return rc;
  }
  const bool contiguous = !st->buffer.empty() &&
                          offset == st->buffer_offset + static_cast<sqlite3_int64>(st->buffer.size());
  const bool fits = st->buffer.size() + static_cast<size_t>(amount) <= kMaxBufferedBytes;
  if (!(contiguous && fits)) {
    if (const int rc = flush_locked(file, *st); rc != SQLITE_OK) {
      return rc;
    }
    st->buffer_offset = offset;
    g_buffers_in_use.fetch_add(1, std::memory_order_relaxed);  // the buffer was empty
  }
  const char* bytes = static_cast<const char*>(data);
  st->buffer.insert(st->buffer.end(), bytes, bytes + amount);
  return SQLITE_OK;
}

int x_truncate(sqlite3_file* file, sqlite3_int64 size) {
  FileState* st = shim(file)->state;
  if (!st->is_wal) {
    return real_methods(file)->xTruncate(real(file), size);
  }
  std::lock_guard lock(st->mu);
  if (const int rc = settle_locked(file, *st); rc != SQLITE_OK) {
    return rc;
  }
  const int rc = real_methods(file)->xTruncate(real(file), size);
  if (rc == SQLITE_OK) {
    st->size_on_disk = size;
  }
  return rc;
}

int x_sync(sqlite3_file* file, int flags) {
  if (const int rc = settle(file); rc != SQLITE_OK) {
    return rc;
  }
  return real_methods(file)->xSync(real(file), flags);
}

int x_file_size(sqlite3_file* file, sqlite3_int64* size) {
  if (const int rc = settle(file); rc != SQLITE_OK) {
    return rc;
  }
  return real_methods(file)->xFileSize(real(file), size);
}

int x_lock(sqlite3_file* file, int level) { return real_methods(file)->xLock(real(file), level); }
int x_unlock(sqlite3_file* file, int level) {
  return real_methods(file)->xUnlock(real(file), level);
}
int x_check_reserved_lock(sqlite3_file* file, int* out) {
  return real_methods(file)->xCheckReservedLock(real(file), out);
}

int x_file_control(sqlite3_file* file, int op, void* arg) {
  if (const int rc = settle(file); rc != SQLITE_OK) {
    return rc;
  }
  return real_methods(file)->xFileControl(real(file), op, arg);
}

int x_sector_size(sqlite3_file* file) { return real_methods(file)->xSectorSize(real(file)); }
int x_device_characteristics(sqlite3_file* file) {
  return real_methods(file)->xDeviceCharacteristics(real(file));
}

int x_shm_map(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  return real_methods(file)->xShmMap(real(file), region, size, extend, out);
}
int x_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  return real_methods(file)->xShmLock(real(file), offset, n, flags);
}
int x_shm_unmap(sqlite3_file* file, int delete_flag) {
  return real_methods(file)->xShmUnmap(real(file), delete_flag);
}

// Called between the two copies of the wal-index header that publish a commit: the frames
// of that commit must be in the kernel before the second copy is written.
void x_shm_barrier(sqlite3_file* file) {
  FileState* st = shim(file)->state;
  // A commit's own buffer was counted by the committing thread before this call.
  if (!st->db_path.empty() && g_buffers_in_use.load(std::memory_order_relaxed) > 0) {
    std::lock_guard reg(g_registry_mu);
    auto [first, last] = g_wal_files.equal_range(st->db_path);
    for (auto it = first; it != last; ++it) {
      FileState& wal = *it->second;
      std::lock_guard lock(wal.mu);
      if (const int rc = flush_locked(wal.file, wal); rc != SQLITE_OK) {
        wal.deferred_rc = rc;
      }
    }
  }
  real_methods(file)->xShmBarrier(real(file));
}

int x_fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  return real_methods(file)->xFetch(real(file), offset, amount, out);
}
int x_unfetch(sqlite3_file* file, sqlite3_int64 offset, void* p) {
  return real_methods(file)->xUnfetch(real(file), offset, p);
}

const sqlite3_io_methods kMethods = {
    3,
    x_close,
    x_read,
    x_write,
    x_truncate,
    x_sync,
    x_file_size,
    x_lock,
    x_unlock,
    x_check_reserved_lock,
    x_file_control,
    x_sector_size,
    x_device_characteristics,
    x_shm_map,
    x_shm_lock,
    x_shm_barrier,
    x_shm_unmap,
    x_fetch,
    x_unfetch,
};

// ---- vfs methods --------------------------------------------------------------------------

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  ShimFile* f = shim(file);
  f->base.pMethods = nullptr;
  f->real = reinterpret_cast<sqlite3_file*>(f + 1);
  f->state = new (std::nothrow) FileState;
  if (f->state == nullptr) {
    return SQLITE_NOMEM;
  }
  const int rc = g_real_vfs->xOpen(g_real_vfs, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK || f->real->pMethods == nullptr) {
    if (f->real->pMethods != nullptr) {
      f->real->pMethods->xClose(f->real);
    }
    delete f->state;
    f->state = nullptr;
    return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
  }
  FileState& st = *f->state;
  st.file = file;
  if (name != nullptr && (flags & SQLITE_OPEN_WAL) != 0) {
    std::string_view n(name);
    if (n.size() > kWalSuffix.size() && n.substr(n.size() - kWalSuffix.size()) == kWalSuffix) {
      st.is_wal = true;
      st.db_path = std::string(n.substr(0, n.size() - kWalSuffix.size()));
      if (f->real->pMethods->xFileSize(f->real, &st.size_on_disk) != SQLITE_OK) {
        st.size_on_disk = 0;  // everything is written through until the size is known
      }
    }
  } else if (name != nullptr && (flags & SQLITE_OPEN_MAIN_DB) != 0) {
    st.db_path = name;
  }
  f->base.pMethods = &kMethods;
  if (st.is_wal) {
    std::lock_guard reg(g_registry_mu);
    g_wal_files.emplace(st.db_path, &st);
  }
  return SQLITE_OK;
}

int x_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return g_real_vfs->xDelete(g_real_vfs, name, sync_dir);
}
int x_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_real_vfs->xAccess(g_real_vfs, name, flags, out);
}
int x_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_real_vfs->xFullPathname(g_real_vfs, name, n, out);
}
void* x_dl_open(sqlite3_vfs*, const char* name) { return g_real_vfs->xDlOpen(g_real_vfs, name); }
void x_dl_error(sqlite3_vfs*, int n, char* out) { g_real_vfs->xDlError(g_real_vfs, n, out); }
void (*x_dl_sym(sqlite3_vfs*, void* h, const char* sym))(void) {
  return g_real_vfs->xDlSym(g_real_vfs, h, sym);
}
void x_dl_close(sqlite3_vfs*, void* h) { g_real_vfs->xDlClose(g_real_vfs, h); }
int x_randomness(sqlite3_vfs*, int n, char* out) {
  return g_real_vfs->xRandomness(g_real_vfs, n, out);
}
int x_sleep(sqlite3_vfs*, int us) { return g_real_vfs->xSleep(g_real_vfs, us); }
int x_current_time(sqlite3_vfs*, double* out) { return g_real_vfs->xCurrentTime(g_real_vfs, out); }
int x_get_last_error(sqlite3_vfs*, int n, char* out) {
  return g_real_vfs->xGetLastError(g_real_vfs, n, out);
}
int x_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  return g_real_vfs->xCurrentTimeInt64(g_real_vfs, out);
}

bool register_vfs() {
  g_real_vfs = sqlite3_vfs_find(nullptr);
  if (g_real_vfs == nullptr || g_real_vfs->iVersion < 2) {
    return false;
  }
  std::memset(&g_vfs, 0, sizeof g_vfs);
  g_vfs.iVersion = 2;
  g_vfs.szOsFile = static_cast<int>(sizeof(ShimFile)) + g_real_vfs->szOsFile;
  g_vfs.mxPathname = g_real_vfs->mxPathname;
  g_vfs.zName = kVfsName;
  g_vfs.xOpen = x_open;
  g_vfs.xDelete = x_delete;
  g_vfs.xAccess = x_access;
  g_vfs.xFullPathname = x_full_pathname;
  g_vfs.xDlOpen = x_dl_open;
  g_vfs.xDlError = x_dl_error;
  g_vfs.xDlSym = x_dl_sym;
  g_vfs.xDlClose = x_dl_close;
  g_vfs.xRandomness = x_randomness;
  g_vfs.xSleep = x_sleep;
  g_vfs.xCurrentTime = x_current_time;
  g_vfs.xGetLastError = x_get_last_error;
  g_vfs.xCurrentTimeInt64 = x_current_time_int64;
  return sqlite3_vfs_register(&g_vfs, 0) == SQLITE_OK;
}

}  // namespace

const char* wal_coalescing_vfs_name() {
  static const bool registered = register_vfs();
  return registered ? kVfsName : nullptr;
}

}  // namespace loyalty::ledger

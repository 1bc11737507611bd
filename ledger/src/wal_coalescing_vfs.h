// A thin SQLite VFS over the default one that writes a transaction's WAL frames with one
// system call instead of two per page.
//
// Why: SQLite writes every WAL frame as two pwrite() calls (the 24-byte frame header, then
// the page). A sale changes about ten pages, so it made ~20 write system calls, and on
// this kind of virtual machine a system call costs 2-5 us: a third of a sale's time
// (measured with strace and perf, see docs/performance.md).
//
// How: writes to a "-wal" file that continue the previous write are kept in a per-file
// buffer and written together when SQLite next needs them on disk:
//   - before xSync, xRead, xTruncate, xFileSize, xFileControl and xClose of that file;
//   - before a non-contiguous write, or when the buffer passes kMaxBufferedBytes;
//   - and, crucially, in xShmBarrier() of the database file. SQLite publishes a commit by
//     writing the wal-index header twice with a memory barrier between the two copies
//     (wal.c, walIndexWriteHdr); a reader accepts the header only when both copies agree,
//     so no connection, in this process or another, can see a commit before its frames
//     have been handed to the kernel. The barrier flushes every WAL buffer of that
//     database: only the connection holding the WAL write lock can have one.
// Durability is unchanged: with synchronous=FULL the frames are written before the fsync
// of the commit; with NORMAL a commit is in the kernel's page cache before it is visible,
// exactly as without this layer (a killed process loses nothing acknowledged).
//
// Errors: a write that would grow the WAL file is never buffered: it goes to disk at once,
// so "disk full" is reported to SQLite by the call that caused it, as usual. Buffered
// writes only overwrite space the file already has. xShmBarrier cannot report an error;
// if that flush fails (it cannot run out of space; an I/O error on a page-cache write),
// the failure is kept and returned by the next operation on the WAL file, and the
// connection's next transaction fails with SQLITE_IOERR instead of building on it.
//
// Thread-safety: each WAL file has its own mutex (a barrier may come from another
// connection's thread); the registry of open WAL files has one more.
#pragma once

namespace loyalty::ledger {

// The VFS name to pass to sqlite3_open_v2. Registers the VFS on first use (thread-safe);
// returns nullptr (use the default VFS) if SQLite has no default VFS to wrap.
const char* wal_coalescing_vfs_name();

}  // namespace loyalty::ledger

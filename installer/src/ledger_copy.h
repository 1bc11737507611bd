// Consistent copies of a live SQLite ledger (WAL mode) with the online backup API.
//
// A plain cp of ledger.db can miss the commits still in ledger.db-wal, or copy a page
// half-way through a checkpoint. sqlite3_backup reads through a connection (so it sees
// the WAL) under a read transaction, and writes the destination through its pager.
#pragma once

#include <cstdint>
#include <filesystem>

namespace loyalty::installer {

// Copies the ledger at `live` into a new file `backup` (must not exist). Throws InstallError.
void backup_ledger(const std::filesystem::path& live, const std::filesystem::path& backup);

// Writes the content of `backup` into the ledger at `live`, through a connection to `live`
// (its WAL stays consistent). Nothing else may write `live` meanwhile. Throws InstallError.
void restore_ledger(const std::filesystem::path& backup, const std::filesystem::path& live);

// meta.schema_version of the ledger at `path`, 0 when the file has no meta table; -1 when
// the file does not exist. Read-only. Throws InstallError when it cannot be read.
int64_t ledger_schema_version(const std::filesystem::path& path);

}  // namespace loyalty::installer

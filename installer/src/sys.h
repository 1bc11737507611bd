// Small POSIX helpers for loyalty-install: processes, files, symlinks, hashes, locks.
// Every function either does what it says or throws InstallError with a message that names
// the path or command; nothing here prints.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace loyalty::installer {

namespace fs = std::filesystem;

class InstallError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ProcessResult {
  int exit_code = -1;  // 128 + signal when killed by a signal
  std::string out;
  std::string err;
};

// Runs argv[0] (searched in PATH when it has no '/') with argv, stdin from /dev/null,
// capturing stdout and stderr. Extra environment entries "K=V" are added. Throws only when
// the program cannot be started.
ProcessResult run(const std::vector<std::string>& argv,
                  const std::vector<std::string>& extra_env = {});

// "a b" -> 'a b' for /bin/sh; plain words stay as they are.
std::string shell_quote(const std::string& s);
std::string shell_join(const std::vector<std::string>& argv);

std::string read_file(const fs::path& p);
// Writes via a temporary file in the same folder, fsync, rename: readers see the old or the
// new content, never a mix. `mode` is applied before the rename.
void write_file_atomic(const fs::path& p, const std::string& content, unsigned mode = 0644);

// Points `link` at `target` atomically (a new symlink renamed over the old one).
void symlink_atomic(const fs::path& target, const fs::path& link);

// Copies a file, hard-linking it instead when `link_ok` and both are on one file system.
void copy_or_link(const fs::path& from, const fs::path& to, bool link_ok);

// SHA-256 of a file's bytes, lowercase hex.
std::string sha256_file(const fs::path& p);

// UTC time as 20261130T210500Z (and a suffix that keeps names unique within a second).
std::string timestamp_utc();

// An exclusive lock on `path` (created) for the life of the object; throws when another
// process holds it (a second loyalty-install on the same branch).
class FileLock {
 public:
  explicit FileLock(const fs::path& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

// The absolute path of the running executable.
fs::path self_exe();

}  // namespace loyalty::installer

// A small filesystem of a test's own, to fill up: a tmpfs mounted in a private mount
// namespace of the test process (nothing else on the machine sees it or runs short of
// space), and a filler file that takes every byte left. Needs root (CAP_SYS_ADMIN), as CI
// runs; callers skip, saying why, without. Used by tests/integration/disk_full_test.cc
// (the plugin) and tests/daemon/disk_full_test.cc (loyaltyd). Header-only test helper.
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace test_support {

// A tmpfs of `size` ("16m") mounted on `dir`, seen by this process only (and its children).
// Empty on success, else why not.
inline std::string mount_private_tmpfs(const std::string& dir, const std::string& size) {
  if (unshare(CLONE_NEWNS) != 0) return std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return std::string("making / private: ") + std::strerror(errno);
  }
  const std::string options = "size=" + size + ",mode=0700";
  if (mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
    return std::string("mount tmpfs: ") + std::strerror(errno);
  }
  return {};
}

// Writes `path` until the filesystem refuses (ENOSPC): every byte left, down to 512.
// Returns the bytes written, -1 when the file cannot be created.
inline int64_t fill(const std::string& path) {
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  int64_t total = 0;
  const std::string chunk(64 << 10, 'x');
  for (size_t n = chunk.size(); n >= 512; n /= 2) {
    for (ssize_t w; (w = ::write(fd, chunk.data(), n)) > 0;) total += w;
  }
  ::close(fd);
  return total;
}

}  // namespace test_support

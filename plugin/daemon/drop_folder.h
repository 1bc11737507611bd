// The drop folder: POS systems that can only write files leave them in daemon.drop_dir.
//
//   *.xml          ARTS POSLog, through the poslog adapter ([adapters.poslog] mapping)
//   *.jsonl        contract JSON Lines, one request per line
//   *.json         one contract request
//
// Convention (docs/daemon.md): the POS writes under a name the watcher skips (starting
// with "." or ending in ".tmp" or ".part") and renames when the file is complete. As a
// second guard, a file is read only once its size and modification time have stayed the
// same across two polls.
//
// Each file is processed once, even across restarts: its name, size, mtime and SHA-256
// are recorded in drop_dir/.state/processed.json (written to a temporary file, synced,
// renamed) before the file moves, so a file found again after a crash between the two
// steps is moved without being sent twice. The file then moves to done/ with
// <name>.result.json (the ingest report) beside it, or to rejected/ with <name>.error.txt
// saying what was wrong: the adapter could not translate it, or no request in it was
// accepted.
//
// Polling rather than inotify: it also works on the network shares and bind mounts POS
// machines often write to, where inotify sees nothing, and a poll every second costs one
// directory listing.
//
// Thread-safety: poll_once() may be called from any thread (it serialises itself); start()
// runs it every drop_poll_ms on a thread of its own until stop().
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "app/service.h"
#include "config/settings.h"
#include "domain/result.h"

namespace spdlog {
class logger;
}

namespace loyalty::daemon {

class DropFolder {
 public:
  // The service, settings and logger outlive the folder.
  DropFolder(app::Service& service, const config::Settings& settings,
             std::shared_ptr<spdlog::logger> log);
  ~DropFolder();  // stop()
  DropFolder(const DropFolder&) = delete;
  DropFolder& operator=(const DropFolder&) = delete;

  // Creates done/, rejected/ and .state/ and reads the state. An unreadable state file is
  // set aside (processed.json.corrupt) and logged: files would at worst be sent again,
  // which the service's idempotency makes harmless.
  domain::Status open();
  void start();
  void stop();

  // One scan: files stable since the previous scan are processed.
  void poll_once();

  // Counters since open(), for tests and the log.
  uint64_t processed() const { return processed_; }
  uint64_t duplicates() const { return duplicates_; }
  // Tests: called with the file's name after its bytes were read, before they are sent (to
  // change the file while it is processed).
  void set_after_read_for_tests(std::function<void(const std::string&)> f) { after_read_ = std::move(f); }

 private:
  struct Seen {
    uintmax_t size = 0;
    int64_t mtime_ns = 0;
    bool operator==(const Seen&) const = default;
  };
  // One processed file, as kept in .state/processed.json.
  struct Record {
    std::string name;
    uintmax_t size = 0;
    int64_t mtime_ns = 0;
    std::string sha256;
    std::string outcome;  // "done" or "rejected": where the file went
    int64_t at_ms = 0;    // when it was processed
  };

  void process(const std::string& name, const Seen& seen);
  static std::optional<Seen> seen_now(const std::filesystem::path& path);
  bool save_state();

  app::Service& service_;
  const config::Settings& settings_;
  std::shared_ptr<spdlog::logger> log_;
  const std::string dir_;

  std::mutex poll_mu_;                      // one scan at a time
  std::map<std::string, Seen> candidates_;  // seen once, waiting to be seen unchanged
  std::map<std::string, Record> state_;     // by name|size|mtime_ns|sha256
  std::atomic<uint64_t> processed_{0};
  std::atomic<uint64_t> duplicates_{0};

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_requested_ = false;
  std::thread thread_;
  std::function<void(const std::string&)> after_read_;
};

}  // namespace loyalty::daemon

#include "daemon/drop_folder.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>
#include <vector>

#include "adapters/adapter.h"
#include "app/ingest.h"
#include "daemon/http_api.h"
#include "protocol/canonical.h"

namespace loyalty::daemon {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kDoneDir = "done";
constexpr const char* kRejectedDir = "rejected";
constexpr const char* kStateDir = ".state";
constexpr const char* kStateFile = "processed.json";
constexpr size_t kMaxStateEntries = 20'000;        // oldest forgotten first
constexpr uintmax_t kMaxFileBytes = 256ull << 20;  // larger files are rejected unread

enum class Kind { kNone = 0, kPoslog = 1, kJsonLines = 2, kJsonDocument = 3 };

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// What a name in the drop folder is; kNone for names the watcher leaves alone.
Kind kind_of(const std::string& name) {
  const std::string l = lower(name);
  if (l.empty() || l.front() == '.' || ends_with(l, ".tmp") || ends_with(l, ".part")) {
    return Kind::kNone;  // still being written (see the convention in the header)
  }
  if (ends_with(l, ".xml")) {
    return Kind::kPoslog;
  }
  if (ends_with(l, ".jsonl")) {
    return Kind::kJsonLines;
  }
  if (ends_with(l, ".json")) {
    return Kind::kJsonDocument;
  }
  return Kind::kNone;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string state_key(const std::string& name, uintmax_t size, int64_t mtime_ns,
                      const std::string& sha256) {
  return name + "|" + std::to_string(size) + "|" + std::to_string(mtime_ns) + "|" + sha256;
}

// Writes `text` to `path` so that a reader sees the old file or the whole new one, never
// a part: a temporary file, fsync, rename, fsync of the directory. Returns "" or why not.
std::string write_atomically(const fs::path& path, std::string_view text) {
  const fs::path tmp = path.parent_path() / ("." + path.filename().string() + ".tmp");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return "open " + tmp.string() + ": " + std::strerror(errno);
  }
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const std::string why = "write " + tmp.string() + ": " + std::strerror(errno);
      ::close(fd);
      return why;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const std::string why = "fsync " + tmp.string() + ": " + std::strerror(errno);
    ::close(fd);
    return why;
  }
  if (::close(fd) != 0) {
    return "close " + tmp.string() + ": " + std::strerror(errno);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return "rename to " + path.string() + ": " + std::strerror(errno);
  }
  const int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);  // best effort: the rename is already visible
    ::close(dir);
  }
  return "";
}

// `dir/name`, or `dir/<stem>-<n><ext>` when that is taken: nothing in done/ or rejected/
// is ever overwritten.
fs::path free_destination(const fs::path& dir, const std::string& name) {
  fs::path candidate = dir / name;
  const fs::path p(name);
  for (int n = 1; fs::exists(candidate); ++n) {
    candidate = dir / (p.stem().string() + "-" + std::to_string(n) + p.extension().string());
  }
  return candidate;
}

// One line per refused request: "line 2: invalid_json: not valid JSON: ...".
std::string describe_failures(const app::IngestReport& report) {
  std::string text;
  for (const app::IngestedEvent& e : report.events) {
    if (e.code == 0) {
      continue;
    }
    const json doc = json::parse(e.response_json, nullptr, false);
    const json error = doc.is_object() ? doc.value("error", json::object()) : json::object();
    const std::string where = e.provenance.locator.empty() ? "the file" : e.provenance.locator;
    const std::string field = error.is_object() ? error.value("field", "") : "";
    text += where + ": " + (error.is_object() ? error.value("code", "error") : "error") +
            (field.empty() ? "" : " at " + field) + ": " +
            (error.is_object() ? error.value("message", "") : "") + "\n";
  }
  return text;
}

}  // namespace

DropFolder::DropFolder(app::Service& service, const config::Settings& settings,
                       std::shared_ptr<spdlog::logger> log)
    : service_(service),
      settings_(settings),
      log_(std::move(log)),
      dir_(settings.daemon.drop_dir) {}

DropFolder::~DropFolder() { stop(); }

domain::Status DropFolder::open() {
  std::error_code ec;
  for (const char* sub : {kDoneDir, kRejectedDir, kStateDir}) {
    fs::create_directories(fs::path(dir_) / sub, ec);
    if (ec) {
      return domain::make_error(
          domain::ErrorCode::kUnavailable, "daemon.drop_dir",
          "cannot create " + (fs::path(dir_) / sub).string() + ": " + ec.message());
    }
  }
  const fs::path state_path = fs::path(dir_) / kStateDir / kStateFile;
  if (!fs::exists(state_path, ec)) {
    return domain::ok_status();
  }
  std::ifstream in(state_path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  const json doc = json::parse(text.str(), nullptr, false);
  if (!doc.is_object() || !doc.contains("files") || !doc["files"].is_array()) {
    const fs::path aside = state_path.string() + ".corrupt";
    fs::rename(state_path, aside, ec);
    log_->error("drop folder: {} is unreadable{}; set aside as {}, starting afresh",
                state_path.string(), ec ? " (" + ec.message() + ")" : "", aside.string());
    return domain::ok_status();
  }
  for (const json& f : doc["files"]) {
    if (!f.is_object()) {
      continue;
    }
    Record r{f.value("name", ""),   f.value("size", uintmax_t{0}), f.value("mtime_ns", int64_t{0}),
             f.value("sha256", ""), f.value("outcome", kDoneDir),  f.value("at_ms", int64_t{0})};
    if (r.outcome != kDoneDir && r.outcome != kRejectedDir) {
      r.outcome = kDoneDir;  // never move a file anywhere but the two folders
    }
    state_[state_key(r.name, r.size, r.mtime_ns, r.sha256)] = std::move(r);
  }
  log_->info("drop folder {}: {} files remembered", dir_, state_.size());
  return domain::ok_status();
}

void DropFolder::start() {
  thread_ = std::thread([this] {
    const auto period = std::chrono::milliseconds(settings_.daemon.drop_poll_ms);
    std::unique_lock lock(stop_mu_);
    while (!stop_requested_) {
      lock.unlock();
      poll_once();
      lock.lock();
      stop_cv_.wait_for(lock, period, [this] { return stop_requested_; });
    }
  });
}

void DropFolder::stop() {
  {
    std::lock_guard lock(stop_mu_);
    stop_requested_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void DropFolder::poll_once() {
  std::lock_guard lock(poll_mu_);
  std::error_code ec;
  std::map<std::string, Seen> now;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (kind_of(name) == Kind::kNone) {
      continue;
    }
    // Regular files only: a folder, a file gone since the listing, and a symbolic link (not a
    // POS's file: followed, it pulled whatever the daemon could read, its token or the admin
    // password file, into the quarantine) are left alone.
    if (auto s = seen_now(it->path())) now[name] = *s;
  }
  if (ec) {
    log_->warn("drop folder {}: cannot list: {}", dir_, ec.message());
    return;
  }
  std::map<std::string, Seen> next;
  for (const auto& [name, seen] : now) {
    const auto before = candidates_.find(name);
    if (before != candidates_.end() && before->second == seen) {
      process(name, seen);  // unchanged across two polls: complete
    } else {
      next[name] = seen;  // new or still changing: look again next time
    }
  }
  candidates_ = std::move(next);
}

// Size and modification time (nanoseconds since 1970: file_clock's own epoch is not the
// Unix one, and the state file showed negative times) of a regular file, not following a
// symbolic link; nothing when there is none.
std::optional<DropFolder::Seen> DropFolder::seen_now(const fs::path& path) {
  std::error_code ec;
  const auto st = fs::symlink_status(path, ec);
  if (ec || !fs::is_regular_file(st)) return std::nullopt;
  Seen s;
  s.size = fs::file_size(path, ec);
  if (ec) return std::nullopt;
  const auto mtime = fs::last_write_time(path, ec);
  if (ec) return std::nullopt;
  s.mtime_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::file_clock::to_sys(mtime).time_since_epoch())
                   .count();
  return s;
}

void DropFolder::process(const std::string& name, const Seen& seen) {
  const fs::path path = fs::path(dir_) / name;
  const Kind kind = kind_of(name);
  std::string bytes;
  if (seen.size > kMaxFileBytes) {
    log_->warn("drop folder: {} has {} bytes, more than {}", name, seen.size, kMaxFileBytes);
  } else {
    // O_NOFOLLOW: a file replaced by a link since the listing is not followed either.
    const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      log_->warn("drop folder: cannot read {}: {}; will retry", name, std::strerror(errno));
      return;
    }
    bytes.resize(static_cast<size_t>(seen.size) + 1);
    size_t got = 0;
    for (ssize_t n; got < bytes.size() && (n = ::read(fd, bytes.data() + got, bytes.size() - got)) != 0;) {
      if (n < 0) {
        if (errno == EINTR) continue;
        break;
      }
      got += static_cast<size_t>(n);
    }
    ::close(fd);
    if (got != seen.size) {
      return;  // changed while being read: it is seen afresh on the next polls
    }
    bytes.resize(got);
  }
  if (after_read_) after_read_(name);
  const std::string sha = protocol::sha256_hex(bytes);
  const std::string key = state_key(name, seen.size, seen.mtime_ns, sha);

  std::error_code ec;
  if (auto it = state_.find(key); it != state_.end()) {
    // Sent before (a crash between recording and moving, or the same file dropped again):
    // finish the move without sending anything.
    const fs::path dest = free_destination(fs::path(dir_) / it->second.outcome, name);
    fs::rename(path, dest, ec);
    ++duplicates_;
    log_->info("drop folder: {} was already processed ({}); moved to {}{}", name,
               it->second.outcome, dest.string(), ec ? " failed: " + ec.message() : "");
    return;
  }

  std::string outcome = kDoneDir;
  std::string side_suffix = ".result.json";
  std::string side_text;
  std::optional<app::IngestReport> report;
  if (seen.size > kMaxFileBytes) {
    outcome = kRejectedDir;
    side_text = "the file has " + std::to_string(seen.size) + " bytes; the limit is " +
                std::to_string(kMaxFileBytes) + "\n";
  } else if (kind == Kind::kPoslog) {
    const adapters::Adapter* poslog = adapters::find_adapter("poslog");
    auto r =
        app::ingest(service_, *poslog, bytes, mapping_for(settings_, "poslog"), "poslog:" + name);
    if (!r) {
      outcome = kRejectedDir;
      const domain::Error& e = r.error();
      side_text = "the poslog adapter could not translate the file: " +
                  std::string(domain::error_code_word(e.code)) +
                  (e.field.empty() ? "" : " at " + e.field) + ": " + e.message + "\n";
    } else {
      report = std::move(*r);
    }
  } else {
    report = app::ingest_jsonl(
        service_, bytes, "json:" + name,
        kind == Kind::kJsonLines ? app::JsonFraming::kLines : app::JsonFraming::kOneDocument);
  }
  if (report) {
    if (!report->events.empty() && report->failed() == report->events.size()) {
      outcome = kRejectedDir;  // nothing in it was taken
      side_text = "no request in the file was accepted:\n" + describe_failures(*report);
    } else {
      side_text = app::encode_report(*report);
    }
  }
  if (outcome == kRejectedDir) {
    side_suffix = ".error.txt";
  }

  // A writer that paused longer than two polls finished the file after it was read: moved
  // now, the complete file sat in rejected/ beside an error about the half that was read.
  // It is left where it is, unrecorded, and read again once it is still (what was sent of
  // it is harmless to send again: the requests' ids make it so).
  if (seen_now(path) != std::optional<Seen>(seen)) {
    log_->warn("drop folder: {} changed while it was processed; it will be read again", name);
    return;
  }
  const fs::path dest = free_destination(fs::path(dir_) / outcome, name);
  if (const std::string why = write_atomically(dest.string() + side_suffix, side_text);
      !why.empty()) {
    log_->error("drop folder: {}: cannot write its {}: {}; will retry", name, side_suffix, why);
    return;
  }
  state_[key] = Record{name, seen.size, seen.mtime_ns, sha, outcome, now_ms()};
  if (!save_state()) {
    state_.erase(key);
    return;  // logged; the file stays and is retried (the service makes that harmless)
  }
  fs::rename(path, dest, ec);
  if (ec) {
    log_->error("drop folder: cannot move {} to {}: {}", name, dest.string(), ec.message());
    return;
  }
  ++processed_;
  if (report) {
    log_->info("drop folder: {} -> {} ({} requests, {} failed, {} skipped)", name, outcome,
               report->events.size(), report->failed(), report->skipped.size());
  } else {
    log_->warn("drop folder: {} -> {}: {}", name, outcome, side_text);
  }
}

bool DropFolder::save_state() {
  if (state_.size() > kMaxStateEntries) {
    std::vector<std::pair<int64_t, std::string>> by_age;
    for (const auto& [key, r] : state_) {
      by_age.emplace_back(r.at_ms, key);
    }
    std::sort(by_age.begin(), by_age.end());
    for (size_t i = 0; i + kMaxStateEntries < by_age.size(); ++i) {
      state_.erase(by_age[i].second);
    }
  }
  json files = json::array();
  for (const auto& [key, r] : state_) {
    files.push_back({{"name", r.name},
                     {"size", r.size},
                     {"mtime_ns", r.mtime_ns},
                     {"sha256", r.sha256},
                     {"outcome", r.outcome},
                     {"at_ms", r.at_ms}});
  }
  const json doc = {{"version", 1}, {"files", std::move(files)}};
  const fs::path path = fs::path(dir_) / kStateDir / kStateFile;
  if (const std::string why = write_atomically(path, doc.dump(1)); !why.empty()) {
    log_->error("drop folder: cannot save {}: {}", path.string(), why);
    return false;
  }
  return true;
}

}  // namespace loyalty::daemon

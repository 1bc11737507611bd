#include "branch_install.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "ledger_copy.h"
#include "sys.h"

namespace loyalty::installer {

namespace {

using nlohmann::json;

// What a package holds, found in a staged install tree (cmake --install, an extracted
// .tar.gz or .deb). Paths are absolute.
struct Payload {
  fs::path top;
  fs::path lib;        // lib/libloyalty.so or lib/<triplet>/libloyalty.so (symlinks resolved)
  fs::path probe;      // bin/loyalty-probe
  fs::path ctl;        // bin/loyaltyctl
  fs::path daemon;     // sbin/loyaltyd (optional)
  fs::path installer;  // bin/loyalty-install (optional)
  fs::path share;      // share/loyalty (optional)
  std::string version;
};

// An extracted .tar.gz, removed when the install ends.
struct TempDir {
  fs::path path;
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

// SIGTERM, SIGHUP (an ssh session that dropped) and SIGINT while an install runs: the
// install stops at the end of the step it is in and rolls back like any failure, so the
// service is started again and no half-written file is left. They killed it mid-way: a
// POS stopped for good, and temporary files behind.
std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int sig) { g_stop_signal.store(sig); }

class StopSignals {
 public:
  StopSignals() {
    g_stop_signal.store(0);
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;  // the installer's reads and waits go on; the step ends normally
    for (size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &sa, &old_[i]);
  }
  ~StopSignals() {
    for (size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &old_[i], nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  static constexpr std::array<int, 3> kSignals = {SIGTERM, SIGHUP, SIGINT};
  std::array<struct sigaction, 3> old_{};
};

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// Why a command failed: what it wrote on stderr, else how it ended. A probe killed by SIGBUS
// (a truncated library) and a start_command that exits 1 silently gave "failed: " and
// nothing more.
std::string why_failed(const ProcessResult& r) {
  std::string why = trim(r.err);
  const std::string ended = r.exit_code > 128 ? "killed by signal " + std::to_string(r.exit_code - 128) + " (" +
                                                    strsignal(r.exit_code - 128) + ")"
                                              : "exit status " + std::to_string(r.exit_code);
  return why.empty() ? ended : why + " (" + ended + ")";
}

fs::path find_lib(const fs::path& top) {
  std::vector<fs::path> candidates = {top / "lib" / "libloyalty.so"};
  std::error_code ec;
  if (fs::is_directory(top / "lib")) {
    for (const auto& e : fs::directory_iterator(top / "lib", ec)) {
      if (e.is_directory()) candidates.push_back(e.path() / "libloyalty.so");
    }
  }
  for (const auto& c : candidates) {
    if (fs::exists(c)) return fs::canonical(c);
  }
  throw InstallError("the package " + top.string() + " has no lib/libloyalty.so");
}

Payload read_payload(fs::path top, const std::string& version_override) {
  Payload p;
  // A tarball made by cpack holds one folder (loyalty-0.2.0-Linux/); so may a staged folder.
  if (!fs::exists(top / "bin") && !fs::exists(top / "lib")) {
    std::vector<fs::path> dirs;
    for (const auto& e : fs::directory_iterator(top)) {
      if (e.is_directory()) dirs.push_back(e.path());
    }
    if (dirs.size() == 1) top = dirs[0];
    // A deb-style tree: usr/.
    if (fs::exists(top / "usr" / "bin")) top = top / "usr";
  }
  p.top = fs::absolute(top);
  p.lib = find_lib(p.top);
  p.probe = p.top / "bin" / "loyalty-probe";
  p.ctl = p.top / "bin" / "loyaltyctl";
  for (const auto& required : {p.probe, p.ctl}) {
    if (!fs::exists(required))
      throw InstallError("the package " + p.top.string() + " has no " + required.string());
  }
  if (fs::exists(p.top / "sbin" / "loyaltyd")) p.daemon = p.top / "sbin" / "loyaltyd";
  if (fs::exists(p.top / "bin" / "loyalty-install"))
    p.installer = p.top / "bin" / "loyalty-install";
  if (fs::is_directory(p.top / "share" / "loyalty")) p.share = p.top / "share" / "loyalty";
  p.version = version_override;
  if (p.version.empty()) {
    const fs::path vf = p.top / "share" / "loyalty" / "VERSION";
    if (!fs::exists(vf))
      throw InstallError("the package has no share/loyalty/VERSION; pass --version");
    p.version = trim(read_file(vf));
  }
  if (p.version.empty() || p.version.find_first_of("/ \t\n") != std::string::npos ||
      p.version[0] == '.') {
    throw InstallError("bad version label '" + p.version + "'");
  }
  return p;
}

std::optional<fs::path> link_target(const fs::path& link) {
  std::error_code ec;
  if (!fs::is_symlink(fs::symlink_status(link, ec))) return std::nullopt;
  fs::path t = fs::read_symlink(link, ec);
  if (ec) return std::nullopt;
  return t;
}

std::string file_or_empty(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec) ? read_file(p) : std::string();
}

void remove_quietly(const fs::path& p) {
  std::error_code ec;
  fs::remove(p, ec);
}

class Installer {
 public:
  explicit Installer(const InstallOptions& o) : o_(o) {}

  json execute() {
    StopSignals signals;
    report_ = {{"branch", o_.branch}, {"root", o_.root.string()}, {"steps", json::array()}};
    try {
      prepare();
    } catch (const std::exception& e) {
      return finish("refused", kExitRefused, e.what());
    }
    if (o_.dry_run) return plan();
    std::optional<FileLock> lock;
    try {
      for (const char* d : {"versions", "etc", "backups"}) fs::create_directories(root_ / d);
      fs::create_directories(db_.parent_path());
      lock.emplace(o_.root / ".lock");
      if (already_installed()) return finish("unchanged", kExitOk, "");
    } catch (const std::exception& e) {
      return finish("refused", kExitRefused, e.what());
    }
    try {
      apply();
      return finish("installed", kExitOk, "");
    } catch (const std::exception& e) {
      const std::string error = e.what();
      o_.log("failed: " + error + "; rolling back");
      try {
        rollback();
        report_["rolled_back"] = true;
        return finish("rolled_back", kExitRolledBack, error);
      } catch (const std::exception& r) {
        report_["rollback_error"] = r.what();
        return finish("rollback_failed", kExitRollbackFailed, error);
      }
    }
  }

 private:
  // ---- checks that change nothing ----------------------------------------------------
  void prepare() {
    if (o_.branch.empty()) throw InstallError("no branch id (--branch)");
    if (o_.root.empty()) throw InstallError("no branch root (--root)");
    root_ = fs::absolute(o_.root).lexically_normal();
    report_["root"] = root_.string();
    step("check", [&] {
      fs::path pkg = o_.package;
      if (pkg.empty()) throw InstallError("no package (--package)");
      if (!fs::exists(pkg)) throw InstallError("package " + pkg.string() + " does not exist");
      if (fs::is_regular_file(pkg)) {
        char tmpl[] = "/tmp/loyalty-install.XXXXXX";
        if (mkdtemp(tmpl) == nullptr) throw InstallError("cannot create a temporary folder");
        extracted_.path = tmpl;
        auto r = run({"tar", "-xf", fs::absolute(pkg).string(), "-C", extracted_.path.string()});
        if (r.exit_code != 0)
          throw InstallError("cannot extract " + pkg.string() + ": " + trim(r.err));
        pkg = extracted_.path;
      }
      payload_ = read_payload(pkg, o_.version);
      report_["version"] = payload_.version;

      values_ = o_.values;
      values_["branch"] = o_.branch;
      values_["root"] = root_.string();
      if (!values_.count("db")) values_["db"] = (root_ / "data" / "ledger.db").string();
      auto pd = values_.find("plugin_dir");
      if (pd == values_.end() || pd->second.empty()) {
        throw InstallError("no plugin folder: give the value plugin_dir (the POS's plugin folder)");
      }
      plugin_dir_ = fs::absolute(pd->second).lexically_normal();
      if (!fs::is_directory(plugin_dir_)) {
        throw InstallError("the POS plugin folder " + plugin_dir_.string() + " does not exist");
      }
      if (access(plugin_dir_.c_str(), W_OK) != 0) {
        throw InstallError("the POS plugin folder " + plugin_dir_.string() + " is not writable");
      }
      const std::string url = values_.count("sync_url") ? values_["sync_url"] : "";
      token_ = values_.count("sync_token") ? values_["sync_token"] : "";
      if (!o_.sync_token_file.empty()) token_ = trim(read_file(o_.sync_token_file));
      if (!url.empty() && token_.empty()) {
        throw InstallError("sync_url is given but no hub token (sync_token or --sync-token-file)");
      }
      if (url.empty() && !token_.empty())
        throw InstallError("a hub token is given without sync_url");
      values_.erase("sync_token");  // never rendered into the config

      fs::path tpl = o_.template_path;
      if (tpl.empty()) {
        if (payload_.share.empty() || !fs::exists(payload_.share / "loyalty.toml.in")) {
          throw InstallError("no template (--template) and none in the package");
        }
        tpl = payload_.share / "loyalty.toml.in";
      }
      config_ = render_config(read_file(tpl), values_, tpl.filename().string());

      const fs::path db(values_["db"]);
      db_ = db.is_absolute() ? db : (root_ / "etc" / db).lexically_normal();
      report_["db"] = db_.string();
      lib_sha_ = sha256_file(payload_.lib);
    });
    if (auto cur = link_target(root_ / "current")) {
      old_current_ = cur;
      report_["previous_version"] = cur->filename().string();
    }
  }

  json plan() {
    json steps = json::array();
    const std::string v = payload_.version;
    steps.push_back("stage " + payload_.top.string() + " as " + (root_ / "versions" / v).string());
    steps.push_back("render " + (root_ / "etc" / "loyalty.toml").string() + " for branch " +
                    o_.branch);
    if (!token_.empty())
      steps.push_back("write the hub token to " + (root_ / "etc" / kTokenFile).string() +
                      " (0600)");
    steps.push_back("stop the service: " + service_note());
    steps.push_back(fs::exists(db_)
                        ? "back up " + db_.string() + " to " + (root_ / "backups").string() +
                              "/<time>/"
                        : "no ledger yet at " + db_.string() + " (the new version creates it)");
    steps.push_back(
        "open the ledger with the new libloyalty.so (pending migrations run) and query a balance");
    steps.push_back("loyaltyctl verify with the new version");
    steps.push_back("switch current -> versions/" + v + " and " +
                    (plugin_dir_ / "libloyalty.so").string() + " -> current/lib/libloyalty.so");
    steps.push_back("start the service; probe through the plugin folder");
    report_["plan"] = steps;
    report_["config"] = config_;
    return finish("planned", kExitOk, "");
  }

  bool already_installed() {
    const fs::path vdir = root_ / "versions" / payload_.version;
    if (!old_current_ || old_current_->filename() != payload_.version) return false;
    const fs::path marker = vdir / ".installed";
    if (!fs::exists(marker)) return false;
    json m = json::parse(read_file(marker), nullptr, false);
    if (m.is_discarded() || m.value("lib_sha256", "") != lib_sha_) return false;
    // The library on disk, not only its record: a damaged file failed the probe below and
    // was reported as a refusal (exit 2, "bad arguments").
    if (sha256_file(vdir / "lib" / "libloyalty.so") != lib_sha_) {
      throw InstallError("versions/" + payload_.version +
                         "/lib/libloyalty.so is damaged: its SHA-256 is not the one recorded when it was "
                         "installed; install this build under a new version label to replace it");
    }
    if (file_or_empty(root_ / "etc" / "loyalty.toml") != config_) return false;
    if (trim(file_or_empty(root_ / "etc" / kTokenFile)) != token_) return false;
    auto pl = link_target(plugin_dir_ / "libloyalty.so");
    if (!pl || *pl != root_ / "current" / "lib" / "libloyalty.so") return false;
    // Still prove it: the same probe a fresh install ends with.
    json probe;
    step("probe", [&] {
      probe = run_probe(plugin_dir_ / "libloyalty.so", vdir / "bin" / "loyalty-probe",
                        root_ / "etc" / "loyalty.toml");
    });
    report_["probe"] = probe;
    report_["serving"] = payload_.version;
    o_.log("version " + payload_.version + " is already installed and answers");
    return true;
  }

  // ---- the steps that change the branch ----------------------------------------------
  void apply() {
    const fs::path vdir = root_ / "versions" / payload_.version;
    step("stage", [&] { stage(vdir); });
    step("render", [&] {
      write_file_atomic(root_ / "etc" / "loyalty.toml.new", config_, 0644);
      // The new version is proved before the switch, with the new config and token: a
      // [sync] section makes loyalty_open read the token, so the probe's copy of the config
      // names the staged token.
      std::string probe_config = config_;
      if (!token_.empty()) {
        write_file_atomic(root_ / "etc" / (std::string(kTokenFile) + ".new"), token_ + "\n", 0600);
        const std::string named = std::string("token_file = \"") + kTokenFile + "\"";
        if (auto at = probe_config.find(named); at != std::string::npos) {
          probe_config.replace(at, named.size(), std::string("token_file = \"") + kTokenFile + ".new\"");
        }
      }
      write_file_atomic(root_ / "etc" / "loyalty.toml.probe", probe_config, 0644);
    });
    step("stop", [&] { stop_service(); });
    step("backup", [&] {
      backup_dir_ = root_ / "backups" / timestamp_utc();
      fs::create_directories(backup_dir_);
      report_["backup"] = backup_dir_.string();
      schema_before_ = ledger_schema_version(db_);
      report_["schema_before"] = schema_before_;
      if (schema_before_ >= 0) backup_ledger(db_, backup_dir_ / "ledger.db");
      for (const char* f : {"loyalty.toml", kTokenFile}) {
        if (fs::exists(root_ / "etc" / f)) fs::copy_file(root_ / "etc" / f, backup_dir_ / f);
      }
      json state = {{"current", old_current_ ? old_current_->string() : ""}};
      if (auto pl = link_target(plugin_dir_ / "libloyalty.so")) state["plugin_link"] = pl->string();
      write_file_atomic(backup_dir_ / "state.json", state.dump(2) + "\n");
      backed_up_ = true;
    });
    step("migrate", [&] {
      touched_ledger_ = true;
      report_["probe_new"] =
          run_probe(vdir / "lib" / "libloyalty.so", vdir / "bin" / "loyalty-probe",
                    root_ / "etc" / "loyalty.toml.probe");
      report_["schema_after"] = ledger_schema_version(db_);
    });
    step("verify", [&] {
      auto r = run({(vdir / "bin" / "loyaltyctl").string(), "-c",
                    (root_ / "etc" / "loyalty.toml.probe").string(), "verify", "--json"});
      if (r.exit_code != 0) {
        json v = json::parse(r.out, nullptr, false);
        std::string why = trim(r.err);
        if (!v.is_discarded() && v.contains("problems")) why = v["problems"].dump();
        throw InstallError("loyaltyctl verify of the migrated ledger failed: " + why);
      }
    });
    step("switch", [&] {
      switched_ = true;
      remove_quietly(root_ / "etc" / "loyalty.toml.probe");
      fs::rename(root_ / "etc" / "loyalty.toml.new", root_ / "etc" / "loyalty.toml");
      const fs::path tok = root_ / "etc" / kTokenFile;
      if (!token_.empty()) {
        fs::rename(root_ / "etc" / (std::string(kTokenFile) + ".new"), tok);
      } else {
        remove_quietly(tok);
      }
      if (old_current_ && old_current_->filename() != payload_.version) {
        old_previous_ = link_target(root_ / "previous");
        moved_previous_ = true;
        symlink_atomic(*old_current_, root_ / "previous");
      }
      symlink_atomic(fs::path("versions") / payload_.version, root_ / "current");
      const fs::path pl = plugin_dir_ / "libloyalty.so";
      std::error_code ec;
      if (fs::exists(fs::symlink_status(pl, ec)) && !fs::is_symlink(fs::symlink_status(pl, ec))) {
        // A library someone copied in by hand: keep it with the backup.
        fs::copy_file(pl, backup_dir_ / "plugin-libloyalty.so");
      }
      symlink_atomic(root_ / "current" / "lib" / "libloyalty.so", pl);
    });
    step("start", [&] { start_service(); });
    step("probe", [&] {
      json probe = run_probe(plugin_dir_ / "libloyalty.so", vdir / "bin" / "loyalty-probe",
                             root_ / "etc" / "loyalty.toml");
      const fs::path want = fs::canonical(vdir / "lib" / "libloyalty.so");
      if (probe.value("so", "") != want.string()) {
        throw InstallError("the plugin folder serves " + probe.value("so", "?") + ", not " +
                           want.string());
      }
      report_["probe"] = probe;
    });
    step("record", [&] {
      json marker = {{"version", payload_.version},
                     {"lib_sha256", lib_sha_},
                     {"installed_from", payload_.top.string()}};
      write_file_atomic(vdir / ".installed", marker.dump(2) + "\n");
      report_["serving"] = payload_.version;
      prune();
    });
  }

  void stage(const fs::path& vdir) {
    if (fs::exists(vdir)) {
      json m = json::parse(file_or_empty(vdir / ".installed"), nullptr, false);
      // Staged before by a run that stopped later (killed after the switch, before the
      // record): no marker yet, but the same library. Reused, the run finishes the job; it
      // was refused as "different contents" and rolled back to the very same version.
      const bool same = !m.is_discarded() ? m.value("lib_sha256", "") == lib_sha_
                                          : fs::exists(vdir / "lib" / "libloyalty.so") &&
                                                sha256_file(vdir / "lib" / "libloyalty.so") == lib_sha_;
      if (same) return;  // staged before (an earlier run stopped later): reuse
      if (old_current_ && old_current_->filename() == payload_.version) {
        throw InstallError(
            "version " + payload_.version +
            " is installed with different contents; give the new build a new version");
      }
      fs::remove_all(vdir);
    }
    // Our own extraction of a tarball is deleted afterwards: hard links are safe then.
    const bool link = o_.hardlink || !extracted_.path.empty();
    const fs::path tmp =
        root_ / "versions" / (".staging-" + payload_.version + "-" + std::to_string(getpid()));
    fs::remove_all(tmp);
    for (const char* d : {"lib", "bin", "sbin", "share/loyalty"}) fs::create_directories(tmp / d);
    copy_or_link(payload_.lib, tmp / "lib" / "libloyalty.so", link);
    copy_or_link(payload_.probe, tmp / "bin" / "loyalty-probe", link);
    copy_or_link(payload_.ctl, tmp / "bin" / "loyaltyctl", link);
    if (!payload_.installer.empty())
      copy_or_link(payload_.installer, tmp / "bin" / "loyalty-install", link);
    if (!payload_.daemon.empty()) copy_or_link(payload_.daemon, tmp / "sbin" / "loyaltyd", link);
    if (!payload_.share.empty()) {
      for (const auto& e : fs::directory_iterator(payload_.share)) {
        if (e.is_regular_file())
          copy_or_link(e.path(), tmp / "share" / "loyalty" / e.path().filename(), link);
      }
    }
    // The marker is written after the new version was proven (step record); until then a
    // staged version without it is restaged by the next run.
    fs::rename(tmp, vdir);
    staged_new_ = true;
  }

  json run_probe(const fs::path& so, const fs::path& probe, const fs::path& config) {
    std::vector<std::string> argv = {probe.string(), "--so", so.string(), "--config",
                                     config.string()};
    if (values_.count("probe_customer")) {
      argv.push_back("--customer");
      argv.push_back(values_["probe_customer"]);
    }
    auto r = run(argv);
    json j = json::parse(r.out, nullptr, false);
    if (r.exit_code != 0 || j.is_discarded() || !j.value("ok", false)) {
      std::string why = j.is_discarded()
                            ? why_failed(r)
                            : j.value("failed_step", "?") + ": " + j.value("error", "");
      throw InstallError("probe of " + so.string() + " failed: " + why);
    }
    return j;
  }

  // ---- the service ---------------------------------------------------------------------
  std::string service_note() {
    if (values_.count("stop_command")) return "runs stop_command";
    if (values_.count("service")) return "systemctl stop " + values_["service"] + " (when active)";
    return "none configured (the POS loads the new library when it restarts)";
  }

  void stop_service() {
    if (values_.count("stop_command")) {
      auto r = run({"/bin/sh", "-c", values_["stop_command"]});
      if (r.exit_code != 0) throw InstallError("stop_command failed: " + why_failed(r));
      stopped_ = true;
      return;
    }
    if (values_.count("service")) {
      const std::string unit = values_["service"];
      if (run({"sh", "-c", "command -v systemctl"}).exit_code != 0) {
        note("no systemctl on this machine: " + unit + " not stopped");
        return;
      }
      if (run({"systemctl", "is-active", "--quiet", unit}).exit_code != 0) {
        note(unit + " is not running");
        return;
      }
      auto r = run({"systemctl", "stop", unit});
      if (r.exit_code != 0)
        throw InstallError("systemctl stop " + unit + " failed: " + why_failed(r));
      stopped_ = true;
      return;
    }
    note("no service configured; skipped (the POS picks up the new library when it restarts)");
  }

  void start_service() {
    if (!stopped_) return;
    std::vector<std::string> argv =
        values_.count("start_command")
            ? std::vector<std::string>{"/bin/sh", "-c", values_["start_command"]}
            : std::vector<std::string>{"systemctl", "start", values_["service"]};
    if (values_.count("stop_command") && !values_.count("start_command")) return;
    auto r = run(argv);
    if (r.exit_code != 0) throw InstallError("starting the service failed: " + why_failed(r));
    stopped_ = false;
  }

  // ---- rollback ------------------------------------------------------------------------
  void rollback() {
    rolling_back_ = true;  // a stop signal no longer interrupts: the rollback runs to its end
    const auto t0 = std::chrono::steady_clock::now();
    remove_quietly(root_ / "etc" / "loyalty.toml.new");
    remove_quietly(root_ / "etc" / "loyalty.toml.probe");
    remove_quietly(root_ / "etc" / (std::string(kTokenFile) + ".new"));
    if (switched_) {
      for (const char* f : {"loyalty.toml", kTokenFile}) {
        if (fs::exists(backup_dir_ / f)) {
          write_file_atomic(root_ / "etc" / f, read_file(backup_dir_ / f),
                            std::string(f) == kTokenFile ? 0600 : 0644);
        } else {
          remove_quietly(root_ / "etc" / f);
        }
      }
      json state = json::parse(file_or_empty(backup_dir_ / "state.json"), nullptr, false);
      if (old_current_) {
        symlink_atomic(*old_current_, root_ / "current");
      } else {
        remove_quietly(root_ / "current");
      }
      // `previous` as it was (a first upgrade that failed left one pointing at current).
      if (moved_previous_) {
        if (old_previous_) {
          symlink_atomic(*old_previous_, root_ / "previous");
        } else {
          remove_quietly(root_ / "previous");
        }
      }
      const fs::path pl = plugin_dir_ / "libloyalty.so";
      if (!state.is_discarded() && state.contains("plugin_link")) {
        symlink_atomic(state["plugin_link"].get<std::string>(), pl);
      } else if (fs::exists(backup_dir_ / "plugin-libloyalty.so")) {
        remove_quietly(pl);
        fs::copy_file(backup_dir_ / "plugin-libloyalty.so", pl);
      } else {
        remove_quietly(pl);
      }
    }
    if (touched_ledger_) {
      const int64_t now = ledger_schema_version(db_);
      report_["schema_after"] = now;
      if (schema_before_ < 0) {
        // The failed version created the ledger: nothing was ever recorded in it.
        for (const char* s : {"", "-wal", "-shm", "-redo"}) remove_quietly(db_.string() + s);
        note("removed the ledger the new version created");
      } else if (now != schema_before_) {
        restore_ledger(backup_dir_ / "ledger.db", db_);
        report_["ledger_restored"] = true;
        note("restored the ledger from " + (backup_dir_ / "ledger.db").string());
      }
    }
    if (staged_new_) {
      std::error_code ec;
      fs::remove_all(root_ / "versions" / payload_.version, ec);
    }
    start_service();
    report_["serving"] = old_current_ ? old_current_->filename().string() : "";
    if (old_current_) {
      const fs::path old_dir = root_ / *old_current_;
      report_["probe_old"] =
          run_probe(plugin_dir_ / "libloyalty.so", old_dir / "bin" / "loyalty-probe",
                    root_ / "etc" / "loyalty.toml");
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - t0);
    report_["steps"].push_back({{"step", "rollback"}, {"ok", true}, {"ms", ms.count()}});
    o_.log("rolled back; serving " + report_["serving"].get<std::string>());
  }

  // Keeps current, previous and the newest other version; removes the rest.
  void prune() {
    std::vector<std::pair<fs::file_time_type, fs::path>> others;
    auto keep = [&](const fs::path& p) {
      const std::string n = p.filename().string();
      if (n == payload_.version) return true;
      auto prev = link_target(root_ / "previous");
      return prev && prev->filename() == n;
    };
    for (const auto& e : fs::directory_iterator(root_ / "versions")) {
      if (!e.is_directory() || keep(e.path())) continue;
      others.emplace_back(e.last_write_time(), e.path());
    }
    std::sort(others.rbegin(), others.rend());
    for (size_t i = 1; i < others.size(); ++i) {
      std::error_code ec;
      fs::remove_all(others[i].second, ec);
    }
  }

  // ---- bookkeeping -----------------------------------------------------------------------
  template <typename F>
  void step(const std::string& name, F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    o_.log(name + " ...");
    json s = {{"step", name}, {"ok", false}};
    try {
      f();
      if (o_.fail_at == name) {
        throw InstallError("injected failure after step " + name + " (LOYALTY_INSTALL_FAIL_AT)");
      }
      if (const int sig = g_stop_signal.load(); sig != 0 && !rolling_back_) {
        throw InstallError("stopped by signal " + std::to_string(sig) + " (" + strsignal(sig) + ") during step " +
                           name);
      }
      s["ok"] = true;
    } catch (...) {
      s["ms"] = ms_since(t0);
      if (!pending_note_.empty()) s["note"] = pending_note_;
      pending_note_.clear();
      report_["steps"].push_back(s);
      throw;
    }
    s["ms"] = ms_since(t0);
    if (!pending_note_.empty()) s["note"] = pending_note_;
    pending_note_.clear();
    report_["steps"].push_back(s);
  }

  static int64_t ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 t0)
        .count();
  }

  void note(const std::string& n) {
    pending_note_ += (pending_note_.empty() ? "" : "; ") + n;
    o_.log("  " + n);
  }

  json finish(const std::string& status, int code, const std::string& error) {
    report_["status"] = status;
    report_["exit_code"] = code;
    if (!error.empty()) report_["error"] = error;
    if (status != "planned" && status != "refused") {
      try {
        write_file_atomic(root_ / "state.json", report_.dump(2) + "\n");
      } catch (const std::exception& e) {
        report_["state_error"] = e.what();
      }
    }
    return report_;
  }

  const InstallOptions& o_;
  json report_;
  fs::path root_, plugin_dir_, db_, backup_dir_;
  TempDir extracted_;
  Payload payload_;
  Values values_;
  std::string token_, config_, lib_sha_, pending_note_;
  std::optional<fs::path> old_current_;
  int64_t schema_before_ = -1;
  bool backed_up_ = false, touched_ledger_ = false, switched_ = false, staged_new_ = false,
       stopped_ = false, rolling_back_ = false, moved_previous_ = false;
  std::optional<fs::path> old_previous_;
};

}  // namespace

nlohmann::json install_branch(const InstallOptions& options) {
  try {
    return Installer(options).execute();
  } catch (const std::exception& e) {
    return {{"branch", options.branch},
            {"status", "rollback_failed"},
            {"exit_code", kExitRollbackFailed},
            {"error", std::string("unexpected: ") + e.what()}};
  }
}

}  // namespace loyalty::installer

#include "rollout.h"

#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "branch_install.h"
#include "sys.h"

namespace loyalty::installer {

namespace {

using nlohmann::json;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/loyalty-rollout.XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw InstallError("cannot create a temporary folder");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// The package as the branches get it: a local folder (for local targets) and, when any
// target is remote, a tarball whose single top folder is `top`.
struct Bundle {
  fs::path folder;
  fs::path tarball;
  std::string top;
  bool extracted = false;  // folder is our own extraction: installs may hard-link from it
};

Bundle make_bundle(const Manifest& m, const fs::path& tmp, bool need_tarball) {
  Bundle b;
  if (m.package.empty()) throw InstallError("no package (manifest `package` or --package)");
  if (!fs::exists(m.package))
    throw InstallError("package " + m.package.string() + " does not exist");
  if (fs::is_regular_file(m.package)) {
    const fs::path x = tmp / "package";
    fs::create_directories(x);
    auto r = run({"tar", "-xf", m.package.string(), "-C", x.string()});
    if (r.exit_code != 0)
      throw InstallError("cannot extract " + m.package.string() + ": " + trim(r.err));
    std::vector<fs::path> dirs;
    for (const auto& e : fs::directory_iterator(x)) dirs.push_back(e.path());
    if (dirs.size() != 1 || !fs::is_directory(dirs[0])) {
      throw InstallError(m.package.string() +
                         ": expected one top folder in the tarball (as cpack makes)");
    }
    b.folder = dirs[0];
    b.extracted = true;
    b.tarball = m.package;
    b.top = dirs[0].filename().string();
    return b;
  }
  b.folder = fs::absolute(m.package);
  if (need_tarball) {
    b.top = b.folder.filename().string();
    // Uncompressed: packing ~50 MB with gzip costs seconds, the copy over a LAN less.
    b.tarball = tmp / "bundle.tar";
    auto r = run({"tar", "-cf", b.tarball.string(), "-C", b.folder.parent_path().string(), b.top});
    if (r.exit_code != 0)
      throw InstallError("cannot pack " + b.folder.string() + ": " + trim(r.err));
  }
  return b;
}

class Rollout {
 public:
  explicit Rollout(const RolloutOptions& o) : o_(o), m_(o.manifest) {}

  json run_all() {
    bool remote = false;
    for (const auto& b : m_.branches) remote = remote || b.target.kind == Target::Kind::kSsh;
    bundle_ = make_bundle(m_, tmp_.path, remote && !o_.dry_run);
    const auto waves = plan_waves(m_);
    json branches = json::array();
    std::vector<json> results(m_.branches.size());
    int stopped_at = 0;
    for (size_t w = 0; w < waves.size(); ++w) {
      const auto& wave = waves[w];
      if (stopped_at != 0) {
        for (size_t i : wave) results[i] = skipped(i, static_cast<int>(w + 1));
        continue;
      }
      o_.progress("wave " + std::to_string(w + 1) + "/" + std::to_string(waves.size()) + ": " +
                  std::to_string(wave.size()) + (wave.size() == 1 ? " branch" : " branches"));
      std::atomic<size_t> next{0};
      std::mutex mu;
      auto worker = [&] {
        for (size_t k = next++; k < wave.size(); k = next++) {
          const size_t i = wave[k];
          json r = install_one(m_.branches[i]);
          r["wave"] = static_cast<int>(w + 1);
          std::lock_guard lock(mu);
          o_.progress("  " + m_.branches[i].id + ": " + r.value("status", "?") +
                      (r.contains("error") ? " (" + r["error"].get<std::string>() + ")" : ""));
          results[i] = std::move(r);
        }
      };
      std::vector<std::thread> threads;
      const size_t n = std::min<size_t>(wave.size(), static_cast<size_t>(std::max(1, m_.jobs)));
      for (size_t t = 0; t < n; ++t) threads.emplace_back(worker);
      for (auto& t : threads) t.join();
      for (size_t i : wave) {
        if (results[i].value("exit_code", 1) != kExitOk) stopped_at = static_cast<int>(w + 1);
      }
      if (stopped_at != 0) {
        o_.progress("wave " + std::to_string(w + 1) + " failed: the rollout stops here");
      }
    }
    for (auto& r : results) branches.push_back(std::move(r));
    return {{"ok", stopped_at == 0},
            {"stopped_at_wave", stopped_at},
            {"waves", static_cast<int>(waves.size())},
            {"dry_run", o_.dry_run},
            {"package", m_.package.string()},
            {"branches", branches}};
  }

 private:
  json skipped(size_t i, int wave) {
    return {{"branch", m_.branches[i].id},
            {"target", m_.branches[i].target.describe()},
            {"wave", wave},
            {"status", "skipped"},
            {"exit_code", kExitRolloutStopped},
            {"error", "not started: an earlier wave failed"}};
  }

  // The install arguments shared by local and remote runs, and the files they need.
  struct Args {
    std::vector<std::string> argv;
    std::vector<fs::path> files;  // to copy to a remote host (the argv names them by file name)
  };

  Args install_args(const BranchSpec& b, const fs::path& package, bool remote) {
    Args a;
    a.argv = {"install",  "--package", package.string(), "--root", b.target.path,
              "--branch", b.id,        "--json"};
    if (o_.dry_run) a.argv.push_back("--dry-run");
    // Remote and extracted packages live in temporary folders: links outlive them.
    if (o_.hardlink || remote || bundle_.extracted) a.argv.push_back("--hardlink");
    if (!m_.template_path.empty()) {
      a.argv.insert(a.argv.end(), {"--template", remote ? m_.template_path.filename().string()
                                                        : m_.template_path.string()});
      a.files.push_back(m_.template_path);
    }
    for (const auto& [k, v] : b.values) {
      if (k == "sync_token") continue;
      a.argv.insert(a.argv.end(), {"--set", k + "=" + v});
    }
    auto tok = b.values.find("sync_token");
    if (tok != b.values.end() && !tok->second.empty()) {
      const fs::path f = tmp_.path / ("token-" + b.id);
      write_file_atomic(f, tok->second + "\n", 0600);
      a.argv.insert(a.argv.end(),
                    {"--sync-token-file", remote ? f.filename().string() : f.string()});
      a.files.push_back(f);
    }
    return a;
  }

  json install_one(const BranchSpec& b) {
    const auto t0 = std::chrono::steady_clock::now();
    json r = {{"branch", b.id}, {"target", b.target.describe()}};
    try {
      ProcessResult p;
      if (b.target.kind == Target::Kind::kSsh) {
        p = install_remote(b);
      } else {
        Args a = install_args(b, bundle_.folder, false);
        a.argv.insert(a.argv.begin(), self_exe().string());
        p = run(a.argv);
      }
      json j = json::parse(p.out, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        r["status"] = "failed";
        r["exit_code"] = p.exit_code == 0 ? kExitRollbackFailed : p.exit_code;
        r["error"] =
            "no report from the install (exit " + std::to_string(p.exit_code) + "): " + trim(p.err);
      } else {
        for (const char* k : {"status", "exit_code", "version", "previous_version", "serving",
                              "error", "backup", "plan", "probe_old"}) {
          if (j.contains(k)) r[k] = j[k];
        }
        if (!j.contains("exit_code")) r["exit_code"] = p.exit_code;
      }
    } catch (const std::exception& e) {
      r["status"] = "failed";
      r["exit_code"] = kExitRefused;
      r["error"] = e.what();
    }
    r["ms"] =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    return r;
  }

  std::vector<std::string> ssh_base(const std::vector<std::string>& cmd, const Target& t) {
    std::vector<std::string> argv = cmd;
    argv.insert(argv.end(), {"-o", "BatchMode=yes"});
    // One connection per host for mktemp, scp and the install (closed in ~Rollout).
    argv.insert(argv.end(),
                {"-o", "ControlMaster=auto", "-o", "ControlPath=" + (tmp_.path / "cm-%C").string(),
                 "-o", "ControlPersist=60"});
    if (t.port != 0) argv.insert(argv.end(), {"-o", "Port=" + std::to_string(t.port)});
    argv.insert(argv.end(), o_.ssh_options.begin(), o_.ssh_options.end());
    return argv;
  }

  ProcessResult install_remote(const BranchSpec& b) {
    const Target& t = b.target;
    if (o_.dry_run) {
      ProcessResult p;
      p.exit_code = 0;
      json plan = {{"branch", b.id},
                   {"status", "planned"},
                   {"exit_code", 0},
                   {"plan",
                    {"scp " + bundle_.tarball.filename().string() + " to " + t.host,
                     "ssh " + t.host + " loyalty-install install --root " + t.path}}};
      p.out = plan.dump();
      return p;
    }
    auto ssh = [&](const std::string& command) {
      std::vector<std::string> argv = ssh_base(m_.ssh, t);
      argv.push_back(t.host);
      argv.push_back(command);
      return run(argv);
    };
    auto mk = ssh("mktemp -d /tmp/loyalty-install.XXXXXX");
    if (mk.exit_code != 0) throw InstallError("ssh " + t.host + ": " + trim(mk.err));
    const std::string remote_tmp = trim(mk.out);
    if (remote_tmp.rfind("/tmp/loyalty-install.", 0) != 0) {
      throw InstallError("ssh " + t.host + ": unexpected mktemp answer '" + remote_tmp + "'");
    }
    Args a = install_args(b, "./" + bundle_.top, true);
    std::vector<std::string> scp = ssh_base(m_.scp, t);
    scp.push_back("-q");
    scp.push_back(bundle_.tarball.string());
    for (const auto& f : a.files) scp.push_back(f.string());
    scp.push_back(t.host + ":" + remote_tmp + "/");
    auto cp = run(scp);
    if (cp.exit_code != 0) {
      ssh("rm -rf " + shell_quote(remote_tmp));
      throw InstallError("scp to " + t.host + ": " + trim(cp.err));
    }
    a.argv.insert(a.argv.begin(), "./" + bundle_.top + "/bin/loyalty-install");
    const std::string command = "cd " + shell_quote(remote_tmp) + " && tar -xf " +
                                shell_quote(bundle_.tarball.filename().string()) + " && " +
                                shell_join(a.argv) + "; rc=$?; cd / && rm -rf " +
                                shell_quote(remote_tmp) + "; exit $rc";
    return ssh(command);
  }

  void close_connections() {
    for (const auto& b : m_.branches) {
      if (b.target.kind != Target::Kind::kSsh) continue;
      std::vector<std::string> argv = ssh_base(m_.ssh, b.target);
      argv.insert(argv.end(), {"-O", "exit", b.target.host});
      try {
        run(argv);  // "No such file" when already closed: fine
      } catch (const std::exception&) {
      }
    }
  }

 public:
  ~Rollout() { close_connections(); }

 private:
  const RolloutOptions& o_;
  const Manifest& m_;
  TempDir tmp_;
  Bundle bundle_;
};

}  // namespace

nlohmann::json rollout(const RolloutOptions& options) { return Rollout(options).run_all(); }

}  // namespace loyalty::installer

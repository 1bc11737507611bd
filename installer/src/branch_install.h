// Installs one version of the loyalty plugin on one branch (a folder on this machine).
//
// Layout under the branch root (docs/installer.md):
//   versions/<version>/{lib/libloyalty.so, bin/, sbin/, share/loyalty/}  one per version
//   current -> versions/<version>      switched atomically (rename of a new symlink)
//   previous -> versions/<version>     the one before (for a manual switch back)
//   etc/loyalty.toml, etc/branch.token rendered config; hub token (0600)
//   data/ledger.db                      the ledger (unless the values say db = ...)
//   backups/<timestamp>/                ledger (online backup API), config, token, state
//   state.json                          the last install's report
//   <plugin_dir>/libloyalty.so -> <root>/current/lib/libloyalty.so   what the POS loads
//
// Steps: check, lock, stage, render, stop, backup, migrate+probe (the new .so opens the
// real ledger), verify (the new loyaltyctl), switch, start, probe through the plugin
// folder, record. Any failure after stage rolls back: config, token, symlinks, the staged
// version, and the ledger backup when the ledger's schema changed; then the old version is
// probed. Running it again with the same package and values changes nothing.
#pragma once

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "render.h"

namespace loyalty::installer {

// Exit codes of `loyalty-install install` (and per branch in a rollout report).
enum ExitCode : int {
  kExitOk = 0,              // installed, or already installed and verified
  kExitRolledBack = 1,      // a step failed; the branch was rolled back and serves its old version
  kExitRefused = 2,         // bad input or a failed check: nothing on the branch was changed
  kExitRollbackFailed = 3,  // a step failed and so did the rollback: needs a person
  kExitRolloutStopped = 4,  // rollout: a wave failed, later waves were not started
};

struct InstallOptions {
  std::filesystem::path package;          // a staged install tree or a .tar.gz of one
  std::filesystem::path root;             // the branch root
  std::string branch;                     // the branch id ({{branch}})
  std::filesystem::path template_path;    // empty: <package>/share/loyalty/loyalty.toml.in
  Values values;                          // plugin_dir, db, sync_url, ... (see render.h)
  std::filesystem::path sync_token_file;  // the hub token (else values["sync_token"])
  std::string version;                    // empty: <package>/share/loyalty/VERSION
  bool hardlink = false;                  // hard-link files from the package instead of copying
  bool dry_run = false;                   // print the plan; change nothing
  std::string fail_at;  // tests: fail right after this step (LOYALTY_INSTALL_FAIL_AT)
  std::function<void(const std::string&)> log = [](const std::string&) {};
};

// Never throws: every failure is in the report. The report has branch, status (installed,
// unchanged, rolled_back, rollback_failed, refused, planned), exit_code, version,
// previous_version, serving, error, steps[{step, ok, ms, note}], backup, schema_before,
// schema_after, probe.
nlohmann::json install_branch(const InstallOptions& options);

}  // namespace loyalty::installer

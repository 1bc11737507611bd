// `loyalty-install rollout`: one package to many branches, in waves.
//
// Wave 1 is the canary alone, then batches of batch_size in manifest order. Within a wave
// up to `jobs` branches install at once, each by a child `loyalty-install install`: this
// program for a local folder; over ssh, the package's own loyalty-install on the remote
// host after scp of the package tarball (and template and token). When any branch of a
// wave fails, the wave finishes, its failed branches are rolled back by their installs,
// and later waves are not started (their branches are reported as "skipped").
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "manifest.h"

namespace loyalty::installer {

struct RolloutOptions {
  Manifest manifest;
  bool dry_run = false;
  bool hardlink = false;  // local installs hard-link from the package (see docs/installer.md)
  std::vector<std::string> ssh_options;  // extra options for ssh and scp ("-o", "X=y")
  std::function<void(const std::string&)> progress = [](const std::string&) {};
};

// Returns {"ok", "stopped_at_wave", "waves", "branches": [{branch, target, wave, status,
// exit_code, version, serving, error, ms}]}. Throws InstallError only for problems before
// any branch was touched (no package, cannot make the bundle).
nlohmann::json rollout(const RolloutOptions& options);

}  // namespace loyalty::installer

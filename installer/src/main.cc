// loyalty-install: installs the loyalty plugin on one branch, or rolls it out to many.
// See docs/installer.md for the branch layout, the steps, the manifest and exit codes.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "branch_install.h"
#include "manifest.h"
#include "rollout.h"
#include "sys.h"
#include "command_line/command_line.h"

namespace {

using nlohmann::json;
using namespace loyalty::installer;

void print_install(const json& r) {
  std::cout << r.value("branch", "?") << ": " << r.value("status", "?");
  if (r.contains("version")) std::cout << " (version " << r["version"].get<std::string>() << ")";
  std::cout << "\n";
  if (r.contains("plan")) {
    for (const auto& s : r["plan"]) std::cout << "  - " << s.get<std::string>() << "\n";
    std::cout << "\nrendered configuration:\n" << r.value("config", "") << "\n";
  }
  if (r.contains("error")) std::cout << "  error: " << r["error"].get<std::string>() << "\n";
  if (r.contains("serving") && r["serving"].is_string()) {
    const std::string s = r["serving"];
    std::cout << "  serving: " << (s.empty() ? "nothing (no earlier version)" : s) << "\n";
  }
  if (r.contains("backup")) std::cout << "  backup: " << r["backup"].get<std::string>() << "\n";
}

void print_rollout(const json& r) {
  std::printf("%-12s %-5s %-16s %-12s %s\n", "branch", "wave", "status", "serving", "detail");
  for (const auto& b : r["branches"]) {
    const std::string serving =
        b.contains("serving") && b["serving"].is_string() ? b["serving"].get<std::string>() : "";
    std::printf("%-12s %-5d %-16s %-12s %s\n", b.value("branch", "?").c_str(), b.value("wave", 0),
                b.value("status", "?").c_str(), serving.c_str(), b.value("error", "").c_str());
  }
  if (r.value("ok", false)) {
    std::printf("rollout: all %zu branches done\n", r["branches"].size());
  } else {
    std::printf("rollout: STOPPED after wave %d of %d\n", r.value("stopped_at_wave", 0),
                r.value("waves", 0));
  }
}

bool parse_set(const std::vector<std::string>& sets, Values& out) {
  for (const auto& s : sets) {
    const auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "loyalty-install: --set " << s << ": expected key=value\n";
      return false;
    }
    out[s.substr(0, eq)] = s.substr(eq + 1);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"loyalty-install — install the loyalty plugin on a branch, or roll it out to many"};
  app.footer(
      "Examples:\n"
      "  loyalty-install install --package loyalty-0.2.0-Linux.tar.gz --root /srv/loyalty \\\n"
      "      --branch B01 --set plugin_dir=/opt/pos/plugins --dry-run\n"
      "  loyalty-install rollout branches.toml --dry-run\n"
      "  loyalty-install rollout branches.csv --package loyalty-0.2.0-Linux.tar.gz --batch-size "
      "10\n"
      "Exit codes: 0 ok, 1 failed and rolled back (the branch serves its old version), 2 refused\n"
      "(nothing changed), 3 failed and the rollback failed too, 4 rollout stopped at a failed "
      "wave.\n"
      "See docs/installer.md.");
  app.require_subcommand(1);
  const bool tty = isatty(2) != 0;

  InstallOptions io;
  std::vector<std::string> sets;
  std::string package, root, tpl, token_file;
  bool as_json = false, verbose = false;
  auto* install =
      app.add_subcommand("install", "install a package on one branch (a folder on this machine)");
  install->add_option("--package", package, "a staged install tree or the .tar.gz cpack made")
      ->required();
  install->add_option("--root", root, "the branch root folder (created if missing)")->required();
  install->add_option("--branch", io.branch, "the branch id ({{branch}} in the template)")
      ->required();
  install->add_option("--template", tpl,
                      "the config template (default: the package's loyalty.toml.in)");
  install->add_option("--set", sets,
                      "a value for the template or the installer, key=value (repeatable);"
                      " plugin_dir is required");
  install->add_option("--sync-token-file", token_file, "a file holding the branch's hub token");
  install->add_option("--version", io.version,
                      "version label (default: the package's share/loyalty/VERSION)");
  install->add_flag("--hardlink", io.hardlink,
                    "hard-link files from the package instead of copying");
  install->add_flag("--dry-run", io.dry_run,
                    "print the plan and the rendered config; change nothing");
  install->add_flag("--json", as_json, "print the report as JSON");
  install->add_flag("-v,--verbose", verbose,
                    "log each step on stderr (default: only on a terminal)");
  install->footer(
      "Example:\n"
      "  loyalty-install install --package loyalty-0.2.0-Linux.tar.gz --root /srv/loyalty \\\n"
      "      --branch B01 --set plugin_dir=/opt/pos/plugins --set service=loyaltyd\n"
      "Running it again with the same package and values changes nothing (exit 0, unchanged).");

  std::string manifest_path, canary, report_path;
  std::vector<std::string> ssh_options;
  int batch_size = 0, jobs = 0;
  bool hardlink = false, dry_run = false, rollout_json = false;
  auto* roll =
      app.add_subcommand("rollout", "install a package on many branches from a manifest, in waves");
  roll->add_option("manifest", manifest_path, "a .toml or .csv manifest (docs/installer.md)")
      ->required();
  roll->add_option("--package", package, "overrides the manifest's package");
  roll->add_option("--template", tpl, "overrides the manifest's template");
  roll->add_option("--canary", canary, "the branch of the first wave (default: the first listed)");
  roll->add_option("--batch-size", batch_size, "branches per wave after the canary (default 5)")
      ->check(CLI::Range(1, 1000));
  roll->add_option("--jobs", jobs, "branches installed at once in a wave (default 4)")
      ->check(CLI::Range(1, 64));
  roll->add_option("--ssh-option", ssh_options,
                   "an extra ssh/scp option, e.g. --ssh-option=-i --ssh-option=key");
  roll->add_option("--report", report_path, "also write the JSON report to this file");
  roll->add_flag("--hardlink", hardlink,
                 "local installs hard-link from the package (do not rebuild it in place)");
  roll->add_flag("--dry-run", dry_run, "print the waves and each branch's plan; change nothing");
  roll->add_flag("--json", rollout_json, "print the report as JSON");
  roll->footer(
      "Example:\n"
      "  loyalty-install rollout branches.toml --dry-run\n"
      "  loyalty-install rollout branches.csv --package loyalty-0.2.0-Linux.tar.gz --canary B07\n"
      "Exit 0: every branch installed; 4: a wave failed (its failed branches were rolled back,\n"
      "later waves not started); 2: the manifest is wrong (nothing touched).");

  if (auto code = loyalty::parse_command_line(app, argc, argv)) return *code;

  try {
    if (install->parsed()) {
      io.package = package;
      io.root = root;
      io.template_path = tpl;
      io.sync_token_file = token_file;
      if (!parse_set(sets, io.values)) return kExitRefused;
      if (const char* f = std::getenv("LOYALTY_INSTALL_FAIL_AT")) io.fail_at = f;
      if (tty || verbose)
        io.log = [](const std::string& s) { std::cerr << "loyalty-install: " << s << "\n"; };
      json r = install_branch(io);
      if (as_json) {
        std::cout << r.dump() << "\n";
      } else {
        print_install(r);
      }
      return r.value("exit_code", static_cast<int>(kExitRollbackFailed));
    }
    RolloutOptions ro;
    ro.manifest = read_manifest(manifest_path);
    Manifest& m = ro.manifest;
    if (!package.empty()) m.package = fs::absolute(package);
    if (!tpl.empty()) m.template_path = fs::absolute(tpl);
    if (!canary.empty()) {
      bool found = false;
      for (const auto& b : m.branches) found = found || b.id == canary;
      if (!found) throw InstallError("--canary " + canary + " is not a branch of the manifest");
      m.canary = canary;
    }
    if (batch_size > 0) m.batch_size = batch_size;
    if (jobs > 0) m.jobs = jobs;
    ro.dry_run = dry_run;
    ro.hardlink = hardlink;
    ro.ssh_options = ssh_options;
    if (tty)
      ro.progress = [](const std::string& s) { std::cerr << "loyalty-install: " << s << "\n"; };
    json r = rollout(ro);
    if (!report_path.empty()) write_file_atomic(report_path, r.dump(2) + "\n");
    if (rollout_json) {
      std::cout << r.dump(2) << "\n";
    } else {
      print_rollout(r);
    }
    return r.value("ok", false) ? kExitOk : kExitRolloutStopped;
  } catch (const std::exception& e) {
    std::cerr << "loyalty-install: " << e.what() << "\n";
    return kExitRefused;
  }
}

// A rollout manifest: which branches get the package, where, with which values.
//
// TOML (manifest.toml):
//   package = "loyalty-0.2.0-Linux.tar.gz"   # or a staged folder; relative to the manifest
//   template = "branch.toml.in"              # optional; default: the package's template
//   canary = "B01"                           # optional; default: the first branch
//   batch_size = 5                           # branches per wave after the canary
//   jobs = 4                                 # branches installed at once within a wave
//   ssh = ["ssh", "-o", "ConnectTimeout=10"] # optional ssh command (scp derived: "scp")
//   scp = ["scp"]
//   [defaults]                               # values for every branch
//   plugin_dir = "/opt/pos/plugins"
//   [[branch]]
//   id = "B01"
//   target = "/srv/loyalty/B01"              # a local folder, or ssh://[user@]host[:port]/path
//   values = { sync_url = "wss://hub:8443/v1/sync", sync_token = "..." }
//
// CSV (manifest.csv): a header row, then one branch per row. Columns `id` and `target`
// are required; every other column is a value (an empty cell means "not given", so the
// default applies). Fields are separated by ',', may be quoted with '"' ("" is a quote
// inside a quoted field; quoted fields may hold commas and newlines). Package, template,
// canary and batch size then come from the command line.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "render.h"

namespace loyalty::installer {

struct Target {
  enum class Kind { kUnset, kLocal, kSsh };
  Kind kind = Kind::kUnset;
  std::string path;                              // the branch root on the target machine
  std::string host;                              // ssh: [user@]host
  int port = 0;                                  // ssh: 0 = ssh's default
  static Target parse(const std::string& text);  // throws InstallError
  std::string describe() const;
};

struct BranchSpec {
  std::string id;
  Target target;
  Values values;  // defaults merged in
};

struct Manifest {
  std::filesystem::path source;  // the manifest file
  std::filesystem::path package;
  std::filesystem::path template_path;
  std::string canary;
  int batch_size = 5;
  int jobs = 4;
  std::vector<std::string> ssh = {"ssh"};
  std::vector<std::string> scp = {"scp"};
  std::vector<BranchSpec> branches;
};

// Reads a .toml or .csv manifest (by extension; anything else is tried as TOML). Relative
// paths inside are relative to the manifest's folder. Throws InstallError naming the
// file, line and field.
Manifest read_manifest(const std::filesystem::path& path);

// RFC 4180-style rows (see above). Throws InstallError on an unterminated quote.
std::vector<std::vector<std::string>> parse_csv(const std::string& text, const std::string& name);

// Canary first (alone), then batches of batch_size in manifest order.
std::vector<std::vector<size_t>> plan_waves(const Manifest& m);

}  // namespace loyalty::installer

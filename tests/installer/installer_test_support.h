// Shared helpers of tests/installer: a staged package made of this build's binaries (hard
// links, so staging costs nothing), branch folders under the build tree, running
// loyalty-install and reading what a branch serves.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sys.h"

namespace loyalty::installer::testing {

namespace fs = std::filesystem;
using nlohmann::json;

inline fs::path data_dir() { return fs::path(LOYALTY_TEST_DATA_DIR); }

// A fresh folder for one test, inside the build tree (same file system as the binaries,
// so the staged package can be hard links).
inline fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::path(LOYALTY_BINARY_DIR) / "installer-tests" / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

inline void link_or_copy(const fs::path& from, const fs::path& to) {
  fs::create_directories(to.parent_path());
  std::error_code ec;
  fs::create_hard_link(fs::canonical(from), to, ec);
  if (ec) fs::copy_file(fs::canonical(from), to, fs::copy_options::overwrite_existing);
}

// A stripped copy of a build output (as cpack's packages are: CPACK_STRIP_FILES), made
// once and reused while it is newer than the binary: 3 MB to hash and copy instead of 60.
inline fs::path stripped(const fs::path& binary) {
  const fs::path cache = fs::path(LOYALTY_BINARY_DIR) / "installer-tests" / "stripped";
  fs::create_directories(cache);
  const fs::path out = cache / binary.filename();
  std::error_code ec;
  if (fs::exists(out) && fs::last_write_time(out) >= fs::last_write_time(fs::canonical(binary)))
    return out;
  const fs::path tmp = out.string() + ".tmp-" + std::to_string(getpid());
  ProcessResult r = run({"strip", "-o", tmp.string(), fs::canonical(binary).string()});
  if (r.exit_code != 0) return binary;  // no binutils: the unstripped file works too
  fs::rename(tmp, out);
  return out;
}

// A staged install tree labelled `version` (share/loyalty/VERSION), as cmake --install or
// an extracted cpack tarball lays it out.
inline fs::path make_package(const fs::path& dir, const std::string& version) {
  const fs::path p = dir / ("loyalty-" + version);
  link_or_copy(stripped(LOYALTY_SO), p / "lib" / "libloyalty.so");
  link_or_copy(stripped(LOYALTYCTL), p / "bin" / "loyaltyctl");
  link_or_copy(stripped(LOYALTY_PROBE), p / "bin" / "loyalty-probe");
  link_or_copy(stripped(LOYALTY_INSTALL), p / "bin" / "loyalty-install");
  fs::create_directories(p / "share" / "loyalty");
  write_file_atomic(p / "share" / "loyalty" / "VERSION", version + "\n");
  fs::copy_file(LOYALTY_TEMPLATE, p / "share" / "loyalty" / "loyalty.toml.in");
  return p;
}

struct Outcome {
  int exit_code = -1;
  json report;
  std::string err;
};

inline Outcome install_cli(std::vector<std::string> args,
                           const std::vector<std::string>& env = {}) {
  args.insert(args.begin(), LOYALTY_INSTALL);
  ProcessResult r = run(args, env);
  Outcome o;
  o.exit_code = r.exit_code;
  o.err = r.err;
  o.report = json::parse(r.out, nullptr, false);
  return o;
}

// The version folder a branch's plugin folder serves (what the POS would load).
inline std::string served_version(const fs::path& plugin_dir) {
  const fs::path so = fs::canonical(plugin_dir / "libloyalty.so");
  return so.parent_path().parent_path().filename().string();
}

// Loads the library the plugin folder serves, with the branch's config (loyalty-probe).
inline json probe(const fs::path& plugin_dir, const fs::path& root, const std::string& customer) {
  ProcessResult r = run({LOYALTY_PROBE, "--so", (plugin_dir / "libloyalty.so").string(), "--config",
                         (root / "etc" / "loyalty.toml").string(), "--customer", customer});
  json j = json::parse(r.out, nullptr, false);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  return j;
}

inline int64_t balance_of(const fs::path& plugin_dir, const fs::path& root,
                          const std::string& customer) {
  json j = probe(plugin_dir, root, customer);
  return j["balance"].value("balance", int64_t{-999999});
}

// Builds a ledger from an SQL dump (tests/installer/data/ledger-v1.sql).
inline void ledger_from_dump(const fs::path& db, const fs::path& dump) {
  for (const char* s : {"", "-wal", "-shm", "-redo"}) fs::remove(db.string() + s);
  sqlite3* d = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &d), SQLITE_OK);
  const std::string sql = read_file(dump);
  char* err = nullptr;
  const int rc = sqlite3_exec(d, sql.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(d);
}

inline unsigned file_mode(const fs::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 0777;
}

}  // namespace loyalty::installer::testing

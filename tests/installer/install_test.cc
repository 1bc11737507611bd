// loyalty-install install on one branch folder: fresh install, re-run, upgrade of a
// populated schema-1 ledger, rollback after a failed step, refusals, the hub token.
// Every test runs the real binaries (loyalty-install, loyalty-probe, loyaltyctl,
// libloyalty.so) on real SQLite files.
#include <gtest/gtest.h>

#include <fstream>

#include "installer_test_support.h"
#include "ledger/sqlite_ledger.h"
#include "ledger_copy.h"

namespace loyalty::installer::testing {
namespace {

struct Branch {
  fs::path dir, root, pos, packages;
  std::vector<std::string> args(const fs::path& package, const std::string& earn = "5") const {
    return {"install",
            "--package",
            package.string(),
            "--root",
            root.string(),
            "--branch",
            "B01",
            "--template",
            (data_dir() / "branch.toml.in").string(),
            "--set",
            "plugin_dir=" + pos.string(),
            "--set",
            "earn=" + earn,
            "--hardlink",
            "--json"};
  }
};

Branch make_branch(const std::string& name) {
  Branch b;
  b.dir = fresh_dir(name);
  b.root = b.dir / "branch";
  b.pos = b.dir / "pos-plugins";
  b.packages = b.dir / "packages";
  fs::create_directories(b.pos);
  return b;
}

size_t count_entries(const fs::path& d) {
  if (!fs::exists(d)) return 0;
  return static_cast<size_t>(std::distance(fs::directory_iterator(d), fs::directory_iterator()));
}

TEST(InstallTest, IntoAnEmptyBranchThenTheSecondRunChangesNothing) {
  Branch b = make_branch("empty");
  const fs::path pkg = make_package(b.packages, "1.0.0");
  Outcome o = install_cli(b.args(pkg));
  ASSERT_EQ(o.exit_code, 0) << o.report.dump(2) << o.err;
  EXPECT_EQ(o.report["status"], "installed");
  EXPECT_EQ(fs::read_symlink(b.root / "current"), fs::path("versions/1.0.0"));
  EXPECT_EQ(served_version(b.pos), "1.0.0");
  EXPECT_TRUE(fs::exists(b.root / "data" / "ledger.db"));
  const std::string config = read_file(b.root / "etc" / "loyalty.toml");
  EXPECT_NE(config.find("branch = \"B01\""), std::string::npos);
  EXPECT_NE(config.find((b.root / "data" / "ledger.db").string()), std::string::npos);
  EXPECT_EQ(probe(b.pos, b.root, "card:1")["info"]["branch"], "B01");

  const auto config_time = fs::last_write_time(b.root / "etc" / "loyalty.toml");
  const size_t backups = count_entries(b.root / "backups");
  Outcome again = install_cli(b.args(pkg));
  ASSERT_EQ(again.exit_code, 0) << again.report.dump(2);
  EXPECT_EQ(again.report["status"], "unchanged");
  EXPECT_EQ(fs::last_write_time(b.root / "etc" / "loyalty.toml"), config_time);
  EXPECT_EQ(count_entries(b.root / "backups"), backups);
  EXPECT_EQ(served_version(b.pos), "1.0.0");

  // New values are a change: rendered, proven and switched again.
  Outcome changed = install_cli(b.args(pkg, "6"));
  ASSERT_EQ(changed.exit_code, 0) << changed.report.dump(2);
  EXPECT_EQ(changed.report["status"], "installed");
  EXPECT_NE(read_file(b.root / "etc" / "loyalty.toml").find("earn_percent = \"6\""),
            std::string::npos);
}

// An install killed after the switch and before the record leaves the new version current
// without its `.installed` marker. Running the same install again finishes it: it was
// refused as "installed with different contents" (the same library) and rolled back.
TEST(InstallTest, ARunKilledBeforeItsRecordIsFinishedByRunningItAgain) {
  Branch b = make_branch("killed");
  const fs::path pkg = make_package(b.packages, "1.0.0");
  ASSERT_EQ(install_cli(b.args(make_package(b.packages, "0.9.0"))).exit_code, 0);
  ASSERT_EQ(install_cli(b.args(pkg)).exit_code, 0);
  fs::remove(b.root / "versions" / "1.0.0" / ".installed");  // as if killed before "record"
  Outcome again = install_cli(b.args(pkg));
  ASSERT_EQ(again.exit_code, 0) << again.report.dump(2) << again.err;
  EXPECT_EQ(again.report["status"], "installed") << again.report.dump(2);
  EXPECT_TRUE(fs::exists(b.root / "versions" / "1.0.0" / ".installed"));
  EXPECT_EQ(served_version(b.pos), "1.0.0");
}

// A damaged installed library is named as such: the same install again failed its probe
// and said only "probe of ... failed: ".
TEST(InstallTest, ADamagedInstalledLibraryIsNamed) {
  Branch b = make_branch("damaged");
  const fs::path pkg = make_package(b.packages, "1.0.0");
  ASSERT_EQ(install_cli(b.args(pkg)).exit_code, 0);
  const fs::path lib = b.root / "versions" / "1.0.0" / "lib" / "libloyalty.so";
  const fs::path copy = b.dir / "lib-copy";
  fs::copy_file(lib, copy);
  fs::remove(lib);  // break a hard link to the package before damaging the file
  fs::copy_file(copy, lib);
  std::ofstream(lib, std::ios::binary | std::ios::app) << "damage";
  Outcome o = install_cli(b.args(pkg));
  EXPECT_NE(o.exit_code, 0);
  EXPECT_NE(o.report.value("error", "").find("is damaged"), std::string::npos) << o.report.dump(2);
}

// SIGTERM while the service is being stopped: the install rolls back at the end of that step
// (the service is started again, no half-written file is left) and says so. It died with
// exit 143 and left the POS stopped.
TEST(InstallTest, ATerminatedInstallRollsBackAndStartsTheServiceAgain) {
  Branch b = make_branch("terminated");
  ASSERT_EQ(install_cli(b.args(make_package(b.packages, "0.9.0"))).exit_code, 0);
  std::vector<std::string> args = b.args(make_package(b.packages, "1.0.0"));
  const fs::path started = b.dir / "started";
  const fs::path stopping = b.dir / "stopping";
  for (const std::string& kv : {"stop_command=touch " + stopping.string() + "; sleep 2",
                                "start_command=touch " + started.string()}) {
    args.push_back("--set");
    args.push_back(kv);
  }
  std::string cmd = "\"" + std::string(LOYALTY_INSTALL) + "\"";
  for (const auto& a : args) cmd += " '" + a + "'";
  // Signalled once the stop step has begun (its command is running).
  ProcessResult r = run({"/bin/sh", "-c", cmd + " > '" + (b.dir / "out.json").string() + "' & pid=$!; " +
                                              "while [ ! -e '" + stopping.string() + "' ]; do sleep 0.05; done; " +
                                              "kill -TERM $pid; wait $pid; echo $?"});
  EXPECT_EQ(r.out, "1\n") << r.err;  // rolled back
  const json report = json::parse(read_file(b.dir / "out.json"), nullptr, false);
  EXPECT_NE(report.value("error", "").find("stopped by signal 15"), std::string::npos) << report.dump(2);
  EXPECT_TRUE(fs::exists(started)) << "the service was not started again";
  EXPECT_FALSE(fs::exists(b.root / "etc" / "loyalty.toml.new"));
  EXPECT_EQ(served_version(b.pos), "0.9.0");
}

TEST(InstallTest, DryRunPrintsThePlanAndChangesNothing) {
  Branch b = make_branch("dry-run");
  const fs::path pkg = make_package(b.packages, "1.0.0");
  auto args = b.args(pkg);
  args.push_back("--dry-run");
  Outcome o = install_cli(args);
  ASSERT_EQ(o.exit_code, 0) << o.report.dump(2);
  EXPECT_EQ(o.report["status"], "planned");
  EXPECT_GE(o.report["plan"].size(), 5u);
  EXPECT_FALSE(fs::exists(b.root / "current"));
  EXPECT_FALSE(fs::exists(b.pos / "libloyalty.so"));
  EXPECT_FALSE(fs::exists(b.root / "data" / "ledger.db"));
}

// A branch that ran the previous release: its ledger is at schema 1 with sales, a points
// payment, a refund and an adjustment (data/ledger-v1.sql, made by the schema-1 library).
TEST(InstallTest, UpgradesASchema1LedgerAndKeepsEveryBalance) {
  Branch b = make_branch("upgrade");
  ASSERT_EQ(install_cli(b.args(make_package(b.packages, "0.9.0"))).exit_code, 0);
  const fs::path db = b.root / "data" / "ledger.db";
  ledger_from_dump(db, data_dir() / "ledger-v1.sql");
  ASSERT_EQ(ledger_schema_version(db), 1);

  Outcome o = install_cli(b.args(make_package(b.packages, "1.0.0")));
  ASSERT_EQ(o.exit_code, 0) << o.report.dump(2) << o.err;
  EXPECT_EQ(o.report["status"], "installed");
  EXPECT_EQ(o.report["previous_version"], "0.9.0");
  EXPECT_EQ(o.report["schema_before"], 1);
  EXPECT_EQ(o.report["schema_after"], ledger::kSchemaVersion);
  EXPECT_EQ(ledger_schema_version(db), ledger::kSchemaVersion);
  EXPECT_EQ(served_version(b.pos), "1.0.0");
  EXPECT_EQ(fs::read_symlink(b.root / "previous"), fs::path("versions/0.9.0"));
  // The backup is the schema-1 ledger, standalone (no -wal needed).
  const fs::path backup = fs::path(o.report["backup"].get<std::string>()) / "ledger.db";
  EXPECT_EQ(ledger_schema_version(backup), 1);
  EXPECT_FALSE(fs::exists(backup.string() + "-wal"));

  EXPECT_EQ(balance_of(b.pos, b.root, "card:1001"), 80);
  EXPECT_EQ(balance_of(b.pos, b.root, "card:1002"), 68);
  EXPECT_EQ(balance_of(b.pos, b.root, "card:1003"), 55);
  ProcessResult v = run({(b.root / "current" / "bin" / "loyaltyctl").string(), "-c",
                         (b.root / "etc" / "loyalty.toml").string(), "verify"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}

// The last step fails after the switch: everything goes back, the old version answers.
TEST(InstallTest, AFailureAfterTheSwitchRollsBackToTheOldVersion) {
  Branch b = make_branch("rollback");
  ASSERT_EQ(install_cli(b.args(make_package(b.packages, "0.9.0"))).exit_code, 0);
  const fs::path db = b.root / "data" / "ledger.db";
  ledger_from_dump(db, data_dir() / "ledger-v1.sql");
  const std::string old_config = read_file(b.root / "etc" / "loyalty.toml");

  Outcome o = install_cli(b.args(make_package(b.packages, "1.0.0"), "6"),
                          {"LOYALTY_INSTALL_FAIL_AT=probe"});
  ASSERT_EQ(o.exit_code, 1) << o.report.dump(2) << o.err;
  EXPECT_EQ(o.report["status"], "rolled_back");
  EXPECT_NE(o.report["error"].get<std::string>().find("LOYALTY_INSTALL_FAIL_AT"),
            std::string::npos);
  EXPECT_EQ(o.report["serving"], "0.9.0");
  EXPECT_TRUE(o.report["probe_old"].value("ok", false));
  EXPECT_EQ(fs::read_symlink(b.root / "current"), fs::path("versions/0.9.0"));
  // `previous` as it was: there was none before this first upgrade (it was left at 0.9.0).
  EXPECT_FALSE(fs::exists(fs::symlink_status(b.root / "previous")));
  EXPECT_EQ(served_version(b.pos), "0.9.0");
  EXPECT_EQ(read_file(b.root / "etc" / "loyalty.toml"), old_config);
  EXPECT_FALSE(fs::exists(b.root / "versions" / "1.0.0"));
  // The ledger goes back to its backup only when the migration changed it.
  EXPECT_EQ(o.report.value("ledger_restored", false), ledger::kSchemaVersion != 1);
  EXPECT_EQ(balance_of(b.pos, b.root, "card:1001"), 80);
  EXPECT_EQ(balance_of(b.pos, b.root, "card:1002"), 68);
}

// A command that fails without a word on stderr is reported by how it ended: "starting the
// service failed: " said nothing (a probe killed by SIGBUS neither).
TEST(InstallTest, ASilentFailureIsReportedByItsExitStatus) {
  Branch b = make_branch("silent");
  std::vector<std::string> args = b.args(make_package(b.packages, "0.9.0"));
  for (const char* kv : {"stop_command=true", "start_command=exit 7"}) {
    args.push_back("--set");
    args.push_back(kv);
  }
  Outcome o = install_cli(args);
  ASSERT_NE(o.exit_code, 0) << o.report.dump(2);
  const std::string error = o.report.value("error", "");
  EXPECT_NE(error.find("starting the service failed: exit status 7"), std::string::npos) << o.report.dump(2);
}

TEST(InstallTest, AConfigTheNewVersionRefusesIsRolledBackNamingTheKey) {
  Branch b = make_branch("bad-config");
  ASSERT_EQ(install_cli(b.args(make_package(b.packages, "0.9.0"))).exit_code, 0);
  Outcome o = install_cli(b.args(make_package(b.packages, "1.0.0"), "five"));
  ASSERT_EQ(o.exit_code, 1) << o.report.dump(2);
  EXPECT_EQ(o.report["status"], "rolled_back");
  EXPECT_NE(o.report["error"].get<std::string>().find("earn_percent"), std::string::npos)
      << o.report["error"];
  EXPECT_EQ(served_version(b.pos), "0.9.0");
  EXPECT_EQ(probe(b.pos, b.root, "card:1")["info"]["branch"], "B01");
}

TEST(InstallTest, RefusesWithoutChangingAnythingWhenThePluginFolderIsMissing) {
  Branch b = make_branch("no-plugin-dir");
  fs::remove(b.pos);
  Outcome o = install_cli(b.args(make_package(b.packages, "1.0.0")));
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_EQ(o.report["status"], "refused");
  EXPECT_NE(o.report["error"].get<std::string>().find("plugin folder"), std::string::npos);
  EXPECT_FALSE(fs::exists(b.root));
}

TEST(InstallTest, RefusesATemplateValueThatIsMissing) {
  Branch b = make_branch("missing-value");
  auto args = b.args(make_package(b.packages, "1.0.0"));
  args.erase(args.begin() + 11, args.begin() + 13);  // --set earn=5
  Outcome o = install_cli(args);
  EXPECT_EQ(o.exit_code, 2) << o.report.dump(2);
  EXPECT_NE(o.report["error"].get<std::string>().find("{{earn}}"), std::string::npos)
      << o.report["error"];
}

TEST(InstallTest, WritesTheSyncSectionAndATokenFileOnlyTheOwnerReads) {
  Branch b = make_branch("sync");
  const fs::path token = b.dir / "token.txt";
  write_file_atomic(token, "s3cret-token\n", 0600);
  auto args = b.args(make_package(b.packages, "1.0.0"));
  args.insert(args.end(),
              {"--set", "sync_url=ws://127.0.0.1:9/v1/sync", "--sync-token-file", token.string()});
  Outcome o = install_cli(args);
  ASSERT_EQ(o.exit_code, 0) << o.report.dump(2) << o.err;
  const std::string config = read_file(b.root / "etc" / "loyalty.toml");
  EXPECT_NE(
      config.find("[sync]\nurl = \"ws://127.0.0.1:9/v1/sync\"\ntoken_file = \"branch.token\""),
      std::string::npos)
      << config;
  EXPECT_EQ(config.find("s3cret"), std::string::npos);
  EXPECT_EQ(read_file(b.root / "etc" / "branch.token"), "s3cret-token\n");
  EXPECT_EQ(file_mode(b.root / "etc" / "branch.token"), 0600u);
}

}  // namespace
}  // namespace loyalty::installer::testing

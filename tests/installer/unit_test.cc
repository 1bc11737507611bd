// The pieces of loyalty-install without processes: template rendering, CSV, manifests,
// waves, targets, and the online backup and restore of a WAL ledger.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "installer_test_support.h"
#include "ledger_copy.h"
#include "manifest.h"
#include "render.h"

namespace loyalty::installer::testing {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InstallError& e) {
    return e.what();
  }
  return "";
}

TEST(RenderTest, ReplacesPlaceholdersAndEscapesValuesForTomlStrings) {
  const std::string out =
      render_config("[plugin]\nbranch = \"{{branch}}\"\ndb = \"{{ db }}\"\n",
                    {{"branch", "B\"01\\"}, {"db", "/x/ledger.db"}, {"plugin_dir", "/p"}}, "t");
  EXPECT_EQ(out, "[plugin]\nbranch = \"B\\\"01\\\\\"\ndb = \"/x/ledger.db\"\n");
}

TEST(RenderTest, NamesMissingPlaceholdersWithTheirLines) {
  const std::string e = error_of([] {
    render_config("a = \"{{x}}\"\nb = \"{{y}}\"\n", {{"x", "1"}}, "t.in");
  });
  EXPECT_EQ(e, "t.in: no value for {{y}} (line 2)");
}

TEST(RenderTest, NamesValuesTheTemplateNeverUses) {
  const std::string e = error_of([] {
    render_config("a = \"{{x}}\"\n", {{"x", "1"}, {"eran", "5"}}, "t.in");
  });
  EXPECT_NE(e.find("eran"), std::string::npos) << e;
}

TEST(RenderTest, RefusesMalformedPlaceholdersAndInvalidToml) {
  EXPECT_NE(error_of([] { render_config("a = \"{{x y}}\"\n", {}, "t"); }).find("malformed"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              render_config("a = {{x}}\n", {{"x", "not toml"}}, "t");
            }).find("not valid TOML"),
            std::string::npos);
}

TEST(RenderTest, AppendsASyncSectionOnlyWhenTheTemplateHasNone) {
  const std::string out = render_config("x = 1\n", {{"sync_url", "wss://hub/v1/sync"}}, "t");
  EXPECT_NE(out.find("[sync]\nurl = \"wss://hub/v1/sync\"\ntoken_file = \"branch.token\"\n"),
            std::string::npos);
  const std::string own = render_config("[sync]\nurl = \"{{sync_url}}\"\ntoken_file = \"t\"\n",
                                        {{"sync_url", "wss://hub/v1/sync"}}, "t");
  EXPECT_EQ(own.find("branch.token"), std::string::npos);
}

TEST(CsvTest, QuotedFieldsCommasQuotesNewlinesAndCrlf) {
  auto rows = parse_csv("a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\n,,\n", "m.csv");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1], (std::vector<std::string>{"x, y", "say \"hi\"", "two\nlines"}));
  EXPECT_EQ(rows[2], (std::vector<std::string>{"", "", ""}));
}

TEST(CsvTest, ErrorsNameTheLine) {
  EXPECT_EQ(error_of([] { parse_csv("a\n\"open\n", "m.csv"); }),
            "m.csv:2: unterminated quoted field");
  EXPECT_EQ(error_of([] { parse_csv("a,b\nx\"y\",z\n", "m.csv"); }),
            "m.csv:2: a quote inside an unquoted field (quote the whole field)");
  EXPECT_EQ(error_of([] { parse_csv("\"a\"b\n", "m.csv"); }),
            "m.csv:1: text after a closing quote");
}

TEST(TargetTest, LocalFoldersAndSshUrls) {
  Target t = Target::parse("ssh://pos@10.0.0.7:2222/srv/loyalty");
  EXPECT_EQ(t.kind, Target::Kind::kSsh);
  EXPECT_EQ(t.host, "pos@10.0.0.7");
  EXPECT_EQ(t.port, 2222);
  EXPECT_EQ(t.path, "/srv/loyalty");
  EXPECT_EQ(Target::parse("/srv/B01").kind, Target::Kind::kLocal);
  EXPECT_NE(error_of([] { Target::parse("ssh://host"); }).find("expected ssh://"),
            std::string::npos);
  EXPECT_NE(error_of([] { Target::parse("ssh://host:99999/x"); }).find("bad port"),
            std::string::npos);
  EXPECT_NE(error_of([] { Target::parse("ftp://host/x"); }).find("only local folders and ssh://"),
            std::string::npos);
}

TEST(ManifestTest, TomlWithDefaultsCanaryAndWaves) {
  const fs::path dir = fresh_dir("manifest-toml");
  std::string m =
      "package = \"pkg\"\ncanary = \"C\"\nbatch_size = 2\n[defaults]\nplugin_dir = \"/p\"\n";
  for (const char* id : {"A", "B", "C", "D", "E"}) {
    m += std::string("[[branch]]\nid = \"") + id + "\"\ntarget = \"b/" + id + "\"\n";
  }
  m += "values = { plugin_dir = \"/own\", sync_url = \"wss://h/v1/sync\" }\n";
  write_file_atomic(dir / "m.toml", m);
  Manifest man = read_manifest(dir / "m.toml");
  EXPECT_EQ(man.package, dir / "pkg");
  ASSERT_EQ(man.branches.size(), 5u);
  EXPECT_EQ(man.branches[0].target.path, (dir / "b" / "A").string());
  EXPECT_EQ(man.branches[0].values.at("plugin_dir"), "/p");
  EXPECT_EQ(man.branches[4].values.at("plugin_dir"), "/own");
  const auto waves = plan_waves(man);
  EXPECT_EQ(waves, (std::vector<std::vector<size_t>>{{2}, {0, 1}, {3, 4}}));
}

TEST(ManifestTest, ErrorsNameTheFileAndTheKey) {
  const fs::path dir = fresh_dir("manifest-errors");
  write_file_atomic(dir / "a.toml", "pakage = \"x\"\n");
  EXPECT_NE(error_of([&] { read_manifest(dir / "a.toml"); }).find("unknown key 'pakage' (line 1)"),
            std::string::npos);
  write_file_atomic(dir / "b.toml", "[[branch]]\nid = \"B 1\"\ntarget = \"x\"\n");
  EXPECT_NE(error_of([&] { read_manifest(dir / "b.toml"); }).find("id 'B 1' must be"),
            std::string::npos);
  write_file_atomic(dir / "c.csv", "id,target\nB1\n");
  EXPECT_NE(
      error_of([&] { read_manifest(dir / "c.csv"); }).find("row 2: 1 fields, the header has 2"),
      std::string::npos);
  write_file_atomic(dir / "d.toml", "canary = \"Z\"\n[[branch]]\nid = \"A\"\ntarget = \"x\"\n");
  EXPECT_NE(
      error_of([&] { read_manifest(dir / "d.toml"); }).find("canary 'Z' is not a listed branch"),
      std::string::npos);
}

int64_t count(const fs::path& db, const char* sql) {
  sqlite3* d = nullptr;
  sqlite3_open_v2(db.c_str(), &d, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(d, sql, -1, &s, nullptr);
  const int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
  sqlite3_finalize(s);
  sqlite3_close(d);
  return n;
}

// The commits still in the -wal are in the backup; a restore brings back exactly the
// backed-up state through the live ledger's own WAL.
TEST(LedgerCopyTest, BackupSeesTheWalAndRestoreRewindsTheLiveLedger) {
  const fs::path dir = fresh_dir("ledger-copy");
  const fs::path live = dir / "ledger.db";
  sqlite3* w = nullptr;
  ASSERT_EQ(sqlite3_open(live.c_str(), &w), SQLITE_OK);
  sqlite3_exec(
      w,
      "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
      "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
      "INSERT INTO meta VALUES('schema_version','1');"
      "CREATE TABLE t(x); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<500)"
      " INSERT INTO t SELECT i FROM n;",
      nullptr, nullptr, nullptr);
  ASSERT_GT(fs::file_size(live.string() + "-wal"), 0u);  // the rows are only in the WAL
  const fs::path backup = dir / "backup.db";
  backup_ledger(live, backup);
  EXPECT_EQ(count(backup, "SELECT count(*) FROM t"), 500);
  EXPECT_EQ(ledger_schema_version(backup), 1);
  EXPECT_FALSE(fs::exists(backup.string() + "-wal"));
  EXPECT_NE(error_of([&] { backup_ledger(live, backup); }).find("already exists"),
            std::string::npos);

  sqlite3_exec(w,
               "UPDATE meta SET value='2' WHERE key='schema_version'; CREATE TABLE new_step(y); "
               "DELETE FROM t;",
               nullptr, nullptr, nullptr);
  sqlite3_close(w);
  ASSERT_EQ(ledger_schema_version(live), 2);
  restore_ledger(backup, live);
  EXPECT_EQ(ledger_schema_version(live), 1);
  EXPECT_EQ(count(live, "SELECT count(*) FROM t"), 500);
  EXPECT_EQ(count(live, "SELECT count(*) FROM sqlite_schema WHERE name='new_step'"), 0);
  EXPECT_EQ(ledger_schema_version(dir / "none.db"), -1);
}

}  // namespace
}  // namespace loyalty::installer::testing

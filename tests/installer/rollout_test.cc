// loyalty-install rollout to 20 branch folders: the first rollout installs 0.9.0
// everywhere (TOML manifest); the second brings 1.0.0 from a CSV manifest in which B07 has
// a broken value. Waves: B01 (canary), B02-B06, B07-B11, B12-B16, B17-B20. Wave 3 fails:
// B07 is rolled back and still serves 0.9.0 (proven by loading it), B08-B11 are upgraded,
// waves 4 and 5 are never started. The report names every branch.
#include <gtest/gtest.h>

#include <fstream>

#include "installer_test_support.h"

namespace loyalty::installer::testing {
namespace {

constexpr int kBranches = 20;

std::string id(int i) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "B%02d", i);
  return buf;
}

TEST(RolloutTest, TwentyBranchesStopAtTheWaveWithABrokenBranch) {
  const fs::path dir = fresh_dir("rollout");
  const fs::path old_pkg = make_package(dir / "packages", "0.9.0");
  const fs::path new_pkg = make_package(dir / "packages", "1.0.0");
  const fs::path tpl = data_dir() / "branch.toml.in";

  // Rollout 1 (TOML): 0.9.0 everywhere.
  std::string toml = "package = \"" + old_pkg.string() + "\"\ntemplate = \"" + tpl.string() +
                     "\"\nbatch_size = 5\njobs = 4\n[defaults]\nearn = \"5\"\n";
  for (int i = 1; i <= kBranches; ++i) {
    fs::create_directories(dir / "pos" / id(i));
    toml += "[[branch]]\nid = \"" + id(i) + "\"\ntarget = \"branches/" + id(i) +
            "\"\nvalues = { plugin_dir = \"" + (dir / "pos" / id(i)).string() + "\" }\n";
  }
  write_file_atomic(dir / "first.toml", toml);
  ProcessResult first =
      run({LOYALTY_INSTALL, "rollout", (dir / "first.toml").string(), "--hardlink", "--json"});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  json r1 = json::parse(first.out);
  EXPECT_TRUE(r1["ok"].get<bool>());
  EXPECT_EQ(r1["waves"], 5);
  for (const auto& b : r1["branches"]) EXPECT_EQ(b["status"], "installed") << b.dump();
  for (int i = 1; i <= kBranches; ++i) EXPECT_EQ(served_version(dir / "pos" / id(i)), "0.9.0");

  // Rollout 2 (CSV, quoted fields): 1.0.0, with B07's earn value broken on purpose.
  std::string csv = "id,target,plugin_dir,earn\n";
  for (int i = 1; i <= kBranches; ++i) {
    csv += id(i) + "," + (dir / "branches" / id(i)).string() + ",\"" +
           (dir / "pos" / id(i)).string() + "\"," + (i == 7 ? "\"five, not a number\"" : "5") +
           "\n";
  }
  write_file_atomic(dir / "second.csv", csv);
  ProcessResult second =
      run({LOYALTY_INSTALL, "rollout", (dir / "second.csv").string(), "--package", new_pkg.string(),
           "--template", tpl.string(), "--batch-size", "5", "--jobs", "4", "--hardlink", "--report",
           (dir / "report.json").string()});
  EXPECT_EQ(second.exit_code, 4) << second.out << second.err;
  EXPECT_NE(second.out.find("STOPPED after wave 3 of 5"), std::string::npos) << second.out;
  json r2 = json::parse(read_file(dir / "report.json"));
  EXPECT_FALSE(r2["ok"].get<bool>());
  EXPECT_EQ(r2["stopped_at_wave"], 3);
  ASSERT_EQ(r2["branches"].size(), static_cast<size_t>(kBranches));
  for (int i = 1; i <= kBranches; ++i) {
    const json& b = r2["branches"][static_cast<size_t>(i - 1)];
    const fs::path pos = dir / "pos" / id(i);
    const fs::path root = dir / "branches" / id(i);
    EXPECT_EQ(b["branch"], id(i));
    if (i == 7) {
      EXPECT_EQ(b["status"], "rolled_back") << b.dump();
      EXPECT_EQ(b["wave"], 3);
      EXPECT_EQ(b["serving"], "0.9.0");
      EXPECT_NE(b["error"].get<std::string>().find("earn_percent"), std::string::npos) << b.dump();
      EXPECT_EQ(served_version(pos), "0.9.0");
      json p = probe(pos, root, "card:1");  // the POS's view: it loads and answers
      EXPECT_TRUE(p["ok"].get<bool>());
      EXPECT_NE(p["so"].get<std::string>().find("/versions/0.9.0/"), std::string::npos);
      EXPECT_NE(read_file(root / "etc" / "loyalty.toml").find("earn_percent = \"5\""),
                std::string::npos);
    } else if (i <= 11) {
      EXPECT_EQ(b["status"], "installed") << b.dump();
      EXPECT_EQ(served_version(pos), "1.0.0") << id(i);
    } else {
      EXPECT_EQ(b["status"], "skipped") << b.dump();
      EXPECT_GE(b["wave"].get<int>(), 4);
      EXPECT_EQ(served_version(pos), "0.9.0") << id(i);
      EXPECT_FALSE(fs::exists(root / "versions" / "1.0.0")) << id(i);
    }
  }
}

TEST(RolloutTest, DryRunListsTheWavesAndTouchesNoBranch) {
  const fs::path dir = fresh_dir("rollout-dry");
  const fs::path pkg = make_package(dir / "packages", "1.0.0");
  std::string csv = "id,target,plugin_dir,earn\n";
  for (int i = 1; i <= 3; ++i) {
    fs::create_directories(dir / "pos" / id(i));
    csv += id(i) + ",branches/" + id(i) + "," + (dir / "pos" / id(i)).string() + ",5\n";
  }
  write_file_atomic(dir / "m.csv", csv);
  ProcessResult r = run({LOYALTY_INSTALL, "rollout", (dir / "m.csv").string(), "--package",
                         pkg.string(), "--template", (data_dir() / "branch.toml.in").string(),
                         "--batch-size", "1", "--canary", "B02", "--dry-run", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["waves"], 3);
  EXPECT_EQ(j["branches"][1]["wave"], 1);  // the canary
  for (const auto& b : j["branches"]) EXPECT_EQ(b["status"], "planned") << b.dump();
  EXPECT_FALSE(fs::exists(dir / "branches"));
}

TEST(RolloutTest, AManifestErrorNamesTheRowAndTouchesNothing) {
  const fs::path dir = fresh_dir("rollout-bad-manifest");
  write_file_atomic(dir / "m.csv",
                    "id,target,plugin_dir\nB01,branches/B01,/tmp\nB01,branches/B02,/tmp\n");
  ProcessResult r =
      run({LOYALTY_INSTALL, "rollout", (dir / "m.csv").string(), "--package", "/nonexistent"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("row 3: branch B01 is listed twice"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "branches"));
  // Two branches with one root (also spelled differently) are refused too.
  write_file_atomic(dir / "m2.csv",
                    "id,target,plugin_dir\nB01,branches/B01,/tmp\nB02,branches/./B01,/tmp\n");
  r = run({LOYALTY_INSTALL, "rollout", (dir / "m2.csv").string(), "--package", "/nonexistent"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("row 3: branches B01 and B02 have the same target"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace loyalty::installer::testing

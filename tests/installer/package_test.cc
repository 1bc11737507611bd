// The packages. The install tree (what cpack packs: cmake --install into a folder) holds
// everything issue 4 lists, and loyalty-install installs a branch from it, in about a
// second. Building the real .tar.gz and .deb with cpack (strip, compress, dpkg-shlibdeps:
// ~40 s on a busy 2-core machine) runs only with LOYALTY_TEST_CPACK=1.
#include <gtest/gtest.h>

#include <cstdlib>

#include "installer_test_support.h"

namespace loyalty::installer::testing {
namespace {

const char* const kShipped[] = {"/bin/loyaltyctl",
                                "/bin/loyalty-install",
                                "/bin/loyalty-probe",
                                "/sbin/loyaltyd",
                                "/libloyalty.so",
                                "/include/loyalty/loyalty.h",
                                "/lib/systemd/system/loyaltyd.service",
                                "/share/loyalty/loyalty.toml.in",
                                "/share/loyalty/VERSION",
                                "/share/doc/loyalty/installer.md",
                                "/share/doc/loyalty/examples/loyalty.toml"};

void expect_branch_installs_from(const fs::path& package, const fs::path& dir) {
  fs::create_directories(dir / "pos");
  Outcome o =
      install_cli({"install", "--package", package.string(), "--root", (dir / "branch").string(),
                   "--branch", "B01", "--set", "plugin_dir=" + (dir / "pos").string(), "--json"});
  ASSERT_EQ(o.exit_code, 0) << o.report.dump(2) << o.err;
  EXPECT_EQ(o.report["status"], "installed");
  EXPECT_TRUE(probe(dir / "pos", dir / "branch", "card:1")["ok"].get<bool>());
}

TEST(PackageTest, TheInstallTreeHoldsWhatThePackagesShipAndInstallsABranch) {
  const fs::path dir = fresh_dir("install-tree");
  const fs::path stage = dir / "loyalty-stage";
  ProcessResult c = run({"cmake", "--install", LOYALTY_BINARY_DIR, "--prefix", stage.string()});
  ASSERT_EQ(c.exit_code, 0) << c.out << c.err;
  std::string files;
  for (const auto& e : fs::recursive_directory_iterator(stage)) files += e.path().string() + "\n";
  for (const char* want : kShipped) {
    EXPECT_NE(files.find(want), std::string::npos) << want << " missing";
  }
  expect_branch_installs_from(stage, dir);
}

TEST(PackageTest, CpackBuildsATarballAndADebThatInstallABranch) {
  if (std::getenv("LOYALTY_TEST_CPACK") == nullptr) {
    GTEST_SKIP() << "set LOYALTY_TEST_CPACK=1 to build the packages with cpack (~40 s)";
  }
  const fs::path dir = fresh_dir("package");
  ProcessResult c =
      run({"cpack", "--config", (fs::path(LOYALTY_BINARY_DIR) / "CPackConfig.cmake").string(), "-B",
           dir.string(), "-G", "TGZ;DEB"});
  ASSERT_EQ(c.exit_code, 0) << c.out << c.err;
  fs::path tgz, deb;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.size() > 7 && n.substr(n.size() - 7) == ".tar.gz") tgz = e.path();
    if (n.size() > 4 && n.substr(n.size() - 4) == ".deb") deb = e.path();
  }
  ASSERT_FALSE(tgz.empty());
  ProcessResult list = run({"tar", "-tzf", tgz.string()});
  ASSERT_EQ(list.exit_code, 0);
  for (const char* want : kShipped) {
    EXPECT_NE(list.out.find(want), std::string::npos) << want << " missing from " << tgz;
  }
  if (!deb.empty()) {
    ProcessResult info = run({"dpkg-deb", "-f", deb.string(), "Depends"});
    EXPECT_NE(info.out.find("libsqlite3-0"), std::string::npos) << info.out;
    EXPECT_NE(info.out.find("libssl3"), std::string::npos) << info.out;
  }
  expect_branch_installs_from(tgz, dir);
}

}  // namespace
}  // namespace loyalty::installer::testing

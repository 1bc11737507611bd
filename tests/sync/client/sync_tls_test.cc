// wss:// end to end: a throwaway CA and server certificates made at test time with the
// `openssl` command, the loyalty-hub binary with [tls], and branch runtimes whose [sync] url
// is wss://localhost:PORT with ca_file = that CA. Sync works; a certificate from another CA
// and a certificate for another host name are refused (the branch keeps selling offline and
// logs the verify failure).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "branch_net.h"

namespace loyalty {
namespace {

namespace fs = std::filesystem;
using testing::BranchNet;
using testing::HubProcess;

using testing::kProgram;

bool sh(const std::string& cmd) {
  return std::system((cmd + " 2>/dev/null >/dev/null").c_str()) == 0;
}

// A CA (ca_name.pem/.key) in `dir`, P-256 keys for speed.
bool make_ca(const fs::path& dir, const std::string& name) {
  const std::string d = dir.string() + "/" + name;
  return sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
            d + ".key -out " + d + ".pem -days 2 -subj /CN=" + name);
}

// A server certificate `name`.pem/.key for `san` (e.g. "DNS:localhost,IP:127.0.0.1") signed by
// the CA `ca`.
bool make_server_cert(const fs::path& dir, const std::string& name, const std::string& ca,
                      const std::string& san) {
  const std::string d = dir.string() + "/";
  std::ofstream(d + name + ".ext") << "basicConstraints = CA:FALSE\nkeyUsage = digitalSignature\n"
                                      "extendedKeyUsage = serverAuth\nsubjectAltName = "
                                   << san << "\n";
  return sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " + d +
            name + ".key -out " + d + name + ".csr -subj /CN=" + name) &&
         sh("openssl x509 -req -in " + d + name + ".csr -CA " + d + ca + ".pem -CAkey " + d + ca +
            ".key -CAcreateserial -days 2 -out " + d + name + ".pem -extfile " + d + name + ".ext");
}

// hub.toml for 127.0.0.1 with TLS from `cert`.pem/.key.
void configure_tls_hub(BranchNet& net, const std::string& cert) {
  net.hub().write_config(HubProcess::loopback_config(
      0, "[tls]\ncert_file = \"" + cert + ".pem\"\nkey_file = \"" + cert + ".key\"\n"));
}

// The hub with TLS from `cert` (restarted when running); its port, 0 when it did not start.
uint16_t start_tls_hub(BranchNet& net, const std::string& cert) {
  configure_tls_hub(net, cert);
  return net.hub().start();
}

std::string wss(uint16_t port, const std::string& host = "localhost") {
  return "wss://" + host + ":" + std::to_string(port) + "/v1/sync";
}

std::string ca_file(BranchNet& net, const std::string& ca) {
  return "ca_file = \"" + (net.dir() / (ca + ".pem")).string() + "\"\n";
}

// Waits (bounded) until the branch's client has failed at least once.
bool failed_once(BranchNet& net, const std::string& b) {
  for (int i = 0; i < 500; ++i) {
    if (net.stats(b).failures > 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(SyncTls, WssWithATestCaSyncsBothWays) {
  BranchNet net("tls_ok");
  ASSERT_TRUE(make_ca(net.dir(), "ca"));
  ASSERT_TRUE(make_server_cert(net.dir(), "hub", "ca", "DNS:localhost,IP:127.0.0.1"));
  configure_tls_hub(net, "hub");
  net.add_token("B1");
  net.add_token("B2");
  const uint16_t port = start_tls_hub(net, "hub");
  ASSERT_NE(port, 0);
  ASSERT_TRUE(net.open("B1", wss(port), kProgram, ca_file(net, "ca")));
  ASSERT_TRUE(net.open("B2", wss(port), kProgram, ca_file(net, "ca")));
  net.sale("B1", "card:1", "S1", "45.00");
  net.sale("B2", "card:2", "S2", "10.00");
  ASSERT_TRUE(net.converged(std::chrono::seconds(15), 4)) << net.sizes();
  EXPECT_EQ(net.balance("B2", "card:1"), 45);
  EXPECT_EQ(net.balance("B1", "card:2"), 10);
  EXPECT_EQ(net.stats("B1").failures, 0) << net.stats("B1").last_error;
  EXPECT_GE(net.stats("B1").connects, 1);
  net.expect_verify_clean();
}

TEST(SyncTls, ACertificateOfAnotherCaOrForAnotherHostIsRefused) {
  BranchNet net("tls_bad");
  ASSERT_TRUE(make_ca(net.dir(), "ca"));
  ASSERT_TRUE(make_ca(net.dir(), "other_ca"));
  ASSERT_TRUE(make_server_cert(net.dir(), "stranger", "other_ca", "DNS:localhost,IP:127.0.0.1"));
  ASSERT_TRUE(make_server_cert(net.dir(), "elsewhere", "ca", "DNS:elsewhere.example"));
  configure_tls_hub(net, "stranger");
  net.add_token("B1");
  net.add_token("B2");

  // Signed by a CA the branch does not trust.
  uint16_t port = start_tls_hub(net, "stranger");
  ASSERT_NE(port, 0);
  ASSERT_TRUE(net.open("B1", wss(port), kProgram, ca_file(net, "ca")));
  ASSERT_TRUE(failed_once(net, "B1"));
  auto st = net.stats("B1");
  EXPECT_EQ(st.connects, 0);
  EXPECT_NE(st.last_error.find("certificate verify failed"), std::string::npos) << st.last_error;
  net.sale("B1", "card:1", "S1", "45.00");  // the branch keeps selling offline
  EXPECT_EQ(net.balance("B1", "card:1"), 45);
  EXPECT_NE(net.log_of("B1").find("certificate verify failed"), std::string::npos);
  EXPECT_EQ(net.stats("B1").pushed, 0);
  net.close("B1");

  // The right CA, but the certificate names another host.
  port = start_tls_hub(net, "elsewhere");
  ASSERT_NE(port, 0);
  ASSERT_TRUE(net.open("B2", wss(port), kProgram, ca_file(net, "ca")));
  ASSERT_TRUE(failed_once(net, "B2"));
  st = net.stats("B2");
  EXPECT_EQ(st.connects, 0);
  EXPECT_NE(st.last_error.find("certificate verify failed"), std::string::npos) << st.last_error;
  EXPECT_NE(net.log_of("B2").find("certificate verify failed"), std::string::npos);

  // Control: the same hub with a matching certificate is accepted by the same CA file.
  ASSERT_TRUE(make_server_cert(net.dir(), "hub", "ca", "DNS:localhost"));
  net.close("B2");
  port = start_tls_hub(net, "hub");
  ASSERT_NE(port, 0);
  ASSERT_TRUE(net.open("B2", wss(port), kProgram, ca_file(net, "ca")));
  net.sale("B2", "card:2", "S2", "10.00");
  for (int i = 0; i < 1000 && net.stats("B2").acked_seq < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(net.stats("B2").acked_seq, 2) << net.stats("B2").last_error;

  // A CA file that is not there: sync does not start and the log names the key and the file
  // (every handshake used to fail with "load_verify_file: asio.ssl error"); the POS sells on.
  net.close("B2");
  const auto opened = net.open("B2", wss(port), kProgram, "ca_file = \"missing-ca.pem\"\n");
  EXPECT_FALSE(opened);
  std::ifstream in(net.dir() / "B2.log");  // the runtime is gone: read its file
  const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(log.find("sync.ca_file: cannot read the hub's CA certificates from " + (net.dir() / "missing-ca.pem").string()),
            std::string::npos)
      << log;
}

}  // namespace
}  // namespace loyalty

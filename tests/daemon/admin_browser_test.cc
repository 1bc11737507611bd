// The admin page in a real browser: loyaltyd on 127.0.0.1:0, Debian's headless Chromium
// driven through the DevTools protocol (a small Beast websocket client, no npm, no network),
// and libloyalty.so loaded with dlopen on the same ledger, as a POS would. An admin logs in,
// excludes a payment method and saves; the next sale through the plugin paid with that
// method earns 0 and a cash sale still earns.
#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "daemon/admin_password.h"
#include "daemon/daemon.h"
#include "loyalty/loyalty.h"

namespace loyalty::daemon::test {
namespace {

namespace fs = std::filesystem;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using nlohmann::json;
using tcp = net::ip::tcp;

constexpr const char* kChromium = "/usr/bin/chromium";
constexpr const char* kPassword = "s3cret admin";

// A DevTools protocol client: one websocket to the browser, flat sessions for pages.
class Cdp {
 public:
  Cdp(uint16_t port, const std::string& path) : ws_(ioc_) {
    beast::get_lowest_layer(ws_).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    beast::get_lowest_layer(ws_).expires_never();
    ws_.read_message_max(64 * 1024 * 1024);
    ws_.handshake("127.0.0.1:" + std::to_string(port), path);
  }

  // Sends a command and returns the whole answer ("result" or "error").
  json send(const std::string& method, json params, const std::string& session) {
    const int id = ++next_id_;
    json msg = {{"id", id}, {"method", method}, {"params", std::move(params)}};
    if (!session.empty()) msg["sessionId"] = session;
    ws_.write(net::buffer(msg.dump()));
    for (;;) {
      beast::flat_buffer buf;
      beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(15));
      ws_.read(buf);
      json in = json::parse(beast::buffers_to_string(buf.data()), nullptr, false);
      if (in.is_object() && in.contains("id") && in["id"] == id) return in;  // else an event
    }
  }

  // Sends a command and returns its "result"; fails the test on an error answer.
  json call(const std::string& method, json params = json::object(),
            const std::string& session = "") {
    json in = send(method, std::move(params), session);
    if (in.contains("error")) {
      ADD_FAILURE() << method << ": " << in["error"].dump();
      return json::object();
    }
    return in["result"];
  }

  // Evaluates `expression` in the page (awaiting a promise) and returns its value. While the
  // page is still navigating (its context replaced), tries again for up to 5 s.
  json eval(const std::string& session, const std::string& expression) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
      json in = send("Runtime.evaluate",
                     {{"expression", expression}, {"awaitPromise", true}, {"returnByValue", true}},
                     session);
      if (in.contains("error")) {
        const std::string message = in["error"].value("message", "");
        const bool navigating = message.find("context was destroyed") != std::string::npos ||
                                message.find("Cannot find context") != std::string::npos;
        if (navigating && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          continue;
        }
        ADD_FAILURE() << "Runtime.evaluate: " << in["error"].dump() << "\n" << expression;
        return nullptr;
      }
      const json& r = in["result"];
      if (r.contains("exceptionDetails")) {
        ADD_FAILURE() << "in the page: " << r["exceptionDetails"].dump() << "\n" << expression;
        return nullptr;
      }
      return r["result"].value("value", json());
    }
  }

  // Waits in the page (up to 8 s) until `condition` is truthy; returns its value.
  json wait_for(const std::string& session, const std::string& condition) {
    return eval(session,
                "new Promise((resolve, reject) => { const t0 = Date.now();"
                " (function poll() { let v; try { v = (" +
                    condition +
                    "); } catch (e) {}"
                    " if (v) return resolve(v);"
                    " if (Date.now() - t0 > 8000) return reject(new Error("
                    "'timed out waiting for: ' + " +
                    json(condition).dump() +
                    " + ' status=' + document.getElementById('status').textContent));"
                    " setTimeout(poll, 20); })(); })");
  }

 private:
  net::io_context ioc_;
  websocket::stream<beast::tcp_stream> ws_;
  int next_id_ = 0;
};

class AdminBrowserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kChromium, X_OK) != 0) {
      GTEST_SKIP() << kChromium
                   << " is absent: install Debian's chromium (scripts/setup.sh) to run the "
                      "admin page browser test";
    }
    char tmpl[] = "/tmp/loyalty-admin-browser-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::ofstream(dir_ + "/loyalty.toml") << R"([plugin]
branch = "B01"
db = "ledger.db"
synchronous = "normal"
[program]
point_value = "0.10"
earn_percent = "5"
excluded_payment_methods = ["credit_card"]
[daemon]
port = 0
admin_password_file = "admin.pw"
)";
    ASSERT_TRUE(set_password(dir_ + "/admin.pw", "admin", kPassword).ok());
  }

  void TearDown() override {
    if (chrome_ > 0) {
      kill(chrome_, SIGKILL);
      waitpid(chrome_, nullptr, 0);
    }
    if (plugin_) close_(plugin_);
    // The .so stays loaded (no dlclose): OpenSSL's global state inside it would otherwise
    // be reported as leaked by LeakSanitizer in the ASan build.
    daemon_.reset();
    if (!dir_.empty()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }

  // Starts headless Chromium with DevTools on a free port; returns (port, browser path).
  std::pair<uint16_t, std::string> start_chromium() {
    const std::string profile = dir_ + "/chrome";
    fs::create_directories(profile);
    chrome_ = fork();
    if (chrome_ == 0) {
      const int null = ::open("/dev/null", O_RDWR);
      dup2(null, 1);
      dup2(null, 2);
      const std::string user_data = "--user-data-dir=" + profile;
      execl(kChromium, kChromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
            "--disable-sync", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
            user_data.c_str(), "about:blank", static_cast<char*>(nullptr));
      _exit(127);
    }
    // Chromium writes the port it bound and the browser's websocket path to this file.
    const std::string port_file = profile + "/DevToolsActivePort";
    // 60 s: under the sanitizer run's full load (fuzzers on both cores) Chromium once took
    // more than 20 s to start; alone it takes about a second.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      std::ifstream in(port_file);
      unsigned port = 0;
      std::string path;
      if (in >> port >> path && port > 0 && !path.empty())
        return {static_cast<uint16_t>(port), path};
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "Chromium did not write " << port_file;
        return {0, ""};
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  json plugin_call(const json& request) {
    char* out = nullptr;
    const std::string text = request.dump();
    handle_(plugin_, text.data(), text.size(), &out);
    json r = json::parse(out ? out : "null", nullptr, false);
    free_(out);
    return r;
  }

  static json sale(const std::string& id, const std::string& method) {
    return {{"type", "sale.completed"},
            {"id", id},
            {"at", "2026-11-22T10:15:00-06:00"},
            {"ticket", id},
            {"customer", "card:4000123"},
            {"lines", {{{"n", 1}, {"sku", "CAFE"}, {"qty", "1"}, {"amount", "90.00"}}}},
            {"tenders", {{{"method", method}, {"amount", "90.00"}}}}};
  }

  std::string dir_;
  std::unique_ptr<Daemon> daemon_;
  pid_t chrome_ = -1;
  void* so_ = nullptr;
  loyalty_plugin* plugin_ = nullptr;
  decltype(&loyalty_open) open_ = nullptr;
  decltype(&loyalty_handle) handle_ = nullptr;
  decltype(&loyalty_free) free_ = nullptr;
  decltype(&loyalty_close) close_ = nullptr;
};

TEST_F(AdminBrowserTest, ExcludingAMethodInThePageChangesWhatThePluginEarns) {
  auto d = Daemon::open(dir_ + "/loyalty.toml", DropWatch::kManual);
  ASSERT_TRUE(d.ok()) << d.error().message;
  daemon_ = std::move(*d);
  ASSERT_TRUE(daemon_->start().ok());

  // The POS: the real shared library on the same configuration and ledger.
  so_ = dlopen(LOYALTY_SO, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(so_, nullptr) << dlerror();
  open_ = reinterpret_cast<decltype(open_)>(dlsym(so_, "loyalty_open"));
  handle_ = reinterpret_cast<decltype(handle_)>(dlsym(so_, "loyalty_handle"));
  free_ = reinterpret_cast<decltype(free_)>(dlsym(so_, "loyalty_free"));
  close_ = reinterpret_cast<decltype(close_)>(dlsym(so_, "loyalty_close"));
  char* err = nullptr;
  ASSERT_EQ(open_((dir_ + "/loyalty.toml").c_str(), &plugin_, &err), 0) << (err ? err : "");
  EXPECT_EQ(plugin_call(sale("before", "debit_card"))["earned"], 45);

  auto [cdp_port, cdp_path] = start_chromium();
  ASSERT_GT(cdp_port, 0);
  Cdp cdp(cdp_port, cdp_path);
  const std::string url = "http://127.0.0.1:" + std::to_string(daemon_->port()) + "/admin";
  const std::string target = cdp.call("Target.createTarget", {{"url", url}})["targetId"];
  const std::string page =
      cdp.call("Target.attachToTarget", {{"targetId", target}, {"flatten", true}})["sessionId"];
  ASSERT_FALSE(page.empty());

  // Not logged in: the page shows the login form.
  cdp.wait_for(page, "!document.getElementById('login-form').hidden");
  cdp.eval(page,
           "document.getElementById('user').value = 'admin';"
           "document.getElementById('password').value = " +
               json(kPassword).dump() +
               ";"
               "document.getElementById('login-btn').click(); true");
  EXPECT_EQ(cdp.wait_for(page,
                         "!document.getElementById('program-form').hidden && "
                         "document.getElementById('seq').textContent"),
            "0");
  EXPECT_EQ(cdp.eval(page,
                     "[...document.querySelectorAll('#methods [data-method]')]"
                     ".map(b => b.dataset.method).join(',')"),
            "credit_card");
  // The session cookie is HttpOnly: the page's script cannot read it.
  EXPECT_EQ(cdp.eval(page, "document.cookie"), "");

  cdp.eval(page,
           "document.getElementById('new-method').value = 'debit_card';"
           "document.getElementById('add-method').click();"
           "document.getElementById('note').value = 'card fees';"
           "document.getElementById('save').click(); true");
  const json saved =
      cdp.wait_for(page,
                   "document.getElementById('status').textContent.startsWith('Saved') && "
                   "document.getElementById('status').textContent");
  EXPECT_EQ(saved, "Saved: program version 2");

  // The plugin (another runtime on the ledger) picks the version up within ~2 s.
  const std::string version = daemon_->runtime().program().current().program.version;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  json info;
  do {
    info = plugin_call({{"type", "plugin.info"}, {"id", "info"}, {"at", "2026-11-22T10:16:00Z"}});
    if (info.value("program_version", "") == version) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(info.value("program_version", ""), version) << info.dump();

  EXPECT_EQ(plugin_call(sale("after-debit", "debit_card"))["earned"], 0);
  EXPECT_EQ(plugin_call(sale("after-cash", "cash"))["earned"], 45);

  auto& ledger = static_cast<ledger::SqliteLedger&>(*daemon_->runtime().store());
  auto audit = ledger::audit_log(ledger, 5, "");
  ASSERT_FALSE(audit.empty());
  EXPECT_EQ(audit[0].who, "admin-page:admin");
  EXPECT_EQ(audit[0].after, "credit_card,debit_card");
  EXPECT_EQ(ledger::program_history(ledger, 1).at(0).note, "card fees");
}

}  // namespace
}  // namespace loyalty::daemon::test

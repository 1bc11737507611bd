// The admin page over real sockets: login, session cookie, CSRF, rate limit, and a change
// through /admin/api/program reaching the service that serves POST /v1/events.
#include <gtest/gtest.h>

#include "daemon/admin_password.h"
#include "daemon_test_support.h"

namespace loyalty::daemon::test {
namespace {

class AdminTest : public DaemonFixture {
 protected:
  void start_admin() {
    ASSERT_TRUE(set_password(dir_ + "/admin.pw", "admin", "correct horse").ok());
    start("admin_password_file = \"admin.pw\"");
  }

  // Logs in; returns the cookie header line and sets csrf_.
  std::string login() {
    auto r = call("POST", "/admin/api/login", R"({"user":"admin","password":"correct horse"})");
    EXPECT_EQ(r.status, 200) << r.body;
    const std::string set_cookie = r.headers["set-cookie"];
    EXPECT_NE(set_cookie.find("HttpOnly"), std::string::npos);
    EXPECT_NE(set_cookie.find("SameSite=Strict"), std::string::npos);
    csrf_ = r.doc().value("csrf", "");
    return "Cookie: " + set_cookie.substr(0, set_cookie.find(';')) + "\r\n";
  }
  std::string csrf_;
};

TEST_F(AdminTest, OffWithoutAPasswordFile) {
  start();
  auto r = call("GET", "/admin");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("admin_password_file"), std::string::npos);
}

TEST_F(AdminTest, ServesTheEmbeddedPageWithStrictHeaders) {
  start_admin();
  auto page = call("GET", "/admin");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.headers["content-type"], "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<script src=\"/admin/app.js\""), std::string::npos);
  EXPECT_EQ(page.body.find("http://"), std::string::npos) << "no external assets";
  EXPECT_EQ(page.body.find("https://"), std::string::npos) << "no external assets";
  EXPECT_NE(page.headers["content-security-policy"].find("default-src 'self'"), std::string::npos);
  auto js = call("GET", "/admin/app.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.headers["content-type"], "text/javascript; charset=utf-8");
  EXPECT_EQ(call("GET", "/admin/nope.js").status, 404);
}

TEST_F(AdminTest, ProgramNeedsLoginAndCsrf) {
  start_admin();
  EXPECT_EQ(call("GET", "/admin/api/program").status, 401);
  auto wrong = call("POST", "/admin/api/login", R"({"user":"admin","password":"nope"})");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_TRUE(wrong.headers["set-cookie"].empty());
  const std::string cookie = login();
  auto program = call("GET", "/admin/api/program", {}, cookie);
  ASSERT_EQ(program.status, 200) << program.body;
  EXPECT_EQ(program.doc()["seq"], 0);
  const std::string change = R"({"excluded_payment_methods":["debit_card"]})";
  EXPECT_EQ(call("PUT", "/admin/api/program", change, cookie).status, 403) << "no CSRF token";
  EXPECT_EQ(call("PUT", "/admin/api/program", change, cookie + "X-CSRF-Token: bad\r\n").status,
            403);
  auto bad = call("PUT", "/admin/api/program", R"({"categories":{"gold":"x"}})",
                  cookie + "X-CSRF-Token: " + csrf_ + "\r\n");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.doc()["error"]["field"], "program.categories.gold");

  EXPECT_EQ(call("POST", "/v1/events", sale("s1")).doc()["earned"], 45);
  auto ok =
      call("PUT", "/admin/api/program", R"({"expected_seq":0,"excluded_payment_methods":["cash"]})",
           cookie + "X-CSRF-Token: " + csrf_ + "\r\n");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.doc()["seq"], 2);
  EXPECT_TRUE(ok.doc()["changed"].get<bool>());
  EXPECT_EQ(call("POST", "/v1/events", sale("s2")).doc()["earned"], 0) << "cash is excluded now";
  // A stale page (seq 0) cannot overwrite the newer version.
  auto stale = call("PUT", "/admin/api/program", R"({"expected_seq":0,"earn_percent":"7"})",
                    cookie + "X-CSRF-Token: " + csrf_ + "\r\n");
  EXPECT_EQ(stale.status, 409) << stale.body;
  // ...also under the name GET answers it with; and a field the page does not know is refused
  // (it was ignored, and the save reported success).
  auto stale_seq = call("PUT", "/admin/api/program", R"({"seq":0,"earn_percent":"7"})",
                        cookie + "X-CSRF-Token: " + csrf_ + "\r\n");
  EXPECT_EQ(stale_seq.status, 409) << stale_seq.body;
  auto typo = call("PUT", "/admin/api/program", R"({"expected_seq":2,"earn_percnt":"7"})",
                   cookie + "X-CSRF-Token: " + csrf_ + "\r\n");
  EXPECT_EQ(typo.status, 400) << typo.body;
  EXPECT_EQ(typo.doc()["error"]["field"], "earn_percnt");

  EXPECT_EQ(
      call("POST", "/admin/api/logout", "{}", cookie + "X-CSRF-Token: " + csrf_ + "\r\n").status,
      200);
  EXPECT_EQ(call("GET", "/admin/api/program", {}, cookie).status, 401);
}

TEST_F(AdminTest, FailedLoginsAreRateLimited) {
  start_admin();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(call("POST", "/admin/api/login", R"({"user":"admin","password":"guess"})").status,
              401);
  }
  auto limited = call("POST", "/admin/api/login", R"({"user":"admin","password":"correct horse"})");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.headers["retry-after"], "60");
}

TEST(AdminPassword, RecordsCheckAndRoundTrip) {
  char tmpl[] = "/tmp/loyalty-pw-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string file = dir + "/pw";
  ASSERT_TRUE(set_password(file, "ana", "first password").ok());
  ASSERT_TRUE(set_password(file, "luis", "second password").ok());
  ASSERT_TRUE(set_password(file, "ana", "third password").ok());
  auto users = read_password_file(file);
  ASSERT_TRUE(users.ok()) << users.error().message;
  ASSERT_EQ(users->size(), 2u);
  EXPECT_EQ((*users)[0].user, "luis");
  EXPECT_TRUE(check_password((*users)[1], "third password"));
  EXPECT_FALSE(check_password((*users)[1], "first password"));
  EXPECT_EQ(fs::status(file).permissions() & (fs::perms::group_all | fs::perms::others_all),
            fs::perms::none);
  EXPECT_FALSE(set_password(file, "bad user", "long enough").ok());
  EXPECT_FALSE(set_password(file, "bob", "short").ok());
  std::ofstream(file) << "ana:md5:1:00:00\n";
  auto broken = read_password_file(file);
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().field, "daemon.admin_password_file");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace loyalty::daemon::test

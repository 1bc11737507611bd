// loyaltyd over real sockets: an in-process daemon on 127.0.0.1 port 0 and a real SQLite
// ledger in a temporary directory.
#include <thread>

#include "daemon_test_support.h"

namespace loyalty::daemon::test {
namespace {

using HttpDaemon = DaemonFixture;

TEST_F(HttpDaemon, SaleThenBalance) {
  start();
  const HttpResponse sold = call("POST", "/v1/events", sale("B01-T1-1"));
  ASSERT_EQ(sold.status, 200) << sold.body;
  EXPECT_EQ(sold.headers.at("content-type"), "application/json");
  EXPECT_EQ(sold.doc()["earned"], 45);
  const HttpResponse balance = call("GET", "/v1/customers/card%3A4000123/balance");
  ASSERT_EQ(balance.status, 200) << balance.body;
  EXPECT_EQ(balance.doc()["type"], "balance.query");
  EXPECT_EQ(balance.doc()["balance"], 45);
  EXPECT_EQ(call("GET", "/v1/customers/card%3A999/balance").status, 404);
  EXPECT_EQ(call("GET", "/v1/customers/card%3/balance").status, 400);  // broken %-escape
}

TEST_F(HttpDaemon, JsonLinesGetAnArrayInOrder) {
  start();
  const std::string body = sale("L1") + "\r\n\n" + sale("L2", "card:2", "10.00") + "\n{oops\n";
  const HttpResponse r = call("POST", "/v1/events", body, "Content-Type: application/x-ndjson\r\n");
  ASSERT_EQ(r.status, 200) << r.body;
  const json a = r.doc();
  ASSERT_TRUE(a.is_array()) << r.body;
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0]["id"], "L1");
  EXPECT_EQ(a[0]["earned"], 45);
  EXPECT_EQ(a[1]["earned"], 5);
  EXPECT_EQ(a[2]["ok"], false);
  EXPECT_EQ(a[2]["error"]["code"], "invalid_json");
  EXPECT_EQ(quarantined(), 1);
}

TEST_F(HttpDaemon, ReplayIsIdempotentAndADifferentBodyIsAConflict) {
  start();
  const HttpResponse first = call("POST", "/v1/events", sale("R1"));
  const HttpResponse again = call("POST", "/v1/events", sale("R1"));
  ASSERT_EQ(first.status, 200);
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(first.body, again.body);
  const HttpResponse other = call("POST", "/v1/events", sale("R1", "card:4000123", "50.00"));
  EXPECT_EQ(other.status, 409) << other.body;
  EXPECT_EQ(other.doc()["error"]["code"], "conflict");
  EXPECT_EQ(call("GET", "/v1/customers/card%3A4000123/balance").doc()["balance"], 45);
}

TEST_F(HttpDaemon, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  Conn c(port());
  for (int i = 0; i < 5; ++i) {
    const HttpResponse r = c.request("POST", "/v1/events", sale("K" + std::to_string(i)));
    ASSERT_EQ(r.status, 200) << i << ": " << r.body;
    EXPECT_EQ(r.headers.count("connection"), 0u) << "HTTP/1.1 keeps the connection by default";
  }
  const HttpResponse b = c.request("GET", "/v1/customers/card%3A4000123/balance");
  ASSERT_EQ(b.status, 200);
  EXPECT_EQ(b.doc()["balance"], 5 * 45);
  // The client's request id is echoed (and used in the log); a generated one otherwise.
  EXPECT_EQ(c.request("GET", "/healthz", {}, "X-Request-Id: pos-42\r\n").headers.at("x-request-id"),
            "pos-42");
}

TEST_F(HttpDaemon, OversizedBodyIs413) {
  start("max_body_bytes = 4096\n");
  const std::string big = sale("BIG") + std::string(5000, ' ');
  Conn c(port());
  const HttpResponse r = c.request("POST", "/v1/events", big);
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_EQ(r.doc()["error"]["code"], "invalid_event");
  EXPECT_TRUE(c.closed_by_peer());
  // Chunked: the limit applies to the decoded body as it arrives.
  Conn chunked(port());
  std::string req = "POST /v1/events HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 5; ++i) {
    req += "400\r\n" + std::string(1024, ' ') + "\r\n";
  }
  req += "0\r\n\r\n";
  ASSERT_TRUE(chunked.send(req));
  EXPECT_EQ(chunked.read().status, 413);
  // Within the limit is fine.
  EXPECT_EQ(call("POST", "/v1/events", sale("SMALL") + std::string(100, ' ')).status, 200);
}

TEST_F(HttpDaemon, SlowClientIsCutByTheTimeoutWhileOthersAreServed) {
  start("request_timeout_ms = 300\n");
  Conn slow(port());
  ASSERT_TRUE(slow.send("POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-"));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(call("GET", "/healthz").status, 200);
  }
  const auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(slow.closed_by_peer());  // not our 10 s receive timeout
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_EQ(call("POST", "/v1/events", sale("AFTER")).status, 200);
}

// /healthz needs no ledger, so it never queues behind calls that wait on one: with every
// worker waiting for a write lock another process holds, it answered only when they gave up.
TEST_F(HttpDaemon, HealthzAnswersWhileEveryWorkerWaitsOnALockedLedger) {
  start("worker_threads = 2\n", "");
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/ledger.db").c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::vector<std::thread> posts;
  for (int i = 0; i < 4; ++i) {  // both workers busy, two more queued (busy_timeout 5 s)
    posts.emplace_back([&, i] { call("POST", "/v1/events", sale("LOCKED-" + std::to_string(i))); });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(call("GET", "/healthz").status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  for (auto& t : posts) t.join();
}

// busy_timeout_ms counts from a request's arrival, also while it waits for a worker: with
// 2 workers, 8 requests queued behind a lock held elsewhere were answered in waves of 2, the
// last after 4 timeouts (a POS behind a long lock waited N / worker_threads timeouts).
TEST_F(HttpDaemon, QueuedRequestsGiveUpOneBusyTimeoutAfterTheyArrived) {
  std::ofstream(dir_ + "/loyalty.toml") << "[plugin]\nbranch = \"B01\"\ndb = \"ledger.db\"\n"
                                        << "synchronous = \"normal\"\nbusy_timeout_ms = 300\n"
                                        << "[daemon]\nport = 0\nworker_threads = 2\n";
  auto d = Daemon::open(dir_ + "/loyalty.toml", DropWatch::kManual);
  ASSERT_TRUE(d.ok()) << d.error().field << ": " << d.error().message;
  daemon_ = std::move(*d);
  ASSERT_TRUE(daemon_->start().ok());
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/ledger.db").c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::vector<std::thread> posts;
  std::vector<int> status(8);
  std::vector<std::chrono::steady_clock::duration> took(8);
  for (int i = 0; i < 8; ++i) {
    posts.emplace_back([&, i] {
      const auto sent = std::chrono::steady_clock::now();
      status[i] = call("POST", "/v1/events", sale("Q-" + std::to_string(i))).status;
      took[i] = std::chrono::steady_clock::now() - sent;
    });
  }
  for (auto& t : posts) t.join();
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(status[i], 503) << i;
    // One timeout (300 ms) and some slack; the fourth wave came after 1,200 ms.
    EXPECT_LT(took[i], std::chrono::milliseconds(900)) << i;
  }
  EXPECT_EQ(call("POST", "/v1/events", sale("Q-after")).status, 200);
}

TEST_F(HttpDaemon, MalformedChunkingIs400) {
  start();
  Conn c(port());
  ASSERT_TRUE(
      c.send("POST /v1/events HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
             "zz\r\nhello\r\n0\r\n\r\n"));
  const HttpResponse r = c.read();
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.doc()["ok"], false);
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_EQ(call("GET", "/healthz").status, 200);
}

TEST_F(HttpDaemon, InvalidUtf8Is400InvalidJsonAndQuarantined) {
  start();
  std::string body = sale("U1");
  body.replace(body.find("CAFE"), 4, "CA\xff\xfe");
  const HttpResponse r = call("POST", "/v1/events", body);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.doc()["error"]["code"], "invalid_json");
  EXPECT_EQ(quarantined(), 1);
}

TEST_F(HttpDaemon, StatusTableForServiceErrors) {
  start();
  EXPECT_EQ(
      call("POST", "/v1/events", R"({"type":"nope","id":"x","at":"2026-11-22T10:15:00Z"})").status,
      400);
  const HttpResponse held =
      call("POST", "/v1/events",
           R"({"type":"points.authorize","id":"A1","at":"2026-11-22T10:15:00Z",)"
           R"("customer":"card:4000123","amount":"40.00"})");
  EXPECT_TRUE(held.status == 422 || held.status == 404) << held.status << " " << held.body;
  EXPECT_EQ(http_status(0), 200u);
  EXPECT_EQ(http_status(static_cast<int>(domain::ErrorCode::kInvalidEvent)), 400u);
  EXPECT_EQ(http_status(static_cast<int>(domain::ErrorCode::kConflict)), 409u);
  EXPECT_EQ(http_status(static_cast<int>(domain::ErrorCode::kInsufficientPoints)), 422u);
  EXPECT_EQ(http_status(static_cast<int>(domain::ErrorCode::kNotFound)), 404u);
  EXPECT_EQ(http_status(static_cast<int>(domain::ErrorCode::kUnavailable)), 503u);
  EXPECT_EQ(http_status(static_cast<int>(domain::ErrorCode::kInternal)), 500u);
}

TEST_F(HttpDaemon, UnknownPathIs404AndWrongMethodIs405) {
  start();
  const HttpResponse missing = call("GET", "/v2/whatever");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.doc()["error"]["code"], "not_found");
  const HttpResponse wrong = call("GET", "/v1/events");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.headers.at("allow"), "POST");
  EXPECT_EQ(call("POST", "/v1/customers/card%3A1/balance").status, 405);
  EXPECT_EQ(call("POST", "/v1/adapters/toast", "x").status, 404);
}

TEST_F(HttpDaemon, BearerTokenRequiredWhenConfigured) {
  std::ofstream(dir_ + "/daemon.token") << "s3cret-token\n";
  start("token_file = \"daemon.token\"\n");
  const HttpResponse none = call("POST", "/v1/events", sale("T1"));
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.headers.at("www-authenticate"), "Bearer");
  EXPECT_EQ(call("POST", "/v1/events", sale("T1"), "Authorization: Bearer wrong\r\n").status, 401);
  EXPECT_EQ(call("POST", "/v1/events", sale("T1"), "Authorization: Bearer s3cret-token\r\n").status,
            200);
  EXPECT_EQ(call("GET", "/v1/customers/card%3A4000123/balance").status, 401);
  EXPECT_EQ(call("GET", "/v1/customers/card%3A4000123/balance", {},
                 "Authorization: bearer s3cret-token\r\n")
                .status,
            200);
  EXPECT_EQ(call("GET", "/healthz").status, 200);  // liveness needs no token
  // The log never shows the customer reference of a refused request.
  daemon_.reset();
  std::ifstream log(dir_ + "/loyalty.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.find("4000123"), std::string::npos) << text;
}

TEST_F(HttpDaemon, NonLoopbackAddressNeedsAToken) {
  std::ofstream(dir_ + "/loyalty.toml") << kBaseConfig << "[daemon]\naddress = \"0.0.0.0\"\nport = 0\n";
  auto d = Daemon::open(dir_ + "/loyalty.toml", DropWatch::kManual);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().field, "daemon.token_file");
  EXPECT_NE(d.error().message.find("not a loopback"), std::string::npos) << d.error().message;
}

TEST_F(HttpDaemon, TheLogNamesTheTypeOfARequestThatFailed) {
  start();
  EXPECT_EQ(call("POST", "/v1/events", sale("C1")).status, 200);
  std::string other = sale("C1");
  other.replace(other.find("90.00"), 5, "80.00");
  EXPECT_EQ(call("POST", "/v1/events", other).status, 409);
  EXPECT_EQ(call("POST", "/v1/events", R"({"type":"x\nreq=1 forged","id":"F1","at":"2026-11-22T10:15:00Z"})").status,
            400);
  daemon_.reset();
  std::ifstream log(dir_ + "/loyalty.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("type=sale.completed id=C1 -> 409"), std::string::npos) << text;
  EXPECT_NE(text.find("type=? id=F1 -> 400"), std::string::npos) << text;
  EXPECT_EQ(text.find("forged"), std::string::npos) << text;
}

TEST_F(HttpDaemon, AdapterEndpointQuarantinesWhatItCannotTranslate) {
  start();
  const HttpResponse r = call("POST", "/v1/adapters/poslog", "<POSLog><unclosed>");
  // 400 from the real translator, 500 from the placeholder: either way an error body, the
  // bytes quarantined, and the daemon still serving.
  EXPECT_TRUE(r.status == 400 || r.status == 500) << r.status;
  EXPECT_EQ(r.doc()["ok"], false);
  EXPECT_EQ(quarantined(), 1);
  EXPECT_EQ(call("GET", "/healthz").status, 200);
}

TEST_F(HttpDaemon, StopFinishesTheRequestInFlightAndClosesIdleConnections) {
  start();
  Conn idle(port());
  ASSERT_EQ(idle.request("GET", "/healthz").status, 200);
  const std::string body = sale("INFLIGHT");
  Conn c(port());
  ASSERT_TRUE(
      c.send("POST /v1/events HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
             "Content-Length: " +
             std::to_string(body.size()) + "\r\n\r\n"));
  ASSERT_EQ(c.read().status, 100);  // the server has the header: the request is in flight
  daemon_->stop();
  EXPECT_TRUE(idle.closed_by_peer());
  ASSERT_TRUE(c.send(body));
  const HttpResponse r = c.read();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.at("connection"), "close");
  EXPECT_TRUE(c.closed_by_peer());
  daemon_->wait();
  auto out = daemon_->runtime().service().handle(
      R"({"type":"balance.query","id":"q","at":"2026-11-22T10:15:00Z","customer":"card:4000123"})");
  EXPECT_EQ(json::parse(out.json)["balance"], 45);
  EXPECT_FALSE(Conn(port()).connected());
}

}  // namespace
}  // namespace loyalty::daemon::test

// The hub's network side (Boost.Beast 1.74, the Beast way): one listener; each connection
// reads one HTTP request; GET /healthz, GET /metrics (JSON; ?format=prometheus for text),
// admin routes (PUT/GET /v1/config, GET /v1/overdraws, bearer admin token) are answered and
// the connection closed; an upgrade to /v1/sync is authenticated (Authorization: Bearer +
// X-Branch) BEFORE the websocket accept (401 otherwise) and becomes a WsSession driving a
// SessionCore: one strand, one write in flight with a queue, read_message_max = the frame
// limit (a larger frame closes with 1009), a binary frame closes with 1003, suggested
// timeouts (idle 30 s with keep-alive pings).
//
// TLS: when cert_file and key_file are set every connection is TLS (wss/https); without
// them the address must be a loopback address (checked by start()).
//
// stop() is graceful: the listener closes, every websocket is closed with 1001 (going away)
// after its queued frames, positions are flushed. wait() returns when all is done.
//
// Thread-safety: start() once; port(), stop(), notify_all() from any thread; wait() from one
// thread. Network errors end only their connection.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "domain/result.h"
#include "sync/hub/hub_core.h"

namespace spdlog {
class logger;
}

namespace loyalty::sync::hub {

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port; port() tells which
  std::string tls_cert_file;
  std::string tls_key_file;
  int io_threads = 2;
  int64_t flush_interval_ms = 1000;  // applied offsets are saved this often
  // Fan-out tick: after a commit, sessions are told to pump at most this often, so entries
  // committed within one tick share one ENTRIES frame per branch (0: after every commit).
  int64_t fanout_interval_ms = 50;
  int64_t http_timeout_ms = 10'000;
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_address(const std::string& address);

// Resident set size of this process in bytes (/proc/self/statm), 0 when unknown.
int64_t resident_bytes();

class Server {
 public:
  // `hub` and `log` outlive the server.
  Server(HubCore& hub, std::shared_ptr<spdlog::logger> log, ServerOptions options);
  ~Server();  // stop() and wait()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  domain::Status start();
  uint16_t port() const;
  void stop();
  void wait();
  // Every session pumps (new entries or config); called after an admin config change.
  void notify_all();

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace loyalty::sync::hub

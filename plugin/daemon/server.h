// The HTTP/1.1 server of loyaltyd (Boost.Beast 1.74, the Beast way).
//
// One Session per connection, on its own strand; `on_<step>` handlers that return early
// through fail(); timeouts with beast::tcp_stream::expires_after; one write in flight;
// keep-alive. Requests are read with http::request_parser (body_limit = max_body_bytes,
// header limit kHeaderLimitBytes) and answered by Api::handle on a separate worker pool, so
// a slow service call never holds an io thread; the answer comes back with net::post.
//
// stop() is graceful: the listener closes, idle connections close, a request already
// arriving or being handled is finished and answered with "Connection: close". wait()
// returns once every connection is gone.
//
// Thread-safety: start() once; port(), stop() from any thread; wait() from one thread.
// Failure: start() returns an error when the address cannot be bound; afterwards network
// errors end only the connection they happen on (logged), never the server.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "daemon/http_api.h"
#include "domain/result.h"

namespace spdlog {
class logger;
}

namespace loyalty::daemon {

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port; port() tells which
  int64_t max_body_bytes = 1024 * 1024;
  int64_t request_timeout_ms = 15'000;
  int io_threads = 2;
  int worker_threads = 4;
};

inline constexpr uint32_t kHeaderLimitBytes = 16 * 1024;

class Server {
 public:
  // `api` and `log` outlive the server.
  Server(const Api& api, std::shared_ptr<spdlog::logger> log, ServerOptions options);
  ~Server();  // stop() and wait()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  domain::Status start();
  uint16_t port() const;
  void stop();
  void wait();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace loyalty::daemon

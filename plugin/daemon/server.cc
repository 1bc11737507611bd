#include "daemon/server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ledger/sqlite_ledger.h"
#include "protocol/codec.h"

namespace loyalty::daemon {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {

// After an error answer sent while the client may still be sending (413, 400), the read
// side is drained for a moment before closing: closing with unread input makes the kernel
// send a reset, which can destroy the answer before the client reads it.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kLingerMaxBytes = 4 * 1024 * 1024;
constexpr size_t kLingerChunkBytes = 16 * 1024;
constexpr size_t kMaxRequestIdChars = 64;
constexpr const char* kRequestIdHeader = "X-Request-Id";

bool is_http_error(const beast::error_code& ec) {
  return &ec.category() == &http::make_error_code(http::error::end_of_stream).category();
}

// The client's X-Request-Id when it is short and plain, else empty.
std::string client_request_id(beast::string_view v) {
  if (v.empty() || v.size() > kMaxRequestIdChars) {
    return {};
  }
  const bool plain = std::all_of(v.begin(), v.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == ':';
  });
  return plain ? std::string(v.data(), v.size()) : std::string();
}

}  // namespace

class Session;

// What the server and its sessions share. Lives in Server::Impl, which outlives them all
// (wait() returns only after the last session is gone).
struct Shared {
  Shared(const Api& a, std::shared_ptr<spdlog::logger> l, ServerOptions o)
      : api(a),
        log(std::move(l)),
        options(std::move(o)),
        workers(static_cast<size_t>(std::max(1, options.worker_threads))) {}

  std::chrono::milliseconds timeout() const {
    return std::chrono::milliseconds(options.request_timeout_ms);
  }

  const Api& api;
  const std::shared_ptr<spdlog::logger> log;
  const ServerOptions options;
  net::thread_pool workers;  // runs Api::handle, off the io threads
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> next_request{1};
  std::mutex sessions_mu;
  std::unordered_map<const Session*, std::weak_ptr<Session>> sessions;
};

// One connection. Every member is touched only on the session's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, Shared& shared) : stream_(std::move(socket)), shared_(shared) {}

  ~Session() {
    std::lock_guard lock(shared_.sessions_mu);
    shared_.sessions.erase(this);
  }

  void run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::do_read, shared_from_this()));
  }

  // Server::stop(), from any thread: close now when idle, else after the answer.
  void shutdown() {
    net::post(stream_.get_executor(),
              beast::bind_front_handler(&Session::on_shutdown, shared_from_this()));
  }

 private:
  void do_read() {
    if (shared_.stopping) {
      do_close();
      return;
    }
    busy_ = false;
    parser_.emplace();
    parser_->body_limit(static_cast<uint64_t>(shared_.options.max_body_bytes));
    parser_->header_limit(kHeaderLimitBytes);
    // One deadline for the header and the body: a client that sends half a header and
    // stalls, or stays idle between keep-alive requests, is cut when it passes.
    stream_.expires_after(shared_.timeout());
    http::async_read_header(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&Session::on_read_header, shared_from_this()));
  }

  void on_read_header(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) {
      return on_read_error(ec);
    }
    busy_ = true;
    started_ = SteadyClock::now();
    const auto& req = parser_->get();
    request_id_ = client_request_id(req[kRequestIdHeader]);
    if (request_id_.empty()) {
      request_id_ = std::to_string(shared_.next_request++);
    }
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      // The client waits for this before sending the body (curl does for large bodies).
      continue_.emplace(http::status::continue_, req.version());
      http::async_write(stream_, *continue_,
                        beast::bind_front_handler(&Session::on_continue, shared_from_this()));
      return;
    }
    do_read_body();
  }

  void on_continue(beast::error_code ec, std::size_t /*bytes*/) {
    continue_.reset();
    if (ec) {
      return fail(ec, "write 100-continue");
    }
    stream_.expires_after(shared_.timeout());
    do_read_body();
  }

  void do_read_body() {
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read_error(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == http::error::partial_message) {
      return do_close();  // the client closed, between requests or halfway through one
    }
    if (ec == beast::error::timeout) {
      // tcp_stream has closed the socket already; nothing can be written.
      shared_.log->info("conn {}: closed: no complete request within {} ms", endpoint(),
                        shared_.options.request_timeout_ms);
      return;
    }
    if (ec == http::error::body_limit) {
      return send_error(http::status::payload_too_large, domain::ErrorCode::kInvalidEvent, "body",
                        "the body exceeds daemon.max_body_bytes (" +
                            std::to_string(shared_.options.max_body_bytes) + " bytes)");
    }
    if (ec == http::error::header_limit) {
      return send_error(http::status::request_header_fields_too_large,
                        domain::ErrorCode::kInvalidArgument, "header",
                        "the header exceeds " + std::to_string(kHeaderLimitBytes) + " bytes");
    }
    if (is_http_error(ec)) {
      return send_error(http::status::bad_request, domain::ErrorCode::kInvalidArgument, "",
                        "malformed HTTP request: " + ec.message());
    }
    fail(ec, "read");
  }

  void on_read(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) {
      return on_read_error(ec);
    }
    auto& req = parser_->get();
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    ApiRequest request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    request.content_type = std::string(req[http::field::content_type]);
    request.authorization = std::string(req[http::field::authorization]);
    request.cookie = std::string(req[http::field::cookie]);
    request.csrf_token = std::string(req["X-CSRF-Token"]);
    request.body = std::move(req.body());
    request.request_id = request_id_;
    method_ = request.method;
    if (Api::answers_without_ledger(request)) {
      on_handled(shared_.api.handle(request));
      return;
    }
    // The service call may wait on the ledger: it runs on the worker pool. The tracked
    // executor keeps the io_context running until the answer is posted back.
    // Its wait for the ledger counts from now, not from when a worker takes it.
    auto back = net::prefer(stream_.get_executor(), net::execution::outstanding_work.tracked);
    net::post(shared_.workers, [self = shared_from_this(), request = std::move(request),
                                back = std::move(back), arrived = std::chrono::steady_clock::now()]() mutable {
      ApiResponse response;
      {
        ledger::SqliteLedger::WaitFrom wait_from(arrived);
        response = self->shared_.api.handle(request);
      }
      net::post(back, [self, response = std::move(response)]() mutable {
        self->on_handled(std::move(response));
      });
    });
  }

  void on_handled(ApiResponse r) {
    http::response<http::string_body> res{static_cast<http::status>(r.status), version_};
    res.set(http::field::server, "loyaltyd");
    res.set(http::field::content_type,
            r.content_type.empty() ? std::string("application/json") : r.content_type);
    res.set(kRequestIdHeader, request_id_);
    for (const auto& [name, value] : r.headers) {
      res.insert(name, value);
    }
    if (!r.allow.empty()) {
      res.set(http::field::allow, r.allow);
    }
    if (r.ask_for_token) {
      res.set(http::field::www_authenticate, "Bearer");
    }
    res.body() = std::move(r.body);
    res.keep_alive(keep_alive_ && !stopping_ && !shared_.stopping);
    res.prepare_payload();
    log_line_ =
        fmt::format("req={} {} {} type={} id={} -> {}", request_id_, method_, r.log_target,
                    r.type.empty() ? "-" : r.type, r.event_id.empty() ? "-" : r.event_id, r.status);
    write(std::move(res), Linger::kNo);
  }

  // An answer the server makes up itself (the request could not be read), then close.
  void send_error(http::status status, domain::ErrorCode code, std::string field,
                  std::string message) {
    shared_.log->warn("conn {}: {} {}", endpoint(), static_cast<unsigned>(status), message);
    http::response<http::string_body> res{status, parser_ ? parser_->get().version() : 11};
    res.set(http::field::server, "loyaltyd");
    res.set(http::field::content_type, "application/json");
    res.body() = protocol::encode_error(domain::make_error(code, std::move(field), message));
    res.keep_alive(false);
    res.prepare_payload();
    log_line_.clear();
    write(std::move(res), Linger::kYes);
  }

  enum class Linger { kNo = 1, kYes = 2 };

  void write(http::response<http::string_body>&& res, Linger linger) {
    res_.emplace(std::move(res));
    linger_ = linger;
    stream_.expires_after(shared_.timeout());
    http::async_write(
        stream_, *res_,
        beast::bind_front_handler(&Session::on_write, shared_from_this(), res_->need_eof()));
  }

  void on_write(bool close, beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) {
      return fail(ec, "write");
    }
    res_.reset();
    if (!log_line_.empty()) {
      const auto us =
          std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - started_);
      shared_.log->info("{} {}us", log_line_, us.count());
      log_line_.clear();
    }
    if (close) {
      return do_close();
    }
    do_read();
  }

  void do_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec && ec != net::error::not_connected) {
      shared_.log->debug("conn {}: shutdown: {}", endpoint(), ec.message());
    }
    if (linger_ == Linger::kYes) {
      discard_ = std::make_unique<char[]>(kLingerChunkBytes);
      stream_.expires_after(kLingerTime);
      do_linger();
    }
    // Otherwise the socket closes when the last handler lets go of the session.
  }

  void do_linger() {
    stream_.async_read_some(net::buffer(discard_.get(), kLingerChunkBytes),
                            beast::bind_front_handler(&Session::on_linger, shared_from_this()));
  }

  void on_linger(beast::error_code ec, std::size_t bytes) {
    if (ec) {
      return;  // end of stream, timeout or reset: the client has had its chance
    }
    lingered_ += bytes;
    if (lingered_ < kLingerMaxBytes) {
      do_linger();
    }
  }

  void on_shutdown() {
    stopping_ = true;
    const bool idle = !busy_ && buffer_.size() == 0 && (!parser_ || !parser_->got_some()) && !res_;
    if (idle) {
      // The pending read ends with operation_aborted and the session goes away.
      stream_.close();
    }
  }

  void fail(beast::error_code ec, const char* what) {
    if (ec == net::error::operation_aborted) {
      return;  // our own close (shutdown)
    }
    shared_.log->info("conn {}: {}: {}", endpoint(), what, ec.message());
  }

  std::string endpoint() {
    beast::error_code ec;
    const tcp::endpoint ep = stream_.socket().remote_endpoint(ec);
    if (ec) {
      return "?";
    }
    return ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  beast::tcp_stream stream_;
  Shared& shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  std::optional<http::response<http::string_body>> res_;  // the one write in flight
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool busy_ = false;      // a request has begun and is not answered yet
  bool stopping_ = false;  // shutdown() seen: answer what is in flight, then close
  Linger linger_ = Linger::kNo;
  std::unique_ptr<char[]> discard_;
  size_t lingered_ = 0;
  std::string request_id_;
  std::string method_;
  std::string log_line_;
  SteadyClock::time_point started_;
};

class Server::Impl {
 public:
  Impl(const Api& api, std::shared_ptr<spdlog::logger> log, ServerOptions options)
      : shared_(api, std::move(log), std::move(options)), acceptor_(net::make_strand(ioc_)) {}

  domain::Status start() {
    const ServerOptions& o = shared_.options;
    const std::string where = o.address + ":" + std::to_string(o.port);
    auto failed = [&](const char* step, const beast::error_code& ec) {
      return domain::make_error(
          domain::ErrorCode::kUnavailable, "daemon.address",
          std::string("cannot listen on ") + where + ": " + step + ": " + ec.message());
    };
    beast::error_code ec;
    const auto address = net::ip::make_address(o.address, ec);
    if (ec) {
      return failed("address", ec);
    }
    const tcp::endpoint endpoint{address, o.port};
    acceptor_.open(endpoint.protocol(), ec);
    if (ec) {
      return failed("open", ec);
    }
    acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (ec) {
      return failed("reuse_address", ec);
    }
    acceptor_.bind(endpoint, ec);
    if (ec) {
      return failed("bind", ec);
    }
    acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return failed("listen", ec);
    }
    const tcp::endpoint bound = acceptor_.local_endpoint(ec);
    if (ec) {
      return failed("local_endpoint", ec);
    }
    port_ = bound.port();
    // The pending accept is the io_context's work: the threads run until it is closed and
    // the last session ends.
    do_accept();
    for (int i = 0; i < std::max(1, o.io_threads); ++i) {
      threads_.emplace_back([this] { run_io(); });
    }
    shared_.log->info("listening on {}:{} ({} io threads, {} workers)", o.address, port_,
                      o.io_threads, o.worker_threads);
    return domain::ok_status();
  }

  uint16_t port() const { return port_; }

  void stop() {
    if (shared_.stopping.exchange(true)) {
      return;
    }
    shared_.log->info("stopping: no new connections; finishing requests in flight");
    net::post(acceptor_.get_executor(), [this] {
      beast::error_code ec;
      acceptor_.close(ec);
      if (ec) {
        shared_.log->warn("closing the listener: {}", ec.message());
      }
    });
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard lock(shared_.sessions_mu);
      for (auto& [key, weak] : shared_.sessions) {
        if (auto s = weak.lock()) {
          live.push_back(std::move(s));
        }
      }
    }
    for (auto& s : live) {
      s->shutdown();
    }
  }

  void wait() {
    for (auto& t : threads_) {
      if (t.joinable()) {
        t.join();
      }
    }
    threads_.clear();
    shared_.workers.join();
  }

 private:
  void run_io() {
    for (;;) {
      try {
        ioc_.run();
        return;
      } catch (const std::exception& e) {
        // A handler threw (out of memory): log it and keep serving the others.
        shared_.log->error("io thread: {}", e.what());
      }
    }
  }

  void do_accept() {
    acceptor_.async_accept(net::make_strand(ioc_),
                           beast::bind_front_handler(&Impl::on_accept, this));
  }

  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) {
      return;  // stop() closed the listener
    }
    if (ec) {
      shared_.log->warn("accept: {}", ec.message());
    } else {
      auto session = std::make_shared<Session>(std::move(socket), shared_);
      {
        std::lock_guard lock(shared_.sessions_mu);
        shared_.sessions.emplace(session.get(), session);
      }
      session->run();
    }
    do_accept();
  }

  net::io_context ioc_;
  Shared shared_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::vector<std::thread> threads_;
};

Server::Server(const Api& api, std::shared_ptr<spdlog::logger> log, ServerOptions options)
    : impl_(std::make_unique<Impl>(api, std::move(log), std::move(options))) {}

Server::~Server() {
  stop();
  wait();
}

domain::Status Server::start() { return impl_->start(); }
uint16_t Server::port() const { return impl_->port(); }
void Server::stop() { impl_->stop(); }
void Server::wait() { impl_->wait(); }

}  // namespace loyalty::daemon

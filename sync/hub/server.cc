#include "sync/hub/server.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <chrono>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

namespace loyalty::sync::hub {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string json_error(std::string_view code, std::string_view field, std::string_view message) {
  return nlohmann::json{{"error", code}, {"field", field}, {"message", message}}.dump();
}

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

std::string bearer(const http::request<http::string_body>& req) {
  const std::string_view auth = sv(req[http::field::authorization]);
  constexpr std::string_view kPrefix = "Bearer ";
  if (auth.size() <= kPrefix.size() || auth.substr(0, kPrefix.size()) != kPrefix) return {};
  return std::string(auth.substr(kPrefix.size()));
}

}  // namespace

bool is_loopback_address(const std::string& address) {
  if (address == "localhost") return true;
  boost::system::error_code ec;
  const auto a = net::ip::make_address(address, ec);
  return !ec && a.is_loopback();
}

int64_t resident_bytes() {
  std::ifstream in("/proc/self/statm");
  int64_t size = 0;
  int64_t resident = 0;
  if (!(in >> size >> resident)) return 0;
  return resident * static_cast<int64_t>(::sysconf(_SC_PAGESIZE));
}

// A live websocket session as the registry sees it.
class WsBase {
 public:
  virtual ~WsBase() = default;
  virtual void notify() = 0;
  virtual void shutdown(websocket::close_code code, std::string reason) = 0;
};

class Server::Impl {
 public:
  Impl(HubCore& hub, std::shared_ptr<spdlog::logger> log, ServerOptions options)
      : hub_(hub),
        log_(std::move(log)),
        options_(std::move(options)),
        ioc_(options_.io_threads),
        ssl_ctx_(ssl::context::tls_server),
        acceptor_(net::make_strand(ioc_)),
        flush_timer_(ioc_),
        fanout_strand_(net::make_strand(ioc_)),
        fanout_timer_(fanout_strand_) {}

  domain::Status start();
  void accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  void schedule_flush();
  void stop();
  void wait();
  void notify_all();
  // New entries were committed: every session pumps, at most once per fanout_interval_ms
  // (the first commit after a quiet interval goes out at once; later ones share a tick).
  void request_fanout();

  // Registry of websocket sessions, for fan-out, per-branch limits and shutdown.
  uint64_t add(const std::string& branch, std::weak_ptr<WsBase> s) {
    std::vector<std::shared_ptr<WsBase>> replaced;
    uint64_t id;
    {
      std::lock_guard lock(mu_);
      id = next_id_++;
      auto& mine = by_branch_[branch];
      while (static_cast<int>(mine.size()) >= hub_.limits().max_connections_per_branch &&
             !mine.empty()) {
        if (auto old = sessions_[mine.front()].lock()) replaced.push_back(old);
        sessions_.erase(mine.front());
        mine.pop_front();
      }
      sessions_[id] = std::move(s);
      mine.push_back(id);
    }
    for (auto& old : replaced) {
      log_->warn("branch {}: a newer connection replaces an older one", branch);
      old->shutdown(websocket::close_code::policy_error, "replaced by a newer connection");
    }
    return id;
  }
  void remove(const std::string& branch, uint64_t id) {
    std::lock_guard lock(mu_);
    sessions_.erase(id);
    auto& mine = by_branch_[branch];
    std::erase(mine, id);
  }

  HubCore& hub_;
  std::shared_ptr<spdlog::logger> log_;
  ServerOptions options_;
  // The registry is declared before ioc_ so that it outlives it: handlers still queued when
  // the loop stops (sessions that did not close within 5 s) are destroyed with ioc_, and a
  // session's destructor unregisters itself here.
  std::mutex mu_;
  std::map<uint64_t, std::weak_ptr<WsBase>> sessions_;
  std::map<std::string, std::deque<uint64_t>> by_branch_;
  uint64_t next_id_ = 1;
  std::atomic<bool> stopping_{false};
  std::atomic<int> live_connections_{0};
  net::io_context ioc_;
  ssl::context ssl_ctx_;
  bool tls_ = false;
  tcp::acceptor acceptor_;
  net::steady_timer flush_timer_;
  net::strand<net::io_context::executor_type> fanout_strand_;
  net::steady_timer fanout_timer_;                       // on fanout_strand_
  bool fanout_armed_ = false;                            // on fanout_strand_
  std::chrono::steady_clock::time_point last_fanout_{};  // on fanout_strand_
  std::vector<std::thread> threads_;
  bool waited_ = false;
};

namespace {

// Counts live connections for the graceful stop.
struct ConnectionCount {
  explicit ConnectionCount(std::atomic<int>& n) : n_(n) { ++n_; }
  ~ConnectionCount() { --n_; }
  std::atomic<int>& n_;
};

template <class Stream>
class WsSession : public WsBase, public std::enable_shared_from_this<WsSession<Stream>> {
 public:
  WsSession(Server::Impl& server, Stream&& stream, std::string branch)
      : server_(server),
        count_(server.live_connections_),
        ws_(std::move(stream)),
        core_(server.hub_, branch),
        branch_(std::move(branch)) {}

  ~WsSession() override { server_.remove(branch_, id_); }

  void run(http::request<http::string_body> req) {
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.read_message_max(static_cast<std::size_t>(server_.hub_.limits().max_frame_bytes));
    const bool wants_subprotocol =
        sv(req[http::field::sec_websocket_protocol]).find(kSubprotocol) != std::string_view::npos;
    ws_.set_option(
        websocket::stream_base::decorator([wants_subprotocol](websocket::response_type& res) {
          res.set(http::field::server, "loyalty-hub");
          if (wants_subprotocol)
            res.set(http::field::sec_websocket_protocol, std::string(kSubprotocol));
        }));
    ws_.async_accept(req,
                     beast::bind_front_handler(&WsSession::on_accept, this->shared_from_this()));
  }

  void notify() override {
    if (notify_pending_.exchange(true)) return;  // one pump covers every notification so far
    net::post(ws_.get_executor(), [self = this->shared_from_this()] {
      self->notify_pending_ = false;
      self->apply(self->core_.pump(now_ms()));
    });
  }

  void shutdown(websocket::close_code code, std::string reason) override {
    net::post(ws_.get_executor(),
              [self = this->shared_from_this(), code, reason] { self->begin_close(code, reason); });
  }

 private:
  void on_accept(beast::error_code ec) {
    if (ec) return fail(ec, "accept");
    id_ = server_.add(branch_, this->weak_from_this());
    if (server_.stopping_) return begin_close(websocket::close_code::going_away, "hub stopping");
    server_.log_->info("branch {} connected", branch_);
    do_read();
  }

  void do_read() {
    ws_.async_read(buffer_,
                   beast::bind_front_handler(&WsSession::on_read, this->shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return fail(ec, "read");
    if (!ws_.got_text()) {
      buffer_.consume(buffer_.size());
      apply(core_.on_binary());
      return;
    }
    const auto data = buffer_.data();
    const std::string_view text(static_cast<const char*>(data.data()), data.size());
    SessionOutput out = core_.on_text(text, now_ms());
    buffer_.consume(buffer_.size());
    apply(std::move(out));
    if (!closing_) do_read();
  }

  void apply(SessionOutput out) {
    for (auto& f : out.frames) queue_.push_back(std::move(f));
    if (out.notify_all) server_.request_fanout();
    switch (out.close) {
      case SessionOutput::Close::kNo:
        break;
      case SessionOutput::Close::kNormal:
        close_code_ = websocket::close_code::normal;
        break;
      case SessionOutput::Close::kPolicy:
        close_code_ = websocket::close_code::policy_error;
        break;
      case SessionOutput::Close::kUnsupportedData:
        close_code_ = websocket::close_code::unknown_data;  // 1003
        break;
    }
    if (out.close != SessionOutput::Close::kNo) closing_ = true;
    write_next();
  }

  void begin_close(websocket::close_code code, std::string reason) {
    if (close_sent_) return;
    closing_ = true;
    close_code_ = code;
    close_reason_ = std::move(reason);
    write_next();
  }

  void write_next() {
    if (writing_ || close_sent_) return;
    if (!queue_.empty()) {
      writing_ = true;
      ws_.text(true);
      ws_.async_write(net::buffer(queue_.front()),
                      beast::bind_front_handler(&WsSession::on_write, this->shared_from_this()));
      return;
    }
    if (closing_) {
      close_sent_ = true;
      ws_.async_close(websocket::close_reason(close_code_, close_reason_),
                      [self = this->shared_from_this()](beast::error_code) {});
    }
  }

  void on_write(beast::error_code ec, std::size_t) {
    writing_ = false;
    if (ec) return fail(ec, "write");
    queue_.pop_front();
    server_.hub_.count_frame_out();
    write_next();
  }

  void fail(beast::error_code ec, const char* what) {
    if (ec == websocket::error::closed || ec == net::error::operation_aborted) return;
    if (ec == websocket::error::message_too_big) {
      server_.log_->warn("branch {}: frame larger than {} bytes; closed with 1009", branch_,
                         server_.hub_.limits().max_frame_bytes);
      return;
    }
    server_.log_->info("branch {}: {}: {}", branch_, what, ec.message());
  }

  Server::Impl& server_;
  ConnectionCount count_;
  websocket::stream<Stream> ws_;
  SessionCore core_;
  std::string branch_;
  uint64_t id_ = 0;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  bool writing_ = false;
  bool closing_ = false;
  bool close_sent_ = false;
  websocket::close_code close_code_ = websocket::close_code::normal;
  std::string close_reason_;
  std::atomic<bool> notify_pending_{false};
};

// One HTTP request on a fresh connection: an upgrade to /v1/sync, or a plain route.
template <class Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
 public:
  HttpSession(Server::Impl& server, Stream&& stream)
      : server_(server), count_(server.live_connections_), stream_(std::move(stream)) {}

  void run() {
    beast::get_lowest_layer(stream_).expires_after(
        std::chrono::milliseconds(server_.options_.http_timeout_ms));
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      stream_.async_handshake(
          ssl::stream_base::server,
          beast::bind_front_handler(&HttpSession::on_handshake, this->shared_from_this()));
    } else {
      do_read();
    }
  }

 private:
  void on_handshake(beast::error_code ec) {
    if (ec) {
      server_.log_->info("TLS handshake: {}", ec.message());
      return;
    }
    do_read();
  }

  void do_read() {
    parser_.emplace();
    parser_->header_limit(16 * 1024);
    parser_->body_limit(static_cast<std::uint64_t>(server_.hub_.limits().max_frame_bytes));
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&HttpSession::on_read, this->shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == http::error::body_limit) {
      // Answered, not cut (a client saw only a reset): 413, then the rest of the body is
      // read and dropped for a moment so that the kernel does not reset the answer away.
      drain_after_answer_ = true;
      return respond(11, http::status::payload_too_large,
                     json_error("too_large", "body",
                                "the body is over " + std::to_string(server_.hub_.limits().max_frame_bytes) +
                                    " bytes ([limits] max_frame_bytes)"));
    }
    if (ec) return;  // closed, timed out or not HTTP
    auto req = parser_->release();
    const std::string target(req.target());
    if (websocket::is_upgrade(req)) {
      if (target != kSyncPath)
        return respond(req, http::status::not_found,
                       json_error("not_found", "target", "websocket path is /v1/sync"));
      const std::string branch(req["X-Branch"]);
      const std::string token = bearer(req);
      if (branch.empty() || branch == "admin" || branch == kHubOrigin ||
          !server_.hub_.authenticate(branch, token)) {
        server_.log_->warn("refused sync upgrade for branch \"{}\": bad or missing token",
                           branch.substr(0, 64));
        return respond(
            req, http::status::unauthorized,
            json_error("auth", "Authorization", "the bearer token does not belong to X-Branch"));
      }
      if (server_.stopping_) {
        return respond(req, http::status::service_unavailable,
                       json_error("unavailable", "", "hub stopping"));
      }
      auto ws = std::make_shared<WsSession<Stream>>(server_, std::move(stream_), branch);
      ws->run(std::move(req));
      return;
    }
    route(req);
  }

  void route(const http::request<http::string_body>& req) {
    const std::string target(req.target());
    const auto method = req.method();
    HubCore& hub = server_.hub_;
    if (method == http::verb::get && target == "/healthz") {
      return respond(
          req, http::status::ok,
          nlohmann::json{
              {"status", "ok"}, {"hub_epoch", hub.hub_epoch()}, {"head_offset", hub.head_offset()}}
              .dump());
    }
    if (method == http::verb::get && (target == "/metrics" || target == "/metrics?format=json")) {
      return respond(req, http::status::ok, hub.metrics_json(now_ms(), resident_bytes()));
    }
    if (method == http::verb::get && target == "/metrics?format=prometheus") {
      return respond(req, http::status::ok, hub.metrics_prometheus(now_ms(), resident_bytes()),
                     "text/plain; version=0.0.4");
    }
    const bool admin_route = target == "/v1/config" || target == "/v1/overdraws";
    if (!admin_route) {
      return respond(req, http::status::not_found,
                     json_error("not_found", "target", "no route " + target));
    }
    if (!hub.authenticate("admin", bearer(req))) {
      return respond(req, http::status::unauthorized,
                     json_error("auth", "Authorization", "an admin bearer token is required"));
    }
    if (target == "/v1/config" && method == http::verb::put) {
      auto v = hub.set_config(req.body(), now_ms());
      if (!v.ok()) {
        return respond(req, http::status::bad_request,
                       json_error("invalid_config", v.error().field, v.error().message));
      }
      server_.log_->info("program configuration {} stored; pushing to connected branches",
                         v->version);
      server_.notify_all();
      return respond(req, http::status::ok, nlohmann::json{{"version", v->version}}.dump());
    }
    if (target == "/v1/config" && method == http::verb::get) {
      auto cfg = hub.config();
      if (!cfg)
        return respond(req, http::status::not_found,
                       json_error("not_found", "", "no configuration stored"));
      return respond(req, http::status::ok,
                     nlohmann::json{{"version", cfg->version}, {"document", cfg->document}}.dump());
    }
    if (target == "/v1/overdraws" && method == http::verb::get) {
      auto list = hub.overdraws(1000);
      if (!list.ok()) {
        return respond(req, http::status::service_unavailable,
                       json_error("unavailable", "", list.error().message));
      }
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& r : *list) {
        arr.push_back({{"offset", r.offset},
                       {"account_id", r.account_id},
                       {"balance", r.balance},
                       {"entry_id", r.entry_id},
                       {"created_at_ms", r.created_at_ms},
                       {"details", nlohmann::json::parse(r.details_json, nullptr, false)}});
      }
      return respond(req, http::status::ok, nlohmann::json{{"overdraws", arr}}.dump());
    }
    return respond(req, http::status::method_not_allowed,
                   json_error("method_not_allowed", "method", "not allowed on " + target));
  }

  void respond(const http::request<http::string_body>& req, http::status status, std::string body,
               const char* content_type = "application/json") {
    respond(req.version(), status, std::move(body), content_type);
  }
  void respond(unsigned version, http::status status, std::string body, const char* content_type = "application/json") {
    auto res = std::make_shared<http::response<http::string_body>>(status, version);
    res->set(http::field::server, "loyalty-hub");
    res->set(http::field::content_type, content_type);
    res->keep_alive(false);
    res->body() = std::move(body);
    res->prepare_payload();
    http::async_write(
        stream_, *res,
        [self = this->shared_from_this(), res](beast::error_code, std::size_t) { self->close(); });
  }

  void close() {
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {});
    } else {
      beast::error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      if (drain_after_answer_) {
        stream_.expires_after(std::chrono::seconds(2));
        drain();
      }
    }
  }

  // Reads and drops what the client still sends (at most 4 MiB, 2 s), then lets go.
  void drain() {
    discard_.resize(16 * 1024);
    stream_.async_read_some(net::buffer(discard_), [self = this->shared_from_this()](beast::error_code ec,
                                                                                     std::size_t n) {
      self->drained_ += n;
      if (!ec && self->drained_ < 4 * 1024 * 1024) self->drain();
    });
  }

  Server::Impl& server_;
  ConnectionCount count_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool drain_after_answer_ = false;
  std::vector<char> discard_;
  size_t drained_ = 0;
};

}  // namespace

domain::Status Server::Impl::start() {
  using domain::ErrorCode;
  const bool has_cert = !options_.tls_cert_file.empty();
  const bool has_key = !options_.tls_key_file.empty();
  if (has_cert != has_key) {
    return domain::make_error(ErrorCode::kInvalidConfig,
                              has_cert ? "tls.key_file" : "tls.cert_file",
                              "tls.cert_file and tls.key_file go together");
  }
  tls_ = has_cert;
  if (!tls_ && !is_loopback_address(options_.address)) {
    return domain::make_error(ErrorCode::kInvalidConfig, "tls.cert_file",
                              "is required when listen.address (" + options_.address +
                                  ") is not a loopback address: plain ws only on loopback");
  }
  if (tls_) {
    boost::system::error_code ec;
    ssl_ctx_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1);
    ssl_ctx_.use_certificate_chain_file(options_.tls_cert_file, ec);
    if (ec) {
      return domain::make_error(ErrorCode::kInvalidConfig, "tls.cert_file",
                                options_.tls_cert_file + ": " + ec.message());
    }
    ssl_ctx_.use_private_key_file(options_.tls_key_file, ssl::context::pem, ec);
    if (ec) {
      return domain::make_error(ErrorCode::kInvalidConfig, "tls.key_file",
                                options_.tls_key_file + ": " + ec.message());
    }
  }
  boost::system::error_code ec;
  const std::string addr = options_.address == "localhost" ? "127.0.0.1" : options_.address;
  const auto ip = net::ip::make_address(addr, ec);
  if (ec) {
    return domain::make_error(ErrorCode::kInvalidConfig, "listen.address",
                              "\"" + options_.address + "\" is not an IP address");
  }
  const tcp::endpoint ep(ip, options_.port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return domain::make_error(ErrorCode::kUnavailable, "listen",
                              "cannot listen on " + options_.address + ":" +
                                  std::to_string(options_.port) + ": " + ec.message());
  }
  accept();
  schedule_flush();
  for (int i = 0; i < std::max(1, options_.io_threads); ++i) {
    threads_.emplace_back([this] { ioc_.run(); });
  }
  log_->info("loyalty-hub listening on {}:{} ({})", options_.address,
             acceptor_.local_endpoint().port(), tls_ ? "wss" : "ws, loopback only");
  return domain::ok_status();
}

void Server::Impl::accept() {
  acceptor_.async_accept(net::make_strand(ioc_), beast::bind_front_handler(&Impl::on_accept, this));
}

void Server::Impl::on_accept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
  if (!ec) {
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (tls_) {
      std::make_shared<HttpSession<beast::ssl_stream<beast::tcp_stream>>>(
          *this,
          beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), ssl_ctx_))
          ->run();
    } else {
      std::make_shared<HttpSession<beast::tcp_stream>>(*this, beast::tcp_stream(std::move(socket)))
          ->run();
    }
  } else {
    log_->warn("accept: {}", ec.message());
  }
  accept();
}

void Server::Impl::schedule_flush() {
  flush_timer_.expires_after(std::chrono::milliseconds(options_.flush_interval_ms));
  flush_timer_.async_wait([this](beast::error_code ec) {
    if (ec || stopping_) return;
    auto st = hub_.flush_positions(now_ms());
    if (!st.ok()) log_->error("saving branch positions: {}", st.error().message);
    if (hub_.reload_config()) {
      log_->info("program configuration {} found in the database; pushing",
                 hub_.config() ? hub_.config()->version : "");
      notify_all();
    }
    schedule_flush();
  });
}

void Server::Impl::notify_all() {
  std::vector<std::shared_ptr<WsBase>> live;
  {
    std::lock_guard lock(mu_);
    live.reserve(sessions_.size());
    for (auto& [id, w] : sessions_) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->notify();
}

void Server::Impl::request_fanout() {
  net::post(fanout_strand_, [this] {
    if (fanout_armed_ || stopping_) return;
    const auto interval = std::chrono::milliseconds(options_.fanout_interval_ms);
    const auto now = std::chrono::steady_clock::now();
    if (now - last_fanout_ >= interval) {
      last_fanout_ = now;
      notify_all();
      return;
    }
    fanout_armed_ = true;
    fanout_timer_.expires_at(last_fanout_ + interval);
    fanout_timer_.async_wait([this](beast::error_code ec) {
      fanout_armed_ = false;
      if (ec || stopping_) return;
      last_fanout_ = std::chrono::steady_clock::now();
      notify_all();
    });
  });
}

void Server::Impl::stop() {
  if (stopping_.exchange(true)) return;
  net::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
  });
  net::post(ioc_, [this] { flush_timer_.cancel(); });
  net::post(fanout_strand_, [this] { fanout_timer_.cancel(); });
  std::vector<std::shared_ptr<WsBase>> live;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, w] : sessions_) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->shutdown(websocket::close_code::going_away, "hub stopping");
}

void Server::Impl::wait() {
  if (waited_ || threads_.empty()) return;
  waited_ = true;
  while (!stopping_) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // Sessions close after their queued frames; give them up to 5 s, then stop the loop.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (live_connections_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ioc_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  auto st = hub_.flush_positions(now_ms());
  if (!st.ok()) log_->error("saving branch positions: {}", st.error().message);
  log_->info("loyalty-hub stopped");
}

Server::Server(HubCore& hub, std::shared_ptr<spdlog::logger> log, ServerOptions options)
    : impl_(std::make_unique<Impl>(hub, std::move(log), std::move(options))) {}

Server::~Server() {
  stop();
  wait();
}

domain::Status Server::start() { return impl_->start(); }
uint16_t Server::port() const {
  beast::error_code ec;
  auto ep = impl_->acceptor_.local_endpoint(ec);
  return ec ? 0 : ep.port();
}
void Server::stop() { impl_->stop(); }
void Server::wait() { impl_->wait(); }
void Server::notify_all() { impl_->notify_all(); }

}  // namespace loyalty::sync::hub

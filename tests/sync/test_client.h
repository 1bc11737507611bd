// A small blocking websocket client for hub tests (plain ws on 127.0.0.1): upgrade with
// bearer token + X-Branch, send text/binary frames, read frames with a timeout, see the
// close code. Every wait is bounded by a timeout (no sleeps).
//
//   auto c = TestClient::connect(port, "B01", token);
//   ASSERT_TRUE(c.ok()) << c.error;
//   c.send(encode(Hello{...}));
//   auto f = c.read_frame(2000);   // std::optional<sync::Frame>
//
// Thread-safety: one thread per client.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "sync/protocol/frames.h"

namespace loyalty::testing {

class TestClient {
 public:
  using Ws = boost::beast::websocket::stream<boost::beast::tcp_stream>;

  // Connects and upgrades. On failure ok() is false, `error` says why and `http_status`
  // holds the hub's answer (401 for a bad token) when there was one.
  static TestClient connect(uint16_t port, const std::string& branch, const std::string& token,
                            int timeout_ms = 5000) {
    namespace beast = boost::beast;
    namespace http = beast::http;
    TestClient c;
    c.ioc_ = std::make_unique<boost::asio::io_context>();
    c.ws_ = std::make_unique<Ws>(*c.ioc_);
    beast::error_code ec;
    auto& tcp = beast::get_lowest_layer(*c.ws_);
    tcp.socket().connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
    if (ec) {
      c.error = "connect: " + ec.message();
      return c;
    }
    c.ws_->set_option(beast::websocket::stream_base::decorator(
        [branch, token](beast::websocket::request_type& req) {
          req.set(http::field::authorization, "Bearer " + token);
          req.set("X-Branch", branch);
          req.set(http::field::sec_websocket_protocol, std::string(sync::kSubprotocol));
        }));
    c.ws_->read_message_max(64 * 1024 * 1024);
    beast::websocket::response_type res;
    bool done = false;
    c.ws_->async_handshake(res, "127.0.0.1", std::string(sync::kSyncPath),
                           [&](beast::error_code e) {
                             ec = e;
                             done = true;
                           });
    c.run_until(done, timeout_ms);
    c.http_status = res.result_int();
    if (!done) {
      c.error = "upgrade timed out";
    } else if (ec) {
      c.error = "upgrade: " + ec.message() + " (HTTP " + std::to_string(c.http_status) + ")";
    } else {
      c.ok_ = true;
    }
    return c;
  }

  bool ok() const { return ok_; }

  bool send(const std::string& text) { return write(text, true); }
  bool send_binary(const std::string& bytes) { return write(bytes, false); }

  // One message, or nullopt on close, error or timeout (closed() tells which).
  std::optional<std::string> read(int timeout_ms) {
    namespace beast = boost::beast;
    if (!ok_) return std::nullopt;
    beast::flat_buffer buf;
    beast::error_code ec;
    bool done = false;
    ws_->async_read(buf, [&](beast::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    run_until(done, timeout_ms);
    if (!done) {
      timed_out = true;
      beast::get_lowest_layer(*ws_).socket().close(ec);
      run_until(done, 1000);
      ok_ = false;
      return std::nullopt;
    }
    if (ec) {
      ok_ = false;
      closed = true;
      close_code = ws_->reason().code;
      return std::nullopt;
    }
    return beast::buffers_to_string(buf.data());
  }

  // The next frame, decoded; nullopt as read().
  std::optional<sync::Frame> read_frame(int timeout_ms) {
    auto text = read(timeout_ms);
    if (!text) return std::nullopt;
    auto f = sync::decode_frame(*text);
    if (!f.ok()) {
      error = "undecodable frame from hub: " + f.error().message;
      return std::nullopt;
    }
    return *f;
  }

  // Reads frames until one of type T arrives (others are dropped into `skipped`).
  template <class T>
  std::optional<T> read_until(int timeout_ms, std::vector<sync::Frame>* skipped = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) return std::nullopt;
      auto f = read_frame(static_cast<int>(left));
      if (!f) return std::nullopt;
      if (auto* t = std::get_if<T>(&*f)) return *t;
      if (skipped) skipped->push_back(*f);
    }
  }

  // Waits for the hub to close; returns the close code (0 when it did not close in time).
  int wait_close(int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!closed && ok_ && std::chrono::steady_clock::now() < deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      read(static_cast<int>(std::max<int64_t>(1, left)));
    }
    return closed ? static_cast<int>(close_code) : 0;
  }

  std::string error;
  int http_status = 0;
  bool closed = false;
  bool timed_out = false;
  uint16_t close_code = 0;

 private:
  bool write(const std::string& data, bool text) {
    namespace beast = boost::beast;
    if (!ok_) return false;
    ws_->text(text);
    beast::error_code ec;
    bool done = false;
    ws_->async_write(boost::asio::buffer(data), [&](beast::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    run_until(done, 5000);
    if (!done || ec) {
      ok_ = false;
      return false;
    }
    return true;
  }

  void run_until(bool& done, int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    ioc_->restart();
    while (!done && std::chrono::steady_clock::now() < deadline) {
      ioc_->run_one_until(deadline);
    }
  }

  std::unique_ptr<boost::asio::io_context> ioc_;
  std::unique_ptr<Ws> ws_;
  bool ok_ = false;
};

}  // namespace loyalty::testing

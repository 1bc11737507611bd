#include "sync/client/sync_client.h"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <time.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <random>
#include <sstream>
#include <utility>

#include "app/sync_apply.h"
#include "domain/time.h"
#include "sync/protocol/frames.h"

namespace loyalty::sync {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace http = beast::http;
using tcp = net::ip::tcp;
using net::awaitable;
using net::use_awaitable;

namespace {

// ---- entry <-> wire ------------------------------------------------------------------

Entry to_wire(const app::EntryRow& e) {
  Entry w;
  w.entry_id = e.entry_id;
  w.origin_branch = e.origin_branch;
  w.origin_seq = e.origin_seq;
  w.node_epoch = e.node_epoch;
  w.account_id = e.account_id;
  w.kind = e.kind;
  w.points = e.points.value();
  w.request_id = e.request_id;
  w.branch = e.branch;
  w.ticket = e.ticket;
  w.ref_entry_id = e.ref_entry_id;
  w.business_at = domain::format_rfc3339(e.business_at);
  w.recorded_at_ms = e.recorded_at_ms;
  if (e.expires_at) w.expires_at = domain::format_rfc3339(*e.expires_at);
  w.program_version = e.program_version;
  w.reason = e.reason;
  w.body_hash = e.body_hash;
  w.data = e.data.empty() ? "null" : e.data;
  return w;
}

domain::Result<app::EntryRow> from_wire(Entry&& w) {
  app::EntryRow e;
  e.entry_id = std::move(w.entry_id);
  e.origin_branch = std::move(w.origin_branch);
  e.origin_seq = w.origin_seq;
  e.node_epoch = std::move(w.node_epoch);
  e.account_id = std::move(w.account_id);
  e.kind = std::move(w.kind);
  e.points = domain::Points(w.points);
  e.request_id = std::move(w.request_id);
  e.branch = std::move(w.branch);
  e.ticket = std::move(w.ticket);
  e.ref_entry_id = std::move(w.ref_entry_id);
  auto at = domain::parse_rfc3339(w.business_at);
  if (!at) return domain::make_error(domain::ErrorCode::kInvalidEvent, "business_at", at.error().message);
  e.business_at = *at;
  e.recorded_at_ms = w.recorded_at_ms;
  if (w.expires_at) {
    auto x = domain::parse_rfc3339(*w.expires_at);
    if (!x) return domain::make_error(domain::ErrorCode::kInvalidEvent, "expires_at", x.error().message);
    e.expires_at = *x;
  }
  e.program_version = std::move(w.program_version);
  e.reason = std::move(w.reason);
  e.body_hash = std::move(w.body_hash);
  if (w.data != "null") e.data = std::move(w.data);
  return e;
}

struct Url {
  bool tls = false;
  std::string host, port, target;
};

domain::Result<Url> parse_url(const std::string& url) {
  Url u;
  std::string rest;
  if (url.rfind("wss://", 0) == 0) {
    u.tls = true;
    rest = url.substr(6);
  } else if (url.rfind("ws://", 0) == 0) {
    rest = url.substr(5);
  } else {
    return domain::make_error(domain::ErrorCode::kInvalidConfig, "sync.url", "must start with wss:// or ws://");
  }
  const size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  u.target = slash == std::string::npos ? std::string(kSyncPath) : rest.substr(slash);
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') u.port = authority.substr(close + 2);
  } else {
    const size_t colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) u.port = authority.substr(colon + 1);
  }
  if (u.port.empty()) u.port = u.tls ? "443" : "80";
  return u;
}

struct AuthRefused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ENTRIES frames decoded and waiting for the apply thread, at most (the reader stops reading
// while this many are queued or being applied; the hub keeps max_unapplied_frames, 4 by
// default, in flight), and at most this many entries in one apply transaction (it holds the
// ledger's write lock: POS writes wait behind it).
constexpr int kMaxQueuedFrames = 8;
constexpr size_t kMaxApplyEntries = 4 * kMaxBatchEntries;

}  // namespace

std::chrono::milliseconds Backoff::next() {
  double ms = static_cast<double>(initial_.count());
  for (int i = 0; i < attempt_ && ms < static_cast<double>(max_.count()); ++i) ms *= 1.6;
  ms = std::min(ms, static_cast<double>(max_.count()));
  ++attempt_;
  // xorshift64: jitter of +-20 % so that branches do not reconnect in step.
  rng_state_ ^= rng_state_ << 13;
  rng_state_ ^= rng_state_ >> 7;
  rng_state_ ^= rng_state_ << 17;
  const double unit = static_cast<double>(rng_state_ % 1'000'001) / 1'000'000.0;  // 0..1
  ms *= 0.8 + 0.4 * unit;
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

// ---------------------------------------------------------------------------------------

struct SyncClient::Impl {
  Impl(ClientOptions o, std::shared_ptr<app::LedgerStore> s, app::Service& svc,
       std::shared_ptr<app::SyncStatus> st, ConfigApplier ac, std::shared_ptr<spdlog::logger> lg)
      : opt(std::move(o)),
        store(std::move(s)),
        service(svc),
        status(std::move(st)),
        apply_config(std::move(ac)),
        log(std::move(lg)),
        signal(ioc),
        pause(ioc),
        sweep_timer(ioc),
        apply_room(ioc),
        backoff(opt.backoff_initial, opt.backoff_max, std::random_device{}()),
        node_epoch(opt.node_epoch) {
    signal.expires_at(net::steady_timer::time_point::max());
    apply_room.expires_at(net::steady_timer::time_point::max());
    stats.node_epoch = node_epoch;
  }

  ClientOptions opt;
  std::shared_ptr<app::LedgerStore> store;
  app::Service& service;
  std::shared_ptr<app::SyncStatus> status;
  ConfigApplier apply_config;
  std::shared_ptr<spdlog::logger> log;

  net::io_context ioc;
  net::steady_timer signal;       // the writer waits on it; cancel() wakes it
  net::steady_timer pause;        // backoff between sessions
  net::steady_timer sweep_timer;  // the expiry sweep's period
  net::steady_timer apply_room;   // cancelled by on_applied: the reader waits on it while the
                                  // apply queue is full, a session's end until it is empty
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::atomic<bool> wake_pending{false};
  std::atomic<bool> sweep_requested{false};
  Backoff backoff;
  std::string node_epoch;  // the ledger's; a new one after a restore was detected

  mutable std::mutex stats_mu;
  ClientStats stats;

  // The apply thread (see apply_loop): ENTRIES frames the io thread decoded, in hub order,
  // tagged with their session. It applies everything queued in one write transaction and
  // posts the outcome back to the io thread (on_applied), which sends APPLIED.
  struct Queued {
    uint64_t session = 0;
    app::RemoteFrame frame;
  };
  std::thread apply_thread;
  std::mutex apply_mu;
  std::condition_variable apply_cv;
  std::deque<Queued> apply_queue;  // under apply_mu
  bool apply_quit = false;         // under apply_mu
  int apply_pending = 0;           // io thread: frames queued whose outcome has not come back
  uint64_t session_id = 0;         // io thread: numbers sessions (a new one per converse)

  // Per session state (only the io thread touches it).
  int64_t acked_seq = 0;
  int64_t next_seq = 1;  // first seq not yet sent in this session
  std::deque<std::string> control;  // applied / config_ack frames to send first
  std::string fail_after_control;   // the session fails once `control` went out
  bool session_dead = false;
  std::string session_error;
  std::function<void()> closer;  // closes the current socket (stop() during connect)
  // Branch recovery (per session, from sync_state): own seqs to fetch back.
  int64_t recover_next = 0;
  int64_t recover_to = 0;
  bool fetch_in_flight = false;
  bool fetch_refused = false;  // the hub does not know fetch_own
  bool diverged = false;       // hold pushes back (see check_restore)

  template <class F>
  void update(F f) {
    std::lock_guard lock(stats_mu);
    f(stats);
  }

  void kick() { signal.cancel(); }

  void fail(std::string why) {
    if (!session_dead) {
      session_dead = true;
      session_error = std::move(why);
    }
    apply_room.cancel();  // a reader waiting for the apply thread ends now
    kick();
  }

  void contact() { status->last_contact_ms.store(service.clock().now_ms(), std::memory_order_relaxed); }

  // ---- the session loop ----

  awaitable<void> run() {
    while (!stopping) {
      bool auth = false;
      try {
        auto u = parse_url(opt.url);
        if (!u) throw std::runtime_error(u.error().message);
        if (u->tls) {
          co_await session_tls(*u);
        } else {
          co_await session_plain(*u);
        }
      } catch (const AuthRefused& e) {
        auth = true;
        note_failure(e.what(), true);
      } catch (const std::exception& e) {
        note_failure(e.what(), false);
      }
      if (stopping) break;
      auto wait = backoff.next();
      if (auth) wait = std::max(wait, opt.auth_backoff);
      update([&](ClientStats& s) { s.last_backoff_ms = wait.count(); });
      log->info("sync: reconnecting in {} ms", wait.count());
      pause.expires_after(wait);
      boost::system::error_code ec;
      co_await pause.async_wait(net::redirect_error(use_awaitable, ec));
    }
  }

  void note_failure(const std::string& what, bool auth) {
    log->warn("sync: session ended: {}", what);
    update([&](ClientStats& s) {
      ++s.failures;
      if (auth) ++s.auth_failures;
      s.last_error = what;
    });
  }

  template <class Ws>
  void configure(Ws& ws) {
    websocket::stream_base::timeout t{};
    t.handshake_timeout = std::chrono::seconds(30);
    t.idle_timeout = opt.idle_timeout;
    t.keep_alive_pings = true;
    ws.set_option(t);
    ws.read_message_max(kMaxFrameBytes);
    ws.set_option(websocket::stream_base::decorator([this](websocket::request_type& req) {
      req.set(http::field::authorization, "Bearer " + opt.token);
      req.set("X-Branch", opt.branch);
      req.set(http::field::sec_websocket_protocol, std::string(kSubprotocol));
    }));
  }

  template <class Ws>
  awaitable<void> handshake(Ws& ws, const Url& u) {
    websocket::response_type res;
    boost::system::error_code ec;
    co_await ws.async_handshake(res, u.host + ":" + u.port, u.target,
                                net::redirect_error(use_awaitable, ec));
    if (res.result() == http::status::unauthorized) throw AuthRefused("the hub refused the token (401)");
    if (ec) throw boost::system::system_error(ec, "websocket handshake");
  }

  awaitable<tcp::resolver::results_type> resolve(const Url& u) {
    tcp::resolver r(ioc);
    auto found = co_await r.async_resolve(u.host, u.port, use_awaitable);
    co_return found;
  }

  awaitable<void> session_plain(const Url& u) {
    auto found = co_await resolve(u);
    for (const auto& ep : found) {
      if (!ep.endpoint().address().is_loopback()) {
        throw std::runtime_error("ws:// is allowed only to this machine (loopback); use wss:// for " + u.host);
      }
    }
    websocket::stream<beast::tcp_stream> ws(ioc);
    closer = [&ws] { beast::get_lowest_layer(ws).close(); };
    struct Reset {
      std::function<void()>& f;
      ~Reset() { f = nullptr; }
    } reset{closer};
    beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(30));
    co_await beast::get_lowest_layer(ws).async_connect(found, use_awaitable);
    beast::get_lowest_layer(ws).expires_never();
    configure(ws);
    co_await handshake(ws, u);
    co_await converse(ws);
  }

  awaitable<void> session_tls(const Url& u) {
    net::ssl::context ctx(net::ssl::context::tls_client);
    ctx.set_verify_mode(net::ssl::verify_peer);
    if (!opt.ca_file.empty()) {
      ctx.load_verify_file(opt.ca_file);
    } else {
      ctx.set_default_verify_paths();
    }
    auto found = co_await resolve(u);
    websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(ioc, ctx);
    // SNI and host name verification (Debian's Boost 1.74 example sets neither).
    if (!SSL_set_tlsext_host_name(ws.next_layer().native_handle(), u.host.c_str())) {
      throw std::runtime_error("cannot set SNI host name " + u.host);
    }
    ws.next_layer().set_verify_callback(net::ssl::host_name_verification(u.host));
    closer = [&ws] { beast::get_lowest_layer(ws).close(); };
    struct Reset {
      std::function<void()>& f;
      ~Reset() { f = nullptr; }
    } reset{closer};
    beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(30));
    co_await beast::get_lowest_layer(ws).async_connect(found, use_awaitable);
    co_await ws.next_layer().async_handshake(net::ssl::stream_base::client, use_awaitable);
    beast::get_lowest_layer(ws).expires_never();
    configure(ws);
    co_await handshake(ws, u);
    co_await converse(ws);
  }

  // HELLO / WELCOME, then a reader and a writer until one of them fails.
  template <class Ws>
  awaitable<void> converse(Ws& ws) {
    session_dead = false;
    session_error.clear();
    control.clear();
    fail_after_control.clear();
    ++session_id;  // the previous session's frames were all applied (or dropped) at its end
    const std::string self = opt.branch;
    app::SyncState st;
    int64_t local_max = 0;
    {
      auto tx = store->begin_read();
      st = tx->sync_state(app::kHubPeer);
      local_max = tx->max_seq(self);
      tx->commit();
    }
    Hello hello;
    hello.branch = self;
    hello.node_epoch = node_epoch;
    hello.local_max_seq = local_max;
    hello.applied_offset = st.applied_offset;
    hello.hub_epoch_seen = st.hub_epoch;
    hello.config_version = st.config_version;
    hello.client_time_ms = service.clock().now_ms();
    hello.check_offset = st.check_offset;
    hello.check_entry_id = st.check_entry_id;
    ws.text(true);
    co_await ws.async_write(net::buffer(encode(Frame{hello})), use_awaitable);

    beast::flat_buffer buf;
    co_await ws.async_read(buf, use_awaitable);
    auto first = decode_frame(beast::buffers_to_string(buf.data()));
    if (!first) throw std::runtime_error("hub sent an unreadable first frame: " + first.error().message);
    if (auto* err = std::get_if<ErrorFrame>(&*first)) {
      if (err->code == kErrAuth) throw AuthRefused("hub: " + err->message);
      throw std::runtime_error("hub error " + err->code + ": " + err->message);
    }
    auto* welcome = std::get_if<Welcome>(&*first);
    if (!welcome) throw std::runtime_error("hub did not answer hello with welcome");
    contact();
    backoff.reset();
    fetch_in_flight = false;
    fetch_refused = false;
    acked_seq = check_restore(*welcome, st, local_max);
    next_seq = acked_seq + 1;
    update([&](ClientStats& s) {
      ++s.connects;
      s.acked_seq = acked_seq;
    });
    log->info("sync: connected to the hub ({}), acked seq {}, local seq {}", welcome->hub_epoch,
              acked_seq, local_max);

    bool reader_done = false;
    net::co_spawn(ioc, reader(ws, reader_done), net::detached);
    co_await writer(ws);
    // Close the socket so that the reader ends, and wait for it.
    boost::system::error_code ignored;
    beast::get_lowest_layer(ws).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws).socket().close(ignored);
    while (!reader_done) {
      net::steady_timer t(ioc, std::chrono::milliseconds(1));
      co_await t.async_wait(net::redirect_error(use_awaitable, ignored));
    }
    // Frames received before the end are applied (or dropped after a failed one) before the
    // next hello reads applied_offset.
    while (apply_pending > 0) {
      co_await apply_room.async_wait(net::redirect_error(use_awaitable, ignored));  // on_applied
    }
    if (!stopping) throw std::runtime_error(session_error.empty() ? "connection closed" : session_error);
  }

  // WELCOME against this ledger (docs/sync.md "Branch recovery"); returns the acked seq the
  // session starts from and saves what changed in sync_state (one transaction).
  int64_t check_restore(const Welcome& w, const app::SyncState& st, int64_t local_max) {
    diverged = false;
    auto tx = store->begin_write();
    app::SyncState now = tx->sync_state(app::kHubPeer);
    bool restored = false;
    std::string epoch;
    if (w.acked_seq > local_max && w.acked_seq > now.recover_to &&
        w.acked_seq > now.own_seq_floor) {
      // The hub holds own entries this ledger does not: it was restored from an older copy.
      // New writes get a new node epoch and seqs above the hub's; the lost ones come back
      // from the hub (fetch_own), from the last seq this copy knew the hub had.
      restored = true;
      epoch = new_epoch();
      tx->set_node_epoch(epoch);
      now.own_seq_floor = std::max(now.own_seq_floor, w.acked_seq);
      now.recover_next = std::min(st.acked_seq, local_max) + 1;
      now.recover_to = w.acked_seq;
    } else if (w.acked_seq > 0 && w.acked_seq <= local_max && !w.acked_entry_id.empty()) {
      auto mine = tx->entries_of_origin(opt.branch, w.acked_seq - 1, 1);
      if (!mine.empty() && mine.front().origin_seq == w.acked_seq &&
          mine.front().entry_id != w.acked_entry_id) {
        diverged = true;
      }
    }
    if (w.must_refetch) {
      // The hub streams from offset 1 again (restored or new hub): our position and check
      // entry refer to its old history.
      now.applied_offset = 0;
      now.check_offset = 0;
      now.check_entry_id.clear();
    }
    // While own seqs are still to be fetched, the hub's acked seq is above our own maximum
    // and new writes are numbered after it.
    const int64_t start = now.recover_to > 0 ? w.acked_seq : std::min(w.acked_seq, local_max);
    now.hub_epoch = w.hub_epoch;
    now.acked_seq = start;
    now.last_contact_ms = service.clock().now_ms();
    tx->put_sync_state(app::kHubPeer, now);
    tx->commit();
    if (!epoch.empty()) node_epoch = epoch;
    recover_next = now.recover_next;
    recover_to = now.recover_to;
    if (restored) {
      log->error(
          "sync: the hub holds seq {} of this branch but the ledger ends at {}: the ledger "
          "was restored from an older copy; new node epoch {}, fetching own seqs {}..{} "
          "back from the hub",
          w.acked_seq, local_max, node_epoch, recover_next, recover_to);
    }
    if (diverged) {
      log->error(
          "sync: the hub's entry at seq {} of this branch is {} but this ledger has another "
          "one there: it was restored from an older copy and wrote since; pushes held "
          "back (docs/sync.md \"Branch recovery\")",
          w.acked_seq, w.acked_entry_id);
    }
    update([&](ClientStats& s) {
      if (restored) ++s.restores_detected;
      s.recovering = recover_to > 0;
      s.diverged = diverged;
      s.node_epoch = node_epoch;
    });
    return start;
  }

  static std::string new_epoch() {
    std::random_device rd;
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (int i = 0; i < 16; ++i) {
      const unsigned b = rd() & 0xffu;
      out += kHex[b >> 4];
      out += kHex[b & 15];
    }
    return out;
  }

  template <class Ws>
  awaitable<void> reader(Ws& ws, bool& done) {
    try {
      beast::flat_buffer buf;
      while (!session_dead) {
        buf.clear();
        co_await ws.async_read(buf, use_awaitable);
        if (!ws.got_text()) {
          fail("the hub sent a binary frame");
          break;
        }
        contact();
        on_frame(beast::buffers_to_string(buf.data()));
        // Read on only while the apply thread keeps up (a hub that ignores its window).
        while (apply_pending >= kMaxQueuedFrames && !session_dead) {
          boost::system::error_code ec;
          co_await apply_room.async_wait(net::redirect_error(use_awaitable, ec));
        }
      }
    } catch (const std::exception& e) {
      fail(std::string("read: ") + e.what());
    }
    done = true;
    kick();
  }

  void on_frame(const std::string& text) {
    auto f = decode_frame(text);
    if (!f) {
      fail("unreadable frame from the hub: " + f.error().field + ": " + f.error().message);
      return;
    }
    if (auto* a = std::get_if<Ack>(&*f)) {
      if (a->acked_seq > acked_seq) {
        acked_seq = a->acked_seq;
        update([&](ClientStats& s) { s.acked_seq = acked_seq; });
      }
      kick();
    } else if (auto* n = std::get_if<Nack>(&*f)) {
      log->info("sync: hub expects seq {}; resending from there", n->expected);
      next_seq = std::max<int64_t>(1, n->expected);
      acked_seq = std::max(acked_seq, n->expected - 1);
      update([&](ClientStats& s) { ++s.nacks; });
      kick();
    } else if (auto* e = std::get_if<Entries>(&*f)) {
      on_entries(*e);
    } else if (auto* c = std::get_if<Config>(&*f)) {
      on_config(*c);
    } else if (auto* o = std::get_if<OwnEntries>(&*f)) {
      on_own_entries(*o);
    } else if (auto* err = std::get_if<ErrorFrame>(&*f)) {
      log->warn("sync: hub error {}: {}", err->code, err->message);
      if (fetch_in_flight && err->code == kErrVersion) {
        fetch_in_flight = false;
        fetch_refused = true;  // an older hub: own entries stay missing until it knows fetch_own
        log->error("sync: the hub does not serve fetch_own; own seqs {}..{} stay missing",
                   recover_next, recover_to);
      }
      if (err->fatal) fail("hub error " + err->code + ": " + err->message);
    }
  }

  // A wire entry from the hub as a ledger row, appended to `rows`. A bad one fails the
  // session, naming it by `what()`, and gives false.
  template <class What>
  bool add_row(Entry&& e, std::vector<app::EntryRow>& rows, What what) {
    auto row = from_wire(std::move(e));
    if (!row) {
      fail(what() + ": " + row.error().field + ": " + row.error().message);
      return false;
    }
    rows.push_back(std::move(*row));
    return true;
  }

  void on_own_entries(OwnEntries& frame) {
    if (!fetch_in_flight || frame.from_seq != recover_next) {
      fail("the hub sent own_entries from seq " + std::to_string(frame.from_seq) +
           " that were not asked for");
      return;
    }
    fetch_in_flight = false;
    std::vector<app::EntryRow> rows;
    rows.reserve(frame.entries.size());
    for (Entry& e : frame.entries) {
      const int64_t seq = e.origin_seq;
      if (!add_row(std::move(e), rows, [&] { return "own entry seq " + std::to_string(seq); })) {
        return;
      }
    }
    try {
      auto settings = service.settings();
      auto counts =
          app::apply_own_recovered(*store, *settings, service.clock(), rows, frame.to_seq + 1);
      recover_next = frame.to_seq + 1;
      if (recover_next > recover_to) recover_next = recover_to = 0;
      update([&](ClientStats& s) {
        s.recovered += counts.applied;
        s.recovery_conflicts += counts.conflicts;
        s.recovering = recover_to > 0;
        if (counts.conflicts > 0) s.diverged = true;
      });
      if (counts.conflicts > 0) {
        log->error(
            "sync: {} own entries from the hub (seqs {}..{}) collide with entries this "
            "ledger wrote after it was restored; kept ours",
            counts.conflicts, frame.from_seq, frame.to_seq);
      }
      if (recover_to == 0)
        log->info("sync: own entries recovered from the hub up to seq {}", frame.to_seq);
      kick();
    } catch (const std::exception& e) {
      fail(std::string("writing recovered entries: ") + e.what());
    }
  }

  // Decoded here (the io thread), applied on the apply thread: the next frames are read and
  // decoded while a transaction commits, and frames that arrive meanwhile share the next one.
  void on_entries(Entries& frame) {
    app::RemoteFrame f;
    f.to_offset = frame.to_offset;
    f.entries.reserve(frame.entries.size());
    f.offsets.reserve(frame.entries.size());
    for (OffsetEntry& oe : frame.entries) {
      f.offsets.push_back(oe.offset);
      if (!add_row(std::move(oe.entry), f.entries,
                   [&] { return "entry at offset " + std::to_string(oe.offset); })) {
        return;  // the frames queued before this one are still applied
      }
    }
    ++apply_pending;
    update([&](ClientStats& s) { ++s.entries_frames; });
    {
      std::lock_guard lock(apply_mu);
      apply_queue.push_back(Queued{session_id, std::move(f)});
    }
    apply_cv.notify_one();
  }

  // What the apply thread did with frames of `session`: `frames` left the queue, those up to
  // `to_offset` (0 = none) are committed, `error` names the frame that failed (the frames
  // after it in the session were dropped, never applied out of order).
  struct Outcome {
    uint64_t session = 0;
    int frames = 0;
    int transactions = 0;  // committed
    int64_t busy_ms = 0;   // wall time in apply_frames
    int64_t cpu_ms = 0;    // the apply thread's CPU time so far
    int64_t to_offset = 0;
    app::ApplyCounts counts;
    std::string error;
  };

  void on_applied(const Outcome& o) {
    apply_pending -= o.frames;
    apply_room.cancel();
    update([&](ClientStats& s) {
      s.apply_transactions += o.transactions;
      s.apply_ms += o.busy_ms;
      s.apply_cpu_ms = std::max(s.apply_cpu_ms, o.cpu_ms);
    });
    if (o.to_offset > 0) {
      update([&](ClientStats& s) {
        s.applied += o.counts.applied;
        s.duplicates += o.counts.duplicates;
        s.applied_offset = o.to_offset;
      });
      if (o.counts.conflicts > 0) {
        log->error(
            "sync: {} entries from the hub contradict entries stored here (same id, other "
            "content); kept ours",
            o.counts.conflicts);
      }
      // APPLIED only after the commit; one for the batch (the hub releases every frame up to
      // the offset).
      if (o.session == session_id) control.push_back(encode(Frame{Applied{o.to_offset}}));
    }
    if (!o.error.empty() && o.session == session_id) {
      // The APPLIED of the frames committed before the bad one goes out first.
      if (control.empty()) {
        fail(o.error);
      } else if (fail_after_control.empty()) {
        fail_after_control = o.error;
      }
    }
    kick();  // APPLIED, and our refund corrections, go out
  }

  // The apply thread: takes every frame queued (up to kMaxApplyEntries entries), applies them
  // in one write transaction and posts the outcome to the io thread. When that transaction
  // fails, the frames are applied one transaction each, in order, so that the ones before the
  // bad frame are kept and acked, and the session fails on the bad one as it would have
  // without the batching; the session's later frames are dropped (the hub sends them again).
  void apply_loop() {
    uint64_t failed_session = 0;
    for (;;) {
      std::vector<Queued> batch;
      {
        std::unique_lock lock(apply_mu);
        apply_cv.wait(lock, [&] { return apply_quit || !apply_queue.empty(); });
        if (apply_quit) return;  // the io thread has ended: nobody is waiting for outcomes
        size_t n = 0;            // entries taken
        while (!apply_queue.empty()) {
          Queued& q = apply_queue.front();
          if (!batch.empty() && (q.session != batch.front().session ||
                                 n + q.frame.entries.size() > kMaxApplyEntries)) {
            break;
          }
          n += q.frame.entries.size();
          batch.push_back(std::move(q));
          apply_queue.pop_front();
        }
      }
      Outcome o;
      o.session = batch.front().session;
      o.frames = static_cast<int>(batch.size());
      if (o.session != failed_session) {
        const auto t0 = std::chrono::steady_clock::now();
        apply_frames(batch, o);
        o.busy_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - t0)
                        .count();
      }
      timespec cpu{};
      if (::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0) {
        o.cpu_ms = static_cast<int64_t>(cpu.tv_sec) * 1000 + cpu.tv_nsec / 1'000'000;
      }
      if (!o.error.empty()) failed_session = o.session;
      try {
        net::post(ioc, [this, o = std::move(o)] { on_applied(o); });
      } catch (const std::exception& e) {
        log->error("sync: {}", e.what());
      }
    }
  }

  void apply_frames(std::vector<Queued>& batch, Outcome& o) {
    std::vector<app::RemoteFrame> frames;
    frames.reserve(batch.size());
    for (Queued& q : batch) frames.push_back(std::move(q.frame));
    std::shared_ptr<const config::Settings> settings = service.settings();
    if (frames.size() > 1) {
      try {
        o.counts = app::apply_remote_frames(*store, *settings, service.clock(), frames);
        for (const app::RemoteFrame& f : frames) o.to_offset = std::max(o.to_offset, f.to_offset);
        o.transactions = 1;
        return;
      } catch (const std::exception&) {
        // All or nothing: find the frame that fails below.
      }
    }
    // One transaction per frame, in order, until one fails.
    std::vector<app::RemoteFrame> one(1);
    for (app::RemoteFrame& f : frames) {
      const int64_t from = f.offsets.empty() ? f.to_offset : f.offsets.front();
      const int64_t to = f.to_offset;
      one.front() = std::move(f);
      try {
        o.counts += app::apply_remote_frames(*store, *settings, service.clock(), one);
        o.to_offset = std::max(o.to_offset, to);
        ++o.transactions;
      } catch (const std::exception& e) {
        o.error = "applying entries at offsets " + std::to_string(from) + ".." +
                  std::to_string(to) + ": " + e.what();
        return;
      }
    }
  }

  void on_config(const Config& c) {
    domain::Status s = apply_config ? apply_config(c.version, c.document) : domain::ok_status();
    if (!s) {
      log->error("sync: program document {} from the hub refused: {}: {}", c.version, s.error().field,
                 s.error().message);
      return;
    }
    try {
      auto tx = store->begin_write();
      app::SyncState st = tx->sync_state(app::kHubPeer);
      st.config_version = c.version;
      tx->put_sync_state(app::kHubPeer, st);
      tx->commit();
    } catch (const std::exception& e) {
      log->warn("sync: cannot record program version {}: {}", c.version, e.what());
    }
    update([&](ClientStats& st) { ++st.configs; });
    log->info("sync: program document {} from the hub applied", c.version);
    control.push_back(encode(Frame{ConfigAck{c.version}}));
    kick();
  }

  // The owner-side expiry sweep, on this thread (never a POS thread): bounded batches, one
  // write transaction each; the service's clock decides what is due.
  awaitable<void> sweeper() {
    while (!stopping) {
      int64_t n = 0;
      try {
        auto settings = service.settings();
        n = app::expire_due_lots(*store, *settings, service.clock(), opt.sweep_batch);
        update([&](ClientStats& s) {
          ++s.sweeps;
          s.expired += n;
        });
        if (n > 0) {
          log->info("sync: expiry sweep expired {} lots", n);
          kick();  // the expire entries go out
        }
      } catch (const std::exception& e) {
        log->warn("sync: expiry sweep: {}", e.what());
      }
      if (stopping) break;
      if (sweep_requested.exchange(false)) continue;
      sweep_timer.expires_after(n >= opt.sweep_batch ? std::chrono::milliseconds(10)
                                                     : opt.sweep_period);
      boost::system::error_code ec;
      co_await sweep_timer.async_wait(net::redirect_error(use_awaitable, ec));
    }
  }

  template <class Ws>
  awaitable<void> writer(Ws& ws) {
    std::vector<int64_t> in_flight;  // last_seq of batches sent and not yet acked
    // When the oldest batch in flight went out or the ack last moved, whichever is later.
    auto progress_at = std::chrono::steady_clock::now();
    int64_t progress_seq = acked_seq;
    while (!session_dead && !stopping) {
      if (acked_seq != progress_seq) {
        progress_seq = acked_seq;
        progress_at = std::chrono::steady_clock::now();
      }
      std::erase_if(in_flight, [&](int64_t last) { return last <= acked_seq; });
      if (!in_flight.empty() &&
          std::chrono::steady_clock::now() - progress_at >= opt.flush_period) {
        // No ack for a flush period: the hub did not store a batch (a `rate` answer, or it was
        // lost) and nothing after it drew a NACK. Send again from the acked position.
        log->info("sync: no ack for seq {}.. in {} ms; resending", acked_seq + 1,
                  opt.flush_period.count());
        in_flight.clear();
        next_seq = acked_seq + 1;
        progress_at = std::chrono::steady_clock::now();
        update([&](ClientStats& s) { ++s.resends; });
      }
      if (next_seq <= acked_seq) next_seq = acked_seq + 1;
      if (!in_flight.empty() && in_flight.back() >= next_seq) in_flight.clear();  // rewound (nack)
      std::string frame;
      int64_t sent_last = 0;
      size_t sent_count = 0;
      if (control.empty() && !fail_after_control.empty()) {
        fail(std::exchange(fail_after_control, {}));
        break;
      }
      if (!control.empty()) {
        frame = std::move(control.front());
        control.pop_front();
      } else if (recover_to > 0 && !fetch_in_flight && !fetch_refused) {
        const int64_t last =
            std::min(recover_to, recover_next + static_cast<int64_t>(kMaxBatchEntries) - 1);
        frame = encode(Frame{FetchOwn{recover_next, last}});
        fetch_in_flight = true;
      } else if (!diverged && static_cast<int>(in_flight.size()) < kMaxPushInFlight) {
        std::vector<app::EntryRow> rows;
        try {
          rows = app::outbox(*store, opt.branch, next_seq - 1, static_cast<int64_t>(kMaxBatchEntries));
        } catch (const std::exception& e) {
          fail(std::string("reading the outbox: ") + e.what());
          break;
        }
        // Stop at a gap in our own numbering (cannot happen in a verified ledger).
        size_t n = 0;
        while (n < rows.size() && rows[n].origin_seq == next_seq + static_cast<int64_t>(n)) ++n;
        if (n > 0) {
          Push p;
          p.first_seq = rows.front().origin_seq;
          p.last_seq = rows[n - 1].origin_seq;
          for (size_t i = 0; i < n; ++i) p.entries.push_back(to_wire(rows[i]));
          frame = encode(Frame{std::move(p)});
          sent_last = rows[n - 1].origin_seq;
          sent_count = n;
        }
      }
      if (!frame.empty()) {
        try {
          co_await ws.async_write(net::buffer(frame), use_awaitable);
        } catch (const std::exception& e) {
          fail(std::string("write: ") + e.what());
          break;
        }
        if (sent_last > 0) {
          if (in_flight.empty()) progress_at = std::chrono::steady_clock::now();
          in_flight.push_back(sent_last);
          next_seq = sent_last + 1;
          update([&](ClientStats& s) { s.pushed += static_cast<int64_t>(sent_count); });
        }
        continue;
      }
      // Nothing to send: wait for a wake-up, an ack, a frame to answer, or the flush timer
      // (which also ends the wait for an ack that does not come).
      auto wait = opt.flush_period;
      if (!in_flight.empty()) {
        wait = std::max(std::chrono::milliseconds(1),
                        std::chrono::duration_cast<std::chrono::milliseconds>(
                            progress_at + opt.flush_period - std::chrono::steady_clock::now()));
      }
      signal.expires_after(wait);
      boost::system::error_code ec;
      co_await signal.async_wait(net::redirect_error(use_awaitable, ec));
      wake_pending.store(false, std::memory_order_relaxed);
    }
  }
};

// ---------------------------------------------------------------------------------------

SyncClient::SyncClient(ClientOptions options, std::shared_ptr<app::LedgerStore> store,
                       app::Service& service, std::shared_ptr<app::SyncStatus> status,
                       ConfigApplier apply_config, std::shared_ptr<spdlog::logger> logger)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(store), service, std::move(status),
                                   std::move(apply_config), std::move(logger))) {}

SyncClient::~SyncClient() { stop(); }

void SyncClient::start() {
  if (impl_->thread.joinable()) return;
  {
    // The last contact survives a restart (the offline policy starts from it).
    try {
      auto tx = impl_->store->begin_read();
      impl_->status->last_contact_ms = tx->sync_state(app::kHubPeer).last_contact_ms;
      tx->commit();
    } catch (const std::exception&) {
    }
  }
  Impl* i = impl_.get();
  i->apply_thread = std::thread([i] { i->apply_loop(); });
  net::co_spawn(i->ioc, i->run(), net::detached);
  if (i->opt.sweep_period.count() > 0 && i->opt.sweep_batch > 0) {
    net::co_spawn(i->ioc, i->sweeper(), net::detached);
  }
  i->thread = std::thread([i] {
    for (;;) {
      try {
        i->ioc.run();
        break;
      } catch (const std::exception& e) {
        i->log->error("sync: {}", e.what());  // never let the sync thread take the POS down
      }
    }
  });
}

void SyncClient::stop() {
  Impl* i = impl_.get();
  if (!i || !i->thread.joinable()) return;
  i->stopping = true;
  net::post(i->ioc, [i] {
    i->fail("stopping");
    i->pause.cancel();
    i->sweep_timer.cancel();
    if (i->closer) i->closer();
  });
  // The session coroutines end on the cancelled timers and the closed socket (the session
  // waits for the apply thread's outcomes first); then run() returns and the thread ends.
  i->thread.join();
  {
    std::lock_guard lock(i->apply_mu);
    i->apply_quit = true;
  }
  i->apply_cv.notify_one();
  i->apply_thread.join();
}

void SyncClient::wake() noexcept {
  Impl* i = impl_.get();
  if (!i->wake_pending.exchange(true, std::memory_order_relaxed)) {
    try {
      net::post(i->ioc, [i] { i->kick(); });
    } catch (...) {
      i->wake_pending = false;
    }
  }
}

void SyncClient::sweep_now() noexcept {
  Impl* i = impl_.get();
  try {
    i->sweep_requested = true;
    net::post(i->ioc, [i] { i->sweep_timer.cancel(); });
  } catch (...) {
  }
}

ClientStats SyncClient::stats() const {
  std::lock_guard lock(impl_->stats_mu);
  return impl_->stats;
}

domain::Result<ClientOptions> SyncClient::options_from(const config::Settings& s) {
  ClientOptions o;
  o.url = s.sync.url;
  o.ca_file = s.sync.ca_file;
  o.branch = s.branch;
  std::ifstream in(s.sync.token_file);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token = ss.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (!in || token.empty()) {
    return domain::make_error(domain::ErrorCode::kInvalidConfig, "sync.token_file",
                              "cannot read the branch token from " + s.sync.token_file);
  }
  o.token = token;
  // Checked here, not at each TLS handshake: a CA file that is not there made every attempt
  // fail with "load_verify_file: asio.ssl error", naming neither the key nor the file.
  if (!o.ca_file.empty() && !std::ifstream(o.ca_file)) {
    return domain::make_error(domain::ErrorCode::kInvalidConfig, "sync.ca_file",
                              "cannot read the hub's CA certificates from " + o.ca_file);
  }
  return o;
}

}  // namespace loyalty::sync

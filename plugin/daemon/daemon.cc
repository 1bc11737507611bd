#include "daemon/daemon.h"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "adapters/adapter.h"
#include "daemon/admin_api.h"
#include "daemon/admin_password.h"

namespace loyalty::daemon {

namespace {

domain::Error config_error(std::string field, std::string message) {
  return domain::make_error(domain::ErrorCode::kInvalidConfig, std::move(field),
                            std::move(message));
}

// The bearer token: the file's content without surrounding whitespace.
domain::Result<std::string> read_token(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return config_error("daemon.token_file", "cannot read " + path);
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string token = text.str();
  const auto first = token.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return config_error("daemon.token_file", path + " is empty");
  }
  token = token.substr(first, token.find_last_not_of(" \t\r\n") - first + 1);
  return token;
}

}  // namespace

domain::Result<std::unique_ptr<Daemon>> Daemon::open(const std::string& config_path,
                                                     DropWatch watch) {
  bootstrap::OpenOptions options;
  options.request_records = false;  // see OpenOptions: its p99 at 500 requests/s
  auto runtime = bootstrap::Runtime::open(config_path, options);
  if (!runtime) {
    return runtime.error();
  }
  std::unique_ptr<Daemon> d(new Daemon());
  d->watch_ = watch;
  d->runtime_ = std::move(*runtime);
  const config::Settings& s = d->runtime_->settings();
  const config::DaemonSettings& ds = s.daemon;

  if (!ds.address_is_loopback && ds.token_file.empty()) {
    // Anyone on the network could post sales: a non-loopback listener needs a token.
    return config_error("daemon.token_file", "is required when daemon.address is not a loopback address (\"" +
                                                 ds.address +
                                                 "\"): the file holding the bearer token POS systems must send");
  }

  // config knows the names from a constant; the registry is the truth.
  for (const auto& [name, mapping] : s.adapters) {
    if (adapters::find_adapter(name) == nullptr) {
      return config_error("adapters." + name, "no adapter of that name is built in");
    }
  }

  if (ds.log_path.empty()) {
    d->log_ = d->runtime_->logger();
  } else {
    try {
      auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
          ds.log_path, static_cast<size_t>(ds.log_max_bytes), static_cast<size_t>(ds.log_files));
      d->log_ = std::make_shared<spdlog::logger>("loyaltyd", std::move(sink));
      d->log_->set_level(spdlog::level::from_str(s.log_level));
      d->log_->flush_on(spdlog::level::warn);
    } catch (const std::exception& e) {
      return config_error("daemon.log", "cannot open " + ds.log_path + ": " + e.what());
    }
  }

  std::string token;
  if (!ds.token_file.empty()) {
    auto t = read_token(ds.token_file);
    if (!t) {
      return t.error();
    }
    token = std::move(*t);
  }
  d->api_ = std::make_unique<Api>(d->runtime_->service(), s, std::move(token));
  if (!ds.admin_password_file.empty()) {
    auto users = read_password_file(ds.admin_password_file);
    if (!users) {
      return users.error();
    }
    d->admin_ = std::make_unique<AdminApi>(d->runtime_->program(), std::move(*users));
    d->api_->set_admin(d->admin_.get());
  }

  ServerOptions o;
  o.address = ds.address;
  o.port = static_cast<uint16_t>(ds.port);
  o.max_body_bytes = ds.max_body_bytes;
  o.request_timeout_ms = ds.request_timeout_ms;
  o.io_threads = static_cast<int>(ds.io_threads);
  o.worker_threads = static_cast<int>(ds.worker_threads);
  d->server_ = std::make_unique<Server>(*d->api_, d->log_, o);

  if (!ds.drop_dir.empty()) {
    d->drop_ = std::make_unique<DropFolder>(d->runtime_->service(), s, d->log_);
    if (auto st = d->drop_->open(); !st) {
      return st.error();
    }
  }
  return d;
}

Daemon::~Daemon() {
  stop();
  wait();
  drop_.reset();
  server_.reset();
  if (log_) {
    log_->flush();
  }
}

domain::Status Daemon::start() {
  if (auto st = server_->start(); !st) {
    return st;
  }
  if (drop_ && watch_ == DropWatch::kPolling) {
    drop_->start();
  }
  log_->info("loyaltyd started: branch {}, port {}, drop folder {}", runtime_->settings().branch,
             server_->port(), drop_ ? runtime_->settings().daemon.drop_dir : std::string("none"));
  return domain::ok_status();
}

void Daemon::stop() {
  if (server_) {
    server_->stop();
  }
  if (drop_) {
    drop_->stop();
  }
}

void Daemon::wait() {
  if (server_) {
    server_->wait();
  }
}

}  // namespace loyalty::daemon

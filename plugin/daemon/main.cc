// loyaltyd: the loyalty plugin as a local HTTP daemon, for POS systems that cannot load
// libloyalty.so. Same engine, same ledger, same code path (bootstrap::Runtime and
// app::Service::handle). See docs/daemon.md.
//
// Writes nothing to stdout except --help and, on a terminal, a one-line banner; fatal
// startup errors go to stderr (the journal under systemd). Exit codes: 0 after a clean stop
// (SIGTERM/SIGINT), 1 when the daemon cannot start, 2 for a bad command line.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "daemon/daemon.h"
#include "command_line/command_line.h"

namespace {

namespace net = boost::asio;

std::string default_config() {
  const char* env = std::getenv("LOYALTY_CONFIG");
  return env != nullptr ? env : "/etc/loyalty/loyalty.toml";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"loyaltyd: the loyalty plugin as a local HTTP daemon (POST /v1/events)"};
  app.footer(
      "Example:\n"
      "  loyaltyd --config /etc/loyalty/loyalty.toml\n"
      "\n"
      "The [daemon] section of the file sets the address (default 127.0.0.1:8380), the\n"
      "token, the drop folder and the log; see docs/daemon.md. SIGTERM or SIGINT stops\n"
      "accepting, finishes the requests in flight and closes the ledger.");
  std::string config = default_config();
  std::string port_file;
  app.add_option("-c,--config", config,
                 "the TOML configuration (default $LOYALTY_CONFIG or "
                 "/etc/loyalty/loyalty.toml)");
  app.add_option("--port-file", port_file,
                 "write the bound port to this file once listening (with daemon.port = 0)");
  if (auto code = loyalty::parse_command_line(app, argc, argv)) return *code;

  auto opened = loyalty::daemon::Daemon::open(config);
  if (!opened) {
    const auto& e = opened.error();
    std::fprintf(stderr, "loyaltyd: %s: %s%s\n", config.c_str(),
                 e.field.empty() ? "" : (e.field + ": ").c_str(), e.message.c_str());
    return 1;
  }
  auto& daemon = **opened;

  net::io_context signals_ioc;
  net::signal_set signals(signals_ioc, SIGINT, SIGTERM);
  signals.async_wait([&daemon](const boost::system::error_code& ec, int signal_number) {
    if (ec) {
      daemon.logger()->error("waiting for signals: {}", ec.message());
    } else {
      daemon.logger()->info("signal {}: stopping", signal_number);
    }
    daemon.stop();
  });

  if (auto started = daemon.start(); !started) {
    std::fprintf(stderr, "loyaltyd: %s\n", started.error().message.c_str());
    return 1;
  }
  if (!port_file.empty()) {
    const std::string tmp = port_file + ".tmp";
    {
      std::ofstream out(tmp);
      out << daemon.port() << "\n";
    }
    if (std::rename(tmp.c_str(), port_file.c_str()) != 0) {
      std::fprintf(stderr, "loyaltyd: cannot write %s\n", port_file.c_str());
    }
  }
  if (::isatty(STDOUT_FILENO) == 1) {
    std::printf(
        "loyaltyd: branch %s listening on %s:%u\n", daemon.runtime().settings().branch.c_str(),
        daemon.runtime().settings().daemon.address.c_str(), static_cast<unsigned>(daemon.port()));
    std::fflush(stdout);
  }
  signals_ioc.run();  // returns once the signal handler has run
  daemon.wait();
  daemon.logger()->info("loyaltyd stopped");
  return 0;
}

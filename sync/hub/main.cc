// loyalty-hub: the central sync hub for branches (docs/sync.md "Hub").
//
//   loyalty-hub run --config /etc/loyalty-hub/hub.toml
//   loyalty-hub token add B01 --config hub.toml      # prints a new token, stores its hash
//   loyalty-hub token list|revoke B01 --config hub.toml
//   loyalty-hub config show|set program.toml --config hub.toml
//   loyalty-hub overdraws --config hub.toml
//
// Exit codes: 0 success (run: after a clean SIGTERM/SIGINT stop), 1 failure (message on
// stderr), 2 bad command line.
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "sync/hub/hub_config.h"
#include "sync/hub/hub_core.h"
#include "sync/hub/program_doc.h"
#include "sync/hub/server.h"
#include "sync/hub/store.h"
#include "command_line/command_line.h"

namespace {

namespace net = boost::asio;
using loyalty::sync::hub::HubConfig;
using loyalty::sync::hub::HubStore;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int fail(const loyalty::domain::Error& e) {
  // Messages of the config reader start with the key already; others get it prepended.
  const bool named = e.field.empty() || e.message.rfind(e.field, 0) == 0;
  std::fprintf(stderr, "loyalty-hub: %s%s\n", named ? "" : (e.field + ": ").c_str(),
               e.message.c_str());
  return 1;
}

std::string default_config() {
  const char* env = std::getenv("LOYALTY_HUB_CONFIG");
  return env != nullptr ? env : "/etc/loyalty-hub/hub.toml";
}

loyalty::domain::Result<std::unique_ptr<HubStore>> open_store(const std::string& config_path,
                                                              HubConfig* out) {
  auto cfg = loyalty::sync::hub::load_hub_config(config_path);
  if (!cfg.ok()) return cfg.error();
  if (out) *out = *cfg;
  return HubStore::open(cfg->db_path);
}

int run(const std::string& config_path, const std::string& port_file) {
  HubConfig cfg;
  auto store = open_store(config_path, &cfg);
  if (!store.ok()) return fail(store.error());
  std::shared_ptr<spdlog::logger> log;
  try {
    if (cfg.log_file.empty()) {
      log = std::make_shared<spdlog::logger>(
          "loyalty-hub", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    } else {
      log = std::make_shared<spdlog::logger>("loyalty-hub",
                                             std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
                                                 cfg.log_file, 16 * 1024 * 1024, 5));
    }
  } catch (const spdlog::spdlog_ex& e) {
    std::fprintf(stderr, "loyalty-hub: log.file %s: %s\n", cfg.log_file.c_str(), e.what());
    return 1;
  }
  log->set_level(spdlog::level::from_str(cfg.log_level));
  log->flush_on(spdlog::level::info);

  loyalty::sync::hub::HubLimits limits;
  limits.max_frame_bytes = cfg.max_frame_bytes;
  limits.max_connections_per_branch = cfg.max_connections_per_branch;
  limits.push_rate_per_s = cfg.push_rate_per_s;
  limits.max_unapplied_frames = cfg.max_unapplied_frames;
  loyalty::sync::hub::HubCore hub(std::move(*store), limits);
  hub.set_config_tokens(cfg.token_sha256);
  hub.set_validator(loyalty::sync::hub::validate_program_document);

  loyalty::sync::hub::ServerOptions options;
  options.address = cfg.address;
  options.port = cfg.port;
  options.tls_cert_file = cfg.tls_cert_file;
  options.tls_key_file = cfg.tls_key_file;
  options.io_threads = cfg.io_threads;
  options.fanout_interval_ms = cfg.fanout_interval_ms;
  loyalty::sync::hub::Server server(hub, log, options);
  auto st = server.start();
  if (!st.ok()) return fail(st.error());
  if (!port_file.empty()) {
    const std::string tmp = port_file + ".tmp";
    std::ofstream(tmp) << server.port() << "\n";
    std::rename(tmp.c_str(), port_file.c_str());
  }
  net::io_context signals_ioc;
  net::signal_set signals(signals_ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal_number) {
    if (!ec) log->info("signal {}: stopping", signal_number);
    server.stop();
  });
  std::thread waiter([&] { signals_ioc.run(); });
  server.wait();
  signals_ioc.stop();
  waiter.join();
  return 0;
}

std::string read_file(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  *ok = static_cast<bool>(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"loyalty-hub: the central sync hub that orders and fans out branch ledger entries"};
  app.footer(
      "Examples:\n"
      "  loyalty-hub run --config /etc/loyalty-hub/hub.toml\n"
      "  loyalty-hub token add B01 --config hub.toml     # prints B01's new token once\n"
      "  loyalty-hub token list --config hub.toml\n"
      "  loyalty-hub config set program.toml --config hub.toml\n"
      "  loyalty-hub overdraws --config hub.toml\n"
      "\nSee docs/sync.md. SIGTERM closes every branch connection with 1001 and saves positions.");
  app.require_subcommand(1);
  app.fallthrough();  // --config may follow the subcommand
  std::string config = default_config();
  app.add_option("-c,--config", config,
                 "the hub's TOML file (default $LOYALTY_HUB_CONFIG or /etc/loyalty-hub/hub.toml)");

  auto* run_cmd = app.add_subcommand("run", "serve branches until SIGTERM");
  std::string port_file;
  run_cmd->add_option("--port-file", port_file, "write the bound port here (with listen.port = 0)");
  run_cmd->footer("Example:\n  loyalty-hub run --config /etc/loyalty-hub/hub.toml");

  auto* token = app.add_subcommand("token", "branch and admin tokens (only hashes are stored)");
  token->require_subcommand(1);
  token->fallthrough();
  token->footer(
      "Examples:\n  loyalty-hub token add B01 --config hub.toml\n"
      "  loyalty-hub token add admin --config hub.toml   # for loyaltyctl hub\n"
      "  loyalty-hub token revoke B01 --config hub.toml");
  std::string token_name;
  auto* token_add = token->add_subcommand("add", "make a new random token for BRANCH, print it");
  token_add->add_option("BRANCH", token_name, "branch id, or admin")->required();
  token_add->footer("Example:\n  loyalty-hub token add B01 --config hub.toml");
  auto* token_list = token->add_subcommand("list", "list names that have a token");
  token_list->footer("Example:\n  loyalty-hub token list --config hub.toml");
  auto* token_revoke = token->add_subcommand("revoke", "delete BRANCH's token");
  token_revoke->add_option("BRANCH", token_name, "branch id, or admin")->required();
  token_revoke->footer("Example:\n  loyalty-hub token revoke B01 --config hub.toml");

  auto* cfg_cmd = app.add_subcommand("config", "the central program configuration");
  cfg_cmd->require_subcommand(1);
  cfg_cmd->fallthrough();
  cfg_cmd->footer(
      "Examples:\n  loyalty-hub config show --config hub.toml\n"
      "  loyalty-hub config set program.toml --config hub.toml");
  auto* cfg_show = cfg_cmd->add_subcommand("show", "print the current version and document");
  cfg_show->footer("Example:\n  loyalty-hub config show --config hub.toml");
  std::string doc_file;
  auto* cfg_set = cfg_cmd->add_subcommand(
      "set",
      "validate FILE ([program] and [receipt] tables) and store it as the new version; "
      "a running hub pushes it to connected branches within a second");
  cfg_set->add_option("FILE", doc_file, "TOML program document")
      ->required()
      ->check(CLI::ExistingFile);
  cfg_set->footer("Example:\n  loyalty-hub config set program.toml --config hub.toml");

  auto* od = app.add_subcommand("overdraws", "list overdraw reports (newest first) as JSON lines");
  od->footer("Example:\n  loyalty-hub overdraws --config hub.toml");

  if (auto code = loyalty::parse_command_line(app, argc, argv)) return *code;

  if (run_cmd->parsed()) return run(config, port_file);

  auto store = open_store(config, nullptr);
  if (!store.ok()) return fail(store.error());
  HubStore& db = **store;
  if (token_add->parsed()) {
    if (!loyalty::sync::hub::valid_branch_id(token_name)) {
      std::fprintf(stderr,
                   "loyalty-hub: BRANCH \"%s\" is not a branch id (1-64 of A-Z a-z 0-9 _ -; "
                   "not hub)\n",
                   token_name.c_str());
      return 2;
    }
    const std::string t = loyalty::sync::hub::random_hex(32);
    if (t.empty()) return fail({loyalty::domain::ErrorCode::kInternal, "", "RAND_bytes failed"});
    auto st = db.put_token_hash(token_name, loyalty::sync::hub::sha256_hex(t), now_ms());
    if (!st.ok()) return fail(st.error());
    std::printf("%s\n", t.c_str());
    return 0;
  }
  if (token_list->parsed()) {
    auto list = db.tokens();
    if (!list.ok()) return fail(list.error());
    for (const auto& [name, at] : *list)
      std::printf("%s\t%lld\n", name.c_str(), static_cast<long long>(at));
    return 0;
  }
  if (token_revoke->parsed()) {
    auto st = db.revoke_token(token_name);
    if (!st.ok()) return fail(st.error());
    return 0;
  }
  if (cfg_show->parsed()) {
    auto cur = db.current_config();
    if (!cur.ok()) return fail(cur.error());
    if (!cur->has_value()) {
      std::fprintf(stderr, "loyalty-hub: no program configuration stored yet\n");
      return 1;
    }
    std::printf("# version %s\n%s", (*cur)->version.c_str(), (*cur)->document.c_str());
    return 0;
  }
  if (cfg_set->parsed()) {
    bool ok = false;
    const std::string doc = read_file(doc_file, &ok);
    if (!ok)
      return fail(
          {loyalty::domain::ErrorCode::kInvalidArgument, "FILE", "cannot read " + doc_file});
    auto st = loyalty::sync::hub::validate_program_document(doc);
    if (!st.ok()) return fail(st.error());
    auto v = db.add_config(doc, now_ms());
    if (!v.ok()) return fail(v.error());
    std::printf("%s\n", v->version.c_str());
    return 0;
  }
  if (od->parsed()) {
    auto list = db.overdraws(100000);
    if (!list.ok()) return fail(list.error());
    for (const auto& r : *list) {
      nlohmann::json j{{"offset", r.offset},
                       {"account_id", r.account_id},
                       {"balance", r.balance},
                       {"entry_id", r.entry_id},
                       {"created_at_ms", r.created_at_ms},
                       {"details", nlohmann::json::parse(r.details_json, nullptr, false)}};
      std::printf("%s\n", j.dump().c_str());
    }
    return 0;
  }
  return 2;
}

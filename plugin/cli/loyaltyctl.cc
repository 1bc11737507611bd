// loyaltyctl: the admin's command line for a branch ledger.
//
// balance, history and adjust go through the same service as the POS (same rules, same
// idempotency); verify and report read the ledger directly.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <optional>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "bootstrap/runtime.h"
#include "cli/hub_cmd.h"
#include "domain/time.h"
#include "ledger/admin.h"
#include "ledger/sqlite_ledger.h"
#include "admin_cmd.h"
#include "cli_support.h"
#include "customers_cmd.h"
#include "program_cmd.h"
#include "command_line/command_line.h"

namespace {

using nlohmann::json;

using loyalty::cli::Format;
using loyalty::cli::print_rows;

struct Common {
  std::string config = std::getenv("LOYALTY_CONFIG") ? std::getenv("LOYALTY_CONFIG") : "/etc/loyalty/loyalty.toml";
  loyalty::cli::OutputFormat output;
};

// Now, written with this machine's UTC offset (TZ): the business day of an adjustment is
// the branch's day, as the POS's own `at` is.
std::string now_rfc3339() {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm local{};
  localtime_r(&secs, &local);
  const auto offset_minutes = static_cast<int32_t>(local.tm_gmtoff / 60);
  return loyalty::domain::format_rfc3339(loyalty::domain::BusinessTime{ms, offset_minutes});
}

// An empty report for --branch: says so when the ledger has never seen that branch (a typo,
// or "b01" for "B01"), and which branches it has. Still exit 0: another branch's entries can
// arrive by sync later.
void warn_if_unknown_branch(loyalty::ledger::SqliteLedger& ledger, const std::string& branch) {
  const std::vector<std::string> known = loyalty::ledger::entry_branches(ledger);
  if (std::find(known.begin(), known.end(), branch) != known.end()) return;
  std::string list;
  for (const auto& b : known) list += (list.empty() ? "" : ", ") + b;
  std::cerr << "loyaltyctl: --branch: this ledger has no entries of branch '" << branch << "'"
            << (list.empty() ? std::string() : " (it has: " + list + ")") << "\n";
}

// Runs one contract request through the service; prints the error and exits on failure.
json call(loyalty::bootstrap::Runtime& rt, const json& request) {
  auto out = rt.service().handle(request.dump(), "loyaltyctl");
  json resp = json::parse(out.json, nullptr, false);
  if (out.code != 0) {
    const auto& e = resp["error"];
    std::cerr << "loyaltyctl: " << e.value("code", "error") << ": " << e.value("message", "")
              << (e.value("field", "").empty() ? "" : " (" + e.value("field", "") + ")") << "\n";
    std::exit(1);
  }
  return resp;
}

bool is_day(const std::string& s) { return s.size() == 10; }

int64_t parse_day(const std::string& day, bool end_of_day, const std::string& flag) {
  const std::string text = day + (end_of_day ? "T23:59:59.999Z" : "T00:00:00Z");
  auto t = loyalty::domain::parse_rfc3339(is_day(day) ? text : day);
  if (!t) {
    std::cerr << "loyaltyctl: " << flag << ": expected a date like 2026-11-22 or an RFC 3339 time, got '"
              << day << "'\n";
    std::exit(2);
  }
  return t->unix_ms;
}

// --to before --from is a bad command line (exit 2), for history and report alike.
void check_range(const std::string& from, const std::string& to) {
  if (!from.empty() && !to.empty() && parse_day(to, true, "--to") < parse_day(from, false, "--from")) {
    std::cerr << "loyaltyctl: --to: " << to << " is before --from " << from << "\n";
    std::exit(2);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"loyaltyctl — administer a branch's loyalty ledger"};
  app.footer(
      "Examples:\n"
      "  loyaltyctl -c /etc/loyalty/loyalty.toml balance card:4000123\n"
      "  loyaltyctl history card:4000123 --from 2026-11-01 --csv\n"
      "  loyaltyctl adjust card:4000123 -50 --reason \"damaged card\" --operator ana\n"
      "  loyaltyctl verify\n"
      "  loyaltyctl report --from 2026-11-01 --to 2026-11-30 --branch B01 --json\n"
      "The configuration defaults to $LOYALTY_CONFIG, else /etc/loyalty/loyalty.toml.");
  app.require_subcommand(1);
  app.fallthrough();  // -c/--config also after the subcommand
  Common c;
  app.add_option("-c,--config", c.config, "the plugin's TOML file");

  auto add_format = [&](CLI::App* sub) { c.output.add_flags(sub); };

  std::string ref, reason, op, id, from, to, branch;
  int64_t points = 0;

  auto* balance = app.add_subcommand("balance", "a customer's balance, available points and next expiries");
  balance->add_option("customer", ref, "customer reference (card:..., phone:...)")->required();
  add_format(balance);
  balance->footer("Example: loyaltyctl balance card:4000123 --json");

  auto* history = app.add_subcommand("history", "a customer's ledger entries");
  history->add_option("customer", ref, "customer reference")->required();
  history->add_option("--from", from, "first day (2026-11-01) or RFC 3339 time");
  history->add_option("--to", to, "last day (2026-11-30) or RFC 3339 time");
  add_format(history);
  history->footer("Example: loyaltyctl history card:4000123 --from 2026-11-01 --csv");

  auto* adjust = app.add_subcommand("adjust", "add or remove points by hand (recorded with reason and operator)");
  adjust->add_option("customer", ref, "customer reference")->required();
  adjust->add_option("points", points, "points to add (negative removes)")->required();
  adjust->add_option("--reason", reason, "why (kept in the ledger)")->required();
  adjust->add_option("--operator", op, "who (default: $USER)");
  adjust->add_option("--id", id, "idempotency key (default: generated); resend the same to retry safely");
  add_format(adjust);
  adjust->footer("Example: loyaltyctl adjust card:4000123 -50 --reason \"damaged card\" --operator ana");

  auto* verify = app.add_subcommand("verify", "recompute every balance from the entries and check the ledger");
  add_format(verify);
  verify->footer("Example: loyaltyctl verify   (exit code 0 = clean, 1 = problems found)");

  auto* report = app.add_subcommand("report", "points earned, redeemed, clawed back... per day and branch");
  report->add_option("--from", from, "first day (2026-11-01)")->required();
  report->add_option("--to", to, "last day (2026-11-30)")->required();
  report->add_option("--branch", branch, "only this branch");
  add_format(report);
  report->footer("Example: loyaltyctl report --from 2026-11-01 --to 2026-11-30 --csv");

  auto run_hub = loyalty::cli::register_hub_command(app);  // loyaltyctl hub ... (hub_cmd.cc)
  loyalty::cli::add_program_commands(app, c.config);
  loyalty::cli::add_admin_commands(app, c.config);
  loyalty::cli::add_customers_commands(app, c.config);

  if (auto code = loyalty::parse_command_line(app, argc, argv)) return *code;
  if (auto rc = run_hub()) return *rc;
  const Format fmt = c.output.format();

  // What the commands below throw past their own handling (a damaged ledger file, a full
  // disk) is a message and exit 1, never std::terminate.
  auto run = [&]() -> int {

    if (balance->parsed()) {
      auto rt = loyalty::cli::open_runtime(c.config, /*read_only=*/true);
      json r = call(*rt, {{"type", "balance.query"}, {"id", "loyaltyctl"}, {"at", now_rfc3339()}, {"customer", ref}});
      if (fmt == Format::kJson) {
        std::cout << r.dump(2) << "\n";
        return 0;
      }
      json rows = json::array({{{"customer", r["customer"]}, {"account", r["account"]}, {"balance", r["balance"]},
                                {"available", r["available"]}, {"value", r["balance_value"]},
                                {"category", r["category"]}}});
      print_rows({"customer", "account", "balance", "available", "value", "category"}, rows, fmt);
      if (fmt == Format::kTable && !r["expiring"].empty()) {
        std::cout << "\nnext expiries:\n";
        print_rows({"points", "date"}, r["expiring"], fmt);
      }
      return 0;
    }
    if (history->parsed()) {
      check_range(from, to);
      auto rt = loyalty::cli::open_runtime(c.config, /*read_only=*/true);
      json q = {{"type", "history.query"}, {"id", "loyaltyctl"}, {"at", now_rfc3339()}, {"customer", ref},
                {"limit", 10000}};
      // A day is a business day in each entry's own offset, as `report` counts it: ask for the
      // widest UTC offsets (14 h) around it and keep the entries whose local date is in range.
      constexpr int64_t kWidestOffsetMs = 14 * 3'600'000;
      if (!from.empty()) {
        q["from"] = loyalty::domain::format_rfc3339(
            {parse_day(from, false, "--from") - (is_day(from) ? kWidestOffsetMs : 0), 0});
      }
      if (!to.empty()) {
        q["to"] = loyalty::domain::format_rfc3339(
            {parse_day(to, true, "--to") + (is_day(to) ? kWidestOffsetMs : 0), 0});
      }
      json r = call(*rt, q);
      json rows = json::array();
      for (const auto& e : r["entries"]) {
        const std::string day = e.value("at", "").substr(0, 10);
        if ((is_day(from) && day < from) || (is_day(to) && day > to)) continue;
        rows.push_back(e);
      }
      print_rows({"at", "kind", "points", "branch", "ticket", "expires_at", "reason", "id"}, rows, fmt);
      if (r.value("truncated", false)) std::cerr << "loyaltyctl: only the first 10000 entries shown\n";
      return 0;
    }
    if (adjust->parsed()) {
      if (points == 0) {
        std::cerr << "loyaltyctl: points: must not be 0\n";
        return 2;
      }
      op = loyalty::cli::actor_or_default(op);
      auto rt = loyalty::cli::open_runtime(c.config);
      std::string at = now_rfc3339();
      if (id.empty()) {
        id = "adjust-" + at + "-" + std::to_string(getpid());
      } else if (auto first = loyalty::ledger::request_business_time(
                     dynamic_cast<loyalty::ledger::SqliteLedger&>(*rt->store()), rt->settings().branch, id)) {
        at = loyalty::domain::format_rfc3339(*first);  // a retry: the same request, answered again (rule 11)
      }
      json r = call(*rt, {{"type", "points.adjust"}, {"id", id}, {"at", at}, {"customer", ref},
                          {"points", points}, {"reason", reason}, {"operator", op}});
      if (fmt == Format::kJson) {
        std::cout << r.dump(2) << "\n";
      } else {
        print_rows({"customer", "points", "balance", "id"}, json::array({r}), fmt);
      }
      return 0;
    }
    if (verify->parsed()) {
      auto rt = loyalty::cli::open_runtime(c.config, /*read_only=*/true);
      auto& ledger = dynamic_cast<loyalty::ledger::SqliteLedger&>(*rt->store());
      const bool tty = isatty(2) != 0;
      if (tty) std::cerr << "verifying " << rt->settings().db_path << " ...\r" << std::flush;
      if (ledger.schema_version() < loyalty::ledger::kSchemaVersion) {
        // Read-only, verify cannot migrate, and it checks tables the older schema lacks.
        std::cerr << "loyaltyctl: verify: " << rt->settings().db_path << " is at ledger schema version "
                  << ledger.schema_version() << ", this program's is " << loyalty::ledger::kSchemaVersion
                  << ": the plugin (or any loyaltyctl command that writes) migrates it when it next opens it; "
                     "verify after that\n";
        return 2;
      }
      loyalty::ledger::VerifyReport rep;
      try {
        rep = loyalty::ledger::verify(ledger);
      } catch (const loyalty::app::StoreFailure& f) {  // a damaged file: the finding, not a crash
        rep.problems.push_back(std::string("the ledger cannot be read to the end: ") + f.what() +
                               " (restore it from a backup; docs/operations.md)");
      }
      if (tty) std::cerr << std::string(60, ' ') << "\r";
      if (fmt == Format::kJson) {
        std::cout << json{{"ok", rep.ok()}, {"accounts", rep.accounts_checked}, {"entries", rep.entries_checked},
                          {"problems", rep.problems}}.dump(2)
                  << "\n";
      } else if (fmt == Format::kCsv) {
        json rows = json::array();
        for (const auto& p : rep.problems) rows.push_back({{"problem", p}});
        print_rows({"problem"}, rows, fmt);  // a header alone: clean
      } else {
        std::cout << (rep.ok() ? "verify: clean" : "verify: PROBLEMS FOUND") << " (" << rep.accounts_checked
                  << " accounts, " << rep.entries_checked << " entries)\n";
        for (const auto& p : rep.problems) std::cout << "  " << p << "\n";
      }
      return rep.ok() ? 0 : 1;
    }
    if (report->parsed()) {
      check_range(from, to);
      auto rt = loyalty::cli::open_runtime(c.config, /*read_only=*/true);
      auto& ledger = dynamic_cast<loyalty::ledger::SqliteLedger&>(*rt->store());
      std::optional<std::string> only;
      if (!branch.empty()) only = branch;
      auto rows = loyalty::ledger::points_report(ledger, from.substr(0, 10), to.substr(0, 10), only);
      if (only && rows.empty()) warn_if_unknown_branch(ledger, *only);
      json out = json::array();
      for (const auto& r : rows) {
        out.push_back({{"day", r.day}, {"branch", r.branch}, {"earned", r.earned}, {"redeemed", r.redeemed},
                       {"clawed_back", r.clawed_back}, {"restored", r.restored}, {"expired", r.expired},
                       {"adjusted", r.adjusted}, {"sales", r.sales}, {"customers", r.customers}});
      }
      print_rows({"day", "branch", "earned", "redeemed", "clawed_back", "restored", "expired", "adjusted", "sales",
                  "customers"},
                 out, fmt);
      return 0;
    }
    return 0;
  };
  try {
    return run();
  } catch (const CLI::RuntimeError& e) {  // cli::fail (open_runtime), which said why
    return e.get_exit_code();
  } catch (const std::exception& e) {
    std::cerr << "loyaltyctl: " << e.what() << "\n";
    return 1;
  }
}

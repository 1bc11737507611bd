// Small helpers shared by loyaltyctl's command files (program_cmd.cc, customers_cmd.cc):
// opening the runtime, the actor, confirmation, errors as exit codes, rows as a table, CSV
// or JSON.
#pragma once

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bootstrap/runtime.h"
#include "ledger/sqlite_ledger.h"
#include "receipt/receipt.h"
#include "domain/result.h"

namespace loyalty::cli {

// Exit codes: 1 = refused or failed, 2 = bad usage or configuration.
[[noreturn]] inline void fail(const domain::Error& e, int code = 1) {
  std::cerr << "loyaltyctl: " << domain::error_code_word(e.code) << ": "
            << (e.field.empty() ? "" : e.field + ": ") << e.message << "\n";
  throw CLI::RuntimeError(code);
}

[[noreturn]] inline void fail(const std::string& message, int code = 1) {
  std::cerr << "loyaltyctl: " << message << "\n";
  throw CLI::RuntimeError(code);
}

// A runtime for a one-shot command: no program watcher, no sync client (the plugin or
// loyaltyd runs that). Read-only for commands that only read: they never create a ledger.
inline std::unique_ptr<bootstrap::Runtime> open_runtime(const std::string& config,
                                                        bool read_only = false) {
  bootstrap::OpenOptions o;
  o.read_only = read_only;
  o.program_watch_ms = 0;
  o.start_sync = false;
  o.preload_balances = false;
  auto rt = bootstrap::Runtime::open(config, o);
  if (!rt)
    fail(domain::Error{rt.error().code, rt.error().field, config + ": " + rt.error().message}, 2);
  if (read_only) {
    const auto& note = std::static_pointer_cast<ledger::SqliteLedger>((*rt)->store())->unapplied_log();
    if (!note.empty()) std::cerr << "loyaltyctl: warning: " << note << "\n";
  }
  return std::move(*rt);
}

// --actor, else $SUDO_USER (the person behind sudo), else $USER.
inline std::string actor_or_default(const std::string& actor) {
  if (!actor.empty()) return actor;
  for (const char* var : {"SUDO_USER", "USER", "LOGNAME"}) {
    if (const char* v = std::getenv(var); v && *v) return v;
  }
  return "unknown";
}

// On a terminal, asks "question [y/N]" unless `yes`; elsewhere (scripts) proceeds.
inline bool confirm(const std::string& question, bool yes) {
  if (yes || isatty(0) == 0) return true;
  std::cerr << question << " [y/N] " << std::flush;
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "y" || answer == "Y" || answer == "yes";
}

enum class Format { kTable, kJson, kCsv };

// --json / --csv of a command that prints rows (print_rows).
struct OutputFormat {
  bool json = false;
  bool csv = false;
  void add_flags(CLI::App* command) {
    CLI::Option* as_json = command->add_flag("--json", json, "print JSON");
    as_json->excludes(command->add_flag("--csv", csv, "print CSV"));
  }
  Format format() const { return json ? Format::kJson : csv ? Format::kCsv : Format::kTable; }
};

inline std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

inline std::string cell(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

// Text for a terminal, on one line: control characters (C0, DEL, C1) become spaces. A
// newline or tab in a reason broke a table's row, and a customer's name with ESC sequences
// cleared the admin's screen and printed a forged line.
inline std::string terminal_text(std::string s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      out += ' ';
    } else if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(s[i + 1]) <= 0x9f) {
      out += ' ';  // U+0080..U+009F
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

// A table cell on one line (terminal_text).
inline std::string table_cell(const nlohmann::json& v) { return terminal_text(cell(v)); }

// Prints rows (objects with `columns` keys) as an aligned table, CSV or a JSON array. The
// table pads by display columns (receipt::display_columns), so "Ñandú" and "漢字" align.
inline void print_rows(const std::vector<std::string>& columns, const nlohmann::json& rows, Format f) {
  if (f == Format::kJson) {
    std::cout << rows.dump(2) << "\n";
    return;
  }
  if (f == Format::kCsv) {
    for (size_t i = 0; i < columns.size(); ++i) std::cout << (i ? "," : "") << columns[i];
    std::cout << "\n";
    for (const auto& r : rows) {
      for (size_t i = 0; i < columns.size(); ++i) std::cout << (i ? "," : "") << csv_cell(cell(r[columns[i]]));
      std::cout << "\n";
    }
    return;
  }
  std::vector<size_t> width(columns.size());
  for (size_t i = 0; i < columns.size(); ++i) width[i] = columns[i].size();
  for (const auto& r : rows)
    for (size_t i = 0; i < columns.size(); ++i)
      width[i] = std::max(width[i], receipt::display_columns(table_cell(r[columns[i]])));
  auto line = [&](auto get) {
    for (size_t i = 0; i < columns.size(); ++i) {
      const std::string s = get(i);
      const size_t cols = receipt::display_columns(s);
      std::cout << (i ? "  " : "") << s << std::string(width[i] - std::min(width[i], cols), ' ');
    }
    std::cout << "\n";
  };
  line([&](size_t i) { return columns[i]; });
  line([&](size_t i) { return std::string(width[i], '-'); });
  for (const auto& r : rows) line([&](size_t i) { return table_cell(r[columns[i]]); });
}

}  // namespace loyalty::cli

// Small helpers shared by loyaltyctl's command files (program_cmd.cc, customers_cmd.cc):
// opening the runtime, the actor, confirmation, errors as exit codes.
#pragma once

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "bootstrap/runtime.h"
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

// A runtime for a one-shot command: no program watcher.
inline std::unique_ptr<bootstrap::Runtime> open_runtime(const std::string& config,
                                                        bool read_only = false) {
  bootstrap::OpenOptions o;
  o.read_only = read_only;
  o.program_watch_ms = 0;
  auto rt = bootstrap::Runtime::open(config, o);
  if (!rt)
    fail(domain::Error{rt.error().code, rt.error().field, config + ": " + rt.error().message}, 2);
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

}  // namespace loyalty::cli

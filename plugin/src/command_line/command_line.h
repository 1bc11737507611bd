// The command line of every program of the project (loyaltyd, loyaltyctl, loyalty-hub,
// loyalty-install, loyalty-probe, pos-sim, the bench programs), parsed by CLI11 with one
// convention for exit codes:
//   0  --help (also of a subcommand) and --version, printed on stdout;
//   2  a bad command line (unknown option, missing or extra argument, a value that does not
//      convert or fails its check): CLI11's message and the --help hint on stderr;
//   n  a CLI::RuntimeError(n) thrown by a subcommand's callback (loyaltyctl's refusals).
// CLI11_PARSE alone returns CLI11's own codes (105-114) for a bad command line.
//
//   if (auto code = loyalty::parse_command_line(app, argc, argv)) return *code;
#pragma once

#include <CLI/CLI.hpp>
#include <optional>

namespace loyalty {

// Parses argv into `app`; nullopt when the program should go on, else its exit code.
inline std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::RuntimeError& e) {
    return app.exit(e);  // the callback said why; CLI11 prints nothing more
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help/version, or the error and the hint
    return code == 0 ? 0 : 2;
  }
}

}  // namespace loyalty

#include "admin_cmd.h"

#include <termios.h>
#include <unistd.h>

#include <iostream>
#include <memory>

#include "cli_support.h"
#include "config/load.h"
#include "daemon/admin_password.h"

namespace loyalty::cli {

namespace {

// One line from stdin; on a terminal without echo.
std::string read_secret(const std::string& prompt) {
  const bool tty = isatty(0) != 0;
  termios old{};
  if (tty) {
    std::cerr << prompt << std::flush;
    tcgetattr(0, &old);
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(0, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (tty) {
    tcsetattr(0, TCSANOW, &old);
    std::cerr << "\n";
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

void add_admin_commands(CLI::App& app, const std::string& config) {
  struct Options {
    std::string user = "admin";
    std::string file;
  };
  auto o = std::make_shared<Options>();
  auto* admin = app.add_subcommand("admin", "the admin page's login (loyaltyd /admin)");
  admin->require_subcommand(1);
  admin->footer("Example: loyaltyctl admin set-password --user ana   (then log in at http://127.0.0.1:8380/admin)");
  auto* set = admin->add_subcommand(
      "set-password", "set a user's password in [daemon] admin_password_file (read from stdin)");
  set->add_option("--user", o->user, "user name (default admin)");
  set->add_option("--file", o->file, "the password file (default: [daemon] admin_password_file)");
  set->footer(
      "Examples:\n  loyaltyctl admin set-password            (asks twice on a terminal)\n"
      "  printf '%s\\n' \"$PW\" | loyaltyctl admin set-password --user ana\n"
      "The file keeps a salted PBKDF2-SHA256 hash per user, never the password.");
  set->callback([&config, o] {
    std::string file = o->file;
    if (file.empty()) {
      auto s = config::load_settings(config);
      if (!s) fail(s.error(), 2);
      file = s->daemon.admin_password_file;
      if (file.empty()) {
        fail("set [daemon] admin_password_file in " + config + " or pass --file", 2);
      }
    }
    const std::string password = read_secret("new password for " + o->user + ": ");
    if (isatty(0) != 0 && read_secret("again: ") != password) fail("the passwords differ", 2);
    if (auto st = daemon::set_password(file, o->user, password); !st) fail(st.error(), 2);
    std::cout << "password of " << o->user << " set in " << file
              << " (loyaltyd reads it when it starts)\n";
  });
}

}  // namespace loyalty::cli

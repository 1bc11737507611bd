#include "render.h"

#include <toml++/toml.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "sys.h"

namespace loyalty::installer {

const std::vector<std::string> kInstallerKeys = {"plugin_dir",     "sync_url",      "sync_token",
                                                 "stop_command",   "start_command", "service",
                                                 "probe_customer", "root"};

namespace {

// A value placed between the template's quotes: a TOML basic string's content, escaped
// by toml++'s own formatter. No format flags: always a one-line basic string (never a
// literal or multi-line one), so stripping the quotes it writes leaves the content.
std::string toml_escape(const std::string& v) {
  const toml::value<std::string> value(v);
  std::ostringstream quoted;
  quoted << toml::toml_formatter(value, toml::format_flags::none);
  const std::string s = quoted.str();
  return s.size() >= 2 ? s.substr(1, s.size() - 2) : std::string();
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

}  // namespace

std::string render_config(const std::string& text, const Values& values,
                          const std::string& template_name) {
  std::string out;
  std::set<std::string> used;
  std::vector<std::string> missing;
  int line = 1;
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 2, "{{") == 0) {
      const size_t close = text.find("}}", i + 2);
      std::string name = close == std::string::npos ? "" : text.substr(i + 2, close - i - 2);
      const auto b = name.find_first_not_of(' ');
      const auto e = name.find_last_not_of(' ');
      name = b == std::string::npos ? "" : name.substr(b, e - b + 1);
      if (name.empty() || !std::all_of(name.begin(), name.end(), is_name_char)) {
        throw InstallError(template_name + ":" + std::to_string(line) +
                           ": malformed placeholder (expected {{name}} with letters, digits, _)");
      }
      auto it = values.find(name);
      if (it == values.end()) {
        missing.push_back("{{" + name + "}} (line " + std::to_string(line) + ")");
      } else {
        out += toml_escape(it->second);
        used.insert(name);
      }
      i = close + 2;
      continue;
    }
    if (text[i] == '\n') ++line;
    out += text[i++];
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    throw InstallError(template_name + ": no value for " + list);
  }
  std::vector<std::string> unused;
  for (const auto& [k, v] : values) {
    if (used.count(k) == 0 &&
        std::find(kInstallerKeys.begin(), kInstallerKeys.end(), k) == kInstallerKeys.end()) {
      unused.push_back(k);
    }
  }
  if (!unused.empty()) {
    std::string list;
    for (const auto& u : unused) list += (list.empty() ? "" : ", ") + u;
    throw InstallError(template_name + ": the template has no placeholder for value(s) " + list +
                       " (a typo in the manifest?)");
  }

  toml::table parsed;
  try {
    parsed = toml::parse(out, template_name);
  } catch (const toml::parse_error& e) {
    std::ostringstream m;
    m << template_name << ": the rendered configuration is not valid TOML at line "
      << e.source().begin.line << ": " << e.description();
    throw InstallError(m.str());
  }
  auto url = values.find("sync_url");
  if (url != values.end() && !url->second.empty() && !parsed.contains("sync")) {
    if (!out.empty() && out.back() != '\n') out += '\n';
    out +=
        "\n# Written by loyalty-install from the manifest's hub url and token.\n[sync]\nurl = \"" +
        toml_escape(url->second) + "\"\ntoken_file = \"" + kTokenFile + "\"\n";
  }
  return out;
}

}  // namespace loyalty::installer

#include "sync/hub/hub_config.h"

#include <toml++/toml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace loyalty::sync::hub {
namespace {

using domain::ErrorCode;

domain::Error config_error(std::string field, std::string message) {
  return domain::make_error(ErrorCode::kInvalidConfig, field, field + ": " + message);
}

struct Bad {
  domain::Error error;
};

std::string line_of(const toml::node& n) {
  const auto& src = n.source();
  return src.begin.line ? " (line " + std::to_string(src.begin.line) + ")" : "";
}

void only(const toml::table& t, const std::string& prefix,
          std::initializer_list<std::string_view> allowed) {
  for (const auto& [k, v] : t) {
    bool ok = false;
    for (auto a : allowed) ok |= k.str() == a;
    if (!ok) {
      const std::string name =
          prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
      throw Bad{config_error(name, "unknown key" + line_of(v))};
    }
  }
}

const toml::table* table(const toml::table& t, std::string_view key, const std::string& name) {
  const toml::node* n = t.get(key);
  if (!n) return nullptr;
  if (!n->is_table()) throw Bad{config_error(name, "must be a table" + line_of(*n))};
  return n->as_table();
}

std::string str(const toml::table& t, std::string_view key, const std::string& name,
                const std::string& fallback) {
  const toml::node* n = t.get(key);
  if (!n) return fallback;
  if (!n->is_string()) throw Bad{config_error(name, "must be a string" + line_of(*n))};
  return n->as_string()->get();
}

int64_t integer(const toml::table& t, std::string_view key, const std::string& name,
                int64_t fallback, int64_t min, int64_t max) {
  const toml::node* n = t.get(key);
  if (!n) return fallback;
  if (!n->is_integer()) throw Bad{config_error(name, "must be an integer" + line_of(*n))};
  const int64_t v = n->as_integer()->get();
  if (v < min || v > max) {
    throw Bad{config_error(name, "must be between " + std::to_string(min) + " and " +
                                     std::to_string(max) + line_of(*n))};
  }
  return v;
}

double number(const toml::table& t, std::string_view key, const std::string& name,
              double fallback) {
  const toml::node* n = t.get(key);
  if (!n) return fallback;
  double v;
  if (n->is_integer()) {
    v = static_cast<double>(n->as_integer()->get());
  } else if (n->is_floating_point()) {
    v = n->as_floating_point()->get();
  } else {
    throw Bad{config_error(name, "must be a number" + line_of(*n))};
  }
  if (!(v >= 0)) throw Bad{config_error(name, "must not be negative" + line_of(*n))};
  return v;
}

bool is_sha256_hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string resolve(const std::string& path, const std::filesystem::path& base) {
  if (path.empty()) return path;
  std::filesystem::path p(path);
  if (p.is_relative()) p = base / p;
  return p.lexically_normal().string();
}

}  // namespace

bool valid_branch_id(std::string_view id) {
  if (id.empty() || id.size() > 64 || id == "hub") return false;
  for (char c : id) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

domain::Result<HubConfig> parse_hub_config(std::string_view text, const std::string& source_path) {
  toml::table root;
  try {
    root = toml::parse(text, source_path);
  } catch (const toml::parse_error& e) {
    return domain::make_error(ErrorCode::kInvalidConfig, "",
                              source_path + ": " + std::string(e.description()) + " (line " +
                                  std::to_string(e.source().begin.line) + ")");
  }
  std::filesystem::path base = std::filesystem::absolute(source_path).parent_path();
  HubConfig c;
  try {
    only(root, "", {"listen", "storage", "tls", "limits", "log", "admin", "branches"});
    if (auto* t = table(root, "listen", "listen")) {
      only(*t, "listen", {"address", "port"});
      c.address = str(*t, "address", "listen.address", c.address);
      c.port = static_cast<uint16_t>(integer(*t, "port", "listen.port", c.port, 0, 65535));
    }
    if (auto* t = table(root, "storage", "storage")) {
      only(*t, "storage", {"db"});
      c.db_path = str(*t, "db", "storage.db", c.db_path);
    }
    c.db_path = resolve(c.db_path, base);
    if (auto* t = table(root, "tls", "tls")) {
      only(*t, "tls", {"cert_file", "key_file"});
      c.tls_cert_file = resolve(str(*t, "cert_file", "tls.cert_file", ""), base);
      c.tls_key_file = resolve(str(*t, "key_file", "tls.key_file", ""), base);
    }
    if (auto* t = table(root, "limits", "limits")) {
      only(*t, "limits",
           {"max_frame_bytes", "max_connections_per_branch", "push_rate_per_s", "io_threads",
            "fanout_interval_ms", "max_unapplied_frames"});
      c.max_frame_bytes = integer(*t, "max_frame_bytes", "limits.max_frame_bytes",
                                  c.max_frame_bytes, 4096, 64 * 1024 * 1024);
      c.max_connections_per_branch = static_cast<int>(integer(*t, "max_connections_per_branch",
                                                              "limits.max_connections_per_branch",
                                                              c.max_connections_per_branch, 1, 64));
      c.push_rate_per_s =
          number(*t, "push_rate_per_s", "limits.push_rate_per_s", c.push_rate_per_s);
      c.io_threads =
          static_cast<int>(integer(*t, "io_threads", "limits.io_threads", c.io_threads, 1, 64));
      c.fanout_interval_ms = integer(*t, "fanout_interval_ms", "limits.fanout_interval_ms",
                                     c.fanout_interval_ms, 0, 1000);
      c.max_unapplied_frames =
          static_cast<int>(integer(*t, "max_unapplied_frames", "limits.max_unapplied_frames",
                                   c.max_unapplied_frames, 1, 64));
    }
    if (auto* t = table(root, "log", "log")) {
      only(*t, "log", {"file", "level"});
      c.log_file = resolve(str(*t, "file", "log.file", ""), base);
      c.log_level = str(*t, "level", "log.level", c.log_level);
      if (c.log_level != "trace" && c.log_level != "debug" && c.log_level != "info" &&
          c.log_level != "warn" && c.log_level != "error" && c.log_level != "off") {
        throw Bad{config_error("log.level", "must be trace, debug, info, warn, error or off")};
      }
    }
    if (auto* t = table(root, "admin", "admin")) {
      only(*t, "admin", {"token_sha256"});
      const std::string h = str(*t, "token_sha256", "admin.token_sha256", "");
      if (!is_sha256_hex(h)) {
        throw Bad{config_error("admin.token_sha256", "must be 64 lowercase hex digits")};
      }
      c.token_sha256["admin"] = h;
    }
    if (auto* t = table(root, "branches", "branches")) {
      for (const auto& [k, v] : *t) {
        const std::string id(k.str());
        const std::string name = "branches." + id;
        if (!valid_branch_id(id) || id == "admin") {
          throw Bad{
              config_error(name, "is not a branch id (1-64 of A-Z a-z 0-9 _ -; not hub or admin)")};
        }
        if (!v.is_table()) throw Bad{config_error(name, "must be a table")};
        only(*v.as_table(), name, {"token_sha256"});
        const std::string h = str(*v.as_table(), "token_sha256", name + ".token_sha256", "");
        if (!is_sha256_hex(h)) {
          throw Bad{config_error(name + ".token_sha256", "must be 64 lowercase hex digits")};
        }
        c.token_sha256[id] = h;
      }
    }
  } catch (const Bad& b) {
    return b.error;
  }
  return c;
}

domain::Result<HubConfig> load_hub_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return domain::make_error(ErrorCode::kInvalidConfig, "", "cannot read " + path);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_hub_config(ss.str(), path);
}

}  // namespace loyalty::sync::hub

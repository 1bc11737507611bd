#include "manifest.h"

#include <toml++/toml.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "sys.h"

namespace loyalty::installer {

namespace {

bool valid_branch_id(const std::string& id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

std::string at_line(const toml::node& n) {
  return " (line " + std::to_string(n.source().begin.line) + ")";
}

std::string string_of(const toml::node& n, const std::string& where) {
  if (const auto* s = n.as_string()) return s->get();
  if (const auto* i = n.as_integer()) return std::to_string(i->get());
  if (const auto* b = n.as_boolean()) return b->get() ? "true" : "false";
  throw InstallError(where + ": expected a string" + at_line(n));
}

std::vector<std::string> string_list(const toml::node& n, const std::string& where) {
  const auto* a = n.as_array();
  if (a == nullptr || a->empty())
    throw InstallError(where + ": expected a non-empty array of strings" + at_line(n));
  std::vector<std::string> out;
  for (const auto& e : *a) {
    const auto* s = e.as_string();
    if (s == nullptr) throw InstallError(where + ": expected strings" + at_line(e));
    out.push_back(s->get());
  }
  return out;
}

Values values_of(const toml::node& n, const std::string& where) {
  const auto* t = n.as_table();
  if (t == nullptr) throw InstallError(where + ": expected a table" + at_line(n));
  Values v;
  for (const auto& [k, node] : *t) {
    v[std::string(k.str())] = string_of(node, where + "." + std::string(k.str()));
  }
  return v;
}

void add_branch(Manifest& m, const std::string& id, const std::string& target, Values values,
                const Values& defaults, const std::string& where) {
  if (!valid_branch_id(id)) {
    throw InstallError(where + ": id '" + id + "' must be 1-64 letters, digits, '-', '_' or '.'");
  }
  if (target.empty()) throw InstallError(where + ": branch " + id + " has no target");
  BranchSpec b;
  b.id = id;
  try {
    b.target = Target::parse(target);
  } catch (const InstallError& e) {
    throw InstallError(where + ": " + e.what());
  }
  if (b.target.kind == Target::Kind::kLocal && fs::path(b.target.path).is_relative()) {
    b.target.path = (m.source.parent_path() / b.target.path).lexically_normal().string();
  }
  // Two branches installed into one root: the second found the first's ledger, was rolled
  // back, and the root's state then named the wrong branch.
  for (const auto& other : m.branches) {
    if (other.id == id) throw InstallError(where + ": branch " + id + " is listed twice");
    if (other.target.kind == b.target.kind && other.target.host == b.target.host &&
        other.target.port == b.target.port &&
        fs::path(other.target.path).lexically_normal() == fs::path(b.target.path).lexically_normal()) {
      throw InstallError(where + ": branches " + other.id + " and " + id + " have the same target " +
                         b.target.describe());
    }
  }
  for (const auto& [k, v] : defaults) values.emplace(k, v);
  b.values = std::move(values);
  m.branches.push_back(std::move(b));
}

fs::path relative_to(const fs::path& manifest, const std::string& p) {
  fs::path x(p);
  return x.is_absolute() ? x : (manifest.parent_path() / x).lexically_normal();
}

void read_toml(Manifest& m, const std::string& text) {
  toml::table t;
  try {
    t = toml::parse(text, m.source.string());
  } catch (const toml::parse_error& e) {
    std::ostringstream s;
    s << m.source.string() << ":" << e.source().begin.line << ": " << e.description();
    throw InstallError(s.str());
  }
  const std::string f = m.source.string();
  static const std::set<std::string> kKeys = {
      "package", "template", "canary", "batch_size", "jobs", "ssh", "scp", "defaults", "branch"};
  for (const auto& [k, n] : t) {
    if (kKeys.count(std::string(k.str())) == 0) {
      throw InstallError(f + ": unknown key '" + std::string(k.str()) + "'" + at_line(n));
    }
  }
  if (const auto* n = t.get("package"))
    m.package = relative_to(m.source, string_of(*n, f + ": package"));
  if (const auto* n = t.get("template"))
    m.template_path = relative_to(m.source, string_of(*n, f + ": template"));
  if (const auto* n = t.get("canary")) m.canary = string_of(*n, f + ": canary");
  for (auto [key, out] : {std::pair{"batch_size", &m.batch_size}, std::pair{"jobs", &m.jobs}}) {
    if (const auto* n = t.get(key)) {
      const auto* i = n->as_integer();
      if (i == nullptr || i->get() < 1 || i->get() > 1000) {
        throw InstallError(f + ": " + key + ": expected an integer 1..1000" + at_line(*n));
      }
      *out = static_cast<int>(i->get());
    }
  }
  if (const auto* n = t.get("ssh")) m.ssh = string_list(*n, f + ": ssh");
  if (const auto* n = t.get("scp")) m.scp = string_list(*n, f + ": scp");
  Values defaults;
  if (const auto* n = t.get("defaults")) defaults = values_of(*n, f + ": defaults");
  const auto* branches = t.get("branch");
  if (branches == nullptr || !branches->is_array_of_tables()) {
    throw InstallError(f + ": expected [[branch]] tables (id, target, values)");
  }
  size_t i = 0;
  for (const auto& node : *branches->as_array()) {
    const auto& b = *node.as_table();
    const std::string where = f + ": branch[" + std::to_string(i++) + "]" + at_line(node);
    std::string id, target;
    Values values;
    for (const auto& [k, n] : b) {
      const std::string key(k.str());
      if (key == "id") {
        id = string_of(n, where + ".id");
      } else if (key == "target") {
        target = string_of(n, where + ".target");
      } else if (key == "values") {
        values = values_of(n, where + ".values");
      } else {
        throw InstallError(where + ": unknown key '" + key + "' (expected id, target, values)");
      }
    }
    add_branch(m, id, target, std::move(values), defaults, where);
  }
}

void read_csv(Manifest& m, const std::string& text) {
  const std::string f = m.source.string();
  auto rows = parse_csv(text, f);
  if (rows.empty()) throw InstallError(f + ": empty manifest (expected a header row)");
  const auto& header = rows[0];
  auto col = [&](const std::string& name) {
    auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) throw InstallError(f + ": the header has no '" + name + "' column");
    return static_cast<size_t>(it - header.begin());
  };
  const size_t id_col = col("id"), target_col = col("target");
  std::set<std::string> seen;
  for (const auto& h : header) {
    if (h.empty()) throw InstallError(f + ": the header has an empty column name");
    if (!seen.insert(h).second) throw InstallError(f + ": column '" + h + "' appears twice");
  }
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto& row = rows[r];
    if (row.size() == 1 && row[0].empty()) continue;  // blank line
    const std::string where = f + ": row " + std::to_string(r + 1);
    if (row.size() != header.size()) {
      throw InstallError(where + ": " + std::to_string(row.size()) + " fields, the header has " +
                         std::to_string(header.size()));
    }
    Values v;
    for (size_t c = 0; c < row.size(); ++c) {
      if (c != id_col && c != target_col && !row[c].empty()) v[header[c]] = row[c];
    }
    add_branch(m, row[id_col], row[target_col], std::move(v), {}, where);
  }
}

}  // namespace

Target Target::parse(const std::string& text) {
  Target t;
  if (text.rfind("ssh://", 0) == 0) {
    const std::string rest = text.substr(6);
    const size_t slash = rest.find('/');
    if (slash == std::string::npos || slash == 0) {
      throw InstallError("target '" + text + "': expected ssh://[user@]host[:port]/absolute/path");
    }
    std::string authority = rest.substr(0, slash);
    t.path = rest.substr(slash);
    const size_t colon = authority.rfind(':');
    if (colon != std::string::npos) {
      const std::string port = authority.substr(colon + 1);
      if (port.empty() || port.size() > 5 ||
          port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) < 1 ||
          std::stoi(port) > 65535) {
        throw InstallError("target '" + text + "': bad port '" + port + "'");
      }
      t.port = std::stoi(port);
      authority = authority.substr(0, colon);
    }
    if (authority.empty() || authority.find_first_of(" '\"`$;&|") != std::string::npos) {
      throw InstallError("target '" + text + "': bad host '" + authority + "'");
    }
    t.host = authority;
    t.kind = Kind::kSsh;
    return t;
  }
  if (text.find("://") != std::string::npos) {
    throw InstallError("target '" + text + "': only local folders and ssh:// are supported");
  }
  t.kind = Kind::kLocal;
  t.path = text;
  return t;
}

std::string Target::describe() const {
  if (kind == Kind::kSsh) {
    return "ssh://" + host + (port ? ":" + std::to_string(port) : "") + path;
  }
  return path;
}

std::vector<std::vector<std::string>> parse_csv(const std::string& text, const std::string& name) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, was_quoted = false;
  int line = 1, quote_line = 0;
  auto end_field = [&] {
    row.push_back(field);
    field.clear();
    was_quoted = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"') {
      if (!field.empty() || was_quoted) {
        throw InstallError(name + ":" + std::to_string(line) +
                           ": a quote inside an unquoted field (quote the whole field)");
      }
      quoted = was_quoted = true;
      quote_line = line;
    } else if (c == ',') {
      end_field();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_field();
      rows.push_back(std::move(row));
      row.clear();
      ++line;
    } else {
      if (was_quoted) {
        throw InstallError(name + ":" + std::to_string(line) + ": text after a closing quote");
      }
      field += c;
    }
  }
  if (quoted) {
    throw InstallError(name + ":" + std::to_string(quote_line) + ": unterminated quoted field");
  }
  if (!field.empty() || was_quoted || !row.empty()) {
    end_field();
    rows.push_back(std::move(row));
  }
  return rows;
}

Manifest read_manifest(const fs::path& path) {
  Manifest m;
  m.source = fs::absolute(path);
  const std::string text = read_file(path);
  if (path.extension() == ".csv") {
    read_csv(m, text);
  } else {
    read_toml(m, text);
  }
  if (m.branches.empty()) throw InstallError(m.source.string() + ": no branches");
  if (!m.canary.empty()) {
    auto it = std::find_if(m.branches.begin(), m.branches.end(),
                           [&](const BranchSpec& b) { return b.id == m.canary; });
    if (it == m.branches.end()) {
      throw InstallError(m.source.string() + ": canary '" + m.canary + "' is not a listed branch");
    }
  }
  return m;
}

std::vector<std::vector<size_t>> plan_waves(const Manifest& m) {
  std::vector<std::vector<size_t>> waves;
  size_t canary = 0;
  for (size_t i = 0; i < m.branches.size(); ++i) {
    if (m.branches[i].id == m.canary) canary = i;
  }
  waves.push_back({canary});
  std::vector<size_t> batch;
  for (size_t i = 0; i < m.branches.size(); ++i) {
    if (i == canary) continue;
    batch.push_back(i);
    if (batch.size() == static_cast<size_t>(std::max(1, m.batch_size))) {
      waves.push_back(std::move(batch));
      batch.clear();
    }
  }
  if (!batch.empty()) waves.push_back(std::move(batch));
  return waves;
}

}  // namespace loyalty::installer

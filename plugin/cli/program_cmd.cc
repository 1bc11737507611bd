#include "program_cmd.h"

#include <chrono>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "cli_support.h"
#include "config/program_document.h"
#include "domain/time.h"
#include "ledger/program_store.h"

namespace loyalty::cli {

namespace {

using nlohmann::json;

struct Options {
  bool yes = false;
  bool as_json = false;
  std::string actor;
  std::string note;
  int64_t limit = 20;
  // positional values of the subcommands
  std::string key, value, name, file, which;
  std::vector<std::string> lines;
  bool use_default = false;
};

// "- [program] earn_percent = '5'" lines: what differs between two canonical documents,
// each line named by its table. Canonical documents have one key per line and sorted
// tables, so a line-set difference is the change.
std::vector<std::string> diff(const std::string& before, const std::string& after) {
  auto keyed = [](const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    std::string line, table;
    while (std::getline(in, line)) {
      line.erase(0, line.find_first_not_of(" \t"));  // nested tables are indented
      if (line.empty()) continue;
      if (line.front() == '[') {
        table = line;
        continue;
      }
      out.push_back(table + " " + line);
    }
    return out;
  };
  const auto a = keyed(before), b = keyed(after);
  std::vector<std::string> out;
  for (const auto& l : a) {
    if (std::find(b.begin(), b.end(), l) == b.end()) out.push_back("- " + l);
  }
  for (const auto& l : b) {
    if (std::find(a.begin(), a.end(), l) == a.end()) out.push_back("+ " + l);
  }
  return out;
}

std::string join(const std::set<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

std::string percent_text(const std::map<std::string, domain::Percent>& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? "" : it->second.str_trimmed();
}

domain::Percent parse_percent(const std::string& field, const std::string& text) {
  auto p = domain::Percent::parse(text);
  if (!p)
    fail(domain::make_error(domain::ErrorCode::kInvalidConfig, field,
                            "must be a percent such as \"5\" or \"2.5\", not \"" + text + "\""),
         2);
  return *p;
}

using Edit = std::function<ledger::AuditRow(domain::ProgramConfig&, receipt::ReceiptConfig&)>;

// Opens the ledger, computes the new document from the effective one, shows the diff,
// asks, stores. `edit` returns the audit row (action, target, before, after).
void change(const std::string& config, const Options& o, const Edit& edit,
            const std::string& whole_document = "") {
  auto rt = open_runtime(config);
  auto& pm = rt->program();
  const auto before = pm.current();
  const int64_t seq = pm.current_seq();
  const std::string before_text = config::render_program_document(before.program, before.receipt);
  std::string document;
  ledger::AuditRow audit;
  if (!whole_document.empty()) {
    auto parsed = config::parse_whole_program_document(whole_document);
    if (!parsed) fail(parsed.error(), 2);
    document = whole_document;
    audit = {
        0, "", 0, "program.set-document", o.file, before.program.version, parsed->program.version};
  } else {
    auto program = before.program;
    auto receipt = before.receipt;
    audit = edit(program, receipt);
    document = config::render_program_document(program, receipt);
  }
  // Validates (and names the key) before anything is shown or asked.
  auto parsed = config::parse_program_document(document);
  if (!parsed) fail(parsed.error(), 2);
  const auto lines =
      diff(before_text, config::render_program_document(parsed->program, parsed->receipt));
  if (lines.empty()) {
    std::cout << "nothing to change: the program already says that (version " << seq << ")\n";
    return;
  }
  std::cout << "program version " << seq << " -> new version:\n";
  for (const auto& l : lines) std::cout << "  " << l << "\n";
  if (!confirm("apply this change to branch " + rt->settings().branch + "?", o.yes)) {
    fail("not applied (answer y to apply, or pass --yes)");
  }
  bootstrap::ProgramChange c;
  c.document = document;
  c.source = bootstrap::ProgramSource::kAdmin;
  c.actor = actor_or_default(o.actor);
  c.note = o.note;
  c.audit.push_back(audit);
  c.expected_seq = seq;
  auto applied = pm.store(c);
  if (!applied) fail(applied.error());
  std::cout << "applied: program version " << applied->seq << " (" << applied->version << ") by "
            << c.actor << "; running plugins pick it up within a few seconds\n";
}

void add_change_flags(CLI::App* sub, Options& o) {
  sub->add_flag("-y,--yes", o.yes, "apply without asking (scripts)");
  sub->add_option("--actor", o.actor, "who makes the change (default: $SUDO_USER or $USER)");
  sub->add_option("--note", o.note, "why (kept with the version)");
}

std::string when(int64_t ms) { return domain::format_rfc3339(domain::BusinessTime{ms, 0}); }

void show(const std::string& config, const Options& o) {
  auto rt = open_runtime(config);
  auto& pm = rt->program();
  const auto doc = pm.current();
  const std::string text = config::render_program_document(doc.program, doc.receipt);
  if (o.as_json) {
    std::cout << json{{"seq", pm.current_seq()},
                      {"version", doc.program.version},
                      {"source", pm.current_seq() == 0 ? "file" : "ledger"},
                      {"document", text}}
                     .dump(2)
              << "\n";
    return;
  }
  std::cout << "# program version " << pm.current_seq() << " (" << doc.program.version << ")"
            << (pm.current_seq() == 0 ? ", from " + rt->settings().source_path : "") << "\n"
            << text;
}

void history(const std::string& config, const Options& o) {
  auto rt = open_runtime(config);
  auto& ledger = static_cast<ledger::SqliteLedger&>(*rt->store());
  std::vector<ledger::ProgramVersionRow> rows;
  std::vector<ledger::AuditRow> audit;
  try {
    rows = ledger::program_history(ledger, o.limit);
    audit = ledger::audit_log(ledger, o.limit, "");
  } catch (const app::StoreFailure& f) {
    fail(domain::make_error(f.code(), "", f.what()));
  }
  if (o.as_json) {
    json out = json::array();
    for (const auto& r : rows) {
      out.push_back({{"seq", r.seq},
                     {"version", r.version},
                     {"source", r.source},
                     {"changed_by", r.changed_by},
                     {"changed_at", when(r.changed_at_ms)},
                     {"note", r.note},
                     {"document", r.document}});
    }
    json a = json::array();
    for (const auto& r : audit) {
      a.push_back({{"who", r.who},
                   {"at", when(r.at_ms)},
                   {"action", r.action},
                   {"target", r.target},
                   {"before", r.before},
                   {"after", r.after}});
    }
    std::cout << json{{"versions", out}, {"audit", a}}.dump(2) << "\n";
    return;
  }
  if (rows.empty()) std::cout << "no stored versions: the program is the configuration file's\n";
  for (const auto& r : rows) {
    std::cout << r.seq << "  " << when(r.changed_at_ms) << "  " << r.version << "  " << r.source
              << "  " << r.changed_by << (r.note.empty() ? "" : "  # " + r.note) << "\n";
  }
  if (!audit.empty()) std::cout << "\naudit (newest first):\n";
  for (const auto& r : audit) {
    std::cout << "  " << when(r.at_ms) << "  " << r.who << "  " << r.action << "  " << r.target
              << ": '" << r.before << "' -> '" << r.after << "'\n";
  }
}

// `program set KEY VALUE`: the scalar keys of [program] and [receipt].
ledger::AuditRow set_key(const Options& o, domain::ProgramConfig& p, receipt::ReceiptConfig& r) {
  const std::string& k = o.key;
  const std::string& v = o.value;
  const std::string field = (k == "width" || k == "show_reasons" ? "receipt." : "program.") + k;
  auto integer = [&](int64_t& out) {
    const std::string before = std::to_string(out);
    try {
      size_t used = 0;
      const long long n = std::stoll(v, &used);
      if (used != v.size()) throw std::invalid_argument(v);
      out = n;
    } catch (const std::exception&) {
      fail(domain::make_error(domain::ErrorCode::kInvalidConfig, field,
                              "must be an integer, not \"" + v + "\""),
           2);
    }
    return before;
  };
  auto boolean = [&](bool& out) {
    const std::string before = out ? "true" : "false";
    if (v != "true" && v != "false") {
      fail(domain::make_error(domain::ErrorCode::kInvalidConfig, field,
                              "must be true or false, not \"" + v + "\""),
           2);
    }
    out = v == "true";
    return before;
  };
  std::string before;
  if (k == "point_value") {
    before = p.point_value.str_trimmed();
    auto m = domain::Money::parse(v);
    if (!m)
      fail(domain::make_error(domain::ErrorCode::kInvalidConfig, field,
                              "must be an amount such as \"0.10\", not \"" + v + "\""),
           2);
    p.point_value = *m;
  } else if (k == "earn_percent") {
    before = p.earn_percent.str_trimmed();
    p.earn_percent = parse_percent(field, v);
  } else if (k == "currency") {
    before = p.currency;
    p.currency = v;
  } else if (k == "expiry_days") {
    before = integer(p.expiry_days);
  } else if (k == "hold_minutes") {
    before = integer(p.hold_minutes);
  } else if (k == "welcome_bonus") {
    int64_t w = p.welcome_bonus.value();
    before = integer(w);
    p.welcome_bonus = domain::Points(w);
  } else if (k == "auto_enroll") {
    before = boolean(p.auto_enroll);
  } else if (k == "allow_transfers") {
    before = boolean(p.allow_transfers);
  } else if (k == "on_points_tender") {
    before =
        p.on_points_tender == domain::PointsTenderPolicy::kBlock ? "block" : "earn_on_remainder";
    if (v == "block") {
      p.on_points_tender = domain::PointsTenderPolicy::kBlock;
    } else if (v == "earn_on_remainder") {
      p.on_points_tender = domain::PointsTenderPolicy::kEarnOnRemainder;
    } else {
      fail(domain::make_error(domain::ErrorCode::kInvalidConfig, field,
                              "must be \"block\" or \"earn_on_remainder\", not \"" + v + "\""),
           2);
    }
  } else if (k == "unmatched_refund") {
    before = p.unmatched_refund == domain::UnmatchedRefundPolicy::kIgnore ? "ignore"
                                                                          : "clawback_at_rate";
    if (v == "ignore") {
      p.unmatched_refund = domain::UnmatchedRefundPolicy::kIgnore;
    } else if (v == "clawback_at_rate") {
      p.unmatched_refund = domain::UnmatchedRefundPolicy::kClawbackAtRate;
    } else {
      fail(domain::make_error(domain::ErrorCode::kInvalidConfig, field,
                              "must be \"clawback_at_rate\" or \"ignore\", not \"" + v + "\""),
           2);
    }
  } else if (k == "width") {
    int64_t w = r.width;
    before = integer(w);
    if (w < 16 || w > 200) {
      fail(domain::make_error(domain::ErrorCode::kInvalidConfig, field,
                              "must be between 16 and 200, not " + v),
           2);
    }
    r.width = static_cast<int>(w);
  } else if (k == "show_reasons") {
    before = boolean(r.show_reasons);
  } else {
    fail(domain::make_error(
             domain::ErrorCode::kInvalidConfig, k,
             "is not a key `program set` changes; keys: point_value earn_percent currency "
             "expiry_days hold_minutes welcome_bonus auto_enroll allow_transfers "
             "on_points_tender unmatched_refund width show_reasons (lists and maps have their "
             "own commands; see loyaltyctl program --help)"),
         2);
  }
  return {0, "", 0, "program.set", field, before, v};
}

// set/remove on one of the name -> percent maps.
ledger::AuditRow map_edit(const std::string& what, std::map<std::string, domain::Percent>& m,
                          const Options& o, bool remove) {
  const std::string field = "program." + what + "." + o.name;
  const std::string before = percent_text(m, o.name);
  if (remove) {
    if (m.erase(o.name) == 0) {
      fail(domain::make_error(domain::ErrorCode::kNotFound, field, "is not set"), 1);
    }
    return {0, "", 0, "program." + what + ".remove", o.name, before, ""};
  }
  m[o.name] = parse_percent(field, o.value);
  return {0, "", 0, "program." + what + ".set", o.name, before, o.value};
}

}  // namespace

void add_program_commands(CLI::App& app, const std::string& config) {
  auto o = std::make_shared<Options>();
  auto* program = app.add_subcommand("program", "show and change the loyalty program (no restart)");
  program->require_subcommand(1);
  program->footer(
      "Examples:\n"
      "  loyaltyctl program show\n"
      "  loyaltyctl program exclude-method add credit_card --note \"card fees\"\n"
      "  loyaltyctl program sku set GIFT-100 0        (0 excludes the SKU)\n"
      "  loyaltyctl program category-override set tabaco 0\n"
      "  loyaltyctl program customer-category set gold 8\n"
      "  loyaltyctl program set earn_percent 6 --yes --actor ana\n"
      "  loyaltyctl program receipt template sale --line \"Points: {earned}\" --line \"Balance: "
      "{balance}\"\n"
      "  loyaltyctl program receipt locale en\n"
      "  loyaltyctl program set --file program.toml   (a whole program document)\n"
      "  loyaltyctl program history\n"
      "Every change shows a diff, asks on a terminal (skip with --yes), is recorded with its\n"
      "actor (--actor, default $SUDO_USER or $USER) and reaches running plugins within ~2 s.");

  auto* show_cmd = program->add_subcommand("show", "print the effective program document");
  show_cmd->add_flag("--json", o->as_json, "print JSON");
  show_cmd->footer("Example: loyaltyctl program show --json");
  show_cmd->callback([&config, o] { show(config, *o); });

  auto* history_cmd =
      program->add_subcommand("history", "stored program versions and the audit log");
  history_cmd->add_option("--limit", o->limit, "at most this many rows (default 20)");
  history_cmd->add_flag("--json", o->as_json, "print JSON (with each version's document)");
  history_cmd->footer("Example: loyaltyctl program history --limit 5");
  history_cmd->callback([&config, o] { history(config, *o); });

  auto* set =
      program->add_subcommand("set", "set one key of [program] or [receipt], or load a document");
  set->add_option("key", o->key,
                  "point_value earn_percent currency expiry_days hold_minutes "
                  "welcome_bonus auto_enroll allow_transfers on_points_tender "
                  "unmatched_refund width show_reasons");
  set->add_option("value", o->value, "the new value (\"0.10\", 6, true, block...)");
  set->add_option("--file", o->file, "a whole program document ([program] and [receipt] TOML)");
  add_change_flags(set, *o);
  set->footer(
      "Examples:\n  loyaltyctl program set earn_percent 6\n"
      "  loyaltyctl program set hold_minutes 20 --yes\n"
      "  loyaltyctl program set --file program.toml --note \"hub outage, local copy\"");
  set->callback([&config, o] {
    if (!o->file.empty()) {
      if (!o->key.empty()) fail("give either KEY VALUE or --file, not both", 2);
      std::ifstream in(o->file, std::ios::binary);
      if (!in) fail("cannot read " + o->file, 2);
      std::ostringstream text;
      text << in.rdbuf();
      std::string doc = text.str();
      if (doc.empty()) fail(o->file + " is empty", 2);
      change(config, *o, nullptr, doc);
      return;
    }
    if (o->key.empty() || o->value.empty()) fail("program set needs KEY VALUE or --file", 2);
    change(config, *o, [o](auto& p, auto& r) { return set_key(*o, p, r); });
  });

  auto* methods = program->add_subcommand("exclude-method", "payment methods that earn nothing");
  methods->require_subcommand(1);
  for (const bool remove : {false, true}) {
    auto* sub = methods->add_subcommand(
        remove ? "remove" : "add",
        remove ? "let a payment method earn again" : "exclude a payment method from earning");
    sub->add_option("method", o->name, "tender method as the POS sends it (credit_card)")
        ->required();
    add_change_flags(sub, *o);
    sub->footer(std::string("Example: loyaltyctl program exclude-method ") +
                (remove ? "remove" : "add") + " credit_card");
    sub->callback([&config, o, remove] {
      change(config, *o, [o, remove](domain::ProgramConfig& p, receipt::ReceiptConfig&) {
        const std::string before = join(p.excluded_payment_methods);
        if (remove) {
          if (p.excluded_payment_methods.erase(o->name) == 0) {
            fail(domain::make_error(domain::ErrorCode::kNotFound,
                                    "program.excluded_payment_methods",
                                    "\"" + o->name + "\" is not excluded"));
          }
        } else {
          p.excluded_payment_methods.insert(o->name);
        }
        return ledger::AuditRow{
            0,
            "",
            0,
            std::string("program.exclude-method.") + (remove ? "remove" : "add"),
            o->name,
            before,
            join(p.excluded_payment_methods)};
      });
    });
  }

  struct MapCmd {
    const char* name;
    const char* what;  // key path under program.
    const char* help;
    const char* arg;
    const char* example;
  };
  for (const MapCmd& mc :
       {MapCmd{"sku", "overrides.sku", "per-SKU earn percent (0 excludes)", "SKU", "GIFT-100 0"},
        MapCmd{"category-override", "overrides.category",
               "per product category earn percent (0 excludes)", "category", "tabaco 0"},
        MapCmd{"customer-category", "categories", "customer categories and their earn percent",
               "category", "gold 8"}}) {
    auto* cmd = program->add_subcommand(mc.name, mc.help);
    cmd->require_subcommand(1);
    for (const bool remove : {false, true}) {
      auto* sub = cmd->add_subcommand(remove ? "remove" : "set",
                                      remove ? "remove the entry" : "set the percent");
      sub->add_option("name", o->name, mc.arg)->required();
      if (!remove)
        sub->add_option("percent", o->value, "earn percent (\"5\", \"2.5\", 0)")->required();
      add_change_flags(sub, *o);
      sub->footer(std::string("Example: loyaltyctl program ") + mc.name + " " +
                  (remove ? std::string("remove ") +
                                std::string(mc.example).substr(0, std::string(mc.example).find(' '))
                          : std::string("set ") + mc.example));
      const std::string what = mc.what;
      sub->callback([&config, o, remove, what] {
        change(config, *o, [o, remove, what](domain::ProgramConfig& p, receipt::ReceiptConfig&) {
          auto& m = what == "categories"      ? p.customer_categories
                    : what == "overrides.sku" ? p.sku_overrides
                                              : p.category_overrides;
          return map_edit(what, m, *o, remove);
        });
      });
    }
  }

  auto* receipt_cmd = program->add_subcommand("receipt", "receipt templates and language");
  receipt_cmd->require_subcommand(1);
  auto* tmpl = receipt_cmd->add_subcommand("template", "set the sale or refund template lines");
  tmpl->add_option("which", o->which, "sale or refund")
      ->required()
      ->check(CLI::IsMember({"sale", "refund"}));
  tmpl->add_option("--line", o->lines, "a template line (repeat; tokens such as {earned})");
  tmpl->add_flag("--default", o->use_default, "go back to the locale's default template");
  add_change_flags(tmpl, *o);
  tmpl->footer(
      "Example: loyaltyctl program receipt template sale --line \"Points: {earned}\" "
      "--line \"Balance: {balance} ({balance_value})\"\nTokens: {customer} {earned} {redeemed} "
      "{clawed_back} {restored} {balance} {available} {balance_value} {currency} {expiring} "
      "{expiring_date}");
  tmpl->callback([&config, o] {
    if (o->lines.empty() == !o->use_default) fail("give --line (one or more) or --default", 2);
    change(config, *o, [o](domain::ProgramConfig&, receipt::ReceiptConfig& r) {
      auto& t = o->which == "sale" ? r.sale_template : r.refund_template;
      std::string before;
      for (const auto& l : t) before += (before.empty() ? "" : "\n") + l;
      t = o->lines;
      std::string after;
      for (const auto& l : t) after += (after.empty() ? "" : "\n") + l;
      return ledger::AuditRow{0, "", 0, "program.receipt.template", o->which, before, after};
    });
  });
  auto* locale = receipt_cmd->add_subcommand("locale", "receipt language (es or en)");
  locale->add_option("locale", o->value, "es or en")
      ->required()
      ->check(CLI::IsMember({"es", "en"}));
  add_change_flags(locale, *o);
  locale->footer("Example: loyaltyctl program receipt locale en");
  locale->callback([&config, o] {
    change(config, *o, [o](domain::ProgramConfig&, receipt::ReceiptConfig& r) {
      const std::string before = r.locale;
      r.locale = o->value;
      return ledger::AuditRow{0,      "",      0, "program.receipt.locale", "receipt.locale",
                              before, o->value};
    });
  });
}

}  // namespace loyalty::cli

#include "customers_cmd.h"

#include <openssl/rand.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>

#include "app/customers.h"
#include "cli_support.h"
#include "domain/time.h"
#include "ledger/admin.h"
#include "ledger/program_store.h"

namespace loyalty::cli {

namespace {

using nlohmann::json;

struct Options {
  std::string ref, other, name, email, phone, birthday, category, actor, id;
  bool yes = false;
  bool as_json = false;
  OutputFormat conflicts_format;
};

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string now_rfc3339() { return domain::format_rfc3339({now_ms(), 0}); }

json contract_call(bootstrap::Runtime& rt, const json& request) {
  auto out = rt.service().handle(request.dump(), "loyaltyctl");
  json r = json::parse(out.json, nullptr, false);
  if (out.code != 0) {
    const json e = r.value("error", json::object());
    fail(domain::make_error(static_cast<domain::ErrorCode>(out.code), e.value("field", ""),
                            e.value("message", "failed")));
  }
  return r;
}

void audit(bootstrap::Runtime& rt, const Options& o, const std::string& action,
           const std::string& target, const std::string& before, const std::string& after) {
  auto& ledger = static_cast<ledger::SqliteLedger&>(*rt.store());
  try {
    ledger::append_audit(ledger,
                         {{0, actor_or_default(o.actor), now_ms(), action, target, before, after}});
  } catch (const app::StoreFailure& f) {
    fail(domain::make_error(f.code(), "", std::string("audit not recorded: ") + f.what()));
  }
}

json pii_json(const app::Pii& p) {
  json out = json::object();
  auto put = [&out](const char* k, const std::optional<std::string>& v) {
    out[k] = v ? json(*v) : json(nullptr);
  };
  put("name", p.name);
  put("email", p.email);
  put("phone", p.phone);
  put("birthday", p.birthday);
  return out;
}

json entry_json(const app::EntryRow& e) {
  return {{"entry_id", e.entry_id},
          {"kind", e.kind},
          {"points", e.points.value()},
          {"branch", e.branch},
          {"ticket", e.ticket},
          {"request_id", e.request_id},
          {"at", domain::format_rfc3339(e.business_at)},
          {"expires_at", e.expires_at ? json(domain::format_rfc3339(*e.expires_at)) : json()},
          {"program_version", e.program_version},
          {"reason", e.reason}};
}

app::CustomerView find(bootstrap::Runtime& rt, const std::string& ref, int64_t entries) {
  auto v = app::find_customer(*rt.store(), ref, entries);
  if (!v) fail(v.error());
  return std::move(*v);
}

std::string random_hex16() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) fail("no random bytes from OpenSSL");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : b) {
    out += kHex[c >> 4];
    out += kHex[c & 0xF];
  }
  return out;
}

}  // namespace

void add_customers_commands(CLI::App& app, const std::string& config) {
  auto o = std::make_shared<Options>();
  auto* customers =
      app.add_subcommand("customers", "find, enroll, merge, export and erase customers");
  customers->require_subcommand(1);
  customers->footer(
      "Examples:\n"
      "  loyaltyctl customers find phone:5512345678\n"
      "  loyaltyctl customers enroll card:4000123 --name \"Ana Ruiz\" --phone 5512345678\n"
      "  loyaltyctl customers alias card:4000123 phone:5512345678\n"
      "  loyaltyctl customers merge card:4000999 card:4000123   (the first goes into the second)\n"
      "  loyaltyctl customers export card:4000123 > ana.json     (the customer asked for it)\n"
      "  loyaltyctl customers erase card:4000123 --yes            (personal data; amounts stay)\n"
      "  loyaltyctl customers conflicts --csv                    (references two branches gave to two accounts)");
  auto actor = [o](CLI::App* sub) {
    sub->add_option("--actor", o->actor, "who (default: $SUDO_USER or $USER)");
  };

  auto* find_cmd =
      customers->add_subcommand("find", "the account of a reference: refs, balance, personal data");
  find_cmd->add_option("customer", o->ref, "reference (card:..., phone:...)")->required();
  find_cmd->add_flag("--json", o->as_json, "print JSON");
  find_cmd->footer("Example: loyaltyctl customers find phone:5512345678");
  find_cmd->callback([&config, o] {
    auto rt = open_runtime(config);
    auto v = find(*rt, o->ref, 0);
    json out = {{"account", v.account.account_id},
                {"category", v.account.category},
                {"balance", v.account.balance.value()},
                {"created_at", domain::format_rfc3339(v.account.created_at)},
                {"references", v.refs},
                {"personal", pii_json(v.pii)}};
    if (o->as_json) {
      std::cout << out.dump(2) << "\n";
      return;
    }
    std::cout << "account     " << v.account.account_id << "\nbalance     "
              << v.account.balance.value() << "\ncategory    " << terminal_text(v.account.category)
              << "\nreferences ";
    for (const auto& r : v.refs) std::cout << " " << terminal_text(r);
    std::cout << "\nname        " << terminal_text(v.pii.name.value_or("")) << "\nemail       "
              << terminal_text(v.pii.email.value_or("")) << "\nphone       "
              << terminal_text(v.pii.phone.value_or("")) << "\n";
  });

  auto* enroll = customers->add_subcommand("enroll", "create (or update) a customer account");
  enroll->add_option("customer", o->ref, "reference (card:..., phone:...)")->required();
  enroll->add_option("--name", o->name, "name");
  enroll->add_option("--email", o->email, "email");
  enroll->add_option("--phone", o->phone, "phone");
  enroll->add_option("--birthday", o->birthday, "YYYY-MM-DD");
  enroll->add_option("--category", o->category,
                     "customer category (see program customer-category)");
  actor(enroll);
  enroll->footer(
      "Example: loyaltyctl customers enroll card:4000123 --name \"Ana Ruiz\" --category gold");
  enroll->callback([&config, o] {
    auto rt = open_runtime(config);
    json req = {{"type", "customer.upsert"},
                {"id", "enroll-" + std::to_string(now_ms()) + "-" + std::to_string(getpid())},
                {"at", now_rfc3339()},
                {"customer", o->ref}};
    if (!o->name.empty()) req["name"] = o->name;
    if (!o->email.empty()) req["email"] = o->email;
    if (!o->phone.empty()) req["phone"] = o->phone;
    if (!o->birthday.empty()) req["birthday"] = o->birthday;
    if (!o->category.empty()) req["category"] = o->category;
    json r = contract_call(*rt, req);
    audit(*rt, *o, "customer.enroll", r.value("account", o->ref), "", o->category);
    std::cout << "enrolled " << o->ref << " (account " << r.value("account", "?") << ")\n";
  });

  auto* alias = customers->add_subcommand("alias", "add another reference to a customer's account");
  alias->add_option("customer", o->ref, "a reference the account already has")->required();
  alias->add_option("new", o->other, "the new reference")->required();
  actor(alias);
  alias->footer("Example: loyaltyctl customers alias card:4000123 phone:5512345678");
  alias->callback([&config, o] {
    auto rt = open_runtime(config);
    auto v = find(*rt, o->ref, 0);
    contract_call(*rt,
                  {{"type", "customer.upsert"},
                   {"id", "alias-" + std::to_string(now_ms()) + "-" + std::to_string(getpid())},
                   {"at", now_rfc3339()},
                   {"customer", o->ref},
                   {"aliases", {o->other}}});
    audit(*rt, *o, "customer.alias", v.account.account_id, "", o->other);
    std::cout << o->other << " now names account " << v.account.account_id << "\n";
  });

  auto* merge = customers->add_subcommand(
      "merge", "merge one account into another (history kept, balance summed)");
  merge->add_option("from", o->ref, "a reference of the account to merge away")->required();
  merge->add_option("into", o->other, "a reference of the account that stays")->required();
  merge->add_flag("-y,--yes", o->yes, "do not ask");
  merge->add_option("--id", o->id, "idempotency key (default: generated)");
  actor(merge);
  merge->footer("Example: loyaltyctl customers merge card:4000999 card:4000123 --yes");
  merge->callback([&config, o] {
    auto rt = open_runtime(config);
    auto from = find(*rt, o->ref, 0);
    auto into = find(*rt, o->other, 0);
    // One account already: a retry of a merge with its --id gets the first answer (or the
    // merge refuses), nothing to ask.
    if (from.account.account_id != into.account.account_id) {
      std::cout << "merge account " << from.account.account_id << " (balance "
                << from.account.balance.value() << ") into " << into.account.account_id
                << " (balance " << into.account.balance.value() << ")\n";
      if (!confirm("merge?", o->yes)) fail("not merged");
    }
    const std::string id =
        o->id.empty() ? "merge-" + std::to_string(now_ms()) + "-" + std::to_string(getpid())
                      : o->id;
    auto r = app::merge_customers(*rt->store(), app::SystemClock(), rt->settings().branch, o->ref,
                                  o->other, id, rt->service().settings()->program.version);
    if (!r) fail(r.error());
    if (r->replayed) {
      std::cout << "already merged by request " << id << ": " << r->from_account << " into " << r->to_account
                << "; nothing done again\n";
    } else {
      audit(*rt, *o, "customer.merge", r->to_account, r->from_account,
            r->to_account + " balance " + std::to_string(r->to_balance));
    }
    std::cout << "merged: " << r->points_moved << " points in " << r->lots_moved << " lots, "
              << r->refs_moved << " references; " << r->to_account << " balance " << r->to_balance
              << "\n";
  });

  auto* conflicts = customers->add_subcommand(
      "conflicts", "references another branch gave to another account (sync left them as they were)");
  o->conflicts_format.add_flags(conflicts);
  conflicts->footer(
      "A branch that enrolled a reference offline may give it to a new account while another\n"
      "branch already had it on an account of its own; sync never re-points a reference, so the\n"
      "remote account is listed here for an operator to merge (or leave).\n"
      "Example: loyaltyctl customers conflicts --json");
  conflicts->callback([&config, o] {
    auto rt = open_runtime(config, /*read_only=*/true);
    json rows = json::array();
    for (const auto& c : ledger::alias_conflicts(static_cast<ledger::SqliteLedger&>(*rt->store()))) {
      rows.push_back({{"ref", c.ref}, {"kept_account", c.kept_account_id}, {"remote_account", c.account_id},
                      {"entry", c.entry_id}});
    }
    print_rows({"ref", "kept_account", "remote_account", "entry"}, rows, o->conflicts_format.format());
  });

  auto* exp = customers->add_subcommand(
      "export", "everything stored about a customer, as JSON (data access request)");
  exp->add_option("customer", o->ref, "reference")->required();
  actor(exp);
  exp->footer("Example: loyaltyctl customers export card:4000123 > ana.json");
  exp->callback([&config, o] {
    auto rt = open_runtime(config);
    auto v = find(*rt, o->ref, 1'000'000);
    json entries = json::array();
    for (const auto& e : v.entries) entries.push_back(entry_json(e));
    json out = {{"exported_at", now_rfc3339()},
                {"branch", rt->settings().branch},
                {"account", v.account.account_id},
                {"category", v.account.category},
                {"balance", v.account.balance.value()},
                {"created_at", domain::format_rfc3339(v.account.created_at)},
                {"references", v.refs},
                {"personal", pii_json(v.pii)},
                {"entries", entries}};
    audit(*rt, *o, "customer.export", v.account.account_id, "", "");
    std::cout << out.dump(2) << "\n";
  });

  auto* erase =
      customers->add_subcommand("erase", "erase a customer's personal data (amounts stay)");
  erase->add_option("customer", o->ref, "reference")->required();
  erase->add_flag("-y,--yes", o->yes, "do not ask");
  actor(erase);
  erase->footer(
      "Example: loyaltyctl customers erase phone:5512345678 --yes\n"
      "Removes name, email, phone, birthday and replaces phone:/email: references by an\n"
      "unrelated token; balance, entries and reports are unchanged.");
  erase->callback([&config, o] {
    auto rt = open_runtime(config);
    auto v = find(*rt, o->ref, 0);
    std::cout << "erase the personal data of account " << v.account.account_id << "\n";
    if (!confirm("erase? this cannot be undone", o->yes)) fail("not erased");
    auto r = app::erase_customer(*rt->store(), o->ref, random_hex16());
    if (!r) fail(r.error());
    // The audit row names the account and how many references went, never the data.
    audit(*rt, *o, "customer.erase", r->account_id, "",
          std::to_string(r->tokens.size()) + " personal references replaced");
    std::cout << "erased: account " << r->account_id << ", " << r->tokens.size()
              << " personal references replaced; amounts kept\n";
  });
}

}  // namespace loyalty::cli

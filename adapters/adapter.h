// The adapter interface: one POS format's bytes in, contract events out.
//
// An adapter is a pure translator (STYLE.md, rule 7): no I/O, no ledger, no clock, no
// arithmetic on points. It turns what another system wrote (an ARTS POSLog file, a Square
// webhook, an Odoo POS order) into the requests of contract section 2, or into an Error that
// names the element or field and says why. The events then go through the same
// app::Service path as a request sent to loyalty_handle (encoded by protocol::encode_request),
// so idempotency, quarantine and the rules are the plugin's own.
//
// Ids: every event's `h.id` is derived only from the input's own identity (store,
// workstation, sequence number; a payment id), never from a clock or a counter, so that
// translating the same input twice gives the same requests and the plugin's idempotency
// makes a second delivery harmless.
//
// Thread-safety: adapters hold no state; translate() may run on many threads at once.
// Failure: translate() never throws; an Error has code kInvalidEvent (the input parsed but
// a field is wrong or missing) or kInvalidJson (the bytes are not well-formed XML/JSON),
// with `field` a path into the input ("Transaction[3]/RetailTransaction/LineItem[2]/Sale/
// ExtendedAmount", "data.object.payment.amount_money.amount").
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "domain/format_mapping.h"
#include "domain/requests.h"
#include "domain/result.h"

namespace loyalty::adapters {

// How one format's codes map onto the contract's words (the [adapters.<name>] section of
// the TOML); a domain value so that config can fill it without knowing the adapters.
using Mapping = domain::FormatMapping;

// Where in the input an event came from, for reports, logs and the quarantine.
struct Provenance {
  std::string adapter;    // "poslog"
  std::string locator;    // "Transaction[3]", "data.object.payment"
  std::string source_id;  // the format's own id of the transaction
};

struct Event {
  domain::Request request;
  Provenance provenance;
};

// A transaction of the input that is deliberately not an event (a sign-on, a cancelled
// transaction, a training-mode sale), with why: nothing is dropped silently.
struct Skipped {
  Provenance provenance;
  std::string reason;
};

struct Translation {
  std::vector<Event> events;
  std::vector<Skipped> skipped;
};

class Adapter {
 public:
  virtual ~Adapter() = default;
  // The name used in URLs, TOML sections and provenance: "poslog", "square", "odoo".
  virtual std::string_view name() const = 0;
  // One line for --help and docs.
  virtual std::string_view description() const = 0;
  virtual domain::Result<Translation> translate(std::string_view bytes,
                                                const Mapping& mapping) const = 0;
};

// Every adapter, in one explicit list (registry.cc): no static self-registration.
std::span<const Adapter* const> all_adapters();
// The adapter called `name`, or nullptr.
const Adapter* find_adapter(std::string_view name);

// Shared helpers for translators (adapter.cc).
// The mapped value of `key` (exact, then case-insensitive), or nullptr.
const std::string* lookup(const std::map<std::string, std::string>& table, std::string_view key);

}  // namespace loyalty::adapters

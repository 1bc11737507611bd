#include "sync/hub/program_doc.h"

#include "config/program_document.h"

namespace loyalty::sync::hub {

domain::Status validate_program_document(const std::string& document) {
  // The branches' own reader of a program document: what the hub accepts, every branch can
  // apply (it parsed the TOML itself and read it as a whole configuration file).
  auto doc = config::parse_whole_program_document(document);
  if (!doc) return doc.error();
  return domain::ok_status();
}

}  // namespace loyalty::sync::hub

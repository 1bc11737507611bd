// The program document: the part of the configuration an admin (loyaltyctl, the admin
// page) or the hub may change while the branch runs. It is TOML text holding exactly the
// [program] tables ([program], [program.categories], [program.overrides.sku],
// [program.overrides.category]) and [receipt] (width, locale, templates, show_reasons) of
// the configuration file (contract section 6), read by the same strict code as the file:
// unknown keys, wrong types and bad values are kInvalidConfig errors naming the dotted key.
//
// Thread-safety: pure functions; call them from any thread. They never throw (out of
// memory is a kInternal error).
#pragma once

#include <string>
#include <string_view>

#include "domain/program.h"
#include "domain/result.h"
#include "receipt/receipt.h"

namespace loyalty::config {

struct ProgramDocument {
  domain::ProgramConfig program;  // program.version is set (program_version())
  receipt::ReceiptConfig receipt;
  std::string text;  // the TOML text it was read from (canonical when rendered)
  // Whether the text has a [program] table. A whole document an admin hands in must (the hub
  // and `loyaltyctl program set --file` refuse one without): a [receipt]-only file would
  // silently put every program key back to its default.
  bool has_program_table = false;
};

// Parses a program document. Keys other than [program] and [receipt] are refused
// ("plugin: not part of a program document"). Missing keys take the defaults of
// domain/program.h and receipt/receipt.h, as in the file.
domain::Result<ProgramDocument> parse_program_document(std::string_view toml_text);

// A whole document an admin hands in (the hub's PUT /v1/config, `loyaltyctl program set
// --file`): parse_program_document, and it must have a [program] table, or every program key
// would silently go back to its default. kInvalidConfig on the field "program" otherwise.
domain::Result<ProgramDocument> parse_whole_program_document(std::string_view toml_text);

// The canonical TOML text of a program and receipt configuration: every key written out
// (amounts and percents as decimal strings), sorted tables, so that rendering, parsing and
// rendering again gives the same text. parse_program_document(render(...)) yields the
// same program version. Promotions are not part of the document (they have no TOML form).
std::string render_program_document(const domain::ProgramConfig& program,
                                    const receipt::ReceiptConfig& receipt);

}  // namespace loyalty::config

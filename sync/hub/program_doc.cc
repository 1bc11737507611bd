#include "sync/hub/program_doc.h"

#include <toml++/toml.h>

#include "config/load.h"

namespace loyalty::sync::hub {

domain::Status validate_program_document(const std::string& document) {
  using domain::ErrorCode;
  toml::table root;
  try {
    root = toml::parse(std::string_view(document), std::string_view("program document"));
  } catch (const toml::parse_error& e) {
    return domain::make_error(ErrorCode::kInvalidConfig, "",
                              "program document: " + std::string(e.description()) + " (line " +
                                  std::to_string(e.source().begin.line) + ")");
  }
  if (!root.contains("program")) {
    return domain::make_error(ErrorCode::kInvalidConfig, "program",
                              "program: the document needs a [program] table");
  }
  for (const auto& [k, v] : root) {
    if (k.str() != "program" && k.str() != "receipt") {
      return domain::make_error(ErrorCode::kInvalidConfig, std::string(k.str()),
                                std::string(k.str()) +
                                    ": a program document holds only [program] and [receipt]");
    }
  }
  // The branch loader needs [plugin] branch; a placeholder after the document.
  auto settings = config::parse_settings(document + "\n[plugin]\nbranch = \"HUB\"\n",
                                         "/hub/program.toml");
  if (!settings.ok()) return settings.error();
  return domain::ok_status();
}

}  // namespace loyalty::sync::hub

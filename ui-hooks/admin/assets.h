// The admin page's static files (ui-hooks/admin/*.html, *.js, *.css), embedded into the
// binary at build time (embed.cmake), so loyaltyd serves them with no file on disk and no
// external asset. Immutable; thread-safe.
#pragma once

#include <string_view>
#include <vector>

namespace loyalty::ui {

struct AdminAsset {
  std::string_view name;          // "index.html", "app.js", "app.css"
  std::string_view content_type;  // "text/html; charset=utf-8"
  std::string_view body;
};

const std::vector<AdminAsset>& admin_assets();

}  // namespace loyalty::ui

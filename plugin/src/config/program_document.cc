// render_program_document (parse_program_document lives in load.cc, next to the readers it
// shares with the configuration file).
#include "config/program_document.h"

#include <toml++/toml.h>

#include <sstream>

namespace loyalty::config {

namespace {

toml::array names(const std::set<std::string>& set) {
  toml::array a;
  for (const auto& n : set) a.push_back(n);
  return a;
}

toml::table percents(const std::map<std::string, domain::Percent>& map) {
  toml::table t;
  for (const auto& [k, v] : map) t.insert(k, v.str_trimmed());
  return t;
}

toml::array lines(const std::vector<std::string>& v) {
  toml::array a;
  for (const auto& l : v) a.push_back(l);
  return a;
}

}  // namespace

std::string render_program_document(const domain::ProgramConfig& p,
                                    const receipt::ReceiptConfig& r) {
  toml::table program;
  program.insert("currency", p.currency);
  program.insert("point_value", p.point_value.str_trimmed());
  program.insert("earn_percent", p.earn_percent.str_trimmed());
  program.insert("expiry_days", p.expiry_days);
  program.insert("welcome_bonus", p.welcome_bonus.value());
  program.insert("auto_enroll", p.auto_enroll);
  program.insert("points_methods", names(p.points_methods));
  program.insert("on_points_tender", p.on_points_tender == domain::PointsTenderPolicy::kBlock
                                         ? "block"
                                         : "earn_on_remainder");
  program.insert("excluded_payment_methods", names(p.excluded_payment_methods));
  program.insert("unmatched_refund", p.unmatched_refund == domain::UnmatchedRefundPolicy::kIgnore
                                         ? "ignore"
                                         : "clawback_at_rate");
  program.insert("hold_minutes", p.hold_minutes);
  program.insert("allow_transfers", p.allow_transfers);
  program.insert("categories", percents(p.customer_categories));
  toml::table overrides;
  overrides.insert("sku", percents(p.sku_overrides));
  overrides.insert("category", percents(p.category_overrides));
  program.insert("overrides", std::move(overrides));

  toml::table receipt;
  receipt.insert("width", static_cast<int64_t>(r.width));
  receipt.insert("locale", r.locale);
  receipt.insert("show_reasons", r.show_reasons);
  if (!r.sale_template.empty()) receipt.insert("sale_template", lines(r.sale_template));
  if (!r.refund_template.empty()) receipt.insert("refund_template", lines(r.refund_template));

  toml::table root;
  root.insert("program", std::move(program));
  root.insert("receipt", std::move(receipt));
  std::ostringstream out;
  out << root << "\n";
  return out.str();
}

}  // namespace loyalty::config

// PLACEHOLDER: being written (issue 3). Replaced by the real translator.
#include "adapters/poslog/poslog_adapter.h"

namespace loyalty::adapters::poslog {
namespace {
class Placeholder final : public Adapter {
 public:
  std::string_view name() const override { return "poslog"; }
  std::string_view description() const override { return "poslog (not yet written)"; }
  domain::Result<Translation> translate(std::string_view, const Mapping&) const override {
    return domain::make_error(domain::ErrorCode::kInternal, "", "poslog adapter not yet written");
  }
};
}  // namespace
const Adapter& adapter() {
  static const Placeholder a;
  return a;
}
}  // namespace loyalty::adapters::poslog

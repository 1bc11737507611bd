// PLACEHOLDER: being written (issue 3). Replaced by the real translator.
#include "adapters/square/square_adapter.h"

namespace loyalty::adapters::square {
namespace {
class Placeholder final : public Adapter {
 public:
  std::string_view name() const override { return "square"; }
  std::string_view description() const override { return "square (not yet written)"; }
  domain::Result<Translation> translate(std::string_view, const Mapping&) const override {
    return domain::make_error(domain::ErrorCode::kInternal, "", "square adapter not yet written");
  }
};
}  // namespace
const Adapter& adapter() {
  static const Placeholder a;
  return a;
}
}  // namespace loyalty::adapters::square

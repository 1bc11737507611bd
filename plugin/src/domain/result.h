// Result<T> and the project's one error vocabulary.
//
// Error codes map 1:1 to the C ABI return codes of loyalty.h and to the JSON words of the
// contract. Functions that can fail on input return Result<T>; exceptions never cross a
// module edge.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace loyalty::domain {

enum class ErrorCode {
  kInvalidJson = 1,
  kInvalidEvent = 2,
  kUnknownType = 3,
  kConflict = 4,
  kInsufficientPoints = 5,
  kNotFound = 6,
  kUnavailable = 7,
  kInternal = 8,
  kInvalidConfig = 9,
  kInvalidArgument = 10,
  kForbidden = 11,
};

// The contract's JSON word for a code ("invalid_event", ...).
std::string_view error_code_word(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string field;    // JSON path of the offending field ("lines[0].amount"), may be empty
  std::string message;  // one sentence for a person
};

inline Error make_error(ErrorCode code, std::string field, std::string message) {
  return Error{code, std::move(field), std::move(message)};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit on purpose
  Result(Error error) : v_(std::move(error)) {}      // NOLINT: implicit on purpose

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result of an operation that has no value.
struct Unit {};
using Status = Result<Unit>;
inline Status ok_status() { return Unit{}; }

}  // namespace loyalty::domain

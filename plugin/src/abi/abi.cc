// The C ABI of contract section 1: the only exported symbols of libloyalty.so.
//
// An exception firewall: nothing thrown inside ever crosses into the POS. Strings handed
// out are malloc'ed so that loyalty_free() is a plain free().
#include "loyalty/loyalty.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>

#include "bootstrap/runtime.h"
#include "protocol/codec.h"

struct loyalty_plugin {
  std::unique_ptr<loyalty::bootstrap::Runtime> runtime;
  // Calls inside loyalty_handle(). loyalty_close() refuses new ones and waits for these, so
  // a POS that closes while a terminal's call is still running does not free the plugin
  // under it (it crashed). A call that starts after loyalty_close() returned still uses a
  // freed handle: the header's rule stands.
  std::atomic<int> in_flight{0};
  std::atomic<bool> closing{false};
};

namespace {

using loyalty::domain::ErrorCode;

// Counts a call inside loyalty_handle() for loyalty_close(), for the whole call: the catch
// handlers log through the handle too. A null handle counts nothing.
class InFlight {
 public:
  explicit InFlight(loyalty_plugin* p) : p_(p) {
    if (p_ != nullptr) p_->in_flight.fetch_add(1);
  }
  ~InFlight() {
    if (p_ != nullptr) p_->in_flight.fetch_sub(1);
  }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  loyalty_plugin* p_;
};

char* copy_out(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p == nullptr) return nullptr;
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = '\0';
  return p;
}

char* error_body(ErrorCode code, const std::string& field, const std::string& message) {
  return copy_out(loyalty::protocol::encode_error(loyalty::domain::make_error(code, field, message)));
}

}  // namespace

extern "C" {

LOYALTY_API uint32_t loyalty_abi_version(void) { return LOYALTY_ABI_VERSION; }

LOYALTY_API int loyalty_open(const char* config_path, loyalty_plugin** out, char** error_json) {
  if (error_json != nullptr) *error_json = nullptr;
  if (out == nullptr) {
    if (error_json != nullptr) {
      *error_json = error_body(ErrorCode::kInvalidArgument, "out", "out must not be NULL");
    }
    return LOYALTY_ERR_INVALID_ARGUMENT;
  }
  *out = nullptr;
  try {
    if (config_path == nullptr) {
      if (error_json != nullptr) {
        *error_json = error_body(ErrorCode::kInvalidArgument, "config_path", "config_path must not be NULL");
      }
      return LOYALTY_ERR_INVALID_ARGUMENT;
    }
    auto rt = loyalty::bootstrap::Runtime::open(config_path);
    if (!rt) {
      if (error_json != nullptr) *error_json = copy_out(loyalty::protocol::encode_error(rt.error()));
      return static_cast<int>(rt.error().code);
    }
    *out = new loyalty_plugin{std::move(*rt)};
    return LOYALTY_OK;
  } catch (const std::bad_alloc&) {
    return LOYALTY_ERR_INTERNAL;
  } catch (const std::exception& e) {
    if (error_json != nullptr) *error_json = error_body(ErrorCode::kInternal, "", e.what());
    return LOYALTY_ERR_INTERNAL;
  } catch (...) {
    if (error_json != nullptr) *error_json = error_body(ErrorCode::kInternal, "", "unknown failure");
    return LOYALTY_ERR_INTERNAL;
  }
}

LOYALTY_API int loyalty_handle(loyalty_plugin* p, const char* request_json, size_t len,
                               char** response_json) {
  if (response_json == nullptr) return LOYALTY_ERR_INVALID_ARGUMENT;
  *response_json = nullptr;
  const InFlight in_flight(p);
  try {
    if (p == nullptr || !p->runtime) {
      *response_json = error_body(ErrorCode::kInvalidArgument, "", "the plugin handle is NULL");
      return LOYALTY_ERR_INVALID_ARGUMENT;
    }
    if (request_json == nullptr) {
      *response_json = error_body(ErrorCode::kInvalidArgument, "request_json", "request_json is NULL");
      return LOYALTY_ERR_INVALID_ARGUMENT;
    }
    if (p->closing.load()) {
      *response_json = error_body(ErrorCode::kUnavailable, "", "the plugin is closing (loyalty_close)");
      return LOYALTY_ERR_UNAVAILABLE;
    }
    auto outcome = p->runtime->service().handle(std::string_view(request_json, len), "abi");
    if (outcome.code == LOYALTY_ERR_INTERNAL) {
      p->runtime->logger()->error("internal error: {}", outcome.json);
    }
    *response_json = copy_out(outcome.json);
    return *response_json == nullptr ? LOYALTY_ERR_INTERNAL : outcome.code;
  } catch (const std::bad_alloc&) {
    return LOYALTY_ERR_INTERNAL;
  } catch (const std::exception& e) {
    if (p != nullptr && p->runtime) p->runtime->logger()->error("internal error: {}", e.what());
    *response_json = error_body(ErrorCode::kInternal, "", std::string("internal error: ") + e.what());
    return LOYALTY_ERR_INTERNAL;
  } catch (...) {
    *response_json = error_body(ErrorCode::kInternal, "", "internal error");
    return LOYALTY_ERR_INTERNAL;
  }
}

LOYALTY_API void loyalty_free(char* s) { std::free(s); }

LOYALTY_API void loyalty_close(loyalty_plugin* p) {
  try {
    if (p == nullptr) return;
    p->closing.store(true);
    // Calls in flight end within busy_timeout_ms (a call's longest wait for the ledger).
    while (p->in_flight.load() != 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    delete p;
  } catch (...) {
    // Nothing may escape into the POS.
  }
}

}  // extern "C"

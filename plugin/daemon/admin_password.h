// The admin page's password file ([daemon] admin_password_file): one line per user,
//   user:pbkdf2-sha256:<iterations>:<salt, 32 hex>:<hash, 64 hex>
// PBKDF2-HMAC-SHA256 from OpenSSL with a random 16-byte salt per line. The file holds no
// password, only what checks one; `loyaltyctl admin set-password` writes it (mode 0600).
//
// Thread-safety: pure functions apart from the file they read or write. Never throw.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "domain/result.h"

namespace loyalty::daemon {

inline constexpr int kPbkdf2Iterations = 100'000;

struct PasswordRecord {
  std::string user;
  int iterations = kPbkdf2Iterations;
  std::string salt;  // bytes
  std::string hash;  // 32 bytes
};

// `n` random bytes from OpenSSL's CSPRNG, as lowercase hex (2n digits); "" if it failed.
std::string random_hex(size_t n);

// A record for `password` with a fresh salt; kInternal if OpenSSL fails.
domain::Result<PasswordRecord> make_record(const std::string& user, const std::string& password,
                                           int iterations = kPbkdf2Iterations);
std::string format_record(const PasswordRecord& r);

// Reads the file; errors (kInvalidConfig, field daemon.admin_password_file) name the line.
domain::Result<std::vector<PasswordRecord>> read_password_file(const std::string& path);

// Replaces (or adds) `user`'s line, keeping the others; writes a temporary file with mode
// 0600 and renames it over the old one.
domain::Status set_password(const std::string& path, const std::string& user,
                            const std::string& password);

// Constant-time check of `password` against the record.
bool check_password(const PasswordRecord& r, const std::string& password);

// User names: 1..64 of [A-Za-z0-9._-].
bool valid_user_name(const std::string& user);

}  // namespace loyalty::daemon

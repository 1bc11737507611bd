#include "daemon/admin_password.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace loyalty::daemon {

namespace {

constexpr const char* kScheme = "pbkdf2-sha256";
constexpr const char* kField = "daemon.admin_password_file";

std::string to_hex(const std::string& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 0xF];
  }
  return out;
}

bool from_hex(const std::string& hex, std::string& out) {
  if (hex.size() % 2 != 0) return false;
  out.clear();
  auto v = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = v(hex[i]), lo = v(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
  }
  return true;
}

bool derive(const std::string& password, const std::string& salt, int iterations,
            std::string& out) {
  unsigned char key[32];
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), iterations, EVP_sha256(), sizeof key,
                        key) != 1) {
    return false;
  }
  out.assign(reinterpret_cast<const char*>(key), sizeof key);
  return true;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

}  // namespace

std::string random_hex(size_t n) {
  std::string bytes(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n)) != 1) {
    return "";
  }
  return to_hex(bytes);
}

bool valid_user_name(const std::string& user) {
  if (user.empty() || user.size() > 64) return false;
  for (char c : user) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

domain::Result<PasswordRecord> make_record(const std::string& user, const std::string& password,
                                           int iterations) {
  PasswordRecord r;
  r.user = user;
  r.iterations = iterations;
  r.salt.assign(16, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(r.salt.data()), 16) != 1 ||
      !derive(password, r.salt, iterations, r.hash)) {
    return domain::make_error(domain::ErrorCode::kInternal, "", "OpenSSL PBKDF2 failed");
  }
  return r;
}

std::string format_record(const PasswordRecord& r) {
  return r.user + ":" + kScheme + ":" + std::to_string(r.iterations) + ":" + to_hex(r.salt) + ":" +
         to_hex(r.hash);
}

domain::Result<std::vector<PasswordRecord>> read_password_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return domain::make_error(
        domain::ErrorCode::kInvalidConfig, kField,
        "cannot read " + path + "; create it with `loyaltyctl admin set-password`");
  }
  std::vector<PasswordRecord> out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    const auto parts = split(line, ':');
    PasswordRecord r;
    bool ok = parts.size() == 5 && valid_user_name(parts[0]) && parts[1] == kScheme;
    if (ok) {
      r.user = parts[0];
      try {
        r.iterations = std::stoi(parts[2]);
      } catch (const std::exception&) {
        ok = false;
      }
      ok = ok && r.iterations >= 1000 && from_hex(parts[3], r.salt) && r.salt.size() >= 8 &&
           from_hex(parts[4], r.hash) && r.hash.size() == 32;
    }
    if (!ok) {
      return domain::make_error(domain::ErrorCode::kInvalidConfig, kField,
                                path + " line " + std::to_string(n) +
                                    " is not user:pbkdf2-sha256:<iterations>:<salt>:<hash>");
    }
    out.push_back(std::move(r));
  }
  if (out.empty()) {
    return domain::make_error(domain::ErrorCode::kInvalidConfig, kField,
                              path + " has no user; add one with `loyaltyctl admin set-password`");
  }
  return out;
}

domain::Status set_password(const std::string& path, const std::string& user,
                            const std::string& password) {
  if (!valid_user_name(user)) {
    return domain::make_error(domain::ErrorCode::kInvalidArgument, "user",
                              "must be 1 to 64 letters, digits, '.', '_' or '-'");
  }
  if (password.size() < 8) {
    return domain::make_error(domain::ErrorCode::kInvalidArgument, "password",
                              "must have at least 8 characters");
  }
  auto record = make_record(user, password);
  if (!record) return record.error();
  std::string text;
  {
    std::ifstream in(path);
    std::string line;
    while (in && std::getline(in, line)) {
      if (line.rfind(user + ":", 0) == 0) continue;
      if (!line.empty()) text += line + "\n";
    }
  }
  text += format_record(*record) + "\n";
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return domain::make_error(domain::ErrorCode::kUnavailable, "file", "cannot write " + tmp);
  }
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(fd) == 0;
  ::close(fd);
  if (!written || std::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return domain::make_error(domain::ErrorCode::kUnavailable, "file", "cannot write " + path);
  }
  return domain::ok_status();
}

bool check_password(const PasswordRecord& r, const std::string& password) {
  std::string derived;
  if (!derive(password, r.salt, r.iterations, derived) || derived.size() != r.hash.size()) {
    return false;
  }
  return CRYPTO_memcmp(derived.data(), r.hash.data(), derived.size()) == 0;
}

}  // namespace loyalty::daemon

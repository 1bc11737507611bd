// What the adapter tests share: reading test data, a default mapping, and translating with
// the failure spelled out in the test's output.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "adapters/adapter.h"

namespace loyalty::adapters::test {

// The bytes of a file (empty, with a test failure, when it cannot be read).
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// tests/adapters/data/<source>/<name>: the copied fixtures (data/SOURCES.md).
inline std::string read_data(const std::string& source, const std::string& name) {
  return read_file(std::filesystem::path(LOYALTY_TEST_DATA_DIR) / source / name);
}

// tests/fuzz/corpus/<adapter>/<name>: the fuzz seeds, which the tests also translate.
inline std::string read_seed(const std::string& adapter, const std::string& name) {
  return read_file(std::filesystem::path(LOYALTY_TEST_DATA_DIR) / ".." / ".." / "fuzz" /
                   "corpus" / adapter / name);
}

inline Mapping default_mapping() {
  Mapping m;
  m.branch = "B01";
  return m;
}

// The translation, or an empty one and a test failure naming the error.
inline Translation translate_ok(const Adapter& adapter, const std::string& body,
                                const Mapping& mapping = default_mapping()) {
  auto r = adapter.translate(body, mapping);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().field + ": " + r.error().message);
  return r.ok() ? *r : Translation{};
}

// The error, or a default Error and a test failure when the input was accepted.
inline domain::Error translate_error(const Adapter& adapter, const std::string& body,
                                     const Mapping& mapping = default_mapping()) {
  auto r = adapter.translate(body, mapping);
  EXPECT_FALSE(r.ok()) << "accepted: " << body.substr(0, 200);
  return r.ok() ? domain::Error{} : r.error();
}

}  // namespace loyalty::adapters::test

// Runs a libFuzzer entry point (LLVMFuzzerTestOneInput) over files and directories of
// inputs, once each, so that every ctest run replays the corpora with whatever compiler
// and sanitizers the build uses (libFuzzer itself needs clang; see CMakeLists.txt).
//
//   fuzz_replay_poslog tests/fuzz/corpus/poslog [more files or dirs...]
//
// Exit status: 0 when every input ran (a crash or sanitizer report ends the process
// earlier with its own status), 2 when an argument cannot be read or no input was found.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

bool run_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", p.c_str());
    return false;
  }
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // A copy of exactly the input's size, so that reading past it is caught by ASan.
  std::vector<uint8_t> exact(bytes.begin(), bytes.end());
  LLVMFuzzerTestOneInput(exact.empty() ? nullptr : exact.data(), exact.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help") {
    std::printf("usage: %s CORPUS_DIR_OR_FILE...\nexample: %s tests/fuzz/corpus/poslog\n", argv[0],
                argv[0]);
    return argc < 2 ? 2 : 0;
  }
  size_t count = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    std::error_code ec;
    if (std::filesystem::is_directory(arg, ec)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(arg)) {
        if (!e.is_regular_file()) continue;
        if (!run_file(e.path())) return 2;
        ++count;
      }
    } else {
      if (!run_file(arg)) return 2;
      ++count;
    }
  }
  // Also the edge cases every target must survive.
  LLVMFuzzerTestOneInput(nullptr, 0);
  const uint8_t nul[] = {0};
  LLVMFuzzerTestOneInput(nul, 1);
  std::printf("%zu inputs replayed\n", count);
  return count == 0 ? 2 : 0;
}

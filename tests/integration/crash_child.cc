// Child of the crash test: hammers sales through the real .so and acknowledges each one on
// stdout ("<id> <earned>") only after loyalty_handle returned. It is killed with SIGKILL.
//   crash_child LIBLOYALTY.so CONFIG RUN
#include <dlfcn.h>

#include <cstdio>
#include <string>

#include "crash_requests.h"
#include "loyalty/loyalty.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: crash_child LIBLOYALTY.so CONFIG RUN\n");
    return 2;
  }
  void* so = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!so) return 3;
  auto open = reinterpret_cast<int (*)(const char*, loyalty_plugin**, char**)>(dlsym(so, "loyalty_open"));
  auto handle = reinterpret_cast<int (*)(loyalty_plugin*, const char*, size_t, char**)>(dlsym(so, "loyalty_handle"));
  auto free_ = reinterpret_cast<void (*)(char*)>(dlsym(so, "loyalty_free"));
  loyalty_plugin* p = nullptr;
  char* err = nullptr;
  if (open(argv[2], &p, &err) != 0) {
    std::fprintf(stderr, "open: %s\n", err ? err : "?");
    return 4;
  }
  const int run = std::stoi(argv[3]);
  for (int k = 0;; ++k) {
    const std::string body = crash::sale_body(run, k);
    char* out = nullptr;
    const int rc = handle(p, body.data(), body.size(), &out);
    if (rc == 0 && out) {
      std::printf("%s %lld\n", crash::sale_id(run, k).c_str(), static_cast<long long>(crash::earned_of(out)));
      std::fflush(stdout);
    }
    free_(out);
  }
}

// Child of the crash test (R1): loads libloyalty.so with dlopen, opens CONFIG and sends
// sales "<RUN>-0", "<RUN>-1", ... forever. After each successful response it writes one
// line "<id> <earned>" to stdout and flushes it: that line is the acknowledgement the POS
// would act on. The test kills it with SIGKILL at a random moment.
//   crash_child LIBLOYALTY.so CONFIG RUN
// Exit codes (it never ends on its own unless something is wrong): 2 usage, 3 dlopen,
// 4 loyalty_open, 5 a sale failed, 6 stdout closed.
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
  if (so == nullptr) {
    std::fprintf(stderr, "dlopen: %s\n", dlerror());
    return 3;
  }
  auto open =
      reinterpret_cast<int (*)(const char*, loyalty_plugin**, char**)>(dlsym(so, "loyalty_open"));
  auto handle = reinterpret_cast<int (*)(loyalty_plugin*, const char*, size_t, char**)>(
      dlsym(so, "loyalty_handle"));
  auto free_string = reinterpret_cast<void (*)(char*)>(dlsym(so, "loyalty_free"));
  if (open == nullptr || handle == nullptr || free_string == nullptr) {
    std::fprintf(stderr, "dlsym: %s\n", dlerror());
    return 3;
  }
  loyalty_plugin* p = nullptr;
  char* err = nullptr;
  if (open(argv[2], &p, &err) != 0) {
    std::fprintf(stderr, "loyalty_open: %s\n", err != nullptr ? err : "?");
    return 4;
  }
  const int run = std::atoi(argv[3]);
  for (int k = 0;; ++k) {
    const std::string body = crash::sale_body(run, k);
    char* out = nullptr;
    const int rc = handle(p, body.data(), body.size(), &out);
    if (rc != 0 || out == nullptr) {
      std::fprintf(stderr, "sale %s failed with %d: %s\n", crash::sale_id(run, k).c_str(), rc,
                   out != nullptr ? out : "(no response)");
      return 5;
    }
    const long long earned = static_cast<long long>(crash::earned_of(out));
    free_string(out);
    if (std::printf("%s %lld\n", crash::sale_id(run, k).c_str(), earned) < 0 ||
        std::fflush(stdout) != 0) {
      return 6;
    }
  }
}

// The json type parse_request builds its tree in: nlohmann::json with the same containers
// and ordering (so the same tree, the same canonical text and hash), whose nodes come from
// a per-request arena instead of one malloc and one free each.
//
// Why: a sale's request tree is ~60 allocations (map nodes, strings' holders, arrays);
// allocating and freeing them was a quarter of parse_request (docs/performance.md).
//
// How: a RequestArena lives on the stack of the parsing call and is the thread's current
// arena while it lives. ArenaAllocator takes memory from the current arena, or from the
// heap when there is none; it gives back to the heap only what the arena does not own, and
// the arena frees its own blocks at once when it goes. So every RequestJson value must be
// destroyed before the arena that was current when it was built: declare the arena first.
// String contents longer than the small-string buffer stay on the heap (std::string).
//
// Thread-safety: the current arena is per thread; an arena is used by one thread only.
// Internal to the protocol module.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <new>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace loyalty::protocol {

class RequestArena {
 public:
  RequestArena() noexcept : previous_(current_) { current_ = this; }
  ~RequestArena() {
    current_ = previous_;
    for (Block* b = blocks_; b != nullptr;) {
      Block* next = b->next;
      ::operator delete(b);
      b = next;
    }
  }
  RequestArena(const RequestArena&) = delete;
  RequestArena& operator=(const RequestArena&) = delete;

  static RequestArena* current() noexcept { return current_; }

  // Throws std::bad_alloc when the heap does.
  void* allocate(std::size_t bytes, std::size_t align) {
    if (void* p = bump(bytes, align)) return p;
    const std::size_t size = std::max(kBlockBytes, bytes + align + sizeof(Block));
    auto* block = static_cast<Block*>(::operator new(size));
    block->next = blocks_;
    block->end = reinterpret_cast<std::byte*>(block) + size;
    blocks_ = block;
    cur_ = reinterpret_cast<std::byte*>(block + 1);
    end_ = block->end;
    return bump(bytes, align);
  }

  bool owns(const void* p) const noexcept {
    const auto* b = static_cast<const std::byte*>(p);
    if (b >= inline_ && b < inline_ + sizeof inline_) return true;
    for (const Block* k = blocks_; k != nullptr; k = k->next) {
      if (b >= reinterpret_cast<const std::byte*>(k + 1) && b < k->end) return true;
    }
    return false;
  }

 private:
  struct alignas(std::max_align_t) Block {
    Block* next;
    std::byte* end;
  };
  static constexpr std::size_t kBlockBytes = 64 * 1024;

  void* bump(std::size_t bytes, std::size_t align) noexcept {
    const auto at = reinterpret_cast<std::uintptr_t>(cur_);
    const std::uintptr_t aligned = (at + align - 1) & ~(static_cast<std::uintptr_t>(align) - 1);
    if (aligned + bytes > reinterpret_cast<std::uintptr_t>(end_)) return nullptr;
    cur_ = reinterpret_cast<std::byte*>(aligned + bytes);
    return reinterpret_cast<void*>(aligned);
  }

  static inline thread_local RequestArena* current_ = nullptr;

  alignas(std::max_align_t) std::byte inline_[8 * 1024];  // a typical sale's whole tree
  std::byte* cur_ = inline_;
  std::byte* end_ = inline_ + sizeof inline_;
  Block* blocks_ = nullptr;
  RequestArena* previous_;
};

template <class T>
struct ArenaAllocator {
  using value_type = T;
  ArenaAllocator() noexcept = default;
  template <class U>
  ArenaAllocator(const ArenaAllocator<U>& /*other*/) noexcept {}  // NOLINT: rebinding

  T* allocate(std::size_t n) {
    if (RequestArena* a = RequestArena::current()) {
      if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_alloc();
      return static_cast<T*>(a->allocate(n * sizeof(T), alignof(T)));
    }
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (RequestArena* a = RequestArena::current(); a != nullptr && a->owns(p)) return;
    std::allocator<T>().deallocate(p, n);
  }
  friend bool operator==(const ArenaAllocator&, const ArenaAllocator&) noexcept { return true; }
};

using RequestJson = nlohmann::basic_json<std::map, std::vector, std::string, bool, std::int64_t,
                                         std::uint64_t, double, ArenaAllocator>;

}  // namespace loyalty::protocol

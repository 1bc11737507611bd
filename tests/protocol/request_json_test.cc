// RequestArena / RequestJson: parse_request's tree lives in a per-request arena. These
// check the arena's own rules; that the tree, its errors and its fingerprint are unchanged
// is what the rest of tests/protocol checks.
#include "protocol/request_json.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace loyalty::protocol::test {
namespace {

TEST(ProtocolRequestJson, TheArenaIsCurrentWhileItLivesAndNestsBack) {
  EXPECT_EQ(RequestArena::current(), nullptr);
  {
    RequestArena outer;
    EXPECT_EQ(RequestArena::current(), &outer);
    {
      RequestArena inner;
      EXPECT_EQ(RequestArena::current(), &inner);
    }
    EXPECT_EQ(RequestArena::current(), &outer);
  }
  EXPECT_EQ(RequestArena::current(), nullptr);
}

TEST(ProtocolRequestJson, AllocationsAreAlignedAndOwnedPastTheInlineBuffer) {
  RequestArena arena;
  int64_t heap_value = 0;
  EXPECT_FALSE(arena.owns(&heap_value));
  // Far more than the inline 8 KiB and more than one 64 KiB block, one of them larger than
  // a block by itself.
  for (int i = 0; i < 4'000; ++i) {
    const std::size_t align = std::size_t{1} << (i % 5);  // 1..16
    void* p = arena.allocate(24 + static_cast<std::size_t>(i % 7) * 8, align);
    ASSERT_EQ(reinterpret_cast<std::uintptr_t>(p) % align, 0u) << i;
    ASSERT_TRUE(arena.owns(p)) << i;
  }
  void* big = arena.allocate(200'000, 8);
  EXPECT_TRUE(arena.owns(big));
  EXPECT_TRUE(arena.owns(static_cast<char*>(big) + 199'999));
}

TEST(ProtocolRequestJson, WithoutAnArenaTheHeapIsUsed) {
  ArenaAllocator<int64_t> alloc;
  int64_t* p = alloc.allocate(4);  // no arena: std::allocator (ASan checks the pairing)
  p[3] = 7;
  {
    RequestArena arena;
    EXPECT_FALSE(arena.owns(p));
    alloc.deallocate(p, 4);  // not the arena's: back to the heap even while one is current
  }
}

TEST(ProtocolRequestJson, ATreeBuiltInTheArenaEqualsTheHeapOne) {
  const std::string text =
      R"({"type":"sale.completed","id":"B01-T1-000001","lines":[{"n":1,"amount":"55.00",)"
      R"("sku":"a fairly long sku that does not fit in a small string"}],"x":[1,-2,3.5,true,null]})";
  const nlohmann::json heap = nlohmann::json::parse(text);
  std::string dumped;
  {
    RequestArena arena;
    RequestJson tree = RequestJson::parse(text);
    RequestJson copy = tree;  // copies and growth inside the arena too
    copy["lines"].push_back(copy["lines"][0]);
    EXPECT_EQ(copy["lines"].size(), 2u);
    dumped = tree.dump();
  }  // trees first, then the arena
  EXPECT_EQ(dumped, heap.dump());
}

}  // namespace
}  // namespace loyalty::protocol::test

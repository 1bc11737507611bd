// ASCII case folding for codes POS systems write in either case.
#include "domain/ascii.h"

#include <gtest/gtest.h>

#include <clocale>

namespace loyalty::domain {
namespace {

TEST(Ascii, CodesCompareWithoutCase) {
  EXPECT_TRUE(ascii_iequals("MXN", "mxn"));
  EXPECT_TRUE(ascii_iequals("Department", "DEPARTMENT"));
  EXPECT_FALSE(ascii_iequals("MXN", "MXNN"));
  EXPECT_FALSE(ascii_iequals("USD", "MXN"));
  EXPECT_FALSE(ascii_iequals("[", "{"));  // 0x5B and 0x7B differ by 0x20 but are not letters
}

TEST(Ascii, BytesOutsideTheAlphabetMatchOnlyThemselvesWhateverTheHostsLocale) {
  // A POS host may call setlocale(); Latin-1 "É" (0xC9) and "é" (0xE9) stay different.
  std::setlocale(LC_CTYPE, "C.UTF-8");
  EXPECT_FALSE(ascii_iequals("\xC9", "\xE9"));
  EXPECT_TRUE(ascii_iequals("\xC9", "\xC9"));
  EXPECT_EQ(ascii_lower('\xC9'), '\xC9');
  std::setlocale(LC_CTYPE, "C");
}

}  // namespace
}  // namespace loyalty::domain

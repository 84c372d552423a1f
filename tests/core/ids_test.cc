#include "src/core/ids.h"

#include <set>
#include <string>

#include <gtest/gtest.h>

#include "src/core/utf8.h"

namespace cfemu::core {
namespace {

bool IsUuidLayout(const std::string& uuid) {
  if (uuid.size() != 36) return false;
  for (std::size_t i = 0; i < uuid.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (uuid[i] == '-')) return false;
    if (!dash && !IsLowerHex(uuid.substr(i, 1), 1)) return false;
  }
  return true;
}

TEST(Ids, DeriveHexIdIsStableAndThirtyTwoLowerHex) {
  const std::string id = DeriveHexId("queue", "jobs");
  EXPECT_EQ(id, DeriveHexId("queue", "jobs"));
  EXPECT_TRUE(IsLowerHex(id, 32)) << id;
  EXPECT_TRUE(IsLowerHex(DeriveHexId("", ""), 32));
}

TEST(Ids, DeriveHexIdDependsOnKindAndName) {
  std::set<std::string> ids = {
      DeriveHexId("queue", "jobs"), DeriveHexId("queue", "jobs2"), DeriveHexId("d1", "jobs"),
      DeriveHexId("queue", "Jobs"), DeriveHexId("queuej", "obs"),  DeriveHexId("queue", ""),
      DeriveHexId("", "queue"),
  };
  EXPECT_EQ(ids.size(), 7u);
}

TEST(Ids, DeriveHexIdHalvesAreIndependentlyMixed) {
  // Both 64-bit halves change with the input, not only one of them.
  const std::string a = DeriveHexId("queue", "a");
  const std::string b = DeriveHexId("queue", "b");
  EXPECT_NE(a.substr(0, 16), b.substr(0, 16));
  EXPECT_NE(a.substr(16), b.substr(16));
}

TEST(Ids, DeriveUuidHasVersionFourLayout) {
  const std::string uuid = DeriveUuid("d1", "main-db");
  EXPECT_TRUE(IsUuidLayout(uuid)) << uuid;
  EXPECT_EQ(uuid[14], '4');
  EXPECT_NE(std::string("89ab").find(uuid[19]), std::string::npos) << uuid;
  EXPECT_EQ(uuid, DeriveUuid("d1", "main-db"));
  EXPECT_NE(uuid, DeriveUuid("d1", "other-db"));
  EXPECT_NE(uuid, DeriveUuid("kv", "main-db"));
  for (int i = 0; i < 200; ++i) {
    const std::string u = DeriveUuid("d1", "db" + std::to_string(i));
    ASSERT_TRUE(IsUuidLayout(u)) << u;
    ASSERT_EQ(u[14], '4');
    ASSERT_NE(std::string("89ab").find(u[19]), std::string::npos) << u;
  }
}

TEST(Ids, DeriveUuidSharesTheHexIdsHash) {
  const std::string hex = DeriveHexId("d1", "main-db");
  std::string uuid = DeriveUuid("d1", "main-db");
  std::string digits;
  for (char c : uuid) {
    if (c != '-') digits.push_back(c);
  }
  ASSERT_EQ(digits.size(), 32u);
  for (std::size_t i = 0; i < 32; ++i) {
    if (i == 12 || i == 16) continue;  // Version and variant digits.
    EXPECT_EQ(digits[i], hex[i]) << i;
  }
}

TEST(Ids, NewMessageIdIsThirtyTwoLowerHexFromTheSeed) {
  Random a(21);
  Random b(21);
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string id = NewMessageId(a);
    ASSERT_TRUE(IsLowerHex(id, 32)) << id;
    ASSERT_EQ(id, NewMessageId(b));
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 100u);
  Random c(22);
  Random d(21);
  EXPECT_NE(NewMessageId(c), NewMessageId(d));
}

TEST(Ids, IsLowerHexChecksLengthAndAlphabet) {
  EXPECT_TRUE(IsLowerHex("0123456789abcdef", 16));
  EXPECT_TRUE(IsLowerHex("", 0));
  EXPECT_FALSE(IsLowerHex("0123456789abcdef", 15));
  EXPECT_FALSE(IsLowerHex("0123456789abcdef", 17));
  EXPECT_FALSE(IsLowerHex("0123456789ABCDEF", 16));
  EXPECT_FALSE(IsLowerHex("g", 1));
  EXPECT_FALSE(IsLowerHex("-", 1));
  EXPECT_FALSE(IsLowerHex(" a", 2));
  EXPECT_FALSE(IsLowerHex(std::string("a\0", 2), 2));
}

TEST(Utf8, AcceptsWellFormedText) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii, long enough for the eight-byte fast path"));
  EXPECT_TRUE(IsValidUtf8("\xC3\xA9"));          // é, 2 bytes.
  EXPECT_TRUE(IsValidUtf8("\xE2\x82\xAC"));      // €, 3 bytes.
  EXPECT_TRUE(IsValidUtf8("\xF0\x9F\x98\x80"));  // 😀, 4 bytes.
  EXPECT_TRUE(IsValidUtf8("\xC2\x80"));          // U+0080, smallest 2-byte.
  EXPECT_TRUE(IsValidUtf8("\xDF\xBF"));          // U+07FF.
  EXPECT_TRUE(IsValidUtf8("\xE0\xA0\x80"));      // U+0800, smallest 3-byte.
  EXPECT_TRUE(IsValidUtf8("\xED\x9F\xBF"));      // U+D7FF, just below the surrogates.
  EXPECT_TRUE(IsValidUtf8("\xEE\x80\x80"));      // U+E000, just above them.
  EXPECT_TRUE(IsValidUtf8("\xEF\xBF\xBF"));      // U+FFFF.
  EXPECT_TRUE(IsValidUtf8("\xF0\x90\x80\x80"));  // U+10000, smallest 4-byte.
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF, the last code point.
  EXPECT_TRUE(IsValidUtf8(std::string("nul\0inside", 10)));
  EXPECT_TRUE(
      IsValidUtf8("abcdefgh\xC3\xA9"
                  "abcdefghijklmnop\xF0\x9F\x98\x80xyz"));
}

TEST(Utf8, RejectsStrayAndTruncatedBytes) {
  EXPECT_FALSE(IsValidUtf8("\x80"));  // Lone continuation byte.
  EXPECT_FALSE(IsValidUtf8("\xBF"));
  EXPECT_FALSE(IsValidUtf8("\xC3"));          // Truncated 2-byte.
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));      // Truncated 3-byte.
  EXPECT_FALSE(IsValidUtf8("\xF0\x9F\x98"));  // Truncated 4-byte.
  EXPECT_FALSE(
      IsValidUtf8("\xC3"
                  "a"));  // Continuation missing.
  EXPECT_FALSE(IsValidUtf8("\xE2\x28\xA1"));
  EXPECT_FALSE(IsValidUtf8("\xF8\x88\x80\x80\x80"));  // 5-byte form.
  EXPECT_FALSE(IsValidUtf8("\xFE"));
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  EXPECT_FALSE(IsValidUtf8("abcdefghijklmnop\x80"));  // After the fast path.
  EXPECT_FALSE(
      IsValidUtf8("abcdefgh\xC3\xA9"
                  "abcdefgh\xC3"));
}

TEST(Utf8, RejectsOverlongEncodings) {
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));  // '/' in two bytes.
  EXPECT_FALSE(IsValidUtf8("\xC1\xBF"));
  EXPECT_FALSE(IsValidUtf8("\xC0\x80"));          // NUL in two bytes (modified UTF-8).
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // '/' in three bytes.
  EXPECT_FALSE(IsValidUtf8("\xE0\x9F\xBF"));      // U+07FF in three bytes.
  EXPECT_FALSE(IsValidUtf8("\xF0\x80\x80\xAF"));  // '/' in four bytes.
  EXPECT_FALSE(IsValidUtf8("\xF0\x8F\xBF\xBF"));  // U+FFFF in four bytes.
}

TEST(Utf8, RejectsSurrogatesAndCodePointsAboveTheRange) {
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));              // U+D800.
  EXPECT_FALSE(IsValidUtf8("\xED\xBF\xBF"));              // U+DFFF.
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\xBD\xED\xB8\x80"));  // A CESU-8 surrogate pair.
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));          // U+110000.
  EXPECT_FALSE(IsValidUtf8("\xF7\xBF\xBF\xBF"));
}

}  // namespace
}  // namespace cfemu::core

// Lists: order, limits, prefixes, cursors, expiration and metadata fields, short pages
// (checklist 47).
#include <gtest/gtest.h>

#include "tests/kv/kv_testing.h"

namespace cfemu::testing {
namespace {

TEST(KvList, SortsKeysByUtf8BytesNotByUtf16) {
  KvHarness h;
  KvNamespace& kv = h.At("ams");
  // U+FF5A (EF BD 9A) sorts before U+1F600 (F0 9F 98 80) in UTF-8; UTF-16 would put the emoji
  // (a surrogate pair starting D83D) first.
  for (const char* key : {"\xf0\x9f\x98\x80", "\xef\xbd\x9a", "b", "B", "a", "\xc3\xa9"}) {
    ASSERT_TRUE(h.Put(kv, key, "v").ok());
  }
  EXPECT_EQ(h.ListAll(kv), (std::vector<std::string>{"B", "a", "b", "\xc3\xa9", "\xef\xbd\x9a",
                                                     "\xf0\x9f\x98\x80"}));
}

TEST(KvList, LimitDefaultsTo1000AndCannotExceedIt) {
  KvHarness h;
  for (int i = 0; i < 1005; ++i) {
    char key[16];
    std::snprintf(key, sizeof key, "k%04d", i);
    ASSERT_TRUE(h.kv().PutDirect(key, std::string("v")).ok());
  }
  KvNamespace& kv = h.At("ams");
  auto first = h.List(kv);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->keys.size(), 1000u);
  EXPECT_FALSE(first->list_complete);
  auto second = h.List(kv, KvListOptions("", 1000, first->cursor));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(Names(second.value()),
            (std::vector<std::string>{"k1000", "k1001", "k1002", "k1003", "k1004"}));
  EXPECT_TRUE(second->list_complete);
  EXPECT_TRUE(second->cursor.empty());

  auto over = h.List(kv, KvListOptions("", 1001));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.code(), Code::kInvalidArgument);
  EXPECT_EQ(over.status().message(),
            "KV GET failed: 400 Invalid key_count_limit of 1001. Please specify an integer less "
            "than 1000.");
  auto unset = h.List(kv, KvListOptions("", 0));  // workerd sends no limit: the maximum.
  ASSERT_TRUE(unset.ok());
  EXPECT_EQ(unset->keys.size(), 1000u);
}

TEST(KvList, PrefixFiltersEveryPage) {
  KvHarness h;
  KvNamespace& kv = h.At("ams");
  for (const char* key : {"job:1", "job:2", "job:3", "jobs", "user:1", "a"}) {
    ASSERT_TRUE(h.Put(kv, key, "v").ok());
  }
  EXPECT_EQ(h.ListAll(kv, "job:", 2), (std::vector<std::string>{"job:1", "job:2", "job:3"}));
  EXPECT_EQ(h.ListAll(kv, "user:"), (std::vector<std::string>{"user:1"}));
  EXPECT_TRUE(h.ListAll(kv, "zzz").empty());
  auto long_prefix = h.List(kv, KvListOptions(std::string(513, 'p')));
  EXPECT_EQ(long_prefix.code(), Code::kTooLarge);
}

TEST(KvList, CursorIsOpaqueAndAMalformedOneIsRejected) {
  KvHarness h;
  KvNamespace& kv = h.At("ams");
  for (const char* key : {"a", "b", "c"}) ASSERT_TRUE(h.Put(kv, key, "v").ok());
  auto page = h.List(kv, KvListOptions("", 1));
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(Names(page.value()), std::vector<std::string>{"a"});
  EXPECT_FALSE(page->list_complete);
  EXPECT_FALSE(page->cursor.empty());
  EXPECT_EQ(page->cursor.find('a'), std::string::npos);  // Not the key in clear.
  auto next = h.List(kv, KvListOptions("", 1, page->cursor));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(Names(next.value()), std::vector<std::string>{"b"});
  auto bad = h.List(kv, KvListOptions("", 1, "!!not a cursor!!"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.code(), Code::kInvalidArgument);
}

TEST(KvList, ShowsAbsoluteExpirationAndNonNullMetadataOnlyWhenPresent) {
  KvHarness h;
  KvNamespace& kv = h.At("ams");
  const std::int64_t now = NowSeconds(h.sim());
  ASSERT_TRUE(h.Put(kv, "expiring", "v", WithTtl(300)).ok());
  ASSERT_TRUE(h.Put(kv, "plain", "v").ok());
  ASSERT_TRUE(h.Put(kv, "tagged", "v", WithMetadata({{"tag", "x"}})).ok());
  ASSERT_TRUE(h.Put(kv, "null-metadata", "v", WithMetadata(nullptr)).ok());
  auto page = h.List(kv);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->keys.size(), 4u);
  EXPECT_EQ(page->keys[0].name, "expiring");
  EXPECT_EQ(page->keys[0].expiration, now + 300);  // Absolute, although set with a TTL.
  EXPECT_FALSE(page->keys[0].metadata.has_value());
  EXPECT_EQ(page->keys[1].name, "null-metadata");
  EXPECT_FALSE(page->keys[1].metadata.has_value());
  EXPECT_FALSE(page->keys[2].expiration.has_value());
  EXPECT_EQ(page->keys[3].metadata, json({{"tag", "x"}}));
  EXPECT_TRUE(page->list_complete);
  EXPECT_TRUE(page->cursor.empty());
}

TEST(KvList, DeletedKeysCountAgainstThePageSoPagesMayBeShortOrEmptyButIncomplete) {
  KvHarness h;
  KvNamespace& kv = h.At("ams");
  for (const char* key : {"a", "b", "c", "d", "e"}) ASSERT_TRUE(h.Put(kv, key, "v").ok());
  for (const char* key : {"a", "b", "d"}) ASSERT_TRUE(h.Delete(kv, key).ok());
  auto first = h.List(kv, KvListOptions("", 2));
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->keys.empty());  // a and b are tombstones.
  EXPECT_FALSE(first->list_complete);
  auto second = h.List(kv, KvListOptions("", 2, first->cursor));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(Names(second.value()), std::vector<std::string>{"c"});  // d is a tombstone.
  EXPECT_FALSE(second->list_complete);
  auto third = h.List(kv, KvListOptions("", 2, second->cursor));
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(Names(third.value()), std::vector<std::string>{"e"});
  EXPECT_TRUE(third->list_complete);
  // Once purged, tombstones no longer count.
  h.Advance(core::Minutes(2));
  auto later = h.List(kv, KvListOptions("", 2));
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(Names(later.value()), (std::vector<std::string>{"c", "e"}));
  EXPECT_TRUE(later->list_complete);
}

TEST(KvList, ExpiredKeysCountAsTombstonesUntilPurged) {
  KvHarness h;
  KvNamespace& kv = h.At("ams");
  ASSERT_TRUE(h.Put(kv, "a", "v", WithTtl(60)).ok());
  ASSERT_TRUE(h.Put(kv, "b", "v").ok());
  h.Advance(Seconds(61));
  auto page = h.List(kv, KvListOptions("", 1));
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->keys.empty());
  EXPECT_FALSE(page->list_complete);
  EXPECT_EQ(h.ListAll(kv, "", 1), std::vector<std::string>{"b"});
}

}  // namespace
}  // namespace cfemu::testing

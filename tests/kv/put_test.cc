// Writes: values and metadata, key rules, expirations, deletes, the per-key write rate
// (checklist 43-46, 48).
#include <gtest/gtest.h>

#include "tests/kv/kv_testing.h"

namespace cfemu::testing {
namespace {

// Checklist 43.
TEST(KvPut, AcceptsTextAndBinaryValuesUpTo25MiB) {
  KvHarness h;
  KvNamespace& kv = h.At("ams");
  const std::int64_t limit = core::limits::kKvMaxValueBytes;
  ASSERT_EQ(limit, 26'214'400);
  EXPECT_TRUE(h.Put(kv, "text", std::string(static_cast<std::size_t>(limit), 'x')).ok());
  EXPECT_TRUE(h.sim().Run(kv.Put("bytes", core::Bytes(static_cast<std::size_t>(limit), 7))).ok());
  auto bytes = h.Get(kv, "bytes", Typed(KvType::kArrayBuffer));
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(std::get<core::Bytes>(**bytes).size(), static_cast<std::size_t>(limit));

  const Status over = h.Put(kv, "big", std::string(static_cast<std::size_t>(limit) + 1, 'x'));
  EXPECT_EQ(over.code(), Code::kTooLarge);
  EXPECT_EQ(over.message(),
            "KV PUT failed: 413 Value length of 26214401 exceeds limit of 26214400.");
  EXPECT_EQ(h.Text(kv, "big"), "<null>");
}

TEST(KvPut, MetadataUpTo1024SerializedBytesIsStoredAndMoreIsTooLarge) {
  KvHarness h;
  KvNamespace& kv = h.At("ams");
  // {"p":"..."} is 8 bytes of structure around the string.
  const json fits = {{"p", std::string(1024 - 8, 'm')}};
  ASSERT_EQ(fits.dump().size(), 1024u);
  EXPECT_TRUE(h.Put(kv, "fits", "", WithMetadata(fits)).ok());  // An empty value is valid.
  auto read = h.sim().Run(kv.GetWithMetadata("fits"));
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(std::get<std::string>(*read->value), "");
  EXPECT_EQ(*read->metadata, fits);

  const json over = {{"p", std::string(1024 - 7, 'm')}};
  const Status refused = h.Put(kv, "over", "v", WithMetadata(over));
  EXPECT_EQ(refused.code(), Code::kTooLarge);
  EXPECT_EQ(refused.message(), "KV PUT failed: 413 Metadata length of 1025 exceeds limit of 1024.");
  // Non-ASCII text counts in UTF-8 bytes, unescaped, as JSON.stringify writes it.
  const json multibyte = {{"p", "é"}};
  EXPECT_EQ(multibyte.dump().size(), 10u);
}

TEST(KvPut, TextThatIsNotUtf8IsRefusedBecauseItCannotBeAJavaScriptString) {
  KvHarness h;
  const Status refused = h.Put(h.At("ams"), "k", std::string("\xff\xfe"));
  EXPECT_EQ(refused.code(), Code::kInvalidArgument);
}

// Checklist 44.
TEST(KvKeys, MustBeNonEmptyNotDotOrDotDotAndAtMost512Utf8Bytes) {
  KvHarness h;
  KvNamespace& kv = h.At("ams");
  const Status empty = h.Put(kv, "", "v");
  EXPECT_EQ(empty.code(), Code::kInvalidArgument);
  EXPECT_EQ(empty.message(), "Key name cannot be empty.");
  EXPECT_EQ(h.Put(kv, ".", "v").message(), "\".\" is not allowed as a key name.");
  EXPECT_EQ(h.Put(kv, "..", "v").message(), "\"..\" is not allowed as a key name.");
  EXPECT_TRUE(h.Put(kv, "...", "v").ok());

  std::string longest;
  for (int i = 0; i < 256; ++i) longest += "é";  // 512 bytes, 256 characters.
  EXPECT_TRUE(h.Put(kv, longest, "v").ok());
  const Status too_long = h.Put(kv, longest + "a", "v");
  EXPECT_EQ(too_long.code(), Code::kTooLarge);
  EXPECT_EQ(too_long.message(),
            "KV PUT failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512.");
  auto read = h.Get(kv, longest + "a");
  EXPECT_EQ(read.status().message(),
            "KV GET failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512.");
  EXPECT_EQ(h.Delete(kv, "").message(), "Key name cannot be empty.");
}

// Checklist 45.
TEST(KvExpiration, TtlAndAbsoluteExpirationMustBeAtLeast60SecondsAhead) {
  KvHarness h;
  KvNamespace& kv = h.At("ams");
  const std::int64_t now = NowSeconds(h.sim());
  EXPECT_EQ(h.Put(kv, "k", "v", WithTtl(0)).message(),
            "KV PUT failed: 400 Invalid expiration_ttl of 0. Please specify integer greater "
            "than 0.");
  const Status short_ttl = h.Put(kv, "k", "v", WithTtl(59));
  EXPECT_EQ(short_ttl.code(), Code::kInvalidArgument);
  EXPECT_EQ(short_ttl.message(),
            "KV PUT failed: 400 Invalid expiration_ttl of 59. Expiration TTL must be at least 60.");
  EXPECT_EQ(h.Put(kv, "k", "v", WithExpiration(now)).message(),
            "KV PUT failed: 400 Invalid expiration of " + std::to_string(now) +
                ". Please specify integer greater than the current number of seconds since the "
                "UNIX epoch.");
  EXPECT_EQ(h.Put(kv, "k", "v", WithExpiration(now + 59)).message(),
            "KV PUT failed: 400 Invalid expiration of " + std::to_string(now + 59) +
                ". Expiration times must be at least 60 seconds in the future.");
  EXPECT_TRUE(h.Put(kv, "ttl", "v", WithTtl(60)).ok());
  EXPECT_TRUE(h.Put(kv, "abs", "v", WithExpiration(now + 60)).ok());
}

TEST(KvExpiration, TtlWinsOverAbsoluteExpiration) {
  KvHarness h;
  KvNamespace& kv = h.At("ams");
  const std::int64_t now = NowSeconds(h.sim());
  KvPutOptions both = WithTtl(120);
  both.expiration = now + 10;  // Invalid on its own, ignored because the TTL is set.
  ASSERT_TRUE(h.Put(kv, "k", "v", both).ok());
  auto listed = h.List(kv);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->keys.size(), 1u);
  EXPECT_EQ(listed->keys[0].expiration, now + 120);
}

TEST(KvExpiration, ExpiredKeysReadAsAbsentAndVanishFromListsOnTheVirtualClock) {
  KvHarness h;
  KvNamespace& kv = h.At("ams");
  ASSERT_TRUE(h.Put(kv, "short", "v", WithTtl(60)).ok());
  ASSERT_TRUE(h.Put(kv, "long", "v", WithTtl(3600)).ok());
  h.Advance(Seconds(59));
  EXPECT_EQ(h.Text(kv, "short"), "v");
  EXPECT_EQ(h.ListAll(kv), (std::vector<std::string>{"long", "short"}));
  h.Advance(Seconds(1));
  EXPECT_EQ(h.Text(kv, "short"), "<null>");
  EXPECT_EQ(h.ListAll(kv), (std::vector<std::string>{"long"}));
  ASSERT_TRUE(h.kv().GetDirect("short").ok());
  EXPECT_FALSE(h.kv().GetDirect("short")->has_value());
  EXPECT_EQ(h.kv().size(), 2u);  // Still counted against list pages for a while.
  h.Advance(core::Minutes(2));   // Past the tombstone retention: purged at the next list.
  EXPECT_EQ(h.ListAll(kv), (std::vector<std::string>{"long"}));
  EXPECT_EQ(h.kv().size(), 1u);
}

// Checklist 46.
TEST(KvDelete, DeletingAMissingKeySucceeds) {
  KvHarness h;
  KvNamespace& kv = h.At("ams");
  EXPECT_TRUE(h.Delete(kv, "never-written").ok());
  ASSERT_TRUE(h.Put(kv, "k", "v").ok());
  EXPECT_TRUE(h.Delete(kv, "k").ok());
  EXPECT_EQ(h.Text(kv, "k"), "<null>");
  h.Advance(Seconds(1));
  EXPECT_TRUE(h.Delete(kv, "k").ok());  // Deleting it again also succeeds.
}

// Checklist 48.
TEST(KvWriteRate, SecondWriteToAKeyWithinASecondIs429) {
  KvSetup setup;
  setup.options.enforce_write_rate = true;
  KvHarness h(setup);
  KvNamespace& kv = h.At("ams");
  ASSERT_TRUE(h.Put(kv, "counter", "1").ok());
  const Status again = h.Put(kv, "counter", "2");
  EXPECT_EQ(again.code(), Code::kOverloaded);
  EXPECT_EQ(again.message(), "KV PUT failed: 429 Too Many Requests");
  EXPECT_EQ(h.Text(kv, "counter"), "1");
  EXPECT_TRUE(h.Put(kv, "other", "x").ok());  // The limit is per key.
  const Status deleted = h.Delete(kv, "counter");
  EXPECT_EQ(deleted.message(), "KV DELETE failed: 429 Too Many Requests");
  h.Advance(core::Milliseconds(999));
  EXPECT_EQ(h.Put(kv, "counter", "3").code(), Code::kOverloaded);
  h.Advance(core::Milliseconds(1));
  EXPECT_TRUE(h.Put(kv, "counter", "4").ok());
  EXPECT_EQ(h.kv().stats().rate_limited, 3);
}

TEST(KvWriteRate, IsOffInTheStrictProfileOnInFidelityAndConfigurable) {
  {
    KvHarness strict;
    KvNamespace& kv = strict.At("ams");
    EXPECT_TRUE(strict.Put(kv, "k", "1").ok());
    EXPECT_TRUE(strict.Put(kv, "k", "2").ok());
  }
  {
    KvSetup setup;
    setup.profile = Profile::kFidelity;
    KvHarness fidelity(setup);
    KvNamespace& kv = fidelity.At("ams");
    EXPECT_TRUE(fidelity.Put(kv, "k", "1").ok());
    EXPECT_EQ(fidelity.Put(kv, "k", "2").code(), Code::kOverloaded);
    EXPECT_EQ(fidelity.sim().faults().fired(Fault::kK4WriteRateLimited), 1);
  }
  {
    KvSetup setup;
    setup.profile = Profile::kFidelity;
    setup.options.enforce_write_rate = false;
    KvHarness off(setup);
    KvNamespace& kv = off.At("ams");
    EXPECT_TRUE(off.Put(kv, "k", "1").ok());
    EXPECT_TRUE(off.Put(kv, "k", "2").ok());
  }
  {
    KvSetup setup;
    setup.options.enforce_write_rate = true;
    setup.options.limits.same_key_write_interval = Seconds(5);
    KvHarness slower(setup);
    KvNamespace& kv = slower.At("ams");
    EXPECT_TRUE(slower.Put(kv, "k", "1").ok());
    slower.Advance(Seconds(4));
    EXPECT_EQ(slower.Put(kv, "k", "2").code(), Code::kOverloaded);
    slower.Advance(Seconds(1));
    EXPECT_TRUE(slower.Put(kv, "k", "3").ok());
  }
}

}  // namespace
}  // namespace cfemu::testing

// Eventual consistency (checklist 49, faults K1, K2, K5): per-location caches honouring the
// readers' cacheTtl, negative caching, read-your-writes usually, stale lists, expiration over
// the cache, and strong consistency in the strict profile.
#include <gtest/gtest.h>

#include "tests/kv/kv_testing.h"

namespace cfemu::testing {
namespace {

KvHarness Eventual(std::uint64_t seed = 1) {
  KvSetup setup;
  setup.seed = seed;
  setup.eventual = true;
  return KvHarness(setup);
}

TEST(KvCacheTtl, MustBeAtLeast30SecondsOr60WhenConfigured) {
  KvHarness h;
  KvNamespace& kv = h.At("ams");
  auto short_ttl = h.Get(kv, "k", WithCacheTtl(Seconds(29)));
  ASSERT_FALSE(short_ttl.ok());
  EXPECT_EQ(short_ttl.code(), Code::kInvalidArgument);
  EXPECT_EQ(short_ttl.status().message(),
            "KV GET failed: 400 Invalid cache_ttl of 29. Cache TTL must be at least 30.");
  EXPECT_TRUE(h.Get(kv, "k", WithCacheTtl(Seconds(30))).ok());

  KvSetup older;
  older.options.limits.min_cache_ttl = Seconds(60);
  KvHarness h60(older);
  auto refused = h60.Get(h60.At("ams"), "k", WithCacheTtl(Seconds(45)));
  EXPECT_EQ(refused.status().message(),
            "KV GET failed: 400 Invalid cache_ttl of 45. Cache TTL must be at least 60.");
}

TEST(KvConsistency, StrictProfileReadsEveryKeyFromTheCentralStore) {
  KvHarness h;
  EXPECT_FALSE(h.kv().eventually_consistent());
  KvNamespace& reader = h.At("syd");
  EXPECT_EQ(h.Text(reader, "k"), "<null>");
  ASSERT_TRUE(h.Put(h.At("ams"), "k", "v1").ok());
  EXPECT_EQ(h.Text(reader, "k"), "v1");  // No negative caching.
  ASSERT_TRUE(h.Put(h.At("ams"), "k", "v2").ok());
  EXPECT_EQ(h.Text(reader, "k"), "v2");  // No stale value.
  for (const auto& read : h.Events("kv.read")) EXPECT_FALSE(read["stale"].get<bool>());
}

TEST(KvConsistency, IsOnByDefaultOutsideTheStrictProfile) {
  KvSetup setup;
  setup.profile = Profile::kFidelity;
  KvHarness h(setup);
  EXPECT_TRUE(h.kv().eventually_consistent());
  setup.options.eventually_consistent = false;
  KvHarness off(setup);
  EXPECT_FALSE(off.kv().eventually_consistent());
}

TEST(KvConsistency, ReaderSeesAStaleValueUntilItsCacheTtlPasses) {
  KvHarness h = Eventual();
  KvNamespace& writer = h.At("ams");
  KvNamespace& reader = h.At("syd");
  ASSERT_TRUE(h.Put(writer, "k", "v1").ok());
  EXPECT_EQ(h.Text(reader, "k"), "v1");  // Cached in syd now.
  h.Advance(Seconds(1));
  ASSERT_TRUE(h.Put(writer, "k", "v2").ok());
  EXPECT_EQ(h.Text(h.At("fra"), "k"), "v2");  // Another location fetches fresh.
  h.Advance(Seconds(58));
  EXPECT_EQ(h.Text(reader, "k"), "v1");  // 59 s old: still served, stale (K1).
  h.Advance(Seconds(1));
  EXPECT_EQ(h.Text(reader, "k"), "v2");  // 60 s: refetched.
  EXPECT_EQ(h.kv().stats().stale_reads, 1);
  EXPECT_EQ(h.sim().faults().fired(Fault::kK1StaleRead), 1);
  auto reads = h.Events("kv.read");
  int stale = 0;
  for (const auto& read : reads) {
    if (read["stale"].get<bool>()) {
      ++stale;
      EXPECT_EQ(read["location"], "syd");
      EXPECT_EQ(read["key"], "k");
    }
  }
  EXPECT_EQ(stale, 1);
}

TEST(KvConsistency, NegativeLookupsAreCachedForTheCacheTtl) {
  KvHarness h = Eventual();
  KvNamespace& reader = h.At("syd");
  EXPECT_EQ(h.Text(reader, "new"), "<null>");
  ASSERT_TRUE(h.Put(h.At("ams"), "new", "created").ok());
  h.Advance(Seconds(30));
  EXPECT_EQ(h.Text(reader, "new"), "<null>");  // Stale "not found" (K2).
  h.Advance(Seconds(30));
  EXPECT_EQ(h.Text(reader, "new"), "created");
  EXPECT_EQ(h.kv().stats().stale_negative_reads, 1);
  EXPECT_EQ(h.sim().faults().fired(Fault::kK2StaleNegative), 1);
}

TEST(KvConsistency, ReadingWithASmallerCacheTtlShortensTheCachedItem) {
  KvHarness h = Eventual();
  KvNamespace& reader = h.At("syd");
  ASSERT_TRUE(h.kv().PutDirect("k", std::string("v1")).ok());
  EXPECT_EQ(h.Text(reader, "k", WithCacheTtl(Seconds(300))), "v1");
  ASSERT_TRUE(h.kv().PutDirect("k", std::string("v2")).ok());
  h.Advance(Seconds(100));
  EXPECT_EQ(h.Text(reader, "k", WithCacheTtl(Seconds(300))), "v1");  // Long TTL: stale.
  EXPECT_EQ(h.Text(reader, "k", WithCacheTtl(Seconds(30))), "v2");   // 100 s >= 30 s.
  ASSERT_TRUE(h.kv().PutDirect("k", std::string("v3")).ok());
  h.Advance(Seconds(40));
  // The entry refetched with a 30 s TTL stays short even for a reader asking for 300 s.
  EXPECT_EQ(h.Text(reader, "k", WithCacheTtl(Seconds(300))), "v3");
}

TEST(KvConsistency, ExpirationWinsOverTheCache) {
  KvSetup setup;
  setup.eventual = true;
  setup.faults = AlwaysFire({Fault::kK1StaleRead, Fault::kK2StaleNegative});  // No K5 skew.
  KvHarness h(setup);
  KvNamespace& reader = h.At("syd");
  ASSERT_TRUE(h.Put(h.At("ams"), "k", "v", WithTtl(60)).ok());
  h.Advance(Seconds(50));
  EXPECT_EQ(h.Text(reader, "k", WithCacheTtl(Seconds(3600))), "v");
  h.Advance(Seconds(10));
  EXPECT_EQ(h.Text(reader, "k", WithCacheTtl(Seconds(3600))), "<null>");
}

TEST(KvConsistency, WritersUsuallyReadTheirOwnWrites) {
  KvHarness h = Eventual(7);
  KvNamespace& kv = h.At("ams");
  int own = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string key = "k" + std::to_string(i);
    ASSERT_TRUE(h.kv().PutDirect(key, std::string("old")).ok());
    ASSERT_EQ(h.Text(kv, key), "old");  // The writer's location caches the key.
    ASSERT_TRUE(h.Put(kv, key, "new").ok());
    if (h.Text(kv, key) == "new") ++own;
  }
  const std::int64_t misses = h.kv().stats().read_your_writes_misses;
  EXPECT_EQ(own, 200 - misses);
  EXPECT_GT(misses, 0);   // Not guaranteed...
  EXPECT_LT(misses, 30);  // ...but usual (5 % by default).
}

TEST(KvConsistency, ReadYourWritesFailsWhenTheFaultDecides) {
  KvSetup setup;
  setup.eventual = true;
  setup.options.read_your_writes_miss = 1.0;
  KvHarness h(setup);
  KvNamespace& kv = h.At("ams");
  ASSERT_TRUE(h.Put(kv, "k", "v1").ok());
  EXPECT_EQ(h.Text(kv, "k"), "v1");
  h.Advance(Seconds(1));
  ASSERT_TRUE(h.Put(kv, "k", "v2").ok());
  EXPECT_EQ(h.Text(kv, "k"), "v1");
  EXPECT_EQ(h.kv().stats().read_your_writes_misses, 1);

  // A forced-only plan decides exactly which write misses, for replaying a shrunk run.
  KvSetup replay;
  replay.eventual = true;
  replay.faults = FaultPlan(Profile::kStrict);
  replay.faults->set_forced_only(true);
  replay.faults->Force({Fault::kK1StaleRead, "kv.write.own_location", 2});
  replay.faults->Force({Fault::kK1StaleRead, "kv.read.stale", 1});
  KvHarness r(replay);
  KvNamespace& w = r.At("ams");
  for (const char* value : {"a", "b", "c"}) {
    ASSERT_TRUE(r.Put(w, "k", value).ok());
    r.Text(w, "k");
  }
  EXPECT_EQ(r.kv().stats().read_your_writes_misses, 1);
  EXPECT_EQ(r.kv().stats().stale_reads, 1);
}

TEST(KvConsistency, ListResultsAreCachedAndMayBeStale) {
  KvHarness h = Eventual();
  KvNamespace& reader = h.At("syd");
  ASSERT_TRUE(h.kv().PutDirect("a", std::string("v")).ok());
  auto first = h.List(reader);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->cache_status, "MISS");
  ASSERT_TRUE(h.kv().PutDirect("b", std::string("v")).ok());
  h.Advance(Seconds(30));
  auto stale = h.List(reader);
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(Names(stale.value()), std::vector<std::string>{"a"});
  EXPECT_EQ(stale->cache_status, "HIT");
  EXPECT_EQ(Names(h.List(h.At("fra")).value()), (std::vector<std::string>{"a", "b"}));
  h.Advance(Seconds(30));
  EXPECT_EQ(Names(h.List(reader).value()), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(h.kv().stats().stale_lists, 1);
}

TEST(KvConsistency, AWriterSeesItsOwnWritesInItsLists) {
  KvHarness h = Eventual();
  KvNamespace& kv = h.At("ams");
  ASSERT_TRUE(h.List(kv).ok());
  ASSERT_TRUE(h.Put(kv, "job:1", "v").ok());
  EXPECT_EQ(Names(h.List(kv).value()), std::vector<std::string>{"job:1"});
}

TEST(KvConsistency, AKeyNearItsExpirationIsPresentInOneLocationAndAbsentInAnother) {
  KvHarness h = Eventual(3);
  // Find a location whose clock runs ahead and one whose clock runs behind.
  std::string ahead;
  std::string behind;
  for (int i = 0; i < 50 && (ahead.empty() || behind.empty()); ++i) {
    const std::string location = "pop" + std::to_string(i);
    const Duration skew = h.kv().ExpirySkewAt(location);
    if (skew > core::Milliseconds(500) && ahead.empty()) ahead = location;
    if (skew < core::Milliseconds(-500) && behind.empty()) behind = location;
  }
  ASSERT_FALSE(ahead.empty());
  ASSERT_FALSE(behind.empty());
  ASSERT_TRUE(h.kv().PutDirect("lease", std::string("held"), WithTtl(60)).ok());
  h.Advance(Seconds(60));  // Exactly at the expiration.
  EXPECT_EQ(h.Text(h.At(ahead), "lease"), "<null>");
  EXPECT_EQ(h.Text(h.At(behind), "lease"), "held");  // K5: its clock says not yet.
  EXPECT_GE(h.kv().stats().expiry_flaps, 1);
  EXPECT_GE(h.sim().faults().fired(Fault::kK5ExpiryFlaps), 1);
  h.Advance(Seconds(10));  // Outside the flap window everyone agrees.
  EXPECT_EQ(h.Text(h.At(behind), "lease"), "<null>");
}

TEST(KvConsistency, SwarmPlanWithoutK1ServesNoStaleValues) {
  KvSetup setup;
  setup.eventual = true;
  setup.faults = AlwaysFire({Fault::kK2StaleNegative});
  KvHarness h(setup);
  KvNamespace& reader = h.At("syd");
  ASSERT_TRUE(h.kv().PutDirect("k", std::string("v1")).ok());
  EXPECT_EQ(h.Text(reader, "k"), "v1");
  ASSERT_TRUE(h.kv().PutDirect("k", std::string("v2")).ok());
  EXPECT_EQ(h.Text(reader, "k"), "v2");
  EXPECT_EQ(h.kv().stats().stale_reads, 0);
}

}  // namespace
}  // namespace cfemu::testing

// The strongly consistent admin path (for the REST API) and the service's options.
#include <gtest/gtest.h>

#include "tests/kv/kv_testing.h"

namespace cfemu::testing {
namespace {

TEST(KvDirect, AdminWritesAndReadsTheCentralStoreWithTheServiceTexts) {
  KvSetup setup;
  setup.eventual = true;
  KvHarness h(setup);
  ASSERT_TRUE(h.kv().PutDirect("k", std::string("v1"), WithMetadata({{"m", 1}})).ok());
  EXPECT_EQ(h.Text(h.At("syd"), "k"), "v1");  // syd caches v1.
  ASSERT_TRUE(h.kv().PutDirect("k", core::Bytes{'v', '2'}, WithTtl(120)).ok());
  auto direct = h.kv().GetDirect("k");
  ASSERT_TRUE(direct.ok());
  ASSERT_TRUE(direct->has_value());
  EXPECT_EQ((*direct)->value, core::BytesOf("v2"));  // Never stale.
  EXPECT_FALSE((*direct)->metadata.has_value());     // A put replaces the metadata.
  EXPECT_EQ((*direct)->expiration, NowSeconds(h.sim()) + 120);
  EXPECT_EQ(h.Text(h.At("syd"), "k"), "v1");  // While syd still serves its cache.

  const Status bad_ttl = h.kv().PutDirect("k2", std::string("v"), WithTtl(30));
  EXPECT_EQ(bad_ttl.message(), "Invalid expiration_ttl of 30. Expiration TTL must be at least 60.");
  EXPECT_EQ(h.kv().PutDirect("", std::string("v")).message(), "Key names must not be empty");
  EXPECT_EQ(h.kv().GetDirect(".").status().message(),
            "Illegal key name \".\". Please use a different name.");

  ASSERT_TRUE(h.kv().DeleteDirect("k").ok());
  EXPECT_FALSE(h.kv().GetDirect("k")->has_value());
  auto listed = h.kv().ListDirect();
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->keys.empty());
  EXPECT_FALSE(listed->cache_status.has_value());
}

TEST(KvService, DerivesItsIdFromTheTitleAndValidatesOptions) {
  Simulator sim(1);
  KvOptions options;
  options.title = "sessions";
  auto opened = KvService::Open(sim, options);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ((*opened)->id(), core::DeriveHexId("kv", "sessions"));
  EXPECT_TRUE(core::IsLowerHex((*opened)->id(), 32));

  KvOptions bad_id;
  bad_id.id = "not-hex";
  EXPECT_EQ(KvService::Open(sim, bad_id).code(), Code::kInvalidArgument);
  EXPECT_EQ(KvService::Open(sim, KvOptions()).code(), Code::kInvalidArgument);
  KvOptions bad_limits;
  bad_limits.title = "x";
  bad_limits.limits.default_cache_ttl = Seconds(10);
  EXPECT_EQ(KvService::Open(sim, bad_limits).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace cfemu::testing

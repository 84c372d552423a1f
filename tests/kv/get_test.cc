// Reads: get in every type, bulk get, getWithMetadata (checklist 40-42).
#include <gtest/gtest.h>

#include "tests/kv/kv_testing.h"

namespace cfemu::testing {
namespace {

// Checklist 40.
TEST(KvGet, ReadsTextJsonArrayBufferAndStreamAndMissingIsNull) {
  KvHarness h;
  KvNamespace& kv = h.At("ams");
  ASSERT_TRUE(h.Put(kv, "doc", R"({"n":1,"s":"é"})").ok());
  EXPECT_EQ(h.Text(kv, "doc"), R"({"n":1,"s":"é"})");  // Text is the default type.

  auto as_json = h.Get(kv, "doc", Typed(KvType::kJson));
  ASSERT_TRUE(as_json.ok());
  EXPECT_EQ(std::get<json>(**as_json), json({{"n", 1}, {"s", "é"}}));

  const core::Bytes expected = core::BytesOf(R"({"n":1,"s":"é"})");
  for (KvType type : {KvType::kArrayBuffer, KvType::kStream}) {
    auto bytes = h.Get(kv, "doc", Typed(type));
    ASSERT_TRUE(bytes.ok());
    EXPECT_EQ(std::get<core::Bytes>(**bytes), expected);
  }
  for (KvType type : {KvType::kText, KvType::kJson, KvType::kArrayBuffer, KvType::kStream}) {
    auto missing = h.Get(kv, "missing", Typed(type));
    ASSERT_TRUE(missing.ok());
    EXPECT_FALSE(missing->has_value());
  }
}

TEST(KvGet, JsonOfATextThatIsNotJsonIsASyntaxError) {
  KvHarness h;
  KvNamespace& kv = h.At("ams");
  ASSERT_TRUE(h.Put(kv, "greeting", "Hello, World!").ok());
  auto parsed = h.Get(kv, "greeting", Typed(KvType::kJson));
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.code(), Code::kInvalidArgument);
  EXPECT_EQ(parsed.status().message(),
            "SyntaxError: Unexpected token 'H', \"Hello, World!\" is not valid JSON");
}

TEST(KvGet, TextOfBinaryBytesReplacesInvalidSequencesAsATextDecoderDoes) {
  KvHarness h;
  KvNamespace& kv = h.At("ams");
  const core::Bytes bytes = {'a', 0xff, 'b', 0xe2, 0x82};
  ASSERT_TRUE(h.sim().Run(kv.Put("bin", bytes)).ok());
  EXPECT_EQ(h.Text(kv, "bin"),
            "a\xef\xbf\xbd"
            "b\xef\xbf\xbd");
}

// Checklist 41.
TEST(KvGet, BulkReadsUpTo100KeysAsTextOrJsonWithNullForMissingKeys) {
  KvHarness h;
  KvNamespace& kv = h.At("ams");
  ASSERT_TRUE(h.Put(kv, "a", R"({"x":1})").ok());
  ASSERT_TRUE(h.Put(kv, "b", "[2]").ok());

  auto text = h.sim().Run(kv.Get(std::vector<std::string>{"a", "b", "missing"}));
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  ASSERT_EQ(text->size(), 3u);
  EXPECT_EQ(std::get<std::string>(*text->at("a")), R"({"x":1})");
  EXPECT_FALSE(text->at("missing").has_value());

  auto as_json =
      h.sim().Run(kv.Get(std::vector<std::string>{"a", "b"}, KvGetOptions(KvType::kJson)));
  ASSERT_TRUE(as_json.ok());
  EXPECT_EQ(std::get<json>(*as_json->at("b")), json::array({2}));

  std::vector<std::string> hundred;
  for (int i = 0; i < 100; ++i) hundred.push_back("k" + std::to_string(i));
  EXPECT_TRUE(h.sim().Run(kv.Get(hundred)).ok());
  hundred.push_back("k100");
  auto too_many = h.sim().Run(kv.Get(hundred));
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.status().message(),
            "KV GET_BULK failed: 400 You can request a maximum of 100 keys");
}

TEST(KvGet, BulkReadRefusesBinaryTypesEmptyRequestsAndNonJsonValues) {
  KvHarness h;
  KvNamespace& kv = h.At("ams");
  ASSERT_TRUE(h.Put(kv, "plain", "not json").ok());
  auto binary =
      h.sim().Run(kv.Get(std::vector<std::string>{"plain"}, KvGetOptions(KvType::kArrayBuffer)));
  ASSERT_FALSE(binary.ok());
  EXPECT_EQ(binary.status().message(),
            "KV GET_BULK failed: 400 \"arrayBuffer\" is not a valid type. Use \"json\" or "
            "\"text\"");
  auto empty = h.sim().Run(kv.Get(std::vector<std::string>{}));
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().message(),
            "KV GET_BULK failed: 400 You must request a minimum of 1 key");
  auto not_json =
      h.sim().Run(kv.Get(std::vector<std::string>{"plain"}, KvGetOptions(KvType::kJson)));
  ASSERT_FALSE(not_json.ok());
  EXPECT_EQ(not_json.status().message(),
            "KV GET_BULK failed: 400 At least one of the requested keys corresponds to a "
            "non-json value");
}

TEST(KvGet, BulkReadOverTheTotalSizeLimitIsTooLarge) {
  KvSetup setup;
  setup.options.limits.max_bulk_get_bytes = 8;
  KvHarness h(setup);
  KvNamespace& kv = h.At("ams");
  ASSERT_TRUE(h.Put(kv, "a", "12345").ok());
  ASSERT_TRUE(h.Put(kv, "b", "6789").ok());
  EXPECT_TRUE(h.sim().Run(kv.Get(std::vector<std::string>{"a"})).ok());
  auto both = h.sim().Run(kv.Get(std::vector<std::string>{"a", "b"}));
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.code(), Code::kTooLarge);
  EXPECT_EQ(both.status().message(),
            "KV GET_BULK failed: 413 Total size of request exceeds the limit of 8 bytes");
}

// Checklist 42.
TEST(KvGet, GetWithMetadataReturnsValueMetadataOrNullAndCacheStatus) {
  KvHarness h;
  KvNamespace& kv = h.At("ams");
  ASSERT_TRUE(h.Put(kv, "with", "v1", WithMetadata({{"owner", "ann"}})).ok());
  ASSERT_TRUE(h.Put(kv, "without", "v2").ok());

  auto with = h.sim().Run(kv.GetWithMetadata("with"));
  ASSERT_TRUE(with.ok());
  EXPECT_EQ(std::get<std::string>(*with->value), "v1");
  EXPECT_EQ(*with->metadata, json({{"owner", "ann"}}));
  EXPECT_FALSE(with->cache_status.has_value());  // Strongly consistent: no cache to report.

  auto without = h.sim().Run(kv.GetWithMetadata("without"));
  ASSERT_TRUE(without.ok());
  EXPECT_FALSE(without->metadata.has_value());

  auto missing = h.sim().Run(kv.GetWithMetadata("missing"));
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->value.has_value());
  EXPECT_FALSE(missing->metadata.has_value());

  auto bulk = h.sim().Run(kv.GetWithMetadata(std::vector<std::string>{"with", "missing"}));
  ASSERT_TRUE(bulk.ok());
  EXPECT_EQ(*bulk->at("with").metadata, json({{"owner", "ann"}}));
  EXPECT_FALSE(bulk->at("missing").value.has_value());
}

TEST(KvGet, CacheStatusIsMissThenHitWhenTheLocationCaches) {
  KvSetup setup;
  setup.eventual = true;
  KvHarness h(setup);
  ASSERT_TRUE(h.kv().PutDirect("k", std::string("v"), WithMetadata({{"m", 1}})).ok());
  KvNamespace& kv = h.At("ams");
  auto first = h.sim().Run(kv.GetWithMetadata("k"));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->cache_status, "MISS");
  auto second = h.sim().Run(kv.GetWithMetadata("k"));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->cache_status, "HIT");
  EXPECT_EQ(*second->metadata, json({{"m", 1}}));
}

}  // namespace
}  // namespace cfemu::testing

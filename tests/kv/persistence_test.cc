// Persistence: a namespace with a file re-opens with every key, metadata and expiration.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/kv/kv_testing.h"

namespace cfemu::testing {
namespace {

// A fresh folder under the working directory (the build tree when run by ctest), removed
// afterwards.
class TempDir {
 public:
  explicit TempDir(const std::string& name)
      : path_(std::filesystem::current_path() / ("kv_test_tmp_" + name)) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

KvSetup Persisted(const std::filesystem::path& file) {
  KvSetup setup;
  setup.options.title = "persisted";
  setup.options.file = file;
  return setup;
}

TEST(KvPersistence, ReopeningFindsEveryKeyWithItsMetadataAndExpiration) {
  TempDir dir("reopen");
  const auto file = dir.path() / "kv" / (core::DeriveHexId("kv", "persisted") + ".sqlite");
  std::int64_t expiration = 0;
  {
    KvHarness h(Persisted(file));
    KvNamespace& kv = h.At("ams");
    expiration = NowSeconds(h.sim()) + 3600;
    ASSERT_TRUE(h.Put(kv, "plain", "v1").ok());
    ASSERT_TRUE(h.Put(kv, "meta", "v2", WithMetadata({{"owner", "ann"}, {"n", 2}})).ok());
    ASSERT_TRUE(h.Put(kv, "expiring", "v3", WithTtl(3600)).ok());
    ASSERT_TRUE(h.sim().Run(kv.Put("binary", core::Bytes{0, 1, 2, 255})).ok());
    ASSERT_TRUE(h.Put(kv, "deleted", "v").ok());
    ASSERT_TRUE(h.Delete(kv, "deleted").ok());
  }
  ASSERT_TRUE(std::filesystem::exists(file));
  KvHarness h(Persisted(file));
  EXPECT_EQ(h.kv().size(), 4u);
  KvNamespace& kv = h.At("syd");
  EXPECT_EQ(h.Text(kv, "plain"), "v1");
  auto meta = h.sim().Run(kv.GetWithMetadata("meta"));
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(*meta->metadata, json({{"owner", "ann"}, {"n", 2}}));
  auto binary = h.Get(kv, "binary", Typed(KvType::kArrayBuffer));
  ASSERT_TRUE(binary.ok());
  EXPECT_EQ(std::get<core::Bytes>(**binary), (core::Bytes{0, 1, 2, 255}));
  EXPECT_EQ(h.Text(kv, "deleted"), "<null>");
  auto listed = h.List(kv);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(Names(listed.value()),
            (std::vector<std::string>{"binary", "expiring", "meta", "plain"}));
  EXPECT_EQ(listed->keys[1].expiration, expiration);
  // The expiration still holds after the re-open, on the virtual clock.
  h.Advance(core::Hours(1));
  EXPECT_EQ(h.Text(kv, "expiring"), "<null>");
}

TEST(KvPersistence, WritesAfterReopeningGetNewerVersions) {
  TempDir dir("versions");
  const auto file = dir.path() / "ns.sqlite";
  {
    KvHarness h(Persisted(file));
    ASSERT_TRUE(h.kv().PutDirect("a", std::string("1")).ok());
    ASSERT_TRUE(h.kv().PutDirect("b", std::string("2")).ok());
  }
  KvHarness h(Persisted(file));
  ASSERT_TRUE(h.kv().PutDirect("a", std::string("3")).ok());
  const auto writes = h.Events("kv.write");
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0]["version"], 3);
}

TEST(KvPersistence, AFileBelongsToOneNamespace) {
  TempDir dir("owner");
  const auto file = dir.path() / "ns.sqlite";
  { KvHarness h(Persisted(file)); }
  Simulator sim(1);
  KvOptions other;
  other.title = "another";
  other.file = file;
  auto opened = KvService::Open(sim, other);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.code(), Code::kFailedPrecondition);
}

}  // namespace
}  // namespace cfemu::testing

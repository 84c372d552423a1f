// Faults that emerge from the model (K3 lost update), the trace, and determinism.
#include <gtest/gtest.h>

#include "src/core/task.h"
#include "tests/kv/kv_testing.h"

namespace cfemu::testing {
namespace {

using emulator::LatencyDist;

// A read-modify-write increment: what a Worker without atomics does.
Task<Status> Increment(KvNamespace& kv) {
  auto read = co_await kv.Get("counter");
  if (!read.ok()) co_return read.status();
  const int n = read->has_value() ? std::stoi(std::get<std::string>(**read)) : 0;
  co_return co_await kv.Put("counter", std::to_string(n + 1));
}

KvHarness WithLatency() {
  KvHarness h;
  h.sim().latency().Configure("kv.get", LatencyDist::Constant(core::Milliseconds(10)));
  h.sim().latency().Configure("kv.put", LatencyDist::Constant(core::Milliseconds(10)));
  return h;
}

TEST(KvFaults, TwoInterleavedReadModifyWriteClientsLoseAnUpdate) {
  KvHarness h = WithLatency();
  ASSERT_TRUE(h.kv().PutDirect("counter", std::string("0")).ok());
  std::vector<Task<Status>> clients;
  clients.push_back(Increment(h.At("ams", "client-a")));
  clients.push_back(Increment(h.At("ams", "client-b")));
  const std::vector<Status> results = h.sim().Run(core::WhenAll(std::move(clients)));
  for (const Status& status : results) EXPECT_TRUE(status.ok()) << status.ToString();
  // Both read 0 before either wrote: two increments, one survives (K3, last write wins).
  EXPECT_EQ(h.Text(h.At("ams", "client-a"), "counter"), "1");
  EXPECT_EQ(h.kv().stats().lost_updates, 1);
  const auto lost = h.Events("kv.lost_update");
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0]["key"], "counter");
}

TEST(KvFaults, SequentialReadModifyWritesLoseNothing) {
  KvHarness h = WithLatency();
  ASSERT_TRUE(h.sim().Run(Increment(h.At("ams", "client-a"))).ok());
  ASSERT_TRUE(h.sim().Run(Increment(h.At("ams", "client-b"))).ok());
  ASSERT_TRUE(h.sim().Run(Increment(h.At("ams", "client-a"))).ok());
  EXPECT_EQ(h.Text(h.At("ams"), "counter"), "3");
  EXPECT_EQ(h.kv().stats().lost_updates, 0);
}

TEST(KvFaults, LostUpdateIsRecordedAsK3WhenThePlanHasIt) {
  KvSetup setup;
  setup.faults = AlwaysFire({Fault::kK3LostUpdate});
  KvHarness h(setup);
  h.sim().latency().Configure("kv.get", LatencyDist::Constant(core::Milliseconds(10)));
  std::vector<Task<Status>> clients;
  clients.push_back(Increment(h.At("ams", "a")));
  clients.push_back(Increment(h.At("syd", "b")));
  (void)h.sim().Run(core::WhenAll(std::move(clients)));
  EXPECT_EQ(h.sim().faults().fired(Fault::kK3LostUpdate), 1);
  EXPECT_EQ(h.Events("fault.fired").size(), 1u);
}

TEST(KvTrace, EveryOperationIsTracedWithItsLocation) {
  KvSetup setup;
  setup.eventual = true;
  KvHarness h(setup);
  KvNamespace& kv = h.At("ams");
  ASSERT_TRUE(h.Put(kv, "k", "v").ok());
  ASSERT_EQ(h.Text(h.At("syd"), "k"), "v");
  ASSERT_TRUE(h.List(kv).ok());
  ASSERT_TRUE(h.Delete(kv, "k").ok());
  const auto writes = h.Events("kv.write");
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0]["location"], "ams");
  EXPECT_EQ(writes[0]["actor"], "worker@ams");
  EXPECT_EQ(writes[0]["ns"], h.kv().id());
  const auto reads = h.Events("kv.read");
  ASSERT_EQ(reads.size(), 1u);
  EXPECT_EQ(reads[0]["location"], "syd");
  EXPECT_EQ(reads[0]["stale"], false);
  EXPECT_EQ(reads[0]["cache"], "MISS");
  EXPECT_EQ(h.Events("kv.list").size(), 1u);
  EXPECT_EQ(h.Events("kv.delete").size(), 1u);
}

TEST(KvTrace, NothingIsTracedWhenTracingIsOff) {
  KvHarness h;
  h.sim().trace().set_enabled(false);
  ASSERT_TRUE(h.Put(h.At("ams"), "k", "v").ok());
  EXPECT_EQ(h.sim().trace().events(), 0);
}

// Several workers in several locations read, write and list shared keys with jitter.
std::string RunWorkload(std::uint64_t seed) {
  KvSetup setup;
  setup.seed = seed;
  setup.profile = Profile::kFidelity;
  KvHarness h(setup);
  auto worker = [](KvHarness& harness, KvNamespace& kv, int id) -> Task<void> {
    core::Random random = harness.sim().random().Fork(static_cast<std::uint64_t>(id));
    const core::CancelToken no_cancel;
    for (int i = 0; i < 40; ++i) {
      const std::string key = "k" + std::to_string(random.Below(5));
      switch (random.Below(4)) {
        case 0:
          (void)co_await kv.Put(key, std::to_string(i));
          break;
        case 1:
          (void)co_await kv.Delete(key);
          break;
        case 2:
          (void)co_await kv.List();
          break;
        default:
          (void)co_await kv.Get(key);
      }
      (void)co_await harness.sim().SleepUntil(
          harness.sim().now() + core::Milliseconds(random.Range(0, 4000)),
          core::TimerKind::kForeground, no_cancel);
    }
  };
  std::vector<Task<void>> workers;
  for (int id = 0; id < 4; ++id) {
    workers.push_back(worker(h, h.At(id % 2 == 0 ? "ams" : "syd", "w" + std::to_string(id)), id));
  }
  h.sim().Run(core::WhenAll(std::move(workers)));
  EXPECT_GT(h.sim().trace().events(), 150);
  return h.sim().trace().HashHex();
}

TEST(KvDeterminism, SameSeedGivesTheSameTraceHash) { EXPECT_EQ(RunWorkload(11), RunWorkload(11)); }

TEST(KvDeterminism, DifferentSeedsGiveDifferentTraces) {
  EXPECT_NE(RunWorkload(11), RunWorkload(12));
}

}  // namespace
}  // namespace cfemu::testing

// Operations per invocation (checklist 50) and bindings inside killed invocations.
#include <gtest/gtest.h>

#include "tests/kv/kv_testing.h"

namespace cfemu::testing {
namespace {

KvSetup Capped() {
  KvSetup setup;
  setup.options.cap_operations_per_invocation = true;
  return setup;
}

TEST(KvOperationsPerInvocation, The1001stOperationOfAnInvocationFailsAndBulkCountsOnce) {
  KvHarness h(Capped());
  KvNamespace& kv = h.InInvocation("ams");
  ASSERT_TRUE(h.Put(kv, "k", "v").ok());
  std::vector<std::string> keys;
  for (int i = 0; i < 100; ++i) keys.push_back("k" + std::to_string(i));
  ASSERT_TRUE(h.sim().Run(kv.Get(keys)).ok());  // 100 keys, one operation.
  for (int i = 2; i < 1000; ++i) ASSERT_TRUE(h.Get(kv, "k").ok()) << i;
  auto over = h.Get(kv, "k");
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.code(), Code::kResourceExhausted);
  EXPECT_EQ(over.status().message(), "Too many API requests by single worker invocation.");
  EXPECT_EQ(h.Put(kv, "k", "v").code(), Code::kResourceExhausted);
  EXPECT_EQ(h.List(kv).code(), Code::kResourceExhausted);
  // The budget is per invocation: the next one starts afresh.
  EXPECT_TRUE(h.Get(h.InInvocation("ams"), "k").ok());
}

TEST(KvOperationsPerInvocation, InvalidKeysDoNotCountAsOperations) {
  KvSetup setup = Capped();
  setup.options.limits.operations_per_invocation = 2;
  KvHarness h(setup);
  KvNamespace& kv = h.InInvocation("ams");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(h.Get(kv, "").code(), Code::kInvalidArgument);
  EXPECT_TRUE(h.Get(kv, "a").ok());
  EXPECT_TRUE(h.Get(kv, "b").ok());
  EXPECT_EQ(h.Get(kv, "c").code(), Code::kResourceExhausted);
}

TEST(KvOperationsPerInvocation, IsOffInStrictOnInFidelityAndNeverCapsNonInvocations) {
  KvSetup strict;
  strict.options.limits.operations_per_invocation = 2;
  KvHarness s(strict);
  KvNamespace& unlimited = s.InInvocation("ams");
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(s.Get(unlimited, "k").ok());

  KvSetup fidelity;
  fidelity.profile = Profile::kFidelity;
  fidelity.options.limits.operations_per_invocation = 2;
  KvHarness f(fidelity);
  EXPECT_TRUE(f.kv().caps_operations());
  KvNamespace& capped = f.InInvocation("ams");
  EXPECT_TRUE(f.Get(capped, "a").ok());
  EXPECT_TRUE(f.Get(capped, "b").ok());
  EXPECT_EQ(f.Get(capped, "c").code(), Code::kResourceExhausted);
  KvNamespace& driver = f.At("ams");  // A test driver or harness actor, not an invocation.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(f.Get(driver, "k").ok());
}

TEST(KvInvocation, CallsFromAKilledInvocationAreCancelledAndHaveNoEffect) {
  KvHarness h;
  std::shared_ptr<emulator::Invocation> invocation;
  KvNamespace& kv = h.InInvocation("ams", &invocation);
  ASSERT_TRUE(h.Put(kv, "k", "before").ok());
  invocation->Kill(emulator::KillReason::kCrash, std::nullopt, "test", "test");
  EXPECT_EQ(h.Put(kv, "k", "after").code(), Code::kCancelled);
  EXPECT_EQ(h.Get(kv, "k").code(), Code::kCancelled);
  EXPECT_EQ(h.Text(h.At("ams"), "k"), "before");
}

TEST(KvInvocation, AKillDuringTheLatencyOfAWriteCancelsTheAwait) {
  KvHarness h;
  h.sim().latency().Configure("kv.put", emulator::LatencyDist::Constant(core::Milliseconds(100)));
  std::shared_ptr<emulator::Invocation> invocation;
  KvNamespace& kv = h.InInvocation("ams", &invocation);
  std::optional<Status> result;
  h.sim().Spawn([](KvNamespace& ns, std::optional<Status>& out) -> Task<void> {
    out = co_await ns.Put("k", std::string("v"));
  }(kv, result));
  ASSERT_TRUE(h.sim().RunFor(core::Milliseconds(10)).ok());
  invocation->Kill(emulator::KillReason::kCrash, std::nullopt, "test", "test");
  ASSERT_TRUE(h.sim().RunFor(core::Milliseconds(10)).ok());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->code(), Code::kCancelled);
  EXPECT_EQ(h.Text(h.At("ams"), "k"), "<null>");  // Killed before it reached the store.
}

}  // namespace
}  // namespace cfemu::testing

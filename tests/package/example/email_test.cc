// An example suite for a Worker that sends emails from a job queue, written against the
// installed cfemu package: the Worker's own wrangler.jsonc, virtual time, fault plans, and the
// engine's invariants checked after every test by the fixture.
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "emulator/testing/engine_test.h"

namespace {

using cfemu::core::Milliseconds;
using cfemu::core::Result;
using cfemu::core::Seconds;
using cfemu::core::Status;
using cfemu::core::Task;
using cfemu::engine::Backoff;
using cfemu::engine::JobContext;
using cfemu::engine::JobOptions;
using cfemu::engine::JobState;
using cfemu::engine::Json;

// What the Worker did to the outside world: one entry per email sent.
struct Outbox {
  std::vector<std::string> sent;
  int failures_left = 0;  // The mail provider refuses this many sends first.
};

Task<Result<Json>> SendEmail(std::shared_ptr<Outbox> outbox, JobContext& ctx) {
  CFEMU_CO_RETURN_IF_ERROR(co_await ctx.Sleep(Milliseconds(300)));  // The provider's latency.
  if (outbox->failures_left > 0) {
    --outbox->failures_left;
    co_return Status::Unavailable("the mail provider answered 503");
  }
  outbox->sent.push_back(ctx.job().data.at("to").get<std::string>());
  co_return Json{{"delivered", true}};
}

class EmailWorkerTest : public cfemu::testing::EngineTest {
 protected:
  cfemu::testing::EngineTestOptions Options() const override {
    cfemu::testing::EngineTestOptions options;
    options.wrangler_file = std::string(EXAMPLE_DIR) + "/wrangler.jsonc";
    options.queue = "emails";
    options.bindings.d1 = "JOBS_DB";
    options.bindings.queue = "EMAILS";
    options.max_batch_size = 5;
    return options;
  }

  void SetUp() override {
    EngineTest::SetUp();
    SetProcessor([outbox = outbox_](JobContext& ctx) { return SendEmail(outbox, ctx); });
  }

  std::shared_ptr<Outbox> outbox_ = std::make_shared<Outbox>();
};

TEST_F(EmailWorkerTest, AWelcomeEmailIsSentOnceAndTheJobCompletes) {
  const auto job = Add("welcome", {{"to", "ada@example.com"}});
  RunUntilIdle();
  EXPECT_EQ(StateOf(job.id), JobState::kCompleted);
  EXPECT_EQ(outbox_->sent, std::vector<std::string>{"ada@example.com"});
  ExpectQuiescentAtEnd();
}

TEST_F(EmailWorkerTest, ARefusedSendIsRetriedWithItsBackoffOnVirtualTime) {
  outbox_->failures_left = 2;
  JobOptions options;
  options.attempts = 3;
  options.backoff = Backoff("fixed", 60'000);
  const auto job = Add("welcome", {{"to", "grace@example.com"}}, options);
  RunUntilIdle();
  EXPECT_EQ(StateOf(job.id), JobState::kCompleted);
  ASSERT_EQ(world().runs().size(), 3u);
  // Each retry waits out the one-minute backoff: virtual time, no real waiting.
  EXPECT_GE(world().runs()[1].at - world().runs()[0].at, Seconds(60));
  EXPECT_GE(world().runs()[2].at - world().runs()[1].at, Seconds(60));
  EXPECT_EQ(outbox_->sent.size(), 1u);
}

// The same suite under a fault plan file (the format `cfemu explore --shrink` writes): half of
// all deliveries are duplicated and a third reordered, yet every email goes out exactly once.
class EmailWorkerUnderDuplicatesTest : public EmailWorkerTest {
 protected:
  cfemu::testing::EngineTestOptions Options() const override {
    auto options = EmailWorkerTest::Options();
    auto plan = cfemu::testing::LoadFaultPlanFile(std::string(EXAMPLE_DIR) +
                                                  "/duplicates.faults.json");
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    if (plan.ok()) options.faults = *plan;
    options.seed = 7;
    return options;
  }
};

TEST_F(EmailWorkerUnderDuplicatesTest, DuplicatedDeliveriesSendEveryEmailExactlyOnce) {
  for (int i = 0; i < 40; ++i) Add("newsletter", {{"to", "reader" + std::to_string(i) + "@x.org"}});
  RunUntilIdle();
  EXPECT_EQ(Counts()["completed"], 40);
  EXPECT_EQ(outbox_->sent.size(), 40u);
  EXPECT_GT(world().sim().faults().fired(cfemu::emulator::Fault::kQ3DuplicateDelivery), 0);
  ExpectQuiescentAtEnd();
}

}  // namespace

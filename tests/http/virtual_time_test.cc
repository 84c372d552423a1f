// Queue behaviour that depends on time, over REST, with the World on the manual-virtual-time
// runtime: the test moves the clock, so leases and delays expire exactly when it says and the
// test never waits.
#include <string>

#include <gtest/gtest.h>

#include "tests/http/http_testing.h"

namespace cfemu::testing {
namespace {

using core::Milliseconds;
using core::Seconds;

class HttpVirtualTime : public ::testing::Test {
 protected:
  HttpVirtualTime()
      : server_(PullQueueSpec(), {}, {}, /*manual_time=*/true),
        client_(server_.port()),
        jobs_(QueuesPath("/" + server_.QueueId("jobs"))) {}

  Json Ok(const ClientResponse& r) {
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json.is_object() ? r.json["result"] : Json();
  }
  Json Pull(Json body = Json::object()) {
    return Ok(client_.Post(jobs_ + "/messages/pull", body))["messages"];
  }
  Json Ack(Json body) { return Ok(client_.Post(jobs_ + "/messages/ack", body)); }
  std::int64_t Backlog() {
    return Ok(client_.Get(jobs_ + "/metrics"))["backlog_count"].get<std::int64_t>();
  }

  TestServer server_;
  Client client_;
  std::string jobs_;
};

TEST_F(HttpVirtualTime, TimestampsComeFromTheWorldsClock) {
  Ok(client_.Post(jobs_ + "/messages", {{"body", 1}}));
  EXPECT_EQ(Pull()[0]["timestamp_ms"], core::kVirtualEpoch.unix_ms());
}

TEST_F(HttpVirtualTime, LeaseExpiresAtTheVisibilityTimeoutAndTheMessageComesBack) {
  Ok(client_.Post(jobs_ + "/messages", {{"body", 1}}));
  const Json first = Pull({{"visibility_timeout_ms", 1000}});
  ASSERT_EQ(first.size(), 1u);
  server_.AdvanceTime(Milliseconds(999));
  EXPECT_TRUE(Pull().empty());
  server_.AdvanceTime(Milliseconds(1));
  const Json again = Pull();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0]["id"], first[0]["id"]);
  EXPECT_EQ(again[0]["attempts"], 2);
  EXPECT_NE(again[0]["lease_id"], first[0]["lease_id"]);
}

TEST_F(HttpVirtualTime, DefaultVisibilityIsTheConsumersThirtySeconds) {
  Ok(client_.Post(jobs_ + "/messages", {{"body", 1}}));
  ASSERT_EQ(Pull().size(), 1u);
  server_.AdvanceTime(Milliseconds(29'999));
  EXPECT_TRUE(Pull().empty());
  server_.AdvanceTime(Milliseconds(1));
  EXPECT_EQ(Pull().size(), 1u);
}

TEST_F(HttpVirtualTime, AnExpiredLeaseStillAcksWhileTheQueueHoldsTheMessage) {
  Ok(client_.Post(jobs_ + "/messages", {{"body", 1}}));
  const Json first = Pull({{"visibility_timeout_ms", 1000}});
  server_.AdvanceTime(Seconds(2));
  const Json result = Ack({{"acks", {{{"lease_id", first[0]["lease_id"]}}}}});
  EXPECT_EQ(result["ackCount"], 1);
  EXPECT_TRUE(result["warnings"].empty());
  EXPECT_EQ(Backlog(), 0);
}

TEST_F(HttpVirtualTime, RetryWithAnExpiredLeaseOnlyWarns) {
  Ok(client_.Post(jobs_ + "/messages", {{"body", 1}}));
  const Json first = Pull({{"visibility_timeout_ms", 1000}});
  server_.AdvanceTime(Seconds(2));
  const Json result = Ack({{"retries", {{{"lease_id", first[0]["lease_id"]}}}}});
  EXPECT_EQ(result["retryCount"], 0);
  EXPECT_TRUE(result["warnings"].contains(first[0]["lease_id"].get<std::string>()));
  EXPECT_EQ(Pull()[0]["attempts"], 2);  // Redelivered by the lease expiry, not the retry.
}

TEST_F(HttpVirtualTime, DelayedPushBecomesAvailableWhenTheClockReachesIt) {
  Ok(client_.Post(jobs_ + "/messages", {{"body", 1}, {"delay_seconds", 60}}));
  server_.AdvanceTime(Seconds(59));
  EXPECT_TRUE(Pull().empty());
  server_.AdvanceTime(Seconds(1));
  EXPECT_EQ(Pull().size(), 1u);
}

TEST_F(HttpVirtualTime, RetryDelayHoldsTheMessageUntilItPasses) {
  Ok(client_.Post(jobs_ + "/messages", {{"body", 1}}));
  const Json first = Pull();
  Ack({{"retries", {{{"lease_id", first[0]["lease_id"]}, {"delay_seconds", 30}}}}});
  server_.AdvanceTime(Seconds(29));
  EXPECT_TRUE(Pull().empty());
  server_.AdvanceTime(Seconds(1));
  EXPECT_EQ(Pull()[0]["attempts"], 2);
}

TEST_F(HttpVirtualTime, MessagesExpireAtTheQueuesRetentionPeriod) {
  Ok(client_.Request("PATCH", jobs_,
                     Json{{"settings", {{"message_retention_period", 60}}}}.dump()));
  Ok(client_.Post(jobs_ + "/messages", {{"body", 1}}));
  server_.AdvanceTime(Seconds(60));
  EXPECT_TRUE(Pull().empty());
  EXPECT_EQ(Backlog(), 0);
}

TEST_F(HttpVirtualTime, TheClockMovesThroughTheAdminApi) {
  const Json now = Ok(client_.Get("/admin/v1/time"));
  EXPECT_EQ(now["now_ms"], core::kVirtualEpoch.unix_ms());
  EXPECT_EQ(now["now"], "2026-01-01T00:00:00.000Z");
  Ok(client_.Post(jobs_ + "/messages", {{"body", 1}, {"delay_seconds", 60}}));
  EXPECT_EQ(Ok(client_.Post("/admin/v1/time/advance", {{"ms", 60'000}}))["now_ms"],
            core::kVirtualEpoch.unix_ms() + 60'000);
  EXPECT_EQ(Pull().size(), 1u);
  const std::int64_t to = core::kVirtualEpoch.unix_ms() + 3'600'000;
  EXPECT_EQ(Ok(client_.Post("/admin/v1/time/advance", {{"to_ms", to}}))["now_ms"], to);
}

TEST_F(HttpVirtualTime, BadAdvancesAreRefusedAndMoveNothing) {
  for (const Json& body : {Json::object(), Json{{"ms", -1}}, Json{{"ms", "5"}},
                           Json{{"ms", 1}, {"to_ms", 2}}, Json{{"to_ms", 0}}}) {
    const ClientResponse r = client_.Post("/admin/v1/time/advance", body);
    EXPECT_EQ(r.status, 400) << body.dump();
  }
  EXPECT_EQ(Ok(client_.Get("/admin/v1/time"))["now_ms"], core::kVirtualEpoch.unix_ms());
}

}  // namespace
}  // namespace cfemu::testing

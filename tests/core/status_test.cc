#include "src/core/status.h"

#include <set>
#include <string>

#include <gtest/gtest.h>

namespace cfemu::core {
namespace {

TEST(Status, DefaultIsOkWithNoCodeAndNoMessage) {
  const Status status;
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(status.code(), Code::kOk);
  EXPECT_EQ(status.cf_code(), 0);
  EXPECT_EQ(status.message(), "");
  EXPECT_EQ(status.ToString(), "ok");
  EXPECT_EQ(status, Status::Ok());
}

TEST(Status, FactoriesSetTheirCodeAndKeepTheMessage) {
  struct Case {
    Status status;
    Code code;
  };
  const Case cases[] = {
      {Status::InvalidArgument("m"), Code::kInvalidArgument},
      {Status::NotFound("m"), Code::kNotFound},
      {Status::AlreadyExists("m"), Code::kAlreadyExists},
      {Status::FailedPrecondition("m"), Code::kFailedPrecondition},
      {Status::TooLarge("m"), Code::kTooLarge},
      {Status::ResourceExhausted("m"), Code::kResourceExhausted},
      {Status::NotInState("m"), Code::kNotInState},
      {Status::LeaseLost("m"), Code::kLeaseLost},
      {Status::Unavailable("m"), Code::kUnavailable},
      {Status::Overloaded("m"), Code::kOverloaded},
      {Status::Timeout("m"), Code::kTimeout},
      {Status::Indeterminate("m"), Code::kIndeterminate},
      {Status::Cancelled("m"), Code::kCancelled},
      {Status::Unrecoverable("m"), Code::kUnrecoverable},
      {Status::Delayed("m"), Code::kDelayed},
      {Status::RateLimited("m"), Code::kRateLimited},
      {Status::Unknown("m"), Code::kUnknown},
  };
  for (const auto& c : cases) {
    EXPECT_FALSE(c.status.ok()) << CodeName(c.code);
    EXPECT_EQ(c.status.code(), c.code);
    EXPECT_EQ(c.status.message(), "m");
    EXPECT_EQ(c.status.cf_code(), 0);
  }
}

TEST(Status, CodeNamesAreDistinctSnakeCase) {
  std::set<std::string> names;
  for (int i = 0; i <= static_cast<int>(Code::kUnknown); ++i) {
    const std::string name(CodeName(static_cast<Code>(i)));
    EXPECT_FALSE(name.empty());
    for (char c : name) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << name;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(Code::kUnknown) + 1);
  EXPECT_EQ(CodeName(Code::kOk), "ok");
  EXPECT_EQ(CodeName(Code::kInvalidArgument), "invalid_argument");
  EXPECT_EQ(CodeName(Code::kResourceExhausted), "resource_exhausted");
  EXPECT_EQ(CodeName(Code::kNotInState), "not_in_state");
  EXPECT_EQ(CodeName(Code::kRateLimited), "rate_limited");
  EXPECT_EQ(CodeName(Code::kUnknown), "unknown");
}

TEST(Status, CarriesCloudflareNumericCode) {
  const Status status = Status::TooLarge("Message size out of bounds (10204)", 10204);
  EXPECT_EQ(status.cf_code(), 10204);
  EXPECT_EQ(Status::InvalidArgument("x", 10202).cf_code(), 10202);
  EXPECT_EQ(Status::Overloaded("x", 10250).cf_code(), 10250);
  EXPECT_EQ(Status::Unavailable("D1_ERROR: x", 7003).cf_code(), 7003);
  EXPECT_EQ(Status(Code::kNotFound, "x", 42).cf_code(), 42);
}

TEST(Status, ToStringIsCodeNameThenMessage) {
  EXPECT_EQ(Status::TooLarge("Message size out of bounds (10204)", 10204).ToString(),
            "too_large: Message size out of bounds (10204)");
  EXPECT_EQ(Status::Cancelled("").ToString(), "cancelled");
  EXPECT_EQ(Status::NotInState("job 7 is not active").ToString(),
            "not_in_state: job 7 is not active");
}

TEST(Status, EqualityComparesCodeCfCodeAndMessage) {
  EXPECT_EQ(Status::NotFound("a", 1), Status::NotFound("a", 1));
  EXPECT_FALSE(Status::NotFound("a", 1) == Status::NotFound("a", 2));
  EXPECT_FALSE(Status::NotFound("a") == Status::NotFound("b"));
  EXPECT_FALSE(Status::NotFound("a") == Status::Timeout("a"));
}

TEST(Result, DefaultConstructedIsUnknown) {
  const Result<int> result;
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.code(), Code::kUnknown);
  EXPECT_EQ(result.status().code(), Code::kUnknown);
}

TEST(Result, HoldsAValue) {
  Result<std::string> result(std::string("hello"));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.code(), Code::kOk);
  EXPECT_EQ(result.value(), "hello");
  EXPECT_EQ(*result, "hello");
  EXPECT_EQ(result->size(), 5u);
  result.value() += "!";
  EXPECT_EQ(*result, "hello!");
  const std::string moved = std::move(result).value();
  EXPECT_EQ(moved, "hello!");
}

TEST(Result, HoldsAnError) {
  const Result<int> result = Status::NotFound("no such job", 404);
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.code(), Code::kNotFound);
  EXPECT_EQ(result.status().message(), "no such job");
  EXPECT_EQ(result.status().cf_code(), 404);
  EXPECT_EQ(result.value_or(7), 7);
  EXPECT_EQ(Result<int>(3).value_or(7), 3);
}

TEST(ResultDeathTest, ValueOfAnErrorIsACheckFailure) {
  const Result<int> result = Status::NotFound("no such job");
  EXPECT_DEATH((void)result.value(), "not_found: no such job");
}

TEST(ResultDeathTest, OkStatusWithoutValueIsACheckFailure) {
  EXPECT_DEATH((void)Result<int>(Status::Ok()), "an OK Result needs a value");
}

Status FailsWhen(bool fail, int* reached) {
  CFEMU_RETURN_IF_ERROR(fail ? Status::Timeout("too slow") : Status::Ok());
  ++*reached;
  return Status::Ok();
}

TEST(Status, ReturnIfErrorReturnsEarlyOnlyOnError) {
  int reached = 0;
  EXPECT_TRUE(FailsWhen(false, &reached).ok());
  EXPECT_EQ(reached, 1);
  const Status failed = FailsWhen(true, &reached);
  EXPECT_EQ(failed.code(), Code::kTimeout);
  EXPECT_EQ(failed.message(), "too slow");
  EXPECT_EQ(reached, 1);
}

Result<int> ParsePositive(int n) {
  if (n <= 0) return Status::InvalidArgument("not positive");
  return n;
}

Status UsesResultStatus(int n, int* out) {
  const Result<int> parsed = ParsePositive(n);
  CFEMU_RETURN_IF_ERROR(parsed.status());
  *out = *parsed;
  return Status::Ok();
}

TEST(Status, ReturnIfErrorPropagatesAResultsStatus) {
  int out = 0;
  EXPECT_TRUE(UsesResultStatus(5, &out).ok());
  EXPECT_EQ(out, 5);
  EXPECT_EQ(UsesResultStatus(-1, &out).code(), Code::kInvalidArgument);
  EXPECT_EQ(out, 5);
}

}  // namespace
}  // namespace cfemu::core

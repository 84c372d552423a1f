// The pure cron parser (src/core/cron.h): a table of valid and invalid expressions in both
// dialects with the next match each gives, the dialect cases of cpp-contract.md, the bounded
// search for impossible expressions, and a property test of NextMatch against a minute-by-minute
// scan.
#include <gtest/gtest.h>

#include "src/core/random.h"
#include "tests/cron/cron_testing.h"

namespace cfemu::testing {
namespace {

using core::CronDialect;
using core::CronExpr;
using core::NextMatch;
using core::ParseCron;

constexpr CronDialect kCf = CronDialect::kCloudflare;
constexpr CronDialect kBull = CronDialect::kBullMQ;

struct NextCase {
  std::string_view expr;
  CronDialect dialect;
  Instant from;
  std::string_view next;  // RFC 3339, or "none" when the expression never matches.
};

const Instant kJan1 = Utc(2026, 1, 1);  // A Thursday.

// clang-format off
const NextCase kNextCases[] = {
    // Wildcards, steps, ranges, lists; a match at `from` itself counts.
    {"* * * * *", kCf, Utc(2026, 1, 1, 0, 0, 30), "2026-01-01T00:01:00.000Z"},
    {"* * * * *", kCf, kJan1, "2026-01-01T00:00:00.000Z"},
    {"*/3 * * * *", kCf, Utc(2026, 1, 1, 0, 1), "2026-01-01T00:03:00.000Z"},
    {"30 */6 * * *", kCf, Utc(2026, 1, 1, 0, 31), "2026-01-01T06:30:00.000Z"},
    {"5/15 * * * *", kCf, Utc(2026, 1, 1, 0, 21), "2026-01-01T00:35:00.000Z"},
    {"0-10/5 * * * *", kCf, Utc(2026, 1, 1, 0, 11), "2026-01-01T01:00:00.000Z"},
    {"15,45 9-17 * * *", kCf, Utc(2026, 1, 1, 17, 46), "2026-01-02T09:15:00.000Z"},
    {"0 0 * * *", kCf, Instant::FromUnixMs(Utc(2027, 1, 1).unix_ms() - 1),
     "2027-01-01T00:00:00.000Z"},
    {"59 23 31 12 *", kCf, kJan1, "2026-12-31T23:59:00.000Z"},
    // Month and day names, case-insensitive, in ranges and lists.
    {"0 17 * * sun", kCf, kJan1, "2026-01-04T17:00:00.000Z"},
    {"0 17 * * 1", kCf, kJan1, "2026-01-04T17:00:00.000Z"},
    {"10 7 * * mon-fri", kCf, Utc(2026, 1, 1, 8), "2026-01-02T07:10:00.000Z"},
    {"10 7 * * 2-6", kCf, Utc(2026, 1, 1, 8), "2026-01-02T07:10:00.000Z"},
    {"0 0 * JAN,Jul *", kCf, Utc(2026, 2, 1), "2026-07-01T00:00:00.000Z"},
    {"0 0 1 jan-mar/2 *", kCf, Utc(2026, 1, 2), "2026-03-01T00:00:00.000Z"},
    {"0 0 * * FRI-SUN", kCf, Utc(2026, 1, 5, 0, 1), "2026-01-09T00:00:00.000Z"},  // Wraps.
    {"0 0 * * 7-1", kCf, kJan1, "2026-01-03T00:00:00.000Z"},
    {"0 22 * * 1-5", kCf, Utc(2026, 1, 2, 23), "2026-01-04T22:00:00.000Z"},  // Sun-Thu.
    {"55-5 * * * *", kCf, Utc(2026, 1, 1, 0, 6), "2026-01-01T00:55:00.000Z"},  // Wraps.
    // L, W, LW, L-n in day-of-month; month ends.
    {"0 0 L * *", kCf, kJan1, "2026-01-31T00:00:00.000Z"},
    {"0 0 L 2 *", kCf, kJan1, "2026-02-28T00:00:00.000Z"},
    {"0 0 L 2 *", kCf, Utc(2028, 1, 1), "2028-02-29T00:00:00.000Z"},
    {"0 0 L-3 * *", kCf, kJan1, "2026-01-28T00:00:00.000Z"},
    {"0 0 L-2 2 *", kCf, Utc(2028, 1, 1), "2028-02-27T00:00:00.000Z"},
    {"59 23 LW * *", kCf, kJan1, "2026-01-30T23:59:00.000Z"},  // Jan 31 is a Saturday.
    {"0 0 LW * *", kCf, Utc(2026, 5, 1), "2026-05-29T00:00:00.000Z"},  // May 31 is a Sunday.
    {"0 0 LW * *", kCf, Utc(2026, 3, 1), "2026-03-31T00:00:00.000Z"},  // A Tuesday.
    {"0 0 L-1W * *", kCf, Utc(2026, 1, 1), "2026-01-30T00:00:00.000Z"},  // Jan 30 is a Friday.
    {"0 0 15W * *", kCf, kJan1, "2026-01-15T00:00:00.000Z"},  // A Thursday.
    {"0 0 1W * *", kCf, Utc(2026, 1, 2), "2026-02-02T00:00:00.000Z"},  // Feb 1 is a Sunday.
    {"0 0 1W * *", kCf, Utc(2026, 7, 2), "2026-08-03T00:00:00.000Z"},  // Aug 1 is a Saturday.
    {"0 0 31W * *", kCf, Utc(2026, 5, 1), "2026-05-29T00:00:00.000Z"},  // Sunday -> Friday.
    {"0 0 31 * *", kCf, Utc(2026, 2, 1), "2026-03-31T00:00:00.000Z"},
    {"0 0 30W 2 *", kCf, kJan1, "none"},
    // nL and n#k in day-of-week; L alone is Saturday.
    {"0 18 * * 6L", kCf, kJan1, "2026-01-30T18:00:00.000Z"},  // Last Friday.
    {"0 0 * * 7L", kCf, kJan1, "2026-01-31T00:00:00.000Z"},
    {"0 0 * * FRIL", kCf, kJan1, "2026-01-30T00:00:00.000Z"},
    {"0 0 * * L", kCf, kJan1, "2026-01-03T00:00:00.000Z"},
    {"0 12 * * 2#1", kCf, kJan1, "2026-01-05T12:00:00.000Z"},
    {"0 12 * * 1#5", kCf, kJan1, "2026-03-29T12:00:00.000Z"},  // No 5th Sunday in Jan, Feb.
    {"0 0 * 2 1#5", kCf, kJan1, "2032-02-29T00:00:00.000Z"},   // Leap February from a Sunday.
    // Day of month and day of week both restricted: either matches.
    {"0 9 1,15 * 2", kCf, kJan1, "2026-01-01T09:00:00.000Z"},
    {"0 9 1,15 * 2", kCf, Utc(2026, 1, 2), "2026-01-05T09:00:00.000Z"},
    {"0 9 13 * 6", kCf, kJan1, "2026-01-02T09:00:00.000Z"},  // Every Friday, and the 13th.
    {"0 9 13 * *", kCf, Utc(2026, 1, 14), "2026-02-13T09:00:00.000Z"},
    {"0 9 L * 2#1", kCf, Utc(2026, 1, 6), "2026-01-31T09:00:00.000Z"},
    {"0 9 */10 * 2", kCf, Utc(2026, 1, 2), "2026-01-05T09:00:00.000Z"},  // */10 restricts.
    // Leap years and impossible expressions (a bounded search, never a hang).
    {"0 0 29 2 *", kCf, kJan1, "2028-02-29T00:00:00.000Z"},
    {"0 0 29 2 *", kCf, Utc(2096, 3, 1), "2104-02-29T00:00:00.000Z"},  // 2100 is not leap.
    {"0 0 30 2 *", kCf, kJan1, "none"},
    {"0 0 31 4,6,9,11 *", kCf, kJan1, "none"},
    {"0 0 L-30 2 *", kCf, kJan1, "none"},
    // BullMQ numbering: 0 and 7 are Sunday.
    {"0 0 * * 0", kBull, kJan1, "2026-01-04T00:00:00.000Z"},
    {"0 0 * * 7", kBull, kJan1, "2026-01-04T00:00:00.000Z"},
    {"0 0 * * SUN", kBull, kJan1, "2026-01-04T00:00:00.000Z"},
    {"0 0 * * 5L", kBull, kJan1, "2026-01-30T00:00:00.000Z"},
    {"0 0 * * 1#2", kBull, kJan1, "2026-01-12T00:00:00.000Z"},
    {"0 0 * * mon-fri", kBull, kJan1, "2026-01-01T00:00:00.000Z"},
    {"0 0 L * *", kBull, kJan1, "2026-01-31T00:00:00.000Z"},
    {"0 0 15W * 0", kBull, kJan1, "2026-01-04T00:00:00.000Z"},
};

struct ErrorCase {
  std::string_view expr;
  CronDialect dialect;
  std::string_view message;  // A substring of the error.
};

const ErrorCase kErrorCases[] = {
    {"", kCf, "expected 5 fields (minute hour day-of-month month day-of-week), found 0"},
    {"* * * *", kCf, "found 4"},
    {"0 * * * * *", kCf, "found 6; seconds and year fields are not supported"},
    {"0 0 1 1 * 2026 x", kBull, "found 7"},
    {"60 * * * *", kCf, "minute: 60 is out of range 0-59"},
    {"* 24 * * *", kCf, "hour: 24 is out of range 0-23"},
    {"* * 0 * *", kCf, "day-of-month: 0 is out of range 1-31"},
    {"* * 32 * *", kCf, "day-of-month: 32 is out of range 1-31"},
    {"* * * 0 *", kCf, "month: 0 is out of range 1-12"},
    {"* * * 13 *", kCf, "month: 13 is out of range 1-12"},
    {"* * * * 0", kCf, "day-of-week: 0 is out of range 1-7 (1 = Sunday)"},
    {"* * * * 8", kCf, "day-of-week: 8 is out of range 1-7 (1 = Sunday)"},
    {"* * * * 8", kBull, "day-of-week: 8 is out of range 0-7 (0 and 7 = Sunday)"},
    {"* * * * 0-6", kCf, "day-of-week: 0 is out of range 1-7"},
    {"* * ? * *", kCf, "day-of-month: '?' is not supported; use '*'"},
    {"* * * * ?", kBull, "day-of-week: '?' is not supported; use '*'"},
    {"*/0 * * * *", kCf, "minute: step 0 is out of range 1-59"},
    {"*/60 * * * *", kCf, "minute: step 60 is out of range 1-59"},
    {"* */24 * * *", kCf, "hour: step 24 is out of range 1-23"},
    {"* * * * */7", kCf, "day-of-week: step 7 is out of range 1-6"},
    {"*/x * * * *", kCf, "minute: step 'x' is not a number"},
    {"1/2/3 * * * *", kCf, "step '2/3' is not a number"},
    {"1,,2 * * * *", kCf, "minute: empty element in list '1,,2'"},
    {"1, * * * *", kCf, "empty element"},
    {"*,5 * * * *", kCf, "'*' cannot be combined with other elements"},
    {"1- * * * *", kCf, "minute: expected a value, found nothing"},
    {"a * * * *", kCf, "minute: 'a' is not a number"},
    {"L * * * *", kCf, "minute: 'L' is not a number (L, W and # are only allowed"},
    {"* * * FOO *", kCf, "month: 'FOO' is not a number or a name (JAN-DEC)"},
    {"* * * * MONDAY", kCf, "day-of-week: 'MONDAY' is not a number or a name (SUN-SAT)"},
    {"* * 1-5W * *", kCf, "(L and W stand alone in day-of-month"},
    {"* * 1,LW * *", kCf, "(L and W stand alone in day-of-month"},
    {"* * L-31 * *", kCf, "'L-31' is not L, LW, L-n or L-nW (n from 1 to 30)"},
    {"* * L,5 * *", kCf, "is not L, LW, L-n or L-nW"},
    {"* * 32W * *", kCf, "day-of-month: 32 is out of range 1-31"},
    {"* * * * 1#6", kCf, "day-of-week: k in n#k must be 1-5, found '6'"},
    {"* * * * 5L,6", kCf, "(nL and n#k stand alone in day-of-week)"},
    {"* * * * 8L", kCf, "day-of-week: 8 is out of range 1-7"},
    {"* * * * 6-1", kBull, "day-of-week: range '6-1' runs backwards (start after end)"},
    {"5-1 * * * *", kBull, "minute: range '5-1' runs backwards"},
};
// clang-format on

std::string NextText(const CronExpr& expr, Instant from) {
  const std::optional<Instant> next = NextMatch(expr, from);
  return next ? next->ToRfc3339() : "none";
}

TEST(CronParser, TableOfValidExpressionsGivesTheExpectedNextMatch) {
  for (const NextCase& c : kNextCases) {
    core::Result<CronExpr> expr = ParseCron(c.expr, c.dialect);
    ASSERT_TRUE(expr.ok()) << c.expr << ": " << expr.status().ToString();
    EXPECT_EQ(NextText(*expr, c.from), c.next)
        << "\"" << c.expr << "\" (" << core::CronDialectName(c.dialect) << ") from "
        << c.from.ToRfc3339();
    EXPECT_EQ(expr->source, c.expr);
  }
}

TEST(CronParser, TableOfInvalidExpressionsNamesTheFieldAndWhatWasExpected) {
  for (const ErrorCase& c : kErrorCases) {
    core::Result<CronExpr> expr = ParseCron(c.expr, c.dialect);
    ASSERT_FALSE(expr.ok()) << "\"" << c.expr << "\" parsed in "
                            << core::CronDialectName(c.dialect);
    EXPECT_EQ(expr.code(), core::Code::kInvalidArgument);
    EXPECT_NE(expr.status().message().find(c.message), std::string::npos)
        << "\"" << c.expr << "\": " << expr.status().message();
    EXPECT_NE(expr.status().message().find("\"" + std::string(c.expr) + "\""), std::string::npos);
  }
}

TEST(CronParser, TableHoldsAtLeastSixtyExpressions) {
  EXPECT_GE(std::size(kNextCases) + std::size(kErrorCases), 60u);
}

// The weekdays (SUN..SAT) an expression matches in the week of Sunday 2026-01-04.
std::string WeekdaysMatched(std::string_view text, CronDialect dialect) {
  core::Result<CronExpr> expr = ParseCron(text, dialect);
  if (!expr.ok()) return "error";
  static constexpr std::string_view kNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};
  std::string out;
  for (int i = 0; i < 7; ++i) {
    if (!core::CronMatches(*expr, Utc(2026, 1, 4 + i))) continue;
    if (!out.empty()) out += " ";
    out += kNames[i];
  }
  return out;
}

// The days of January 2026 an expression matches.
std::string JanuaryDaysMatched(std::string_view text, CronDialect dialect) {
  core::Result<CronExpr> expr = ParseCron(text, dialect);
  if (!expr.ok()) return "error";
  std::string out;
  for (int day = 1; day <= 31; ++day) {
    if (!core::CronMatches(*expr, Utc(2026, 1, day))) continue;
    if (!out.empty()) out += " ";
    out += std::to_string(day);
  }
  return out;
}

TEST(CronParser, DayOfWeekDialectCasesMeanWhatTheContractSays) {
  // `*/2`: every other day in each numbering, the same days.
  EXPECT_EQ(WeekdaysMatched("0 0 * * */2", kCf), "SUN TUE THU SAT");
  EXPECT_EQ(WeekdaysMatched("0 0 * * */2", kBull), "SUN TUE THU SAT");
  // `0-6`: every day in BullMQ; 0 does not exist in Cloudflare.
  EXPECT_EQ(WeekdaysMatched("0 0 * * 0-6", kCf), "error");
  EXPECT_EQ(WeekdaysMatched("0 0 * * 0-6", kBull), "SUN MON TUE WED THU FRI SAT");
  // `5-7`: Thursday to Saturday in Cloudflare, Friday to Sunday in BullMQ.
  EXPECT_EQ(WeekdaysMatched("0 0 * * 5-7", kCf), "THU FRI SAT");
  EXPECT_EQ(WeekdaysMatched("0 0 * * 5-7", kBull), "SUN FRI SAT");
  // `1-5/2`: expanded in the dialect's own numbering, then mapped.
  EXPECT_EQ(WeekdaysMatched("0 0 * * 1-5/2", kCf), "SUN TUE THU");
  EXPECT_EQ(WeekdaysMatched("0 0 * * 1-5/2", kBull), "MON WED FRI");
  EXPECT_EQ(WeekdaysMatched("0 0 * * 2,4,6", kCf), "MON WED FRI");
  // `5L`: the last Thursday (Cloudflare) or the last Friday (BullMQ) = Cloudflare `6L`.
  EXPECT_EQ(JanuaryDaysMatched("0 0 * * 5L", kCf), "29");
  EXPECT_EQ(JanuaryDaysMatched("0 0 * * 5L", kBull), "30");
  EXPECT_EQ(JanuaryDaysMatched("0 0 * * 6L", kCf), "30");
  // `1#2`: the second Sunday (Cloudflare) or the second Monday (BullMQ) = Cloudflare `2#2`.
  EXPECT_EQ(JanuaryDaysMatched("0 0 * * 1#2", kCf), "11");
  EXPECT_EQ(JanuaryDaysMatched("0 0 * * 1#2", kBull), "12");
  EXPECT_EQ(JanuaryDaysMatched("0 0 * * 2#2", kCf), "12");
}

TEST(CronParser, BullMqSundayIsZeroAndSevenAndCloudflareSundayIsOne) {
  const auto bull0 = ParseCron("0 0 * * 0", kBull);
  const auto bull7 = ParseCron("0 0 * * 7", kBull);
  const auto cf1 = ParseCron("0 0 * * 1", kCf);
  ASSERT_TRUE(bull0.ok() && bull7.ok() && cf1.ok());
  EXPECT_EQ(bull0->days_of_week, cf1->days_of_week);
  EXPECT_EQ(bull7->days_of_week, cf1->days_of_week);
  EXPECT_EQ(WeekdaysMatched("0 0 * * SUN,SAT", kBull), WeekdaysMatched("0 0 * * SUN,SAT", kCf));
}

TEST(CronParser, BothDayFieldsRestrictedMatchEitherOne) {
  // The 13th or any Friday: January has Fridays 2, 9, 16, 23, 30 and the 13th is a Tuesday.
  EXPECT_EQ(JanuaryDaysMatched("0 0 13 * FRI", kCf), "2 9 13 16 23 30");
  // One field `*`: the other alone decides.
  EXPECT_EQ(JanuaryDaysMatched("0 0 13 * *", kCf), "13");
  EXPECT_EQ(JanuaryDaysMatched("0 0 * * FRI", kCf), "2 9 16 23 30");
  // Special forms combine the same way: the last day or the first Monday.
  EXPECT_EQ(JanuaryDaysMatched("0 0 L * 2#1", kCf), "5 31");
}

TEST(CronParser, ImpossibleExpressionsEndTheSearchWithNoMatch) {
  for (std::string_view text : {"0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 30W 2 *", "0 0 L-29 2 *"}) {
    core::Result<CronExpr> expr = ParseCron(text, kCf);
    ASSERT_TRUE(expr.ok()) << text;
    EXPECT_FALSE(NextMatch(*expr, kJan1).has_value()) << text;
  }
  // The rarest possible pattern is still found: a fifth Sunday in February.
  core::Result<CronExpr> rare = ParseCron("0 0 * 2 1#5", kCf);
  ASSERT_TRUE(rare.ok());
  EXPECT_EQ(NextText(*rare, Utc(2032, 3, 1)), "2060-02-29T00:00:00.000Z");
}

// NextMatch(e, t) >= t, it matches, and no minute in between matches.
void CheckAgainstScan(std::string_view text, CronDialect dialect, core::Random& random) {
  core::Result<CronExpr> expr = ParseCron(text, dialect);
  ASSERT_TRUE(expr.ok()) << text;
  for (int i = 0; i < 6; ++i) {
    const Instant from = kJan1 + core::Milliseconds(random.Range(0, 400LL * 86'400'000));
    const std::optional<Instant> next = NextMatch(*expr, from);
    ASSERT_TRUE(next.has_value()) << text;
    ASSERT_GE(*next, from) << text;
    ASSERT_TRUE(core::CronMatches(*expr, *next)) << text << " at " << next->ToRfc3339();
    ASSERT_EQ(next->unix_ms() % 60'000, 0) << text;
    const std::int64_t first = (from.unix_ms() + 59'999) / 60'000 * 60'000;
    for (std::int64_t t = first; t < next->unix_ms(); t += 60'000) {
      ASSERT_FALSE(core::CronMatches(*expr, Instant::FromUnixMs(t)))
          << text << " matches " << Instant::FromUnixMs(t).ToRfc3339() << " before "
          << next->ToRfc3339() << " (from " << from.ToRfc3339() << ")";
    }
  }
}

TEST(CronParser, NextMatchIsTheFirstMatchingMinuteAtOrAfterFrom) {
  core::Random random(20260101);
  const std::pair<std::string_view, CronDialect> cases[] = {
      {"*/7 3-5 * * *", kCf},    {"0 0 L * *", kCf},        {"30 12 15W * *", kCf},
      {"0 9 * * 6L", kCf},       {"0 9 1,15 * 2", kCf},     {"15 10 * * 2#3", kCf},
      {"*/13 */5 LW * *", kCf},  {"0 0 * * FRI-MON", kCf},  {"0 0 * * 5L", kBull},
      {"0 12 * * 1-5/2", kBull}, {"45 23 L-1W * 0", kBull}, {"0 6 1W jan,jul *", kCf},
  };
  for (const auto& [text, dialect] : cases) CheckAgainstScan(text, dialect, random);
}

}  // namespace
}  // namespace cfemu::testing

// Cron expressions: a pure parser and next-match search, in UTC at minute granularity, in two
// dialects (cloudflare-platform.md §5.1; cpp-contract.md, Cron). No clock is read: the caller
// passes the instant to search from, so the engine's job schedulers and the emulator's trigger
// share this code.
//
// Grammar (both dialects): five fields separated by spaces or tabs — minute (0-59), hour (0-23),
// day of month (1-31), month (1-12 or JAN-DEC), day of week (SUN-SAT or numbers, below). Each
// field is `*` or a comma-separated list of `n`, `a-b`, `a-b/s`, `a/s` (= a-max/s) and `*/s`;
// names are case-insensitive. A step runs from 1 to the field's span (59 for minutes). Alone in
// their field: day of month `L` (last day), `L-n` (n days before it), `LW` (last weekday),
// `L-nW`, `nW` (the weekday nearest day n, never leaving the month, Quartz's rule); day of week
// `L` (Saturday, as Quartz), `nL` (the last weekday n of the month), `n#k` (the k-th weekday n,
// k 1-5). `?`, seconds and year fields are rejected.
//
// Dialects differ in the day-of-week numbering only, and in reversed ranges:
// - kCloudflare (Cloudflare's parser, "saffron"): 1-7, 1 = Sunday; SUN = 1. A reversed range
//   wraps around (`FRI-SUN` = 6,7,1), as Quartz does.
// - kBullMQ (cron-parser): 0-7, 0 and 7 = Sunday; SUN = 0. A reversed range is an error.
// A day-of-week element is expanded in its own dialect's numbering, then each BullMQ value maps
// n -> n+1 with 0 and 7 -> 1 (the same for `nL` and `n#k`): BullMQ `5L` (last Friday) is
// Cloudflare `6L`, BullMQ `1-5/2` (Mon, Wed, Fri) is Cloudflare `2,4,6`.
//
// Day of month and day of week: when both fields are restricted (anything but a bare `*`), a day
// matches if either matches; when one is `*`, the other alone decides. That is Cloudflare's rule
// (saffron's Cron::contains) and Vixie cron's; Quartz instead forbids restricting both. BullMQ's
// cron-parser applies the same "either" rule but calls a field unrestricted when it covers every
// value (`*/1`, `1-31`); cfemu uses the bare-`*` rule for both dialects, which differs only for
// such full-coverage lists.
//
// Invariants of a parsed CronExpr: every set field has at least one bit; day-of-week values are
// stored in Cloudflare numbering whatever the dialect.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "src/core/status.h"
#include "src/core/time.h"

namespace cfemu::core {

enum class CronDialect : std::uint8_t { kCloudflare, kBullMQ };
std::string_view CronDialectName(CronDialect dialect);  // "cloudflare", "bullmq".

enum class CronDayOfMonthKind : std::uint8_t {
  kAny,             // `*`
  kSet,             // Listed days.
  kLast,            // `L` (offset 0) or `L-n`.
  kLastWeekday,     // `LW` (offset 0) or `L-nW`.
  kNearestWeekday,  // `nW`.
};

enum class CronDayOfWeekKind : std::uint8_t {
  kAny,   // `*`
  kSet,   // Listed weekdays.
  kLast,  // `nL`: the last weekday n of the month.
  kNth,   // `n#k`: the k-th weekday n of the month.
};

struct CronExpr {
  std::string source;  // The text as given.
  CronDialect dialect = CronDialect::kCloudflare;
  std::uint64_t minutes = 0;  // Bit m: minute m (0-59).
  std::uint32_t hours = 0;    // Bit h: hour h (0-23).
  std::uint16_t months = 0;   // Bit m: month m (1-12).
  CronDayOfMonthKind dom_kind = CronDayOfMonthKind::kAny;
  std::uint32_t days_of_month = 0;  // kSet: bit d for day d (1-31).
  int dom_value = 0;                // kLast, kLastWeekday: the offset n; kNearestWeekday: the day.
  CronDayOfWeekKind dow_kind = CronDayOfWeekKind::kAny;
  std::uint8_t days_of_week = 0;  // kSet: bit d for Cloudflare day d (1 = Sunday ... 7 = Saturday).
  int dow_day = 0;                // kLast, kNth: Cloudflare day 1-7.
  int dow_nth = 0;                // kNth: k (1-5).
};

// The Gregorian calendar repeats, weekdays included, every 400 years = 146,097 days (exactly
// 20,871 weeks). A day pattern that matches nowhere in that many days never matches, so it
// bounds NextMatch's search.
inline constexpr std::int64_t kCronSearchDays = 146'097;

// Parses `text` in `dialect`. kInvalidArgument names the field and what was expected, e.g.
// `invalid cron expression "0 0 * * 0": day-of-week: 0 is out of range 1-7 (1 = Sunday)`.
Result<CronExpr> ParseCron(std::string_view text, CronDialect dialect);

// The first matching minute at or after `from` (a `from` inside a minute starts at the next
// whole minute). nullopt when the expression can never match (`0 0 30 2 *`), found by a bounded
// search of kCronSearchDays days: it never loops forever.
std::optional<Instant> NextMatch(const CronExpr& expr, Instant from);

// Whether the minute that contains `t` matches.
bool CronMatches(const CronExpr& expr, Instant t);

}  // namespace cfemu::core

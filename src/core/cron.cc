#include "src/core/cron.h"

#include <array>
#include <bit>
#include <cctype>
#include <vector>

namespace cfemu::core {

namespace {

constexpr std::int64_t kMsPerMinute = 60'000;
constexpr std::int64_t kMinutesPerDay = 1'440;

// ---- Calendar: proleptic Gregorian, UTC ---------------------------------------------------

struct CivilDate {
  std::int64_t year = 1970;
  int month = 1;  // 1-12
  int day = 1;    // 1-31
};

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// Civil date <-> days since 1970-01-01, after H. Hinnant's algorithms.
std::int64_t DaysFromCivil(std::int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<std::int64_t>(y - era * 400);
  const std::int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

CivilDate CivilFromDays(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  CivilDate date;
  date.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  date.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  date.year = yoe + era * 400 + (date.month <= 2 ? 1 : 0);
  return date;
}

bool IsLeapYear(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(std::int64_t y, int m) {
  static constexpr std::array<int, 13> kDays = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[static_cast<std::size_t>(m)];
}

// 0 = Sunday ... 6 = Saturday; 1970-01-01 was a Thursday.
int WeekdayOf(std::int64_t days) { return static_cast<int>((days % 7 + 7 + 4) % 7); }

// ---- Fields -------------------------------------------------------------------------------

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kDayNames = {"SUN", "MON", "TUE", "WED",
                                                       "THU", "FRI", "SAT"};

struct Field {
  std::string_view name;
  int min = 0;
  int max = 0;
  const std::string_view* names = nullptr;  // Names for min, min + 1, ...: months and weekdays.
  std::size_t name_count = 0;
  int first_name_value = 0;
  std::string_view numbering;  // Appended to out-of-range errors.
  std::string_view hint;       // Appended to "not a number" errors.
};

constexpr std::string_view kNoSpecials =
    " (L, W and # are only allowed in the day-of-month and day-of-week fields)";

constexpr Field kMinuteField{"minute", 0, 59, nullptr, 0, 0, "", kNoSpecials};
constexpr Field kHourField{"hour", 0, 23, nullptr, 0, 0, "", kNoSpecials};
constexpr Field kDayOfMonthField{"day-of-month",
                                 1,
                                 31,
                                 nullptr,
                                 0,
                                 0,
                                 "",
                                 " (L and W stand alone in day-of-month: L, LW, L-3, L-3W, 15W)"};
constexpr Field kMonthField{"month", 1,  12,         kMonthNames.data(), kMonthNames.size(),
                            1,       "", kNoSpecials};
constexpr std::string_view kDowHint = " (nL and n#k stand alone in day-of-week)";
constexpr Field kCloudflareDowField{
    "day-of-week", 1, 7, kDayNames.data(), kDayNames.size(), 1, " (1 = Sunday)", kDowHint};
constexpr Field kBullMqDowField{
    "day-of-week", 0, 7, kDayNames.data(), kDayNames.size(), 0, " (0 and 7 = Sunday)", kDowHint};

// What a parse needs to report errors: the whole text and the dialect.
struct Context {
  std::string_view source;
  CronDialect dialect;

  Status Error(const Field& field, const std::string& message) const {
    return Status::InvalidArgument("invalid cron expression \"" + std::string(source) +
                                   "\": " + std::string(field.name) + ": " + message);
  }
};

bool AllDigits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (std::isdigit(static_cast<unsigned char>(c)) == 0) return false;
  }
  return true;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) != b[i]) return false;
  }
  return true;
}

std::string Quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

std::string RangeText(const Field& field) {
  return std::to_string(field.min) + "-" + std::to_string(field.max) + std::string(field.numbering);
}

// A number or a name of `field`, in the field's own numbering.
Result<int> ParseValue(std::string_view token, const Field& field, const Context& ctx) {
  if (token.empty()) return ctx.Error(field, "expected a value, found nothing");
  if (token == "?") return ctx.Error(field, "'?' is not supported; use '*'");
  if (AllDigits(token)) {
    const int value = token.size() > 4 ? 99'999 : std::stoi(std::string(token));
    if (value < field.min || value > field.max) {
      return ctx.Error(field, std::string(token) + " is out of range " + RangeText(field));
    }
    return value;
  }
  for (std::size_t i = 0; i < field.name_count; ++i) {
    if (EqualsIgnoreCase(token, field.names[i])) {
      return field.first_name_value + static_cast<int>(i);
    }
  }
  std::string expected = field.name_count == 0 ? "is not a number" : "is not a number or a name";
  if (field.name_count > 0) {
    expected += " (" + std::string(field.names[0]) + "-" +
                std::string(field.names[field.name_count - 1]) + ")";
  }
  const bool special = token.find_first_of("LW#") != std::string_view::npos;
  return ctx.Error(field, Quoted(token) + " " + expected + std::string(special ? field.hint : ""));
}

Result<int> ParseStep(std::string_view token, const Field& field, const Context& ctx) {
  const int span = field.max - field.min;
  if (!AllDigits(token)) return ctx.Error(field, "step " + Quoted(token) + " is not a number");
  const int step = token.size() > 4 ? 99'999 : std::stoi(std::string(token));
  if (step < 1 || step > span) {
    return ctx.Error(field,
                     "step " + std::string(token) + " is out of range 1-" + std::to_string(span));
  }
  return step;
}

// Appends the values of one list element (`n`, `a-b`, `a-b/s`, `a/s`, `*/s`) to `out`.
Status ExpandElement(std::string_view element, const Field& field, const Context& ctx,
                     std::vector<int>& out) {
  const std::size_t slash = element.find('/');
  const std::string_view base = element.substr(0, slash);
  int step = 1;
  if (slash != std::string_view::npos) {
    Result<int> parsed = ParseStep(element.substr(slash + 1), field, ctx);
    if (!parsed.ok()) return parsed.status();
    step = *parsed;
  }
  int lo = field.min;
  int hi = field.max;
  if (base != "*") {
    const std::size_t dash = base.find('-');
    Result<int> first = ParseValue(base.substr(0, dash), field, ctx);
    if (!first.ok()) return first.status();
    lo = *first;
    hi = slash == std::string_view::npos ? lo : field.max;
    if (dash != std::string_view::npos) {
      Result<int> last = ParseValue(base.substr(dash + 1), field, ctx);
      if (!last.ok()) return last.status();
      hi = *last;
    }
  } else if (slash == std::string_view::npos) {
    return ctx.Error(field, "'*' cannot be combined with other elements");
  }
  if (lo > hi && ctx.dialect == CronDialect::kBullMQ) {
    return ctx.Error(field, "range " + Quoted(base) + " runs backwards (start after end)");
  }
  // A reversed range wraps around (Cloudflare, as Quartz): lo..max, then min..hi.
  const int count = lo <= hi ? hi - lo + 1 : (field.max - lo + 1) + (hi - field.min + 1);
  for (int i = 0; i < count; i += step) {
    const int offset = lo + i;
    out.push_back(offset <= field.max ? offset : field.min + (offset - field.max - 1));
  }
  return Status::Ok();
}

// A `*` or a comma-separated list, as values in the field's own numbering.
Result<std::vector<int>> ParseList(std::string_view text, const Field& field, const Context& ctx) {
  std::vector<int> values;
  if (text == "*") {
    for (int v = field.min; v <= field.max; ++v) values.push_back(v);
    return values;
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string_view element = text.substr(start, comma - start);
    if (element.empty()) return ctx.Error(field, "empty element in list " + Quoted(text));
    CFEMU_RETURN_IF_ERROR(ExpandElement(element, field, ctx, values));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return values;
}

template <class Bits>
Result<Bits> ParseBits(std::string_view text, const Field& field, const Context& ctx) {
  Result<std::vector<int>> values = ParseList(text, field, ctx);
  if (!values.ok()) return values.status();
  Bits bits = 0;
  for (int v : *values) bits |= static_cast<Bits>(Bits{1} << v);
  return bits;
}

// `L`, `LW`, `L-n`, `L-nW` (n from 1 to 30). REQUIRES: text starts with 'L'.
Status ParseLastDayOfMonth(std::string_view text, const Context& ctx, CronExpr& out) {
  std::string_view rest = text.substr(1);
  const bool weekday = !rest.empty() && rest.back() == 'W';
  if (weekday) rest.remove_suffix(1);
  int offset = 0;
  if (!rest.empty()) {
    const std::string_view digits = rest.substr(1);
    offset = AllDigits(digits) && digits.size() <= 2 ? std::stoi(std::string(digits)) : -1;
    if (rest[0] != '-' || offset < 1 || offset > 30) {
      return ctx.Error(kDayOfMonthField,
                       Quoted(text) + " is not L, LW, L-n or L-nW (n from 1 to 30)");
    }
  }
  out.dom_kind = weekday ? CronDayOfMonthKind::kLastWeekday : CronDayOfMonthKind::kLast;
  out.dom_value = offset;
  return Status::Ok();
}

Status ParseDayOfMonth(std::string_view text, const Context& ctx, CronExpr& out) {
  if (text == "*") {
    out.dom_kind = CronDayOfMonthKind::kAny;
    return Status::Ok();
  }
  if (text[0] == 'L') return ParseLastDayOfMonth(text, ctx, out);
  if (text.size() > 1 && text.back() == 'W' && text.find_first_of(",-/") == std::string::npos) {
    Result<int> day = ParseValue(text.substr(0, text.size() - 1), kDayOfMonthField, ctx);
    if (!day.ok()) return day.status();
    out.dom_kind = CronDayOfMonthKind::kNearestWeekday;
    out.dom_value = *day;
    return Status::Ok();
  }
  Result<std::uint32_t> bits = ParseBits<std::uint32_t>(text, kDayOfMonthField, ctx);
  if (!bits.ok()) return bits.status();
  out.dom_kind = CronDayOfMonthKind::kSet;
  out.days_of_month = *bits;
  return Status::Ok();
}

// BullMQ numbers Sunday 0 (and 7); Cloudflare numbers it 1.
int ToCloudflareDay(int value, CronDialect dialect) {
  if (dialect == CronDialect::kCloudflare) return value;
  return value == 7 ? 1 : value + 1;
}

Status ParseDayOfWeek(std::string_view text, const Context& ctx, CronExpr& out) {
  const Field& field =
      ctx.dialect == CronDialect::kCloudflare ? kCloudflareDowField : kBullMqDowField;
  if (text == "*") {
    out.dow_kind = CronDayOfWeekKind::kAny;
    return Status::Ok();
  }
  if (text == "L") {  // Quartz: `L` alone is the last day of the week, Saturday.
    out.dow_kind = CronDayOfWeekKind::kSet;
    out.days_of_week = 1 << 7;
    return Status::Ok();
  }
  // `nL` and `n#k` stand alone; inside a list or range they are reported element by element.
  const bool single = text.find_first_of(",-/") == std::string_view::npos;
  const std::size_t hash = text.find('#');
  if (single && hash != std::string_view::npos) {
    Result<int> day = ParseValue(text.substr(0, hash), field, ctx);
    if (!day.ok()) return day.status();
    const std::string_view k = text.substr(hash + 1);
    if (k != "1" && k != "2" && k != "3" && k != "4" && k != "5") {
      return ctx.Error(field, "k in n#k must be 1-5, found " + Quoted(k));
    }
    out.dow_kind = CronDayOfWeekKind::kNth;
    out.dow_day = ToCloudflareDay(*day, ctx.dialect);
    out.dow_nth = k[0] - '0';
    return Status::Ok();
  }
  if (single && text.size() > 1 && text.back() == 'L') {
    Result<int> day = ParseValue(text.substr(0, text.size() - 1), field, ctx);
    if (!day.ok()) return day.status();
    out.dow_kind = CronDayOfWeekKind::kLast;
    out.dow_day = ToCloudflareDay(*day, ctx.dialect);
    return Status::Ok();
  }
  Result<std::vector<int>> values = ParseList(text, field, ctx);
  if (!values.ok()) return values.status();
  out.dow_kind = CronDayOfWeekKind::kSet;
  for (int v : *values) {
    out.days_of_week |= static_cast<std::uint8_t>(1 << ToCloudflareDay(v, ctx.dialect));
  }
  return Status::Ok();
}

std::vector<std::string_view> SplitFields(std::string_view text) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    if (i > start) fields.push_back(text.substr(start, i - start));
  }
  return fields;
}

// ---- Matching -----------------------------------------------------------------------------

// Quartz's `W`: the weekday nearest `target`, never leaving the month.
int NearestWeekday(int target, int days_in_month, int target_weekday) {
  if (target_weekday == 6) return target == 1 ? 3 : target - 1;                       // Saturday.
  if (target_weekday == 0) return target == days_in_month ? target - 2 : target + 1;  // Sunday.
  return target;
}

bool DayOfMonthMatches(const CronExpr& e, int day, int days_in_month, int weekday) {
  int target = 0;
  switch (e.dom_kind) {
    case CronDayOfMonthKind::kAny:
      return true;
    case CronDayOfMonthKind::kSet:
      return ((e.days_of_month >> day) & 1U) != 0;
    case CronDayOfMonthKind::kLast:
      return day == days_in_month - e.dom_value;
    case CronDayOfMonthKind::kLastWeekday:
      target = days_in_month - e.dom_value;
      break;
    case CronDayOfMonthKind::kNearestWeekday:
      target = e.dom_value;
      break;
  }
  if (target < 1 || target > days_in_month) return false;
  const int target_weekday = ((weekday + target - day) % 7 + 7) % 7;
  return day == NearestWeekday(target, days_in_month, target_weekday);
}

bool DayOfWeekMatches(const CronExpr& e, int day, int days_in_month, int weekday) {
  const int cloudflare_day = weekday + 1;
  switch (e.dow_kind) {
    case CronDayOfWeekKind::kAny:
      return true;
    case CronDayOfWeekKind::kSet:
      return ((e.days_of_week >> cloudflare_day) & 1U) != 0;
    case CronDayOfWeekKind::kLast:
      return cloudflare_day == e.dow_day && day + 7 > days_in_month;
    case CronDayOfWeekKind::kNth:
      return cloudflare_day == e.dow_day && (day - 1) / 7 + 1 == e.dow_nth;
  }
  return false;
}

// Month and day rules; when both day fields are restricted, either may match.
bool DayMatches(const CronExpr& e, std::int64_t days, const CivilDate& date) {
  if (((e.months >> date.month) & 1U) == 0) return false;
  const bool dom_any = e.dom_kind == CronDayOfMonthKind::kAny;
  const bool dow_any = e.dow_kind == CronDayOfWeekKind::kAny;
  if (dom_any && dow_any) return true;
  const int days_in_month = DaysInMonth(date.year, date.month);
  const int weekday = WeekdayOf(days);
  const bool dom = !dom_any && DayOfMonthMatches(e, date.day, days_in_month, weekday);
  const bool dow = !dow_any && DayOfWeekMatches(e, date.day, days_in_month, weekday);
  return dom || dow;
}

// The first matching minute of the day at or after `start` (minutes since midnight).
std::optional<int> FirstTimeFrom(const CronExpr& e, int start) {
  for (int hour = start / 60; hour < 24; ++hour) {
    if (((e.hours >> hour) & 1U) == 0) continue;
    const int from = hour == start / 60 ? start % 60 : 0;
    const std::uint64_t minutes = (e.minutes >> from) << from;
    if (minutes != 0) return hour * 60 + std::countr_zero(minutes);
  }
  return std::nullopt;
}

}  // namespace

std::string_view CronDialectName(CronDialect dialect) {
  return dialect == CronDialect::kCloudflare ? "cloudflare" : "bullmq";
}

Result<CronExpr> ParseCron(std::string_view text, CronDialect dialect) {
  const Context ctx{text, dialect};
  const std::vector<std::string_view> fields = SplitFields(text);
  if (fields.size() != 5) {
    std::string message = "invalid cron expression \"" + std::string(text) +
                          "\": expected 5 fields (minute hour day-of-month month day-of-week), "
                          "found " +
                          std::to_string(fields.size());
    if (fields.size() > 5) message += "; seconds and year fields are not supported";
    return Status::InvalidArgument(std::move(message));
  }
  CronExpr expr;
  expr.source = std::string(text);
  expr.dialect = dialect;
  Result<std::uint64_t> minutes = ParseBits<std::uint64_t>(fields[0], kMinuteField, ctx);
  if (!minutes.ok()) return minutes.status();
  expr.minutes = *minutes;
  Result<std::uint32_t> hours = ParseBits<std::uint32_t>(fields[1], kHourField, ctx);
  if (!hours.ok()) return hours.status();
  expr.hours = *hours;
  CFEMU_RETURN_IF_ERROR(ParseDayOfMonth(fields[2], ctx, expr));
  Result<std::uint16_t> months = ParseBits<std::uint16_t>(fields[3], kMonthField, ctx);
  if (!months.ok()) return months.status();
  expr.months = *months;
  CFEMU_RETURN_IF_ERROR(ParseDayOfWeek(fields[4], ctx, expr));
  return expr;
}

std::optional<Instant> NextMatch(const CronExpr& expr, Instant from) {
  const std::int64_t first_minute = FloorDiv(from.unix_ms() + kMsPerMinute - 1, kMsPerMinute);
  std::int64_t day = FloorDiv(first_minute, kMinutesPerDay);
  int start = static_cast<int>(first_minute - day * kMinutesPerDay);
  const std::int64_t last_day = day + kCronSearchDays;
  while (day <= last_day) {
    const CivilDate date = CivilFromDays(day);
    if (((expr.months >> date.month) & 1U) == 0) {
      // Skip the rest of a month that never matches.
      day = date.month == 12 ? DaysFromCivil(date.year + 1, 1, 1)
                             : DaysFromCivil(date.year, date.month + 1, 1);
      start = 0;
      continue;
    }
    if (DayMatches(expr, day, date)) {
      if (const std::optional<int> minute = FirstTimeFrom(expr, start)) {
        return Instant::FromUnixMs((day * kMinutesPerDay + *minute) * kMsPerMinute);
      }
    }
    ++day;
    start = 0;
  }
  return std::nullopt;
}

bool CronMatches(const CronExpr& expr, Instant t) {
  const std::int64_t minute = FloorDiv(t.unix_ms(), kMsPerMinute);
  const std::int64_t day = FloorDiv(minute, kMinutesPerDay);
  const auto minute_of_day = static_cast<int>(minute - day * kMinutesPerDay);
  return DayMatches(expr, day, CivilFromDays(day)) &&
         ((expr.hours >> (minute_of_day / 60)) & 1U) != 0 &&
         ((expr.minutes >> (minute_of_day % 60)) & 1U) != 0;
}

}  // namespace cfemu::core

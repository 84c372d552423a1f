#include "src/core/time.h"

#include <cstdio>

namespace cfemu::core {

namespace {

// Days since 1970-01-01 -> civil date (proleptic Gregorian), after H. Hinnant's algorithm.
void CivilFromDays(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
}

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

std::string Duration::ToString() const {
  char buffer[32];
  if (ms_ % 3'600'000 == 0 && ms_ != 0) {
    std::snprintf(buffer, sizeof buffer, "%lldh", static_cast<long long>(ms_ / 3'600'000));
  } else if (ms_ % 1000 == 0 && ms_ != 0) {
    std::snprintf(buffer, sizeof buffer, "%llds", static_cast<long long>(ms_ / 1000));
  } else {
    std::snprintf(buffer, sizeof buffer, "%lldms", static_cast<long long>(ms_));
  }
  return buffer;
}

std::string Instant::ToRfc3339() const {
  const std::int64_t days = FloorDiv(ms_, 86'400'000);
  const std::int64_t rest = ms_ - days * 86'400'000;
  std::int64_t year = 0;
  unsigned month = 0;
  unsigned day = 0;
  CivilFromDays(days, year, month, day);
  char buffer[96];
  std::snprintf(buffer, sizeof buffer, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<long long>(year), month, day, static_cast<long long>(rest / 3'600'000),
                static_cast<long long>(rest / 60'000 % 60),
                static_cast<long long>(rest / 1000 % 60), static_cast<long long>(rest % 1000));
  return buffer;
}

}  // namespace cfemu::core
